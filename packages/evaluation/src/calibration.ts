/**
 * Calibration of probability scores against 0/1 outcomes: Brier score, expected calibration error
 * with equal-width and equal-mass bins, the reliability diagram, and the logistic recalibration
 * slope and intercept. Scores must be probabilities (in [0, 1]); see `isProbability`.
 */
import type { SortedClasses } from './ranking.js';
import type { Calibration, ReliabilityBin } from './report.js';

/**
 * Scores are clipped to [EPSILON, 1 - EPSILON] before the logit, so that exact 0 and 1 (hard
 * predictions) give a finite logit (±16.1) instead of ±infinity.
 */
export const LOGIT_EPSILON = 1e-7;

/** Whether every score of both classes lies in [0, 1]. */
export function isProbability(sorted: SortedClasses): boolean {
  const { positives: p, negatives: q } = sorted;
  const min = Math.min(p.length > 0 ? (p[0] as number) : 0, q.length > 0 ? (q[0] as number) : 0);
  const max = Math.max(
    p.length > 0 ? (p[p.length - 1] as number) : 1,
    q.length > 0 ? (q[q.length - 1] as number) : 1,
  );
  return min >= 0 && max <= 1;
}

/** Brier score: mean of (score - outcome)^2. Null with no cases. */
export function brierScore(sorted: SortedClasses): number | null {
  const total = sorted.positives.length + sorted.negatives.length;
  if (total === 0) return null;
  let sum = 0;
  for (const s of sorted.positives) sum += (1 - s) * (1 - s);
  for (const s of sorted.negatives) sum += s * s;
  return sum / total;
}

interface BinAccumulator {
  lower: number;
  upper: number;
  count: number;
  scoreSum: number;
  positives: number;
}

function toBin(acc: BinAccumulator): ReliabilityBin {
  return {
    lower: acc.lower,
    upper: acc.upper,
    count: acc.count,
    mean_score: acc.count > 0 ? acc.scoreSum / acc.count : null,
    observed_rate: acc.count > 0 ? acc.positives / acc.count : null,
  };
}

/** ECE = sum over bins of (bin count / n) |mean score - observed rate|; null with no cases. */
export function expectedCalibrationError(bins: readonly ReliabilityBin[]): number | null {
  let total = 0;
  let sum = 0;
  for (const bin of bins) {
    if (bin.count === 0 || bin.mean_score === null || bin.observed_rate === null) continue;
    total += bin.count;
    sum += bin.count * Math.abs(bin.mean_score - bin.observed_rate);
  }
  return total > 0 ? sum / total : null;
}

/**
 * Equal-width reliability bins on [0, 1]: bin k is [k/B, (k+1)/B), the last one closed at 1.
 * Empty bins are kept (count 0, means null) so every report has the same B bins.
 */
export function equalWidthBins(sorted: SortedClasses, bins: number): ReliabilityBin[] {
  const acc: BinAccumulator[] = Array.from({ length: bins }, (_, k) => ({
    lower: k / bins,
    upper: (k + 1) / bins,
    count: 0,
    scoreSum: 0,
    positives: 0,
  }));
  const add = (values: Float64Array, positive: number): void => {
    for (const s of values) {
      const bin = acc[Math.min(bins - 1, Math.max(0, Math.floor(s * bins)))] as BinAccumulator;
      bin.count++;
      bin.scoreSum += s;
      bin.positives += positive;
    }
  };
  add(sorted.positives, 1);
  add(sorted.negatives, 0);
  return acc.map(toBin);
}

/**
 * Equal-mass (quantile) bins: in ascending score order, bin b ends at the tie run that holds
 * sorted position round((b + 1) n / B) - 1. Tied scores never straddle two bins (so the result
 * does not depend on the order of tied cases); a tie run that spans a boundary swallows the
 * bins it covers, so there can be fewer than B bins. `lower`/`upper` are the bin's lowest and
 * highest score.
 */
