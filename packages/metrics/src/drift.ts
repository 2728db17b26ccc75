/**
 * Drift statistics between a reference distribution (stored in the model bundle manifest) and a
 * current window of results. Pure functions over binned counts: no prom-client, no I/O, so the
 * results service, the `cxr model reference` CLI and tests share exactly the same arithmetic.
 *
 * Why more than one statistic: PSI is the industry habit and what the alert thresholds (0.1
 * warning, 0.25 critical) are calibrated for, but it is unbounded and its value for a bin that is
 * empty on one side depends entirely on the epsilon that replaces the zero. Jensen-Shannon
 * divergence is bounded in [0, 1] (base 2) and defined for empty bins without any epsilon, and the
 * Kolmogorov-Smirnov distance reacts to a shift of the whole score distribution (which PSI spreads
 * over many small per-bin terms), so the scores get those as well.
 */

/**
 * Default epsilon that replaces an empty-bin proportion in PSI. 1e-4 means "less than one in ten
 * thousand": small enough not to hide a real change in a populated bin, large enough that one empty
 * bin contributes a finite term (about 9.2 * |p_other| with ln(1e-4) = -9.21) instead of infinity.
 * The value is a convention, not a law: PSI figures are only comparable under the same epsilon.
 */
export const DEFAULT_PSI_EPSILON = 1e-4;

/** Options for {@link psi} and {@link categoricalPsi}. */
export interface PsiOptions {
  /** Replaces a proportion of exactly 0 (either side); must be in (0, 1). Default 1e-4. */
  readonly epsilon?: number;
}

/**
 * Counts `values` into the bins delimited by `edges` (length n+1 for n bins). Bins are half-open
 * [e_i, e_i+1) except the last, which is closed so that a score of exactly 1.0 lands in the top
 * bin of 0..1 edges. Values outside [e_0, e_n] are counted in the nearest end bin: an input that
 * leaves the reference range is drift and must not vanish from the statistics. NaN throws.
 */
export function histogram(values: ArrayLike<number>, edges: readonly number[]): number[] {
  validateEdges(edges);
  const binCount = edges.length - 1;
  const counts = new Array<number>(binCount).fill(0);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isNaN(v)) throw new RangeError(`histogram: value at index ${i} is NaN`);
    counts[binIndex(v, edges)]! += 1;
  }
  return counts;
}

/** Population stability index sum((c_i - r_i) * ln(c_i / r_i)) over proportions; zeros -> epsilon. */
export function psi(
  reference: readonly number[],
  current: readonly number[],
  options: PsiOptions = {},
): number {
  const epsilon = options.epsilon ?? DEFAULT_PSI_EPSILON;
  if (!(epsilon > 0 && epsilon < 1)) throw new RangeError('psi: epsilon must be in (0, 1)');
  const [r, c] = proportionsPair(reference, current, 'psi');
  let sum = 0;
  for (let i = 0; i < r.length; i++) {
    // Only exact zeros are replaced and the vector is not renormalised: the other proportions
    // stay the observed ones, so a populated bin's term is never altered by the convention.
    const ri = r[i]! === 0 ? epsilon : r[i]!;
    const ci = c[i]! === 0 ? epsilon : c[i]!;
    sum += (ci - ri) * Math.log(ci / ri);
  }
  return sum;
}

/**
 * PSI of categorical counts (manufacturer, modality, transfer syntax...) over the union of the
 * categories of both sides: a category never seen in the reference counts as an empty reference
 * bin (and so gets epsilon), which is exactly the "new scanner appeared" case drift must flag.
 */
export function categoricalPsi(
  reference: Readonly<Record<string, number>> | ReadonlyMap<string, number>,
  current: Readonly<Record<string, number>> | ReadonlyMap<string, number>,
  options: PsiOptions = {},
): number {
  const ref = toMap(reference);
  const cur = toMap(current);
  const categories = [...new Set([...ref.keys(), ...cur.keys()])].sort();
  if (categories.length === 0) throw new RangeError('categoricalPsi: no categories on either side');
  return psi(
    categories.map((k) => ref.get(k) ?? 0),
    categories.map((k) => cur.get(k) ?? 0),
    options,
  );
}

