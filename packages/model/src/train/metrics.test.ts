import { describe, expect, it } from 'vitest';
import { aurocOf, aurocPerLabel, sensitivitySpecificity, thresholdsAtSensitivity } from './metrics.js';

describe('aurocOf', () => {
  it('counts correctly ordered positive/negative pairs', () => {
    // positives 0.35, 0.8 vs negatives 0.1, 0.4: (0.35 > 0.1) + (0.8 > both) = 3 of 4 pairs.
    expect(aurocOf([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBe(0.75);
  });
  it('counts ties as 1/2', () => {
    // positive 0.5 ties both negatives (1/2 + 1/2), positive 0.9 beats both (2): 3 / 4.
    expect(aurocOf([0.5, 0.5, 0.5, 0.9], [1, 0, 0, 1])).toBe(0.75);
    expect(aurocOf([0.3, 0.3, 0.3], [1, 0, 0])).toBe(0.5);
  });
  it('is null without positives or negatives', () => {
    expect(aurocOf([0.1, 0.2], [0, 0])).toBeNull();
    expect(aurocOf([0.1, 0.2], [1, 1])).toBeNull();
  });
  it('works per label on n x L matrices', () => {
    const scores = new Float32Array([0.1, 0.9, 0.4, 0.2, 0.35, 0.3, 0.8, 0.1]);
    const labels = new Float32Array([0, 0, 0, 0, 1, 0, 1, 0]);
    expect(aurocPerLabel(scores, labels, 2)).toEqual([0.75, null]);
  });
});

describe('sensitivity and thresholds', () => {
  // label 0: positives score 0.9, 0.8, 0.6, 0.3, 0.2; negatives 0.7, 0.4, 0.1.
  const scores = new Float32Array([0.9, 0.8, 0.6, 0.3, 0.2, 0.7, 0.4, 0.1]);
  const labels = new Float32Array([1, 1, 1, 1, 1, 0, 0, 0]);

  it('thresholdsAtSensitivity picks the k-th highest positive score, k = ceil(target x positives)', () => {
    // 0.8 x 5 = 4 -> 4th highest positive = 0.3; 0.6 x 5 = 3 -> 0.6; 1.0 -> lowest 0.2; 0.5 -> ceil 2.5 = 3 -> 0.6.
    const at = (t: number) => thresholdsAtSensitivity(scores, labels, 1, t)[0]!;
    expect(at(0.8)).toBeCloseTo(0.3, 6);
    expect(at(0.6)).toBeCloseTo(0.6, 6);
    expect(at(1)).toBeCloseTo(0.2, 6);
    expect(at(0.5)).toBeCloseTo(0.6, 6);
    // It is the highest threshold: at 0.3 sensitivity 0.8, just above it only 0.6; specificity 1/3.
    expect(sensitivitySpecificity(scores, labels, 1, 0, at(0.8))).toEqual({
      sensitivity: 0.8,
      specificity: 1 / 3,
    });
    expect(sensitivitySpecificity(scores, labels, 1, 0, Math.fround(0.3) + 1e-6).sensitivity).toBe(0.6);
  });

  it('does not round 0.7 x 10 up to 8 positives', () => {
    const s = new Float32Array(Array.from({ length: 10 }, (_, i) => (10 - i) / 10));
    const y = new Float32Array(10).fill(1);
    // 7th highest of 1.0 .. 0.1 is 0.4.
    expect(thresholdsAtSensitivity(s, y, 1, 0.7)[0]).toBeCloseTo(0.4, 6);
  });

  it('works per label and rejects labels without positives and bad targets', () => {
    const s2 = new Float32Array([0.9, 0.1, 0.2, 0.8, 0.7, 0.3]);
    const y2 = new Float32Array([1, 0, 0, 1, 1, 1]);
    // label 0 positives 0.9, 0.7 -> target 1 gives 0.7; label 1 positives 0.8, 0.3 -> 0.3.
    const t = thresholdsAtSensitivity(s2, y2, 2, 1);
    expect(t[0]).toBeCloseTo(0.7, 6);
    expect(t[1]).toBeCloseTo(0.3, 6);
    expect(() => thresholdsAtSensitivity(s2, new Float32Array([0, 1, 0, 1, 0, 1]), 2, 0.9)).toThrow(
      /label 0 has no positive/,
    );
    expect(() => thresholdsAtSensitivity(s2, y2, 2, 0)).toThrow(RangeError);
    expect(() => thresholdsAtSensitivity(s2, y2, 4, 0.5)).toThrow(RangeError);
  });

  it('sensitivity/specificity are null when the class is absent', () => {
    expect(sensitivitySpecificity(new Float32Array([0.6]), new Float32Array([1]), 1, 0, 0.5)).toEqual({
      sensitivity: 1,
      specificity: null,
    });
  });
});
