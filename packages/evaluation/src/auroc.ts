/**
 * AUROC, its DeLong variance, the paired DeLong test and a stratified bootstrap interval.
 *
 * The AUROC is the Mann-Whitney probability P(score of a positive > score of a negative) with ties
 * counting 1/2, which equals the trapezoidal area under the empirical ROC curve. DeLong, DeLong &
 * Clarke-Pearson (1988, Biometrics 44:837) estimate its variance from the placement values
 *   V10(x) = (#negatives < x + #negatives = x / 2) / n   for each positive score x,
 *   V01(y) = (#positives > y + #positives = y / 2) / m   for each negative score y,
 *   AUC = mean(V10) = mean(V01),  Var = S10 / m + S01 / n,
 * S10, S01 the sample variances (denominators m - 1, n - 1). Sun & Xu (2014, IEEE Signal Process.
 * Lett. 21:1389) compute the placements from midranks after one sort; here they come from binary
 * searches in the two sorted classes, which is the same O(n log n) (never the O(m n) comparison
 * matrix). Same estimator as pROC's `var(roc, method = "delong")`.
 */
import { Z_95 } from './proportion.js';
import { mulberry32 } from './random.js';
import { lowerBound, sortClasses, upperBound } from './ranking.js';
import type { SortedClasses } from './ranking.js';

/** V10 of each `positiveScores` entry (in its order) against the sorted negatives. */
function positivePlacements(positiveScores: ArrayLike<number>, negatives: Float64Array): Float64Array {
  const n = negatives.length;
  const out = new Float64Array(positiveScores.length);
  for (let i = 0; i < positiveScores.length; i++) {
    const x = positiveScores[i] as number;
    const below = lowerBound(negatives, x);
    out[i] = (below + 0.5 * (upperBound(negatives, x) - below)) / n;
  }
  return out;
}

/** V01 of each `negativeScores` entry (in its order) against the sorted positives. */
function negativePlacements(negativeScores: ArrayLike<number>, positives: Float64Array): Float64Array {
  const m = positives.length;
  const out = new Float64Array(negativeScores.length);
  for (let j = 0; j < negativeScores.length; j++) {
    const y = negativeScores[j] as number;
    const atOrBelow = upperBound(positives, y);
    out[j] = (m - atOrBelow + 0.5 * (atOrBelow - lowerBound(positives, y))) / m;
  }
  return out;
}

