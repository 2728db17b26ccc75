import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useCpuBackend } from '../tfjs-io.js';
import {
  focalLossGradient,
  focalLossValue,
  sigmoidLossTensor,
  softmaxFocalLossValue,
  softmaxLossTensor,
  weightedBceValue,
} from './losses.js';

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

describe('pure loss functions (hand-computed)', () => {
  it('focal loss: -alpha_t (1 - p_t)^gamma ln p_t', () => {
    // y = 1, p = 0.9: p_t = 0.9, (0.1)^2 x -ln 0.9 = 0.01 x 0.1053605157 = 0.001053605157
    expect(focalLossValue(0.9, 1, 2)).toBeCloseTo(0.001053605157, 12);
    // y = 0, p = 0.9: p_t = 0.1, (0.9)^2 x -ln 0.1 = 0.81 x 2.302585093 = 1.865093925
    expect(focalLossValue(0.9, 0, 2)).toBeCloseTo(1.865093925, 8);
    // alpha = 0.25: alpha_t = 0.25 for y = 1 (0.000263401289), 0.75 for y = 0 (1.398820444)
    expect(focalLossValue(0.9, 1, 2, 0.25)).toBeCloseTo(0.000263401289, 12);
    expect(focalLossValue(0.9, 0, 2, 0.25)).toBeCloseTo(1.398820444, 8);
    // The easy example is down-weighted 100x relative to cross-entropy (0.1053605157).
    expect(-Math.log(0.9) / focalLossValue(0.9, 1, 2)).toBeCloseTo(100, 9);
  });

  it('gamma = 0 (no alpha) is binary cross-entropy', () => {
    for (const p of [0.01, 0.3, 0.5, 0.7, 0.999]) {
      expect(focalLossValue(p, 1, 0)).toBeCloseTo(-Math.log(p), 12);
      expect(focalLossValue(p, 0, 0)).toBeCloseTo(-Math.log(1 - p), 12);
      expect(focalLossValue(p, 1, 0)).toBeCloseTo(weightedBceValue(p, 1, 1, 1), 12);
    }
    // -ln 0.7 = 0.3566749439
    expect(focalLossValue(0.7, 1, 0)).toBeCloseTo(0.3566749439, 9);
  });

  it('weighted BCE: -(wPos y ln p + wNeg (1 - y) ln(1 - p))', () => {
    // -3 ln 0.2 = 3 x 1.609437912 = 4.828313737; -0.5 ln 0.8 = 0.5 x 0.2231435513 = 0.1115717757
    expect(weightedBceValue(0.2, 1, 3, 0.5)).toBeCloseTo(4.828313737, 8);
    expect(weightedBceValue(0.2, 0, 3, 0.5)).toBeCloseTo(0.1115717757, 9);
  });

  it('focal gradient d FL / d z = s (1 - p_t)^gamma (gamma p_t ln p_t - (1 - p_t))', () => {
    // z = 0: p_t = 0.5, 0.25 x (2 x 0.5 x ln 0.5 - 0.5) = 0.25 x (-1.193147181) = -0.2982867952
    expect(focalLossGradient(0, 1, 2)).toBeCloseTo(-0.2982867952, 9);
    expect(focalLossGradient(0, 0, 2)).toBeCloseTo(0.2982867952, 9);
    // z = ln 3: p = 0.75; y = 1: 0.0625 x (1.5 x -0.2876820725 - 0.25) = 0.0625 x -0.6815231087 = -0.04259519429
    expect(focalLossGradient(Math.log(3), 1, 2)).toBeCloseTo(-0.04259519429, 10);
    // gamma = 0 gives p - y.
    expect(focalLossGradient(Math.log(3), 1, 0)).toBeCloseTo(-0.25, 12);
    expect(focalLossGradient(Math.log(3), 0, 0)).toBeCloseTo(0.75, 12);
  });

  it('focal gradient matches a central finite difference of the focal loss', () => {
    const h = 1e-5;
    for (const gamma of [0, 0.5, 1, 2, 5]) {
      for (const z of [-4, -1.3, 0, 0.7, 3]) {
        for (const y of [0, 1] as const) {
          const numeric =
            (focalLossValue(sigmoid(z + h), y, gamma) - focalLossValue(sigmoid(z - h), y, gamma)) / (2 * h);
          expect(focalLossGradient(z, y, gamma)).toBeCloseTo(numeric, 6);
        }
      }
    }
  });

  it('softmax focal loss: -alpha_c (1 - p_c)^gamma ln p_c', () => {
    // p_c = 0.7: 0.09 x 0.3566749439 = 0.03210074495
    expect(softmaxFocalLossValue([0.7, 0.2, 0.1], 0, 2)).toBeCloseTo(0.03210074495, 10);
    expect(softmaxFocalLossValue([0.7, 0.2, 0.1], 2, 0, 3)).toBeCloseTo(-3 * Math.log(0.1), 12);
    expect(() => softmaxFocalLossValue([0.5, 0.5], 2, 2)).toThrow(RangeError);
  });
});