export function equalMassBins(sorted: SortedClasses, bins: number): ReliabilityBin[] {
  const { positives: pos, negatives: neg } = sorted;
  const total = pos.length + neg.length;
  const out: ReliabilityBin[] = [];
  if (total === 0) return out;
  let i = 0;
  let j = 0;
  let seen = 0;
  let b = 0;
  let current: BinAccumulator | null = null;
  while (i < pos.length || j < neg.length) {
    const p = i < pos.length ? (pos[i] as number) : Infinity;
    const q = j < neg.length ? (neg[j] as number) : Infinity;
    const v = p <= q ? p : q;
    let runPositives = 0;
    let runCount = 0;
    while (i < pos.length && pos[i] === v) {
      i++;
      runPositives++;
      runCount++;
    }
    while (j < neg.length && neg[j] === v) {
      j++;
      runCount++;
    }
    current ??= { lower: v, upper: v, count: 0, scoreSum: 0, positives: 0 };
    current.upper = v;
    current.count += runCount;
    current.scoreSum += v * runCount;
    current.positives += runPositives;
    seen += runCount;
    if (seen >= Math.round(((b + 1) * total) / bins)) {
      out.push(toBin(current));
      current = null;
      while (b < bins - 1 && seen >= Math.round(((b + 1) * total) / bins)) b++;
    }
  }
  if (current !== null) out.push(toBin(current));
  return out;
}

/** Logistic recalibration fit, or null with the reason. */
export type RecalibrationFit =
  { slope: number; intercept: number } | { slope: null; intercept: null; reason: string };

/** Distinct logits of one class (ascending, as the scores) with their multiplicities. */
interface WeightedLogits {
  readonly x: Float64Array;
  readonly w: Float64Array;
}

/** logit(clip(score)) of an ascending class, tied values merged into one weighted point. */
function weightedLogits(sortedScores: Float64Array): WeightedLogits {
  const x = new Float64Array(sortedScores.length);
  const w = new Float64Array(sortedScores.length);
  let k = -1;
  for (const s of sortedScores) {
    const c = Math.min(1 - LOGIT_EPSILON, Math.max(LOGIT_EPSILON, s));
    const v = Math.log(c / (1 - c));
    if (k >= 0 && x[k] === v) w[k] = (w[k] as number) + 1;
    else {
      k++;
      x[k] = v;
      w[k] = 1;
    }
  }
  return { x: x.subarray(0, k + 1), w: w.subarray(0, k + 1) };
}

/** Log-likelihood, gradient and information matrix of the logistic fit at (a, b). */
interface FitState {
  ll: number;
  g0: number;
  g1: number;
  h00: number;
  h01: number;
  h11: number;
}

function fitState(pos: WeightedLogits, neg: WeightedLogits, a: number, b: number): FitState {
  const state: FitState = { ll: 0, g0: 0, g1: 0, h00: 0, h01: 0, h11: 0 };
  const add = (points: WeightedLogits, y: number): void => {
    const { x, w } = points;
    for (let k = 0; k < x.length; k++) {
      const xk = x[k] as number;
      const wk = w[k] as number;
      const eta = a + b * xk;
      // One exp and one log1p per point, stable for either sign of eta:
      // log p = -log(1 + e^-eta), log(1 - p) = -eta + log p.
      let p: number;
      let logP: number;
      if (eta >= 0) {
        const t = Math.exp(-eta);
        p = 1 / (1 + t);
        logP = -Math.log1p(t);
      } else {
        const t = Math.exp(eta);
        p = t / (1 + t);
        logP = eta - Math.log1p(t);
      }
      state.ll += wk * (y === 1 ? logP : logP - eta);
      const r = wk * (y - p);
      const v = wk * p * (1 - p);
      state.g0 += r;
      state.g1 += r * xk;
      state.h00 += v;
      state.h01 += v * xk;
      state.h11 += v * xk * xk;
    }
  };
  add(pos, 1);
  add(neg, 0);
  return state;
}

