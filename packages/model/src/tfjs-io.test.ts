import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDenseNetClassifier, countParameters } from './densenet.js';
import {
  countLayersModelParameters,
  loadLayersModelFile,
  saveLayersModel,
  serializeLayersModel,
  useCpuBackend,
} from './tfjs-io.js';

describe('tfjs-layers files', () => {
  let dir: string;
  beforeAll(async () => {
    await useCpuBackend();
    dir = await mkdtemp(path.join(tmpdir(), 'cxr-tfjs-io-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('round-trips model.json + weights.bin exactly (weights and predictions)', async () => {
    const model = buildDenseNetClassifier({
      inputSize: 32,
      blocks: [1, 2, 1, 1],
      seed: 9,
      outputs: 3,
      activation: 'softmax',
    });
    expect(await saveLayersModel(model, dir)).toEqual(['model.json', 'weights.bin']);
    expect((await readdir(dir)).sort()).toEqual(['model.json', 'weights.bin']);
    const loaded = await loadLayersModelFile(path.join(dir, 'model.json'));
    expect(loaded.layers.map((l) => l.name)).toEqual(model.layers.map((l) => l.name));
    const before = await serializeLayersModel(model);
    const after = await serializeLayersModel(loaded);
    expect(Buffer.from(after.weightsBin).equals(Buffer.from(before.weightsBin))).toBe(true);
    expect(countLayersModelParameters(before.modelJson)).toBe(countParameters(model));

    const x = tf.randomUniform([2, 32, 32, 3], -1, 1, 'float32', 4);
    const [ya, yb] = [model.predict(x) as tf.Tensor, loaded.predict(x) as tf.Tensor];
    expect(Array.from(await yb.data())).toEqual(Array.from(await ya.data()));
    tf.dispose([x, ya, yb]);
    model.dispose();
    loaded.dispose();
  });

  it('refuses a weightsManifest path that leaves the model folder', async () => {
    const { deserializeLayersModel } = await import('./tfjs-io.js');
    const json = { modelTopology: {}, weightsManifest: [{ paths: ['../secret.bin'], weights: [] }] };
    await expect(
      deserializeLayersModel(new TextEncoder().encode(JSON.stringify(json)), () =>
        Promise.resolve(new Uint8Array()),
      ),
    ).rejects.toThrow(/points outside the model folder/);
  });
});
