import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initSeedModel } from '../init.js';
import { loadLayersModelFile, useCpuBackend } from '../tfjs-io.js';
import { exportBundleToOnnx } from './export-bundle.js';
import { compareWithOrt } from './testing.js';

// SLOW (~30 s): the full DenseNet121 seed model at 224x224 through tfjs's pure-JS cpu backend
// (~13 s per image). Kept in the default run because it is the only end-to-end check of the
// exporter on every DenseNet121 layer at a realistic size.
describe('slow: full DenseNet121 at 224, tfjs-layers bundle -> ONNX bundle', () => {
  let dir: string;
  beforeAll(async () => {
    await useCpuBackend();
    dir = await mkdtemp(path.join(tmpdir(), 'cxr-export-full-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('matches tfjs cpu predictions within 1e-4', { timeout: 240_000 }, async () => {
    const src = await initSeedModel({
      outDir: path.join(dir, 'tfjs'),
      size: 224,
      seed: 11,
      format: 'tfjs-layers',
    });
    const { bundle, export: result } = await exportBundleToOnnx(src.dir, path.join(dir, 'onnx'));
    expect(bundle.manifest.input.layout).toBe('NCHW');
    // conv1/bn + one *_1_bn in each of the 58 conv blocks.
    expect(result.foldedBatchNorms).toHaveLength(59);
    const model = await loadLayersModelFile(src.weightPaths[0]!);
    const { maxAbsDiff, tfjs } = await compareWithOrt(model, result.bytes, 'NCHW', 1, 5);
    console.info(
      JSON.stringify({
        msg: 'onnx export diff',
        size: 224,
        model: 'densenet121',
        maxAbsDiff,
        tfjs: Array.from(tfjs),
      }),
    );
    expect(maxAbsDiff).toBeLessThanOrEqual(1e-4);
    model.dispose();
  });
});
