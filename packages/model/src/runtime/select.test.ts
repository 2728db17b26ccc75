import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle, type ModelBundle } from '../manifest.js';
import { useCpuBackend } from '../tfjs-io.js';
import { loadRuntime, probeRuntimes, resolveModule } from './select.js';
import { editedCopy, smallBundles } from './testing.js';
import { isModelRuntimeError, parseRuntimeChoice } from './types.js';

let root: string;
let tfjsBundle: ModelBundle;
let onnxBundle: ModelBundle;
// Stand-ins for an installed tfjs-node whose native library is broken, and one that registers
// no backend (e.g. a different tfjs version); the real packages cannot be installed here.
let brokenModule: string;
let inertModule: string;

beforeAll(async () => {
  await useCpuBackend();
  ({ root, tfjs: tfjsBundle, onnx: onnxBundle } = await smallBundles(32));
  const broken = path.join(root, 'broken-tfjs-node.mjs');
  await writeFile(broken, "throw new Error('libtensorflow.so.2: cannot open shared object file');\n");
  brokenModule = pathToFileURL(broken).href;
  const inert = path.join(root, 'inert-tfjs-node.mjs');
  await writeFile(inert, 'export const loaded = true;\n');
  inertModule = pathToFileURL(inert).href;
}, 60_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('native tfjs runtimes (not installable on this machine)', () => {
  it('are reported as not installed, without starting a worker', async () => {
    expect(resolveModule('@tensorflow/tfjs-node')).toBeUndefined();
    for (const runtime of ['tfjs-node', 'tfjs-node-gpu'] as const) {
      const error: unknown = await loadRuntime(tfjsBundle, { runtime }).catch((e: unknown) => e);
      expect(isModelRuntimeError(error, 'runtime_unavailable')).toBe(true);
      expect((error as Error).message).toBe(
        `bundle cxr-seed-densenet121@0.0.0-seed.11 (${tfjsBundle.dir}): @tensorflow/${runtime} is not installed`,
      );
    }
  });

  it('fail with the module error when present but broken, and auto moves on to tfjs-wasm', async () => {
    await expect(
      loadRuntime(tfjsBundle, { runtime: 'tfjs-node', modules: { 'tfjs-node': brokenModule } }),
    ).rejects.toThrow(`${brokenModule} failed to load: libtensorflow.so.2: cannot open shared object file`);
    const logs: { message: string; data: unknown }[] = [];
    const runtime = await loadRuntime(tfjsBundle, {
      runtime: 'auto',
      modules: { 'tfjs-node-gpu': inertModule, 'tfjs-node': brokenModule },
      log: (message, data) => logs.push({ message, data }),
    });
    try {
      expect(runtime.name).toBe('tfjs-wasm');
      const { selection } = runtime.describe();
      expect(selection.requested).toBe('auto');
      expect(selection.skipped.map((s) => s.runtime)).toEqual(['onnx', 'tfjs-node-gpu', 'tfjs-node']);
      expect(selection.skipped[0]!.reason).toContain('onnx cannot load a tfjs-layers bundle');
      expect(selection.skipped[1]!.reason).toContain('registered no "tensorflow" backend');
      expect(selection.skipped[2]!.reason).toContain('failed to load: libtensorflow.so.2');
      expect(logs.map((l) => l.message)).toEqual(['runtime skipped by auto']);
      await expect(runtime.predict(new Float32Array(3 * 32 * 32), 1)).resolves.toHaveLength(3);
    } finally {
      await runtime.close();
    }
  }, 60_000);
});

describe('auto and format compatibility', () => {
  it('picks onnx for an onnx bundle with nothing skipped', async () => {
    const runtime = await loadRuntime(onnxBundle, { runtime: 'auto', threads: 1 });
    try {
      expect(runtime.describe()).toMatchObject({
        name: 'onnx',
        selection: { requested: 'auto', reason: 'fastest runtime for onnx bundles', skipped: [] },
      });
    } finally {
      await runtime.close();
    }
  });

  it('refuses an onnx bundle on a tfjs runtime, and a tfjs-layers bundle on onnx, saying why', async () => {
    await expect(loadRuntime(onnxBundle, { runtime: 'tfjs-wasm' })).rejects.toThrow(
      'tfjs-wasm cannot load an onnx bundle (tfjs runtimes read tfjs-layers bundles)',
    );
    await expect(loadRuntime(tfjsBundle, { runtime: 'onnx' })).rejects.toThrow(
      'onnx cannot load a tfjs-layers bundle (export it with `cxr model export-onnx` to use onnxruntime)',
    );
  });

  it('lists every reason when no runtime can load the bundle', async () => {
    const dir = path.join(root, 'onnx-gone');
    await editedCopy(onnxBundle, dir, () => undefined);
    const bundle = await loadBundle(dir);
    await rm(path.join(dir, 'model.onnx'));
    const error: unknown = await loadRuntime(bundle, { runtime: 'auto' }).catch((e: unknown) => e);
    expect(isModelRuntimeError(error, 'runtime_unavailable')).toBe(true);
    const message = (error as Error).message;
    expect(message).toContain('no runtime can load it: onnx: cannot read');
    expect(message).toContain('tfjs-wasm: tfjs-wasm cannot load an onnx bundle');
  });
});

describe('onnx execution providers', () => {
  it('falls back from TensorRT and CUDA to CPU with the reason, and logs it', async () => {
    const logs: { message: string; data: Record<string, unknown> }[] = [];
    const runtime = await loadRuntime(onnxBundle, {
      runtime: 'onnx',
      threads: 1,
      onnx: { executionProviders: ['tensorrt', 'cuda'] },
      log: (message, data) => logs.push({ message, data }),
    });
    try {
      const d = runtime.describe();
      expect(d.backend).toEqual(['cpu']);
      const failed = d.details.failedProviders as { provider: string; reason: string }[];
      expect(failed.map((f) => f.provider)).toEqual(['tensorrt', 'cuda']);
      for (const f of failed) expect(f.reason).toMatch(/Failed to load shared library/);
      expect(logs).toHaveLength(1);
      expect(logs[0]!.message).toBe('onnx execution provider unavailable, fell back');
      await expect(runtime.predict(new Float32Array(3 * 32 * 32), 1)).resolves.toHaveLength(3);
    } finally {
      await runtime.close();
    }
  });
});

describe('probeRuntimes', () => {
  it('says for each runtime whether it can load the bundle and why not', async () => {
    expect(await probeRuntimes(onnxBundle)).toEqual([
      { runtime: 'onnx', canLoad: true },
      {
        runtime: 'tfjs-node-gpu',
        canLoad: false,
        reason: 'tfjs-node-gpu cannot load an onnx bundle (tfjs runtimes read tfjs-layers bundles)',
      },
      {
        runtime: 'tfjs-node',
        canLoad: false,
        reason: 'tfjs-node cannot load an onnx bundle (tfjs runtimes read tfjs-layers bundles)',
      },
      {
        runtime: 'tfjs-wasm',
        canLoad: false,
        reason: 'tfjs-wasm cannot load an onnx bundle (tfjs runtimes read tfjs-layers bundles)',
      },
    ]);
    const probes = await probeRuntimes(tfjsBundle, { modules: { 'tfjs-node': brokenModule } });
    expect(probes.map((p) => [p.runtime, p.canLoad])).toEqual([
      ['onnx', false],
      ['tfjs-node-gpu', false],
      // Installed (resolvable): the probe does not import it, so a broken install shows at load.
      ['tfjs-node', true],
      ['tfjs-wasm', true],
    ]);
    expect(probes[1]!.reason).toBe('@tensorflow/tfjs-node-gpu is not installed');
  });

  it('reports a manifest that disagrees with the stored graph, without loading an engine', async () => {
    const dir = path.join(root, 'probe-bad');
    await editedCopy(tfjsBundle, dir, (m) => {
      (m.input as { channels: number }).channels = 1;
      (m.input as { normalization: unknown }).normalization = { method: 'unit' };
    });
    const probes = await probeRuntimes(await loadBundle(dir));
    expect(probes.find((p) => p.runtime === 'tfjs-wasm')).toEqual({
      runtime: 'tfjs-wasm',
      canLoad: false,
      reason: `bundle cxr-seed-densenet121@0.0.0-seed.11 (${dir}): graph input [?,32,32,3] does not match manifest.input (size 32, channels 1, layout NHWC => [batch,32,32,1])`,
    });
  });
});

describe('parseRuntimeChoice', () => {
  it('accepts the CXR_RUNTIME values and names them on error', () => {
    expect(parseRuntimeChoice('auto')).toBe('auto');
    expect(parseRuntimeChoice('tfjs-node-gpu')).toBe('tfjs-node-gpu');
    expect(() => parseRuntimeChoice('tfjs')).toThrow(
      'CXR_RUNTIME: expected one of auto | onnx | tfjs-node-gpu | tfjs-node | tfjs-wasm | null, got "tfjs"',
    );
  });
});
