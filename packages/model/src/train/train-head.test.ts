import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useCpuBackend } from '../tfjs-io.js';
import { buildHeadModel, setHeadWeights, type HeadWeights } from './head.js';
import { aurocOf } from './metrics.js';
import { syntheticBinary, syntheticThreeClass, type SyntheticSet } from './testing.js';
import { sigmoidLossTensor, softmaxLossTensor } from './losses.js';
import { mulberry32 } from './random.js';
import {
  headGradients,
  trainHead,
  type EpochReport,
  type Head,
  type TrainHeadOptions,
} from './train-head.js';

const DIM = 32;

function options(train: SyntheticSet, validation: SyntheticSet, overrides: Partial<TrainHeadOptions> = {}) {
  return {
    features: train.features,
    labels: train.labels,
    validation,
    featureDim: DIM,
    labelNames: ['finding'],
    activation: 'sigmoid',
    epochs: 12,
    batchSize: 32,
    learningRate: 1e-2,
    loss: 'ce',
    focalGamma: 2,
    classWeights: 'none',
    oversample: false,
    seed: 1,
    headUnits: 32,
    ...overrides,
  } satisfies TrainHeadOptions;
}

function predict(
  weights: HeadWeights,
  features: Float32Array,
  activation: 'sigmoid' | 'softmax',
): Float32Array {
  const model = buildHeadModel(weights.featureDim, weights.outputs, activation, {
    seed: 0,
    headUnits: weights.headUnits,
  });
  setHeadWeights(model, weights);
  const scores = tf.tidy(
    () =>
      (
        model.predict(
          tf.tensor2d(features, [features.length / weights.featureDim, weights.featureDim]),
        ) as tf.Tensor
      ).dataSync() as Float32Array,
  );
  model.dispose();
  return scores;
}

function bce(scores: Float32Array, labels: Float32Array): number {
  let sum = 0;
  scores.forEach((p, i) => (sum += labels[i] === 1 ? -Math.log(p) : -Math.log(1 - p)));
  return sum / scores.length;
}

/** Checks the early-stopping bookkeeping of a run. */
function expectEarlyStopping(
  history: readonly EpochReport[],
  bestEpoch: number,
  epochs: number,
  patience: number,
) {
  const aurocs = history.map((h) => h.meanAuroc!);
  // The best epoch is the first epoch with the highest mean validation AUROC...
  expect(bestEpoch).toBe(aurocs.indexOf(Math.max(...aurocs)) + 1);
  // ...flagged `best` exactly when it improved strictly on all earlier epochs...
  history.forEach((h, i) => {
    expect(h.best).toBe(i === 0 || aurocs[i]! > Math.max(...aurocs.slice(0, i)));
  });
  expect(history.map((h) => h.epoch)).toEqual(history.map((_, i) => i + 1));
  // ...and training stops `patience` epochs after it unless the epochs run out first.
  expect(history.length).toBe(Math.min(epochs, bestEpoch + patience));
}

