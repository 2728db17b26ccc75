import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { initSeedModel } from '../init.js';
import { MANIFEST_FILE, type ModelBundle } from '../manifest.js';

// Test support (not exported from the package): small DenseNet bundles and an event-loop probe.

/** Test model: DenseNet with blocks [1,2,2,1], 3 softmax outputs, same weights in both formats. */
export const SMALL = { size: 48, blocks: [1, 2, 2, 1] as [number, number, number, number], seed: 11 };

/** Writes the same seeded small DenseNet as a tfjs-layers and an ONNX bundle under a temp dir. */
export async function smallBundles(
  size = SMALL.size,
): Promise<{ root: string; tfjs: ModelBundle; onnx: ModelBundle }> {
  const root = await mkdtemp(path.join(tmpdir(), 'cxr-runtime-'));
  const common = { size, blocks: SMALL.blocks, seed: SMALL.seed, date: new Date(0) };
  const tfjs = await initSeedModel({ ...common, outDir: path.join(root, 'tfjs'), format: 'tfjs-layers' });
  const onnx = await initSeedModel({ ...common, outDir: path.join(root, 'onnx'), format: 'onnx' });
  return { root, tfjs, onnx };
}

/** Copies a bundle folder and rewrites its manifest.json with `edit`. */
export async function editedCopy(
  source: ModelBundle,
  dir: string,
  edit: (manifest: Record<string, unknown>) => void,
): Promise<void> {
  await cp(source.dir, dir, { recursive: true });
  const file = path.join(dir, MANIFEST_FILE);
  const json = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  edit(json);
  await writeFile(file, JSON.stringify(json));
}

/**
 * Longest gap between ticks of a 5 ms interval while `work` runs, minus the interval: how long
 * the event loop was blocked. Ticks start 30 ms before the work so a block at its start counts.
 */
export async function maxEventLoopStall(
  work: () => Promise<unknown>,
): Promise<{ stallMs: number; workMs: number }> {
  const interval = 5;
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - interval);
    last = now;
  }, interval);
  await new Promise((resolve) => setTimeout(resolve, 30));
  const start = performance.now();
  await work();
  const workMs = performance.now() - start;
  await new Promise((resolve) => setTimeout(resolve, 30));
  clearInterval(timer);
  return { stallMs: worst, workMs };
}

/** Largest |a[i] - b[i]|; throws if the lengths differ. */
export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}