describe('tfjs loss tensors equal the pure functions', () => {
  beforeAll(async () => {
    await useCpuBackend();
  });

  const logits = [
    [-3, 0.5],
    [0, 2],
    [1.2, -0.4],
    [4, -6],
  ];
  const labels = [
    [0, 1],
    [1, 0],
    [1, 1],
    [0, 0],
  ];
  const pos = [2.5, 0.8];
  const neg = [0.6, 1.3];

  it('sigmoid: focal and CE, with and without class weights', () => {
    for (const [kind, gamma] of [
      ['ce', 0],
      ['focal', 0],
      ['focal', 2],
      ['focal', 0.5],
    ] as const) {
      for (const weighted of [false, true]) {
        const out = tf.tidy(() =>
          sigmoidLossTensor(
            tf.tensor2d(logits),
            tf.tensor2d(labels),
            { kind, gamma },
            weighted ? { pos: tf.tensor1d(pos), neg: tf.tensor1d(neg) } : undefined,
          ).arraySync(),
        );
        logits.forEach((row, i) => {
          row.forEach((z, l) => {
            const y = labels[i]![l]! as 0 | 1;
            const alphaT = weighted ? (y === 1 ? pos[l]! : neg[l]!) : 1;
            const expected = alphaT * focalLossValue(sigmoid(z), y, kind === 'ce' ? 0 : gamma);
            expect(out[i]![l]!).toBeCloseTo(expected, 5);
            if (kind === 'ce' && weighted) {
              expect(out[i]![l]!).toBeCloseTo(weightedBceValue(sigmoid(z), y, pos[l]!, neg[l]!), 5);
            }
          });
        });
      }
    }
  });

  it('sigmoid: the tfjs gradient equals focalLossGradient', () => {
    const z = [-4, -1.3, 0, 0.7, 3, 9];
    for (const gamma of [0, 1, 2]) {
      for (const y of [0, 1] as const) {
        const grad = tf.tidy(
          () =>
            tf
              .grad((x: tf.Tensor) =>
                tf.sum(
                  sigmoidLossTensor(x as tf.Tensor2D, tf.fill<tf.Rank.R2>([1, z.length], y), {
                    kind: 'focal',
                    gamma,
                  }),
                ),
              )(tf.tensor2d([z]))
              .arraySync() as number[][],
        );
        z.forEach((logit, k) => {
          expect(grad[0]![k]!).toBeCloseTo(focalLossGradient(logit, y, gamma), 5);
        });
      }
    }
  });

  it('sigmoid: stays finite for logits of +-100 (no log(0))', () => {
    const out = tf.tidy(() =>
      sigmoidLossTensor(tf.tensor2d([[100, -100]]), tf.tensor2d([[0, 1]]), {
        kind: 'focal',
        gamma: 2,
      }).arraySync(),
    );
    expect(out[0]![0]!).toBeCloseTo(100, 3);
    expect(out[0]![1]!).toBeCloseTo(100, 3);
  });

  it('softmax: focal and CE, with and without class weights, against the pure function', () => {
    const z = [
      [2, 0.5, -1],
      [0, 0, 0],
      [-2, 3, 0.1],
      [8, -8, 0],
    ];
    const onehot = [
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
      [0, 1, 0],
    ];
    const weights = [0.5, 1.2, 2.0];
    for (const [kind, gamma] of [
      ['ce', 0],
      ['focal', 2],
      ['focal', 1],
    ] as const) {
      for (const weighted of [false, true]) {
        const out = tf.tidy(() =>
          softmaxLossTensor(
            tf.tensor2d(z),
            tf.tensor2d(onehot),
            { kind, gamma },
            weighted ? tf.tensor1d(weights) : undefined,
          ).arraySync(),
        );
        z.forEach((row, i) => {
          const max = Math.max(...row);
          const e = row.map((v) => Math.exp(v - max));
          const total = e.reduce((a, b) => a + b, 0);
          const c = onehot[i]!.indexOf(1);
          const expected = softmaxFocalLossValue(
            e.map((v) => v / total),
            c,
            kind === 'ce' ? 0 : gamma,
            weighted ? weights[c] : undefined,
          );
          expect(out[i]!).toBeCloseTo(expected, 5);
        });
      }
    }
  });
});
