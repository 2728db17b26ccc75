import { describe, expect, it } from 'vitest';
import { classWeightsFor, inferActivation } from './class-weights.js';

// 8 samples x 2 sigmoid labels: label 0 has 2 positives, label 1 has 4.
const multiLabel = new Float32Array([1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0]);
// 10 one-hot samples over 3 classes: 6, 3, 1.
const oneHot = new Float32Array(
  [0, 0, 0, 0, 0, 0, 1, 1, 1, 2].flatMap((c) => [0, 1, 2].map((k) => (k === c ? 1 : 0))),
);

describe('classWeightsFor', () => {
  it('sigmoid auto: n / (2 n_neg) and n / (2 n_pos) per label, as (negative, positive) pairs', () => {
    // label 0: 8 / (2 x 6) = 0.6667, 8 / (2 x 2) = 2; label 1: 8 / (2 x 4) = 1 for both.
    const w = classWeightsFor(multiLabel, 2, 'auto', 'sigmoid');
    expect(w).toHaveLength(4);
    expect(w[0]).toBeCloseTo(2 / 3, 12);
    expect(w[1]).toBe(2);
    expect(w[2]).toBe(1);
    expect(w[3]).toBe(1);
    // The mean weight over label 0's samples stays 1: (6 x 2/3 + 2 x 2) / 8.
    expect((6 * w[0]! + 2 * w[1]!) / 8).toBeCloseTo(1, 12);
  });

  it('softmax auto: inverse class frequency normalised to mean 1', () => {
    // 1/6, 1/3, 1 have mean 0.5 -> 1/3, 2/3, 2.
    const w = classWeightsFor(oneHot, 3, 'auto', 'softmax');
    expect(w.map((v) => Number(v.toFixed(12)))).toEqual([0.333333333333, 0.666666666667, 2]);
    expect(w.reduce((a, b) => a + b, 0) / 3).toBeCloseTo(1, 12);
  });

  it('none gives ones in the activation layout', () => {
    expect(classWeightsFor(multiLabel, 2, 'none', 'sigmoid')).toEqual([1, 1, 1, 1]);
    expect(classWeightsFor(oneHot, 3, 'none', 'softmax')).toEqual([1, 1, 1]);
  });

  it('explicit weights: softmax per class; sigmoid per label (positive weight) or pairs', () => {
    expect(classWeightsFor(oneHot, 3, [1, 2, 5], 'softmax')).toEqual([1, 2, 5]);
    expect(classWeightsFor(multiLabel, 2, [4, 3], 'sigmoid')).toEqual([1, 4, 1, 3]);
    expect(classWeightsFor(multiLabel, 2, [0.5, 4, 1, 3], 'sigmoid')).toEqual([0.5, 4, 1, 3]);
    expect(() => classWeightsFor(oneHot, 3, [1, 2], 'softmax')).toThrow(/2 class weights given.*needs 3/);
    expect(() => classWeightsFor(multiLabel, 2, [1, 2, 3], 'sigmoid')).toThrow(/needs 2 or 4/);
    expect(() => classWeightsFor(oneHot, 3, [1, 0, 2], 'softmax')).toThrow(/finite and > 0/);
  });

  it('auto throws when a class or a label side has no sample', () => {
    const noPositives = new Float32Array([0, 1, 0, 1, 0, 0]);
    expect(() => classWeightsFor(noPositives, 2, 'auto', 'sigmoid')).toThrow(/label 0 has 0 positive/);
    const allPositive = new Float32Array([1, 1, 1]);
    expect(() => classWeightsFor(allPositive, 1, 'auto', 'sigmoid')).toThrow(/0 negative/);
    const missingClass = new Float32Array([1, 0, 0, 0, 1, 0]);
    expect(() => classWeightsFor(missingClass, 3, 'auto', 'softmax')).toThrow(
      /class 2 has no training sample/,
    );
  });

  it('infers the layout from the labels when no activation is given', () => {
    expect(inferActivation(oneHot, 3)).toBe('softmax');
    expect(inferActivation(multiLabel, 2)).toBe('sigmoid');
    expect(inferActivation(new Float32Array([1, 0, 1]), 1)).toBe('sigmoid');
    expect(classWeightsFor(oneHot, 3, 'none')).toHaveLength(3);
    expect(classWeightsFor(multiLabel, 2, 'none')).toHaveLength(4);
    expect(() => classWeightsFor(new Float32Array(5), 2, 'none')).toThrow(/not a multiple of 2/);
  });
});
