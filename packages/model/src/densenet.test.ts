import { beforeAll, describe, expect, it } from 'vitest';
import {
  buildDenseNetBase,
  buildDenseNetClassifier,
  countParameters,
  DENSENET121_BASE_PARAMETERS,
} from './densenet.js';
import { serializeLayersModel, useCpuBackend } from './tfjs-io.js';

describe('DenseNet121 builder', () => {
  beforeAll(async () => {
    await useCpuBackend();
  });

  it('builds the full base with Keras parameter count 7,037,504 and Keras layer names', () => {
    const base = buildDenseNetBase({ inputSize: 32, seed: 1 });
    expect(countParameters(base)).toBe(DENSENET121_BASE_PARAMETERS);
    expect(countParameters(base)).toBe(7_037_504);
    const names = base.layers.map((l) => l.name);
    for (const name of [
      'conv1/conv',
      'conv1/bn',
      'pool1',
      'conv2_block1_1_bn',
      'pool2_conv',
      'conv5_block16_2_conv',
      'bn',
      'avg_pool',
    ]) {
      expect(names).toContain(name);
    }
    // 6 + 12 + 24 + 16 conv blocks, each with a concat; 3 transitions.
    expect(names.filter((n) => n.endsWith('_concat'))).toHaveLength(58);
    expect(names.filter((n) => /^pool[234]_pool$/.test(n))).toHaveLength(3);
    expect(base.outputs[0]!.shape).toEqual([null, 1024]);
    base.dispose();
  });

  it('adds the head: Dense(256, relu) + Dropout(0.5) + Dense(labels)', () => {
    const model = buildDenseNetClassifier({ inputSize: 32, seed: 1, outputs: 3, activation: 'softmax' });
    // 1024*256 + 256 + 256*3 + 3 on top of the base.
    expect(countParameters(model)).toBe(7_037_504 + 262_400 + 771);
    expect(model.layers.slice(-3).map((l) => l.getClassName())).toEqual(['Dense', 'Dropout', 'Dense']);
    expect(model.outputs[0]!.shape).toEqual([null, 3]);
    model.dispose();
  });

  it('gives byte-identical weights for the same seed and different weights for another', async () => {
    const build = (seed: number) =>
      buildDenseNetClassifier({
        inputSize: 32,
        blocks: [1, 1, 1, 1],
        seed,
        outputs: 2,
        activation: 'sigmoid',
      });
    const [a, b, c] = [build(5), build(5), build(6)];
    const [fa, fb, fc] = await Promise.all([a, b, c].map((m) => serializeLayersModel(m)));
    expect(Buffer.from(fa!.weightsBin).equals(Buffer.from(fb!.weightsBin))).toBe(true);
    expect(Buffer.from(fa!.modelJson).equals(Buffer.from(fb!.modelJson))).toBe(true);
    expect(Buffer.from(fa!.weightsBin).equals(Buffer.from(fc!.weightsBin))).toBe(false);
    for (const m of [a, b, c]) m.dispose();
  });

  it('seeds non-trivial BN moving statistics (so BN folding is exercised)', () => {
    const model = buildDenseNetBase({ inputSize: 32, blocks: [1, 1, 1, 1], seed: 2 });
    const bn = model.getLayer('conv1/bn');
    const byName = new Map(
      bn.weights.map((w) => [w.originalName.split('/').pop()!, Array.from(w.read().dataSync())]),
    );
    const mean = byName.get('moving_mean')!;
    const variance = byName.get('moving_variance')!;
    expect(mean.some((v) => Math.abs(v) > 1e-3)).toBe(true);
    expect(Math.min(...variance)).toBeGreaterThanOrEqual(0.5);
    expect(Math.max(...variance)).toBeLessThanOrEqual(1.5);
    expect(new Set(variance).size).toBeGreaterThan(1);
    model.dispose();
  });

  it('refuses inputs smaller than the 32x downsampling', () => {
    expect(() => buildDenseNetBase({ inputSize: 16, seed: 0 })).toThrow(/inputSize must be an integer >= 32/);
  });
});
