/**
 * The one sort every rank statistic here shares: the scores of the positive cases and of the
 * negative cases, each ascending in a Float64Array (the engine's numeric typed-array sort, no
 * comparator). Everything else (AUROC, DeLong placements, the threshold table behind ROC/PR,
 * operating points) is a linear merge or a binary search over these two arrays: O(n log n) total.
 */

/** Scores of one binary label split by class, each ascending. */
export interface SortedClasses {
  readonly positives: Float64Array;
  readonly negatives: Float64Array;
}

/**
 * Splits `scores` by `labels` (1 positive, 0 negative; any other value, e.g. -1 for an unknown
 * label, is skipped) and sorts each class. Throws on a non-finite score of a labelled case.
 */
export function sortClasses(scores: ArrayLike<number>, labels: ArrayLike<number>): SortedClasses {
  if (scores.length !== labels.length) {
    throw new RangeError(`sortClasses: ${String(scores.length)} scores but ${String(labels.length)} labels`);
  }
  let m = 0;
  let n = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === 1) m++;
    else if (labels[i] === 0) n++;
  }
  const positives = new Float64Array(m);
  const negatives = new Float64Array(n);
  m = 0;
  n = 0;
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i];
    if (label !== 0 && label !== 1) continue;
    const score = scores[i] as number;
    if (!Number.isFinite(score))
      throw new RangeError(`sortClasses: score ${String(i)} is not a finite number`);
    if (label === 1) positives[m++] = score;
    else negatives[n++] = score;
  }
  positives.sort();
  negatives.sort();
  return { positives, negatives };
}

/** Index of the first element >= value in an ascending array (its length when there is none). */
export function lowerBound(sorted: Float64Array, value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as number) < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first element > value in an ascending array. */
export function upperBound(sorted: Float64Array, value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as number) <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** How many elements of an ascending array are >= threshold. */
export function countAtLeast(sorted: Float64Array, threshold: number): number {
  return sorted.length - lowerBound(sorted, threshold);
}

/**
 * The confusion counts at every distinct score, highest first: at `thresholds[k]` (positive iff
 * score >= threshold) `tp[k]` positives and `fp[k]` negatives are called positive. Tied scores
 * are one threshold, so the ROC and PR curves move diagonally across a tie.
 */
export interface ThresholdTable {
  readonly thresholds: Float64Array;
  readonly tp: Float64Array;
  readonly fp: Float64Array;
  readonly positives: number;
  readonly negatives: number;
}

/** Builds the threshold table by merging the two sorted classes from the top. */
export function thresholdTable(sorted: SortedClasses): ThresholdTable {
  const { positives: pos, negatives: neg } = sorted;
  const thresholds = new Float64Array(pos.length + neg.length);
  const tp = new Float64Array(pos.length + neg.length);
  const fp = new Float64Array(pos.length + neg.length);
  let i = pos.length - 1;
  let j = neg.length - 1;
  let k = 0;
  let tpCount = 0;
  let fpCount = 0;
  while (i >= 0 || j >= 0) {
    const p = i >= 0 ? (pos[i] as number) : -Infinity;
    const q = j >= 0 ? (neg[j] as number) : -Infinity;
    const value = p >= q ? p : q;
    while (i >= 0 && pos[i] === value) {
      tpCount++;
      i--;
    }
    while (j >= 0 && neg[j] === value) {
      fpCount++;
      j--;
    }
    thresholds[k] = value;
    tp[k] = tpCount;
    fp[k] = fpCount;
    k++;
  }
  return {
    thresholds: thresholds.subarray(0, k),
    tp: tp.subarray(0, k),
    fp: fp.subarray(0, k),
    positives: pos.length,
    negatives: neg.length,
  };
}

/** The smallest double above `value`: a threshold at which nothing scored <= value is positive. */
export function nextUp(value: number): number {
  if (Number.isNaN(value) || value === Infinity) return value;
  if (value === 0) return Number.MIN_VALUE;
  const buffer = new Float64Array([value]);
  const bits = new BigInt64Array(buffer.buffer);
  bits[0] = (bits[0] as bigint) + (value > 0 ? 1n : -1n);
  return buffer[0] as number;
}