/**
 * Kolmogorov-Smirnov distance between two binned distributions: the largest absolute difference of
 * their cumulative proportions at the bin edges, in [0, 1]. Binning makes it a lower bound of the
 * KS statistic of the raw values (differences inside a bin are invisible).
 */
export function ksStatistic(reference: readonly number[], current: readonly number[]): number {
  const [r, c] = proportionsPair(reference, current, 'ksStatistic');
  let cr = 0;
  let cc = 0;
  let max = 0;
  for (let i = 0; i < r.length; i++) {
    cr += r[i]!;
    cc += c[i]!;
    max = Math.max(max, Math.abs(cr - cc));
  }
  // Float sums can land a hair above 1 for disjoint distributions.
  return Math.min(1, max);
}

/**
 * Jensen-Shannon divergence (base 2, in [0, 1]) between two count or proportion vectors:
 * 0.5 * KL(p || m) + 0.5 * KL(q || m) with m = (p + q) / 2 and 0 * log 0 = 0, so no epsilon.
 */
export function jensenShannon(p: readonly number[], q: readonly number[]): number {
  const [a, b] = proportionsPair(p, q, 'jensenShannon');
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const ai = a[i]!;
    const bi = b[i]!;
    const m = (ai + bi) / 2;
    if (ai > 0) sum += 0.5 * ai * Math.log2(ai / m);
    if (bi > 0) sum += 0.5 * bi * Math.log2(bi / m);
  }
  // Clamp float noise (tiny negatives for identical inputs, a hair above 1 for disjoint ones).
  return Math.min(1, Math.max(0, sum));
}

/** Throws RangeError unless `edges` are at least two strictly increasing numbers (n+1 edges, n bins). */
export function checkEdges(edges: readonly number[]): void {
  validateEdges(edges);
}

/**
 * The bin of `v` under {@link histogram}'s rules (half-open bins, last one closed, out-of-range
 * values clamped to the end bins). `edges` are not re-validated: check them once with
 * {@link checkEdges}; this is the per-value path of the drift windows.
 */
export function histogramBin(v: number, edges: readonly number[]): number {
  if (Number.isNaN(v)) throw new RangeError('histogramBin: value is NaN');
  return binIndex(v, edges);
}

function validateEdges(edges: readonly number[]): void {
  if (edges.length < 2) throw new RangeError('histogram: need at least two edges (one bin)');
  for (let i = 0; i < edges.length; i++) {
    const e = edges[i]!;
    if (Number.isNaN(e)) throw new RangeError(`histogram: edge ${i} is NaN`);
    if (i > 0 && !(e > edges[i - 1]!)) {
      throw new RangeError(`histogram: edges must be strictly increasing (edge ${i})`);
    }
  }
}

/** Index of the bin holding v; binary search, out-of-range values clamp to the end bins. */
function binIndex(v: number, edges: readonly number[]): number {
  const last = edges.length - 2;
  if (v < edges[1]!) return 0;
  if (v >= edges[last]!) return last;
  // Invariant: edges[lo] <= v < edges[hi].
  let lo = 1;
  let hi = last;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (v < edges[mid]!) hi = mid;
    else lo = mid;
  }
  return lo;
}

function proportionsPair(a: readonly number[], b: readonly number[], fn: string): [number[], number[]] {
  if (a.length !== b.length) {
    throw new RangeError(`${fn}: bin counts differ (${a.length} vs ${b.length})`);
  }
  if (a.length === 0) throw new RangeError(`${fn}: no bins`);
  return [proportions(a, fn, 'first'), proportions(b, fn, 'second')];
}

function proportions(counts: readonly number[], fn: string, side: string): number[] {
  let total = 0;
  for (const c of counts) {
    if (!Number.isFinite(c) || c < 0) {
      throw new RangeError(`${fn}: ${side} distribution has a negative or non-finite count`);
    }
    total += c;
  }
  if (total === 0) throw new RangeError(`${fn}: ${side} distribution is empty (all counts 0)`);
  return counts.map((c) => c / total);
}

function toMap(
  counts: Readonly<Record<string, number>> | ReadonlyMap<string, number>,
): ReadonlyMap<string, number> {
  return counts instanceof Map ? counts : new Map(Object.entries(counts));
}
