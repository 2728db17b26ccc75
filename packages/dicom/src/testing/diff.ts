/** Sample comparisons for tests: fast on large typed arrays, with a number to assert on. */

/** Largest absolute difference between two equally long sample arrays; NaN if any sample is NaN. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] ?? 0) - (b[i] ?? 0));
    // A NaN must fail a `toBeLessThan` bound, not be skipped by the comparison below.
    if (Number.isNaN(d)) return Number.NaN;
    if (d > max) max = d;
  }
  return max;
}

/** Mean absolute difference: lossy codecs are judged on average as well as per sample. */
export function meanAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs((a[i] ?? 0) - (b[i] ?? 0));
  return sum / a.length;
}

/**
 * Index of the first differing sample, -1 when type, length and values all match, -2 for a
 * different array type, -3 for a different length (vitest's toEqual walks typed arrays element
 * by element and takes ~1 s on a small RGB frame).
 */
export function firstMismatch(
  actual: ArrayLike<number> & object,
  expected: ArrayLike<number> & object,
): number {
  if (actual.constructor !== expected.constructor) return -2;
  if (actual.length !== expected.length) return -3;
  for (let i = 0; i < actual.length; i++) if (actual[i] !== expected[i]) return i;
  return -1;
}
