/** ROC and precision-recall curves, average precision and score histograms. */
import { nextUp } from './ranking.js';
import type { SortedClasses, ThresholdTable } from './ranking.js';
import type { Curves } from './report.js';

export type RocPoint = Curves['roc'][number];
export type PrPoint = Curves['pr'][number];

/**
 * Average precision as scikit-learn defines it: AP = sum_k (R_k - R_{k-1}) P_k over the distinct
 * thresholds from the highest, R_0 = 0 (a step function, no interpolation; tied scores are one
 * threshold). Null when there are no positives.
 */
export function averagePrecision(table: ThresholdTable): number | null {
  if (table.positives === 0) return null;
  let ap = 0;
  let previousTp = 0;
  for (let k = 0; k < table.thresholds.length; k++) {
    const tp = table.tp[k] as number;
    if (tp === previousTp) continue;
    ap += ((tp - previousTp) / table.positives) * (tp / (tp + (table.fp[k] as number)));
    previousTp = tp;
  }
  return ap;
}

/**
 * The full empirical ROC curve: (0, 0) at a threshold just above the highest score, then one
 * point per distinct score. Empty when a class is empty.
 */
export function rocCurve(table: ThresholdTable): RocPoint[] {
  const { positives: m, negatives: n, thresholds } = table;
  if (m === 0 || n === 0 || thresholds.length === 0) return [];
  const points: RocPoint[] = [{ fpr: 0, tpr: 0, threshold: nextUp(thresholds[0] as number) }];
  for (let k = 0; k < thresholds.length; k++) {
    points.push({
      fpr: (table.fp[k] as number) / n,
      tpr: (table.tp[k] as number) / m,
      threshold: thresholds[k] as number,
    });
  }
  return points;
}

/**
 * The precision-recall curve: one point per distinct score (highest threshold first), recall
 * rising. Empty when there are no positives.
 */
export function prCurve(table: ThresholdTable): PrPoint[] {
  if (table.positives === 0) return [];
  const points: PrPoint[] = [];
  for (let k = 0; k < table.thresholds.length; k++) {
    const tp = table.tp[k] as number;
    points.push({
      recall: tp / table.positives,
      precision: tp / (tp + (table.fp[k] as number)),
      threshold: table.thresholds[k] as number,
    });
  }
  return points;
}

/**
 * Thins a curve for drawing: keeps the first and last point and every point at least `1 / maxPoints`
 * (L1 distance on the unit square) from the last kept one, then, if still too many, every k-th.
 * What is drawn stays within about one pixel of the full curve at a few hundred pixels.
 */
export function downsample<T>(
  points: readonly T[],
  maxPoints: number,
  coords: (p: T) => readonly [number, number],
): T[] {
  if (points.length <= maxPoints) return [...points];
  const step = 1 / maxPoints;
  const kept: T[] = [];
  let last: readonly [number, number] | null = null;
  for (let i = 0; i < points.length; i++) {
    const point = points[i] as T;
    const [x, y] = coords(point);
    if (last === null || i === points.length - 1 || Math.abs(x - last[0]) + Math.abs(y - last[1]) >= step) {
      kept.push(point);
      last = [x, y];
    }
  }
  if (kept.length <= maxPoints) return kept;
  const stride = Math.ceil((kept.length - 1) / (maxPoints - 1));
  const thinned: T[] = [];
  for (let i = 0; i < kept.length - 1; i += stride) thinned.push(kept[i] as T);
  thinned.push(kept[kept.length - 1] as T);
  return thinned;
}

/**
 * Score histograms of the positives and of the negatives on shared equal-width bins spanning
 * [lo, hi] (the last bin closed). Scores outside [lo, hi] go to the end bins.
 */
export function scoreHistogram(
  sorted: SortedClasses,
  bins: number,
  lo: number,
  hi: number,
): Curves['histogram'] {
  const width = hi > lo ? (hi - lo) / bins : 1;
  const edges = Array.from({ length: bins + 1 }, (_, k) => (k === bins ? hi : lo + k * width));
  const count = (values: Float64Array): number[] => {
    const out = new Array<number>(bins).fill(0);
    for (const v of values) {
      const k = Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / width)));
      out[k] = (out[k] as number) + 1;
    }
    return out;
  };
  return { edges, positives: count(sorted.positives), negatives: count(sorted.negatives) };
}
