// Statistical VOI windows for images without a usable VOI in the file (no PS3.3 C.11.2 window
// or table): the full value range, or a percentile range that ignores a few extreme pixels
// (collimator edges, burnt-in labels, dead detector lines).
import type { VoiWindow } from '../types.js';

/** A closed value range [low, high] in modality output units. */
export interface ValueRange {
  readonly low: number;
  readonly high: number;
}

/**
 * Bins of the approximate histogram used for non-integer values or integer ranges wider than
 * EXACT_HISTOGRAM_MAX_BINS: the percentile error is at most (max - min) / 65536, i.e. below one
 * level of a 16-bit image and far below one 8-bit display level.
 */
export const APPROXIMATE_HISTOGRAM_BINS = 65_536;

/** Integer-valued data spanning at most this many values gets one bin per value: exact percentiles. */
export const EXACT_HISTOGRAM_MAX_BINS = 1 << 18;

/**
 * The LINEAR window (PS3.3 C.11.2.1.2.1) whose lower and upper bounds are `low` and `high`:
 * width = high - low + 1, center = (low + high) / 2 + 0.5, so `low` maps to the output minimum
 * and `high` to the output maximum. When low === high the width is 1, a threshold (still valid).
 */
export function windowFromRange(range: ValueRange): VoiWindow {
  return { center: (range.low + range.high) / 2 + 0.5, width: range.high - range.low + 1 };
}

/** Smallest and largest non-NaN value, or undefined when there is none. */
export function minMaxRange(values: Float32Array): ValueRange | undefined {
  let low = Infinity;
  let high = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    if (x < low) low = x;
    if (x > high) high = x;
  }
  return low <= high ? { low, high } : undefined;
}

/** LINEAR window (see windowFromRange) spanning min..max of the values; undefined when all are NaN. */
export function minMaxWindow(values: Float32Array): VoiWindow | undefined {
  const range = minMaxRange(values);
  return range === undefined ? undefined : windowFromRange(range);
}

function checkPercentiles(lowPercentile: number, highPercentile: number): void {
  if (!(lowPercentile >= 0 && lowPercentile <= highPercentile && highPercentile <= 100)) {
    throw new RangeError(
      `percentiles must satisfy 0 <= low <= high <= 100, got ${lowPercentile}, ${highPercentile}`,
    );
  }
}

/**
 * Percentiles of a weighted set of distinct values sorted ascending (`values[i]` occurs
 * `counts[i]` times), with numpy.percentile's default 'linear' definition: the value at
 * fractional rank p/100 * (n - 1), interpolated between the two neighbouring ranks. Exact.
 */
export function percentilesOfSortedCounts(
  values: ArrayLike<number>,
  counts: ArrayLike<number>,
  percentiles: readonly number[],
): number[] {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i]!;
  const valueAtRank = (rank: number): number => {
    let seen = 0;
    for (let i = 0; i < counts.length; i++) {
      seen += counts[i]!;
      if (seen > rank) return values[i]!;
    }
    return values[values.length - 1]!;
  };
  return percentiles.map((p) => {
    const h = (p / 100) * (total - 1);
    const k = Math.floor(h);
    const below = valueAtRank(k);
    return h > k ? below + (h - k) * (valueAtRank(k + 1) - below) : below;
  });
}

/**
 * The [lowPercentile, highPercentile] range of the non-NaN values (numpy 'linear' definition), in
 * O(n) with a histogram instead of a sort. Integer-valued data spanning up to 2^18 values is
 * binned one bin per value, which makes the result exact; anything else (rescaled floats, wide
 * ranges) uses 65,536 equal bins over [min, max] and interpolates within a bin, so the error is
 * at most (max - min) / 65536; percentile 0 and 100 are always exactly min and max.
 */
export function percentileRange(
  values: Float32Array,
  lowPercentile: number,
  highPercentile: number,
): ValueRange | undefined {
  checkPercentiles(lowPercentile, highPercentile);
  let min = Infinity;
  let max = -Infinity;
  let integral = true;
  const n = values.length;
  for (let i = 0; i < n; i++) {
    const x = values[i]!;
    if (x < min) min = x;
    if (x > max) max = x;
    // Math.round is exact for float32 values; NaN !== NaN, so skip NaN explicitly.
    if (integral && x !== Math.round(x) && x === x) integral = false;
  }
  if (!(min <= max)) return undefined;
  if (min === max) return { low: min, high: max };

  if (integral && max - min < EXACT_HISTOGRAM_MAX_BINS) {
    const counts = new Uint32Array(max - min + 1);
    for (let i = 0; i < n; i++) {
      const x = values[i]!;
      if (x === x) counts[x - min]!++;
    }
    // Only the occupied bins matter; the compact arrays keep the rank scans short.
    const present: number[] = [];
    const presentCounts: number[] = [];
    for (let v = 0; v < counts.length; v++) {
      if (counts[v]! > 0) {
        present.push(v + min);
        presentCounts.push(counts[v]!);
      }
    }
    const [low, high] = percentilesOfSortedCounts(present, presentCounts, [lowPercentile, highPercentile]);
    return { low: low!, high: high! };
  }

  const bins = APPROXIMATE_HISTOGRAM_BINS;
  const binWidth = (max - min) / bins;
  const toBin = bins / (max - min);
  const counts = new Uint32Array(bins);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const x = values[i]!;
    if (x !== x) continue;
    const b = Math.floor((x - min) * toBin);
    counts[b < bins ? b : bins - 1]!++;
    total++;
  }
  // Within a bin the values are assumed evenly spread: the j-th of m values sits at
  // (j + 0.5) / m of the bin. The extreme ranks are known exactly.
  const valueAtRank = (rank: number): number => {
    if (rank <= 0) return min;
    if (rank >= total - 1) return max;
    let seen = 0;
    for (let b = 0; b < bins; b++) {
      const m = counts[b]!;
      if (seen + m > rank) return min + (b + (rank - seen + 0.5) / m) * binWidth;
      seen += m;
    }
    return max;
  };
  const percentileOf = (p: number): number => {
    const h = (p / 100) * (total - 1);
    const k = Math.floor(h);
    const below = valueAtRank(k);
    return h > k ? below + (h - k) * (valueAtRank(k + 1) - below) : below;
  };
  return { low: percentileOf(lowPercentile), high: percentileOf(highPercentile) };
}

/** LINEAR window (see windowFromRange) spanning the given percentiles; undefined when all are NaN. */
export function percentileWindow(
  values: Float32Array,
  lowPercentile: number,
  highPercentile: number,
): VoiWindow | undefined {
  const range = percentileRange(values, lowPercentile, highPercentile);
  return range === undefined ? undefined : windowFromRange(range);
}
