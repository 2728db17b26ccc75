import { describe, expect, it } from 'vitest';

import {
  brierScore,
  calibration,
  equalMassBins,
  equalWidthBins,
  expectedCalibrationError,
  LOGIT_EPSILON,
  recalibrationFit,
} from './calibration.js';
import { mulberry32 } from './random.js';
import { sortClasses } from './ranking.js';
import type { SortedClasses } from './ranking.js';

function classes(pos: number[], neg: number[]): SortedClasses {
  return sortClasses([...pos, ...neg], [...pos.map(() => 1), ...neg.map(() => 0)]);
}

/** n cases with score s = sigmoid(N(0, 1.5)) and outcome ~ Bernoulli(sigmoid(a + b logit(s))). */
function synthetic(
  n: number,
  seed: number,
  a: number,
  b: number,
): { sorted: SortedClasses; scores: number[]; labels: number[] } {
  const random = mulberry32(seed);
  const scores: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    // Box-Muller.
    const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    const logit = 1.5 * z;
    scores.push(1 / (1 + Math.exp(-logit)));
    labels.push(random() < 1 / (1 + Math.exp(-(a + b * logit))) ? 1 : 0);
  }
  return { sorted: sortClasses(scores, labels), scores, labels };
}

// Hand example: positives 0.9, 0.6; negatives 0.2, 0.5.
const HAND = classes([0.9, 0.6], [0.2, 0.5]);

describe('brierScore', () => {
  it('is the mean squared error, by hand', () => {
    // (1 - 0.9)^2 + (1 - 0.6)^2 + 0.2^2 + 0.5^2 = 0.01 + 0.16 + 0.04 + 0.25 = 0.46; / 4 = 0.115.
    expect(brierScore(HAND)).toBeCloseTo(0.115, 15);
    expect(brierScore(classes([], []))).toBeNull();
  });
});

describe('expected calibration error', () => {
  it('equal-width bins, by hand', () => {
    // B = 2: [0, 0.5) holds 0.2 (neg): mean 0.2, rate 0 -> |0.2|; [0.5, 1] holds 0.5 (neg), 0.6
    // and 0.9 (pos): mean 2/3, rate 2/3 -> 0. ECE = 1/4 * 0.2 + 3/4 * 0 = 0.05.
    const bins = equalWidthBins(HAND, 2);
    expect(bins).toHaveLength(2);
    expect(bins[0]).toMatchObject({ lower: 0, upper: 0.5, count: 1, observed_rate: 0 });
    expect(bins[0]?.mean_score).toBeCloseTo(0.2, 15);
    expect(bins[1]?.count).toBe(3);
    expect(expectedCalibrationError(bins)).toBeCloseTo(0.05, 15);
    // A score of exactly 1 is in the last bin; empty bins are kept with null means.
    const edge = equalWidthBins(classes([1], [0]), 4);
    expect(edge.map((b) => b.count)).toEqual([1, 0, 0, 1]);
    expect(edge[1]?.mean_score).toBeNull();
  });

  it('equal-mass bins, by hand', () => {
    // B = 2 over 0.2 (n), 0.5 (n) | 0.6 (p), 0.9 (p): |0.35 - 0| and |0.75 - 1|:
    // ECE = 1/2 * 0.35 + 1/2 * 0.25 = 0.3.
    const bins = equalMassBins(HAND, 2);
    expect(bins.map((b) => [b.lower, b.upper, b.count])).toEqual([
      [0.2, 0.5, 2],
      [0.6, 0.9, 2],
    ]);
    expect(expectedCalibrationError(bins)).toBeCloseTo(0.3, 15);
  });

  it('equal-mass bins keep tied scores together', () => {
    // 0.1 (n), 0.3 (n), 0.3 (p), 0.3 (n), 0.8 (p), 0.9 (p), B = 3 (boundaries after 2, 4, 6):
    // the 0.3 run crosses the first boundary and reaches the second, so the bins are
    // {0.1, 0.3 x3} (mean 0.25, rate 1/4) and {0.8, 0.9} (mean 0.85, rate 1).
    // ECE = 4/6 * 0 + 2/6 * 0.15 = 0.05.
    const bins = equalMassBins(classes([0.3, 0.8, 0.9], [0.1, 0.3, 0.3]), 3);
    expect(bins.map((b) => [b.lower, b.upper, b.count])).toEqual([
      [0.1, 0.3, 4],
      [0.8, 0.9, 2],
    ]);
    expect(expectedCalibrationError(bins)).toBeCloseTo(0.05, 15);
  });

  it('is about 0 on perfectly calibrated data', () => {
    const { sorted } = synthetic(20_000, 3, 0, 1);
    expect(expectedCalibrationError(equalWidthBins(sorted, 10))).toBeLessThan(0.02);
    expect(expectedCalibrationError(equalMassBins(sorted, 10))).toBeLessThan(0.02);
  });
});

