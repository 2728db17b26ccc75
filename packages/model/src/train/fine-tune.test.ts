import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildDenseNetBase } from '../densenet.js';
import { useCpuBackend } from '../tfjs-io.js';
import { fineTune, isBetter, isFineTunedLayer, type FineTuneData } from './fine-tune.js';
import { buildHeadModel, headWeightsOf } from './head.js';
import { mulberry32 } from './random.js';

const SIZE = 32;
const N = 12;

/** Weights of every base layer by `layer#index`, copied. */
function weightsOf(model: tf.LayersModel): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const layer of model.layers) {
    layer.getWeights().forEach((w, i) => out.set(`${layer.name}#${i}`, Float32Array.from(w.dataSync())));
  }
  return out;
}

/** Images whose mean brightness carries the label (learnable), loaded per batch like the CLI does. */
function dataset(seed: number): FineTuneData & { loads: number[] } {
  const random = mulberry32(seed);
  const labels = Float32Array.from({ length: N }, (_, i) => i % 2);
  const pixels = Array.from({ length: N }, (_, i) =>
    Float32Array.from({ length: SIZE * SIZE * 3 }, () => random() + (labels[i] === 1 ? 0.8 : -0.8)),
  );
  const loads: number[] = [];
  return {
    labels,
    loads,
    load: (rows) => {
      loads.push(rows.length);
      const out = new Float32Array(rows.length * SIZE * SIZE * 3);
      rows.forEach((row, i) => {
        out.set(pixels[row]!, i * SIZE * SIZE * 3);
      });
      return Promise.resolve(out);
    },
  };
}

function setup() {
  const base = buildDenseNetBase({ inputSize: SIZE, blocks: [1, 1, 1, 1], growthRate: 8, seed: 3 });
  const featureDim = base.outputs[0]!.shape[1] as number;
  const headModel = buildHeadModel(featureDim, 1, 'sigmoid', { seed: 4, headUnits: 8 });
  const head = headWeightsOf(headModel);
  headModel.dispose();
  return { base, head };
}

const options = {
  activation: 'sigmoid',
  labelNames: ['x'],
  epochs: 2,
  batchSize: 4,
  learningRate: 0.01,
  loss: 'ce',
  focalGamma: 2,
  classWeights: [1, 1],
  oversample: false,
  seed: 7,
} as const;

describe('fineTune', () => {
  beforeAll(async () => {
    await useCpuBackend();
  });

  it('isBetter: higher mean AUROC, then lower validation loss on a tie', () => {
    expect(isBetter({ meanAuroc: 0.9, valLoss: 1 }, { meanAuroc: 0.8, valLoss: 0.1 })).toBe(true);
    expect(isBetter({ meanAuroc: 0.8, valLoss: 0.1 }, { meanAuroc: 0.9, valLoss: 1 })).toBe(false);
    expect(isBetter({ meanAuroc: 1, valLoss: 0.4 }, { meanAuroc: 1, valLoss: 0.5 })).toBe(true);
    expect(isBetter({ meanAuroc: 1, valLoss: 0.5 }, { meanAuroc: 1, valLoss: 0.5 })).toBe(false);
    expect(isBetter({ meanAuroc: null, valLoss: 0.4 }, { meanAuroc: null, valLoss: 0.5 })).toBe(true);
  });

  it('trains conv5_* and bn (not their moving statistics) and the head; everything else stays frozen', async () => {
    const { base, head } = setup();
    const before = weightsOf(base);
    const trainableBefore = base.layers.map((layer) => layer.trainable);
    const train = dataset(1);
    const result = await fineTune({
      ...options,
      base,
      head,
      train,
      validation: dataset(2),
      // Unbeatable-from-below: any epoch wins, so the base keeps the last best epoch's weights.
      initial: { meanAuroc: null, valLoss: Infinity },
    });
    expect(result.backend).toBe('cpu');
    expect(result.history).toHaveLength(2);
    expect(result.bestEpoch).toBeGreaterThan(0);
    expect(result.validationScores).toHaveLength(N);
    // Streamed in batches of 4: 3 train batches per epoch.
    expect(train.loads).toEqual([4, 4, 4, 4, 4, 4]);
    const after = weightsOf(base);
    let tunedWeights = 0;
    for (const [index, layer] of base.layers.entries()) {
      const isBn = layer.getClassName() === 'BatchNormalization';
      layer.getWeights().forEach((_, i) => {
        const key = `${layer.name}#${i}`;
        const moved = !after.get(key)!.every((v, k) => v === before.get(key)![k]);
        // BatchNormalization weights: gamma, beta, moving_mean, moving_variance.
        const movingStatistic = isBn && i >= 2;
        const expected = isFineTunedLayer(layer.name) && !movingStatistic;
        expect(moved, `${key} moved`).toBe(expected);
        if (expected) tunedWeights += 1;
      });
      // Trainable flags are restored (the bundle serializes them).
      expect(layer.trainable).toBe(trainableBefore[index]);
    }
    expect(tunedWeights).toBeGreaterThan(4);
    expect(result.head.fc1Kernel).not.toEqual(head.fc1Kernel);
    base.dispose();
  }, 60_000);

  it('keeps the head-only model when no epoch beats it: the base is restored exactly', async () => {
    const { base, head } = setup();
    const before = weightsOf(base);
    const result = await fineTune({
      ...options,
      epochs: 1,
      base,
      head,
      train: dataset(1),
      validation: dataset(2),
      initial: { meanAuroc: 2, valLoss: -Infinity },
    });
    expect(result.bestEpoch).toBe(0);
    expect(result.validationScores).toBeUndefined();
    expect(result.head).toBe(head);
    expect(result.history[0]?.best).toBe(false);
    expect(weightsOf(base)).toEqual(before);
    base.dispose();
  }, 60_000);
});