/**
 * Fits P(y = 1) = 1 / (1 + exp(-(intercept + slope * logit(score)))) by maximum likelihood
 * (Newton-Raphson from (0, 1) with step halving; tied scores are one weighted point). A perfectly
 * calibrated model has slope 1 and intercept 0; slope < 1 means over-confident scores. No fit
 * exists (null, with the reason) when a class is empty, the scores are constant, or the classes
 * are separated by the score (the likelihood has no maximum).
 */
export function recalibrationFit(sorted: SortedClasses): RecalibrationFit {
  if (sorted.positives.length === 0 || sorted.negatives.length === 0) {
    return { slope: null, intercept: null, reason: 'one class only' };
  }
  const pos = weightedLogits(sorted.positives);
  const neg = weightedLogits(sorted.negatives);
  const posMin = pos.x[0] as number;
  const posMax = pos.x[pos.x.length - 1] as number;
  const negMin = neg.x[0] as number;
  const negMax = neg.x[neg.x.length - 1] as number;
  if (Math.min(posMin, negMin) === Math.max(posMax, negMax)) {
    return { slope: null, intercept: null, reason: 'constant score' };
  }
  if (negMax <= posMin || posMax <= negMin) {
    return { slope: null, intercept: null, reason: 'classes separated by the score: the fit diverges' };
  }
  let a = 0;
  let b = 1;
  let state = fitState(pos, neg, a, b);
  for (let iteration = 0; iteration < 100; iteration++) {
    const det = state.h00 * state.h11 - state.h01 * state.h01;
    if (!(det > 0)) return { slope: null, intercept: null, reason: 'singular information matrix' };
    let da = (state.h11 * state.g0 - state.h01 * state.g1) / det;
    let db = (state.h00 * state.g1 - state.h01 * state.g0) / det;
    let next = fitState(pos, neg, a + da, b + db);
    // Rounding noise near the optimum must not count as a worse step (and cost 30 halvings).
    const floor = state.ll - 1e-12 * Math.abs(state.ll);
    for (let halving = 0; halving < 30 && !(next.ll >= floor); halving++) {
      da /= 2;
      db /= 2;
      next = fitState(pos, neg, a + da, b + db);
    }
    a += da;
    b += db;
    state = next;
    if (Math.abs(da) < 1e-10 * (1 + Math.abs(a)) && Math.abs(db) < 1e-10 * (1 + Math.abs(b))) {
      return { slope: b, intercept: a };
    }
  }
  return { slope: null, intercept: null, reason: 'the fit did not converge in 100 iterations' };
}

/** A label whose calibration cannot be computed (no cases, or scores that are not probabilities). */
const UNDEFINED_CALIBRATION: Calibration = {
  ece: null,
  ece_equal_mass: null,
  brier: null,
  slope: null,
  intercept: null,
  bins: [],
  bins_equal_mass: [],
};

/** All calibration statistics of one label; `bins` is B for both binnings. */
export function calibration(
  sorted: SortedClasses,
  bins: number,
): Calibration & { readonly notes: readonly string[] } {
  const notes: string[] = [];
  if (sorted.positives.length + sorted.negatives.length === 0) {
    return { ...UNDEFINED_CALIBRATION, notes };
  }
  if (!isProbability(sorted)) {
    notes.push('calibration undefined: scores are not probabilities (outside [0, 1])');
    return { ...UNDEFINED_CALIBRATION, notes };
  }
  const widthBins = equalWidthBins(sorted, bins);
  const massBins = equalMassBins(sorted, bins);
  const fit = recalibrationFit(sorted);
  if (fit.slope === null) notes.push(`calibration slope/intercept undefined: ${fit.reason}`);
  return {
    ece: expectedCalibrationError(widthBins),
    ece_equal_mass: expectedCalibrationError(massBins),
    brier: brierScore(sorted),
    slope: fit.slope,
    intercept: fit.intercept,
    bins: widthBins,
    bins_equal_mass: massBins,
    notes,
  };
}
