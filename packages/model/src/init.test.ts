import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDenseNetClassifier, countParameters } from './densenet.js';
import { describeBundle } from './describe.js';
import { initSeedModel, SEED_WEIGHTS_WARNING } from './init.js';
import { DEFAULT_ACCEPT } from './manifest.js';
import { exportBundleToOnnx } from './onnx/export-bundle.js';
import { useCpuBackend } from './tfjs-io.js';

const small = { size: 32, blocks: [1, 1, 1, 1] as const, seed: 3, date: new Date('2026-11-26T00:00:00Z') };

describe('initSeedModel / exportBundleToOnnx / describeBundle', () => {
  let dir: string;
  beforeAll(async () => {
    await useCpuBackend();
    dir = await mkdtemp(path.join(tmpdir(), 'cxr-init-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes a tfjs-layers seed bundle whose manifest matches the graph', async () => {
    const bundle = await initSeedModel({ ...small, outDir: path.join(dir, 'tfjs'), format: 'tfjs-layers' });
    expect(bundle.manifest).toMatchObject({
      format: 'tfjs-layers',
      weights: ['model.json', 'weights.bin'],
      input: { size: 32, channels: 3, layout: 'NHWC' },
      output: {
        activation: 'softmax',
        labels: ['normal', 'pneumonia', 'further_evaluation'],
        decision: 'argmax',
        // The worklist's suspicion leaves the no-finding label out.
        normalLabel: 'normal',
      },
      provenance: { seed: 3, warning: SEED_WEIGHTS_WARNING },
      // Written out: the seed bundle says which images it applies to (audit finding 5).
      accept: DEFAULT_ACCEPT,
    });
    expect(SEED_WEIGHTS_WARNING).toMatch(/^weights are random/);
    const info = await describeBundle(bundle.dir);
    const reference = buildDenseNetClassifier({
      inputSize: 32,
      blocks: [1, 1, 1, 1],
      seed: 3,
      outputs: 3,
      activation: 'softmax',
    });
    expect(info.parameterCount).toBe(countParameters(reference));
    reference.dispose();
  });

  it('exports that bundle to the same ONNX bytes that init writes directly, layout NCHW', async () => {
    const exported = await exportBundleToOnnx(path.join(dir, 'tfjs'), path.join(dir, 'onnx-exported'));
    const direct = await initSeedModel({ ...small, outDir: path.join(dir, 'onnx-direct'), format: 'onnx' });
    expect(exported.bundle.manifest).toEqual(direct.manifest);
    expect(direct.manifest).toMatchObject({
      format: 'onnx',
      weights: ['model.onnx'],
      input: { layout: 'NCHW' },
    });
    const [a, b] = await Promise.all([exported.bundle, direct].map((x) => readFile(x.weightPaths[0]!)));
    expect(a!.equals(b!)).toBe(true);

    const tfjsInfo = await describeBundle(path.join(dir, 'tfjs'));
    const onnxInfo = await describeBundle(direct.dir);
    expect(onnxInfo.sourceParameterCount).toBe(tfjsInfo.parameterCount);
    // Folded BNs drop all 4 vectors; the others keep 2 (scale, shift).
    expect(onnxInfo.parameterCount).toBeLessThan(tfjsInfo.parameterCount);
  });

  it('gives a multi-label sigmoid model per-label thresholds and the thresholds rule', async () => {
    const labels = ['a', 'b', 'c', 'd'];
    const bundle = await initSeedModel({
      ...small,
      outDir: path.join(dir, 'multi'),
      labels,
      activation: 'sigmoid',
    });
    expect(bundle.manifest.output).toEqual({
      activation: 'sigmoid',
      labels,
      thresholds: { a: 0.5, b: 0.5, c: 0.5, d: 0.5 },
      decision: 'thresholds',
    });
  });

  it('refuses to export when the manifest activation disagrees with the graph', async () => {
    const src = path.join(dir, 'tfjs');
    const manifestPath = path.join(src, 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as {
      output: { activation: string; decision: string };
    };
    manifest.output.activation = 'none';
    await writeFile(manifestPath, JSON.stringify(manifest));
    await expect(exportBundleToOnnx(src, path.join(dir, 'never'))).rejects.toThrow(
      'manifest.json: output.activation: says "none" but the graph applies "softmax"',
    );
  });
});