describe('recalibrationFit', () => {
  it('gives slope ~1 and intercept ~0 on perfectly calibrated synthetic data', () => {
    const { sorted } = synthetic(20_000, 1, 0, 1);
    const fit = recalibrationFit(sorted);
    expect(fit.slope).not.toBeNull();
    // Standard errors at n = 20,000 are about 0.02; 0.07 is > 3 SE.
    expect(Math.abs((fit.slope as number) - 1)).toBeLessThan(0.07);
    expect(Math.abs(fit.intercept as number)).toBeLessThan(0.07);
  });

  it('recovers a known miscalibration (slope 0.5, intercept -0.4)', () => {
    const { sorted } = synthetic(20_000, 2, -0.4, 0.5);
    const fit = recalibrationFit(sorted);
    expect(fit.slope).toBeCloseTo(0.5, 1);
    expect(fit.intercept).toBeCloseTo(-0.4, 1);
  });

  it('solves the likelihood equations sum(y - p) = 0 and sum((y - p) logit(s)) = 0', () => {
    const { sorted, scores, labels } = synthetic(500, 4, 0.3, 1.4);
    const fit = recalibrationFit(sorted);
    if (fit.slope === null) throw new Error('no fit');
    let g0 = 0;
    let g1 = 0;
    scores.forEach((s, i) => {
      const x = Math.log(s / (1 - s));
      const p = 1 / (1 + Math.exp(-(fit.intercept + fit.slope * x)));
      g0 += (labels[i] as number) - p;
      g1 += ((labels[i] as number) - p) * x;
    });
    expect(Math.abs(g0)).toBeLessThan(1e-8);
    expect(Math.abs(g1)).toBeLessThan(1e-8);
  });

  it('is undefined, with the reason, for one class, a constant score and separated classes', () => {
    expect(recalibrationFit(classes([0.2, 0.7], []))).toMatchObject({
      slope: null,
      reason: 'one class only',
    });
    expect(recalibrationFit(classes([0.4, 0.4], [0.4]))).toMatchObject({
      slope: null,
      reason: 'constant score',
    });
    expect(recalibrationFit(classes([0.8, 0.9], [0.1, 0.8]))).toMatchObject({ slope: null });
    // Exact 0 and 1 are clipped to logit +-L, L = logit(1 - 1e-7), not infinite: a fit exists.
    // At +L two of three cases are positive, at -L one of three: a + bL = log 2, a - bL = -log 2,
    // so a = 0 and b = log 2 / L.
    const hard = recalibrationFit(classes([1, 1, 0], [0, 0, 1]));
    const L = Math.log((1 - LOGIT_EPSILON) / LOGIT_EPSILON);
    expect(hard.slope).toBeCloseTo(Math.log(2) / L, 8);
    expect(hard.intercept).toBeCloseTo(0, 8);
  });
});

describe('calibration', () => {
  it('reports nothing but a note for scores outside [0, 1]', () => {
    const result = calibration(classes([2.5, 0.3], [-1, 0.2]), 10);
    expect(result).toMatchObject({
      ece: null,
      ece_equal_mass: null,
      brier: null,
      slope: null,
      intercept: null,
      bins: [],
    });
    expect(result.notes[0]).toMatch(/not probabilities/);
  });

  it('collects every statistic', () => {
    const result = calibration(HAND, 2);
    expect(result.brier).toBeCloseTo(0.115, 15);
    expect(result.ece).toBeCloseTo(0.05, 15);
    expect(result.ece_equal_mass).toBeCloseTo(0.3, 15);
    // The hand example's classes are separated (0.5 < 0.6): no slope, and the note says why.
    expect(result.slope).toBeNull();
    expect(result.notes).toEqual([
      'calibration slope/intercept undefined: classes separated by the score: the fit diverges',
    ]);
  });
});