describe('trainHead', () => {
  beforeAll(async () => {
    await useCpuBackend();
  });

  it('learns a linearly separable set (val AUROC > 0.95) and keeps the best epoch', async () => {
    const train = syntheticBinary({ n: 600, featureDim: DIM, prevalence: 0.3, separation: 4, seed: 1 });
    const validation = syntheticBinary({ n: 300, featureDim: DIM, prevalence: 0.3, separation: 4, seed: 2 });
    const seen: EpochReport[] = [];
    const result = await trainHead(
      options(train, validation, { epochs: 25, patience: 3, onEpoch: (r) => seen.push(r) }),
    );
    expect(seen).toEqual(result.history);
    const best = result.history[result.bestEpoch - 1]!;
    expect(best.meanAuroc).toBeGreaterThan(0.95);
    expect(best.perLabel.finding!.auroc).toBe(best.meanAuroc);
    expectEarlyStopping(result.history, result.bestEpoch, 25, 3);
    // This run peaks before its last epoch, so keeping the best epoch is observable below.
    expect(result.history.length).toBeGreaterThan(result.bestEpoch);
    expect(result.history.at(-1)!.meanAuroc).not.toBe(best.meanAuroc);
    // The returned weights and scores are the best epoch's, not the last one's.
    const scores = predict(result.weights, validation.features, 'sigmoid');
    scores.forEach((s, i) => {
      expect(Math.abs(s - result.validationScores[i]!)).toBeLessThan(1e-5);
    });
    expect(aurocOf(result.validationScores, validation.labels)).toBe(best.meanAuroc);
    expect(bce(scores, validation.labels)).toBeCloseTo(best.valLoss, 4);
    expect(result.classWeights).toEqual([1, 1]);
    expect(result.backend).toBe('wasm');
    // The caller's backend is restored.
    expect(tf.getBackend()).toBe('cpu');
  });

  it('stops early once validation AUROC stops improving', async () => {
    // Perfectly separable: AUROC reaches 1 within a few epochs and cannot improve further.
    const train = syntheticBinary({ n: 400, featureDim: DIM, prevalence: 0.5, separation: 12, seed: 3 });
    const validation = syntheticBinary({ n: 200, featureDim: DIM, prevalence: 0.5, separation: 12, seed: 4 });
    const result = await trainHead(options(train, validation, { epochs: 30, patience: 2 }));
    expect(result.history.length).toBeLessThan(30);
    expect(result.history.at(-1)!.epoch).toBe(result.bestEpoch + 2);
    expectEarlyStopping(result.history, result.bestEpoch, 30, 2);
    expect(result.history[result.bestEpoch - 1]!.meanAuroc).toBe(1);
  });

  it('trains a softmax head with focal loss on three classes (val AUROC > 0.95)', async () => {
    const train = syntheticThreeClass({ n: 600, featureDim: DIM, separation: 4, seed: 5 });
    const validation = syntheticThreeClass({ n: 300, featureDim: DIM, separation: 4, seed: 6 });
    const result = await trainHead(
      options(train, validation, {
        labelNames: ['normal', 'pneumonia', 'other'],
        activation: 'softmax',
        loss: 'focal',
        classWeights: 'auto',
        epochs: 8,
      }),
    );
    const best = result.history[result.bestEpoch - 1]!;
    expect(best.meanAuroc).toBeGreaterThan(0.95);
    expect(Object.keys(best.perLabel)).toEqual(['normal', 'pneumonia', 'other']);
    // Balanced classes: auto weights are all 1.
    result.classWeights.forEach((w) => {
      expect(w).toBeCloseTo(1, 12);
    });
    // Softmax scores sum to 1 per row.
    for (let i = 0; i < 300; i++) {
      const row = result.validationScores.subarray(i * 3, i * 3 + 3);
      expect(row[0]! + row[1]! + row[2]!).toBeCloseTo(1, 5);
    }
  });

  it('on 5% positives, class weights and oversampling raise sensitivity at threshold 0.5 over none', async () => {
    const set = { featureDim: DIM, prevalence: 0.05, separation: 2 };
    const train = syntheticBinary({ ...set, n: 2000, seed: 7 });
    const validation = syntheticBinary({ ...set, n: 1000, seed: 8 });
    const sensitivity = async (overrides: Partial<TrainHeadOptions>) => {
      const result = await trainHead(options(train, validation, { epochs: 6, batchSize: 64, ...overrides }));
      return result.history[result.bestEpoch - 1]!.perLabel.finding!.sensitivity!;
    };
    const none = await sensitivity({});
    const weighted = await sensitivity({ classWeights: 'auto' });
    const oversampled = await sensitivity({ oversample: true });
    const focalWeighted = await sensitivity({ classWeights: 'auto', loss: 'focal' });
    // Unweighted, the 5% prior keeps most positives below 0.5; balanced training centres the boundary.
    expect(none).toBeLessThan(0.5);
    expect(weighted).toBeGreaterThan(none + 0.25);
    expect(oversampled).toBeGreaterThan(none + 0.25);
    expect(focalWeighted).toBeGreaterThan(none + 0.25);
  });

  it('gives byte-identical weights for the same seed, other weights for another seed', async () => {
    const train = syntheticBinary({ n: 300, featureDim: DIM, prevalence: 0.2, separation: 3, seed: 9 });
    const validation = syntheticBinary({ n: 100, featureDim: DIM, prevalence: 0.2, separation: 3, seed: 10 });
    const run = (seed: number) =>
      trainHead(options(train, validation, { epochs: 3, patience: 5, seed, oversample: true }));
    const tensorsBefore = tf.memory().numTensors;
    const [a, b, c] = [await run(4), await run(4), await run(5)];
    // No tensor leaks from training (batches, masks, optimizer slots, variables are disposed).
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    const bytes = (w: HeadWeights) =>
      Buffer.concat(
        [w.fc1Kernel, w.fc1Bias, w.predictionsKernel, w.predictionsBias].map((x) => Buffer.from(x.buffer)),
      );
    expect(bytes(a.weights).equals(bytes(b.weights))).toBe(true);
    expect(a.history.map((h) => h.loss)).toEqual(b.history.map((h) => h.loss));
    expect(bytes(a.weights).equals(bytes(c.weights))).toBe(false);
  });

  it('cpu and wasm backends agree', async () => {
    const train = syntheticBinary({ n: 200, featureDim: DIM, prevalence: 0.3, separation: 3, seed: 11 });
    const validation = syntheticBinary({ n: 100, featureDim: DIM, prevalence: 0.3, separation: 3, seed: 12 });
    const [cpu, wasm] = [
      await trainHead(options(train, validation, { epochs: 2, backend: 'cpu' })),
      await trainHead(options(train, validation, { epochs: 2, backend: 'wasm' })),
    ];
    expect(cpu.backend).toBe('cpu');
    cpu.validationScores.forEach((s, i) => {
      expect(Math.abs(s - wasm.validationScores[i]!)).toBeLessThan(1e-4);
    });
  });

  it('reports sensitivity/specificity at the threshold reaching thresholdSensitivity', async () => {
    const train = syntheticBinary({ n: 300, featureDim: DIM, prevalence: 0.3, separation: 2, seed: 13 });
    const validation = syntheticBinary({ n: 200, featureDim: DIM, prevalence: 0.3, separation: 2, seed: 14 });
    const result = await trainHead(options(train, validation, { epochs: 2, thresholdSensitivity: 0.9 }));
    for (const report of result.history) {
      const m = report.perLabel.finding!;
      expect(m.sensitivity).toBeGreaterThanOrEqual(0.9);
      // 60 positives: the lowest threshold reaching 90% calls exactly 54 of them.
      expect(m.sensitivity).toBe(54 / 60);
      expect(report.thresholds[0]).not.toBe(0.5);
    }
  });

  it('hand back-propagation equals tfjs autodiff (sigmoid focal weighted, softmax CE, with dropout mask)', () => {
    const random = mulberry32(21);
    const values = (n: number, scale = 1) => Array.from({ length: n }, () => (random() - 0.5) * 2 * scale);
    const [B, D, H] = [6, 10, 8];
    for (const [activation, L] of [
      ['sigmoid', 2],
      ['softmax', 3],
    ] as const) {
      tf.tidy(() => {
        const head: Head = {
          fc1Kernel: tf.variable(tf.tensor2d(values(D * H, 0.5), [D, H])),
          fc1Bias: tf.variable(tf.tensor1d(values(H, 0.1))),
          predictionsKernel: tf.variable(tf.tensor2d(values(H * L, 0.5), [H, L])),
          predictionsBias: tf.variable(tf.tensor1d(values(L, 0.1))),
        };
        const x = tf.tensor2d(values(B * D), [B, D]);
        const y =
          activation === 'sigmoid'
            ? tf.tensor2d(
                values(B * L).map((v) => (v > 0 ? 1 : 0)),
                [B, L],
              )
            : (tf.oneHot(tf.tensor1d([0, 1, 2, 2, 1, 0], 'int32'), L).toFloat() as tf.Tensor2D);
        const mask = tf.tensor2d(
          values(B * H).map((v) => (v > -0.2 ? 2 : 0)),
          [B, H],
        );
        const lossOf = (logits: tf.Tensor2D, labels: tf.Tensor2D): tf.Scalar =>
          activation === 'sigmoid'
            ? tf.mean(
                sigmoidLossTensor(
                  logits,
                  labels,
                  { kind: 'focal', gamma: 2 },
                  { pos: tf.tensor1d([3, 0.5]), neg: tf.tensor1d([0.6, 1.5]) },
                ),
              )
            : tf.mean(softmaxLossTensor(logits, labels, { kind: 'ce', gamma: 0 }, tf.tensor1d([1, 2, 0.5])));
        const manual = headGradients(head, { x, xT: tf.transpose<tf.Tensor2D>(x), y, mask }, lossOf);
        const auto = tf.variableGrads(() => {
          const hidden = tf.mul(tf.relu(tf.add(tf.matMul(x, head.fc1Kernel), head.fc1Bias)), mask);
          return lossOf(
            tf.add<tf.Tensor2D>(tf.matMul(hidden, head.predictionsKernel), head.predictionsBias),
            y,
          );
        });
        expect(manual.loss.dataSync()[0]).toBeCloseTo(auto.value.dataSync()[0]!, 6);
        for (const key of ['fc1Kernel', 'fc1Bias', 'predictionsKernel', 'predictionsBias'] as const) {
          const expected = auto.grads[head[key].name]!.dataSync();
          const actual = manual.gradients[key].dataSync();
          expect(actual).toHaveLength(expected.length);
          expect(Math.max(...actual.map((v) => Math.abs(v)))).toBeGreaterThan(1e-4);
          actual.forEach((v, i) => {
            expect(v).toBeCloseTo(expected[i]!, 6);
          });
        }
        tf.dispose([head.fc1Kernel, head.fc1Bias, head.predictionsKernel, head.predictionsBias]);
      });
    }
  });

  it('rejects inconsistent inputs with one-line messages', async () => {
    const train = syntheticBinary({ n: 20, featureDim: DIM, prevalence: 0.5, separation: 1, seed: 1 });
    await expect(trainHead(options(train, train, { labelNames: ['a', 'b'] }))).rejects.toThrow(
      /labels has 20 values, expected 20 x 2/,
    );
    await expect(
      trainHead(
        options(train, train, {
          labelNames: ['a', 'b'],
          activation: 'softmax',
          labels: new Float32Array(40),
        }),
      ),
    ).rejects.toThrow(/row 0 is not one-hot/);
    await expect(trainHead(options(train, train, { featureDim: 33 }))).rejects.toThrow(
      /not a non-empty n x 33/,
    );
    await expect(trainHead(options(train, train, { epochs: 0 }))).rejects.toThrow(
      /epochs must be a positive integer/,
    );
  });
});