function mean(values: Float64Array): number {
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/** Sample variance (denominator length - 1) around a given mean. */
function sampleVariance(values: Float64Array, centre: number): number {
  let sum = 0;
  for (const v of values) sum += (v - centre) * (v - centre);
  return sum / (values.length - 1);
}

/** AUROC and its DeLong variance. */
export interface DelongResult {
  /** Null when a class is empty. */
  readonly auc: number | null;
  /** Null when a class has fewer than 2 cases (the sample variances need 2). */
  readonly variance: number | null;
}

/** AUROC with its DeLong variance, from the two sorted classes. */
export function delong(sorted: SortedClasses): DelongResult {
  const { positives, negatives } = sorted;
  if (positives.length === 0 || negatives.length === 0) return { auc: null, variance: null };
  const v10 = positivePlacements(positives, negatives);
  const auc = mean(v10);
  if (positives.length < 2 || negatives.length < 2) return { auc, variance: null };
  const v01 = negativePlacements(negatives, positives);
  const variance = sampleVariance(v10, auc) / positives.length + sampleVariance(v01, auc) / negatives.length;
  return { auc, variance };
}

/** AUROC (ties count 1/2), or null when a class is empty. */
export function auroc(sorted: SortedClasses): number | null {
  return delong(sorted).auc;
}

/** The DeLong variance of the AUROC, or null when a class has fewer than 2 cases. */
export function delongVariance(sorted: SortedClasses): number | null {
  return delong(sorted).variance;
}

/**
 * DeLong 95% interval: AUC ± 1.96 sqrt(Var), clipped to [0, 1]. Plain (not logit-transformed), as
 * DeLong et al. and pROC's `ci.auc` do, so our intervals can be checked against pROC digit for
 * digit; the clip is the only correction near 0 and 1.
 */
export function delongInterval(result: DelongResult): { ci_low: number | null; ci_high: number | null } {
  if (result.auc === null || result.variance === null) return { ci_low: null, ci_high: null };
  const half = Z_95 * Math.sqrt(result.variance);
  return { ci_low: Math.max(0, result.auc - half), ci_high: Math.min(1, result.auc + half) };
}

/** The paired DeLong test of two AUROCs measured on the same cases. */
export interface DelongTest {
  readonly auc_a: number;
  readonly auc_b: number;
  readonly variance_a: number;
  readonly variance_b: number;
  readonly covariance: number;
  /** (auc_a - auc_b) / sqrt(var_a + var_b - 2 cov); null when that variance is 0. */
  readonly z: number | null;
  /** Two-sided p-value of z; null with z. */
  readonly p: number | null;
}

/**
 * DeLong et al.'s (1988) test of H0: AUC_a = AUC_b for two scores of the same cases (pROC's
 * `roc.test(method = "delong", paired = TRUE)`). `labels`: 1 positive, 0 negative, other skipped.
 * Throws when a class has fewer than 2 cases.
 */
export function delongTest(
  scoresA: ArrayLike<number>,
  scoresB: ArrayLike<number>,
  labels: ArrayLike<number>,
): DelongTest {
  if (scoresA.length !== scoresB.length || scoresA.length !== labels.length) {
    throw new RangeError('delongTest: scoresA, scoresB and labels differ in length');
  }
  const split = (scores: ArrayLike<number>): { pos: number[]; neg: number[] } => {
    const pos: number[] = [];
    const neg: number[] = [];
    for (let i = 0; i < labels.length; i++) {
      if (labels[i] === 1) pos.push(scores[i] as number);
      else if (labels[i] === 0) neg.push(scores[i] as number);
    }
    return { pos, neg };
  };
  const a = split(scoresA);
  const b = split(scoresB);
  const m = a.pos.length;
  const n = a.neg.length;
  if (m < 2 || n < 2)
    throw new RangeError(`delongTest: needs 2 positives and 2 negatives, got ${String(m)} and ${String(n)}`);
  const sortedA = sortClasses(scoresA, labels);
  const sortedB = sortClasses(scoresB, labels);
  // Placements in case order, so that the two scores' values of one case line up.
  const a10 = positivePlacements(a.pos, sortedA.negatives);
  const a01 = negativePlacements(a.neg, sortedA.positives);
  const b10 = positivePlacements(b.pos, sortedB.negatives);
  const b01 = negativePlacements(b.neg, sortedB.positives);
  const aucA = mean(a10);
  const aucB = mean(b10);
  let s10ab = 0;
  for (let i = 0; i < m; i++) s10ab += ((a10[i] as number) - aucA) * ((b10[i] as number) - aucB);
  let s01ab = 0;
  for (let j = 0; j < n; j++) s01ab += ((a01[j] as number) - aucA) * ((b01[j] as number) - aucB);
  const varianceA = sampleVariance(a10, aucA) / m + sampleVariance(a01, aucA) / n;
  const varianceB = sampleVariance(b10, aucB) / m + sampleVariance(b01, aucB) / n;
  const covariance = s10ab / (m - 1) / m + s01ab / (n - 1) / n;
  const varianceDiff = varianceA + varianceB - 2 * covariance;
  const z = varianceDiff > 0 ? (aucA - aucB) / Math.sqrt(varianceDiff) : null;
  return {
    auc_a: aucA,
    auc_b: aucB,
    variance_a: varianceA,
    variance_b: varianceB,
    covariance,
    z,
    p: z === null ? null : erfc(Math.abs(z) / Math.SQRT2),
  };
}

/**
 * Complementary error function, the Chebyshev fit of Numerical Recipes (2nd ed., section 6.2,
 * `erfcc`): fractional error below 1.2e-7 everywhere, ample for a p-value printed to 4 digits.
 */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** Settings of the bootstrap interval. */
export interface BootstrapOptions {
  /** Number of resamples (pROC's default is 2000). */
  readonly samples: number;
  readonly seed: number;
}

/**
 * Stratified percentile bootstrap of the AUROC (pROC's `ci.auc(method = "bootstrap")` default):
 * each resample draws m positives from the positives and n negatives from the negatives with
 * replacement; the interval is the 2.5% and 97.5% quantiles (R's type 7) of the resampled AUCs.
 * The sort is done once: scores are reduced to tie runs, and each resample is O(m + n + runs).
 * No interval below 2 cases of a class, as for DeLong: a lone positive (or negative) is drawn
 * into every resample, so the resamples vary only through the other class and the "interval"
 * (e.g. [0, 0] when that positive scores below every negative) claims a certainty it lacks.
 */
export function bootstrapAuroc(
  sorted: SortedClasses,
  options: BootstrapOptions,
): { value: number | null; ci_low: number | null; ci_high: number | null } {
  const { positives: pos, negatives: neg } = sorted;
  const m = pos.length;
  const n = neg.length;
  const value = m > 0 && n > 0 ? delong(sorted).auc : null;
  if (value === null || m < 2 || n < 2 || options.samples < 1) return { value, ci_low: null, ci_high: null };
  // Tie runs over the merged ascending order: run index of every positive and negative.
  const posRun = new Uint32Array(m);
  const negRun = new Uint32Array(n);
  let i = 0;
  let j = 0;
  let runs = 0;
  while (i < m || j < n) {
    const p = i < m ? (pos[i] as number) : Infinity;
    const q = j < n ? (neg[j] as number) : Infinity;
    const v = p <= q ? p : q;
    while (i < m && pos[i] === v) posRun[i++] = runs;
    while (j < n && neg[j] === v) negRun[j++] = runs;
    runs++;
  }
  const wPos = new Float64Array(runs);
  const wNeg = new Float64Array(runs);
  const random = mulberry32(options.seed);
  const draw = (size: number): number => Math.floor(random() * size);
  const aucs = new Float64Array(options.samples);
  for (let b = 0; b < options.samples; b++) {
    wPos.fill(0);
    wNeg.fill(0);
    for (let k = 0; k < m; k++) {
      const run = posRun[draw(m)] as number;
      wPos[run] = (wPos[run] as number) + 1;
    }
    for (let k = 0; k < n; k++) {
      const run = negRun[draw(n)] as number;
      wNeg[run] = (wNeg[run] as number) + 1;
    }
    let below = 0;
    let sum = 0;
    for (let r = 0; r < runs; r++) {
      const wn = wNeg[r] as number;
      sum += (wPos[r] as number) * (below + 0.5 * wn);
      below += wn;
    }
    aucs[b] = sum / (m * n);
  }
  aucs.sort();
  return { value, ci_low: quantile(aucs, 0.025), ci_high: quantile(aucs, 0.975) };
}

/** Quantile of an ascending array, linear interpolation between order statistics (R type 7). */
export function quantile(sorted: Float64Array, probability: number): number {
  const h = (sorted.length - 1) * probability;
  const lo = Math.floor(h);
  const a = sorted[lo] as number;
  const b = sorted[Math.min(lo + 1, sorted.length - 1)] as number;
  return a + (h - lo) * (b - a);
}
