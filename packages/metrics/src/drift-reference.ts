/**
 * The drift reference of a model bundle (manifest `reference`, version 1) and how it is computed
 * from a set of results. Pure: no I/O, no zod (the manifest schema in @cxr/model validates the same
 * shape), so `cxr model reference` and the results service's windows share one definition of
 * every bin and category.
 *
 * Shape (all probabilities sum to 1; `n` counts the results that had a value):
 *   { version: 1, n, source: { kind: 'run', runId, modelId, modelVersion, computedAt },
 *     scores:      { <label>: { edges, probabilities, n } },
 *     numeric:     { image_mean | image_std | rows | columns | bits_stored: { edges, probabilities, n } },
 *     categorical: { manufacturer | modality | view_position | photometric_interpretation
 *                    | transfer_syntax: { probabilities: { <category>: p, ..., other: p }, n } } }
 */
import { checkEdges, histogram } from './drift.js';

export const DRIFT_REFERENCE_VERSION = 1;

/** Numeric input features: image statistics after the modality LUT and pixel-module facts. */
export const NUMERIC_FEATURES = ['image_mean', 'image_std', 'rows', 'columns', 'bits_stored'] as const;
export type NumericFeature = (typeof NUMERIC_FEATURES)[number];

/** Categorical input features: acquisition and encoding tags. */
export const CATEGORICAL_FEATURES = [
  'manufacturer',
  'modality',
  'view_position',
  'photometric_interpretation',
  'transfer_syntax',
] as const;
export type CategoricalFeature = (typeof CATEGORICAL_FEATURES)[number];

/** Every input feature: the values of the `feature` label of cxr_input_drift_psi. */
export const INPUT_FEATURES: readonly (NumericFeature | CategoricalFeature)[] = [
  ...NUMERIC_FEATURES,
  ...CATEGORICAL_FEATURES,
];

/** Bucket of every category not listed in the reference (rare in it, or never seen). */
export const OTHER_CATEGORY = 'other';
/** Category of an absent or empty tag: a missing Manufacturer is a fact about the input too. */
export const UNKNOWN_CATEGORY = 'unknown';

/**
 * Score bins of probability outputs (softmax, sigmoid): ten 0.1-wide bins over [0, 1], the usual
 * PSI decile layout and the same width as the cxr_prediction_score buckets. Written out because
 * 0.1 * 3 is 0.30000000000000004.
 */
export const UNIT_SCORE_EDGES: readonly number[] = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1];

/** Bins per numeric feature (and per score of a raw-output model): deciles of the reference. */
export const DEFAULT_REFERENCE_BINS = 10;
/** Categories below this share of the reference are folded into `other`. */
export const DEFAULT_MIN_CATEGORY_SHARE = 0.01;
/** At most this many named categories per feature (plus `other`): bounds the manifest's size. */
export const DEFAULT_MAX_CATEGORIES = 20;

/** A numeric distribution over fixed bins. */
export interface BinnedDistribution {
  /** n + 1 strictly increasing edges; out-of-range values count in the end bins. */
  readonly edges: readonly number[];
  /** One per bin, summing to 1. */
  readonly probabilities: readonly number[];
  /** Values the probabilities were computed from. */
  readonly n: number;
}

/** A categorical distribution; the `other` key is always present (possibly 0). */
export interface CategoricalDistribution {
  readonly probabilities: Readonly<Record<string, number>>;
  readonly n: number;
}

/** Where a reference came from. */
export interface DriftReferenceSource {
  readonly kind: 'run';
  readonly runId: string;
  readonly modelId: string;
  readonly modelVersion: string;
  /** ISO 8601 instant of the computation. */
  readonly computedAt: string;
}

/** The manifest's `reference` block, version 1. */
export interface DriftReference {
  readonly version: typeof DRIFT_REFERENCE_VERSION;
  /** Results (ok rows) the reference was computed from. */
  readonly n: number;
  readonly source: DriftReferenceSource;
  readonly scores: Readonly<Record<string, BinnedDistribution>>;
  readonly numeric: Readonly<Partial<Record<NumericFeature, BinnedDistribution>>>;
  readonly categorical: Readonly<Partial<Record<CategoricalFeature, CategoricalDistribution>>>;
}

/** What drift looks at in one ok result. Absent or null values are missing, not zero. */
export interface DriftObservation {
  /** Score per label. */
  readonly scores: Readonly<Record<string, number>>;
  /** Labels positive under the manifest's decision rule (for cxr_positive_rate). */
  readonly positives: readonly string[];
  readonly numeric: Readonly<Partial<Record<NumericFeature, number | null>>>;
  readonly categorical: Readonly<Partial<Record<CategoricalFeature, string | null>>>;
}

/** The category name of a raw tag value: trimmed; absent or empty -> `unknown`. */
export function categoryName(raw: string | null | undefined): string {
  const trimmed = raw?.trim() ?? '';
  return trimmed === '' ? UNKNOWN_CATEGORY : trimmed;
}

/** The reference category a raw value counts in: its name if the reference lists it, else `other`. */
export function categoryOf(raw: string | null | undefined, known: ReadonlySet<string>): string {
  const name = categoryName(raw);
  return known.has(name) ? name : OTHER_CATEGORY;
}

/**
 * Fixed bin edges for a numeric feature from its reference values (sorted ascending, finite).
 * - At most bins - 2 distinct values (bits stored, a fixed matrix size): one bin per value, cut
 *   half-way between neighbours, plus an empty guard bin below and above, so a value never seen
 *   in the reference lands in a bin with reference probability 0 and counts as drift.
 * - Otherwise: cuts at the reference deciles (bins of about equal reference mass, the usual PSI
 *   layout), ties merged; the end bins reach the observed minimum and maximum and also catch
 *   values beyond them.
 */
export function referenceEdges(sorted: ArrayLike<number>, bins = DEFAULT_REFERENCE_BINS): number[] {
  const n = sorted.length;
  if (n === 0) throw new RangeError('referenceEdges: no values');
  if (!Number.isInteger(bins) || bins < 3)
    throw new RangeError('referenceEdges: bins must be an integer >= 3');
  const distinct: number[] = [];
  for (let i = 0; i < n; i++) {
    const v = sorted[i]!;
    if (!Number.isFinite(v)) throw new RangeError(`referenceEdges: value ${i} is not finite`);
    if (i > 0 && v < sorted[i - 1]!) throw new RangeError('referenceEdges: values must be sorted ascending');
    if (distinct.length === 0 || v !== distinct[distinct.length - 1]) {
      distinct.push(v);
      if (distinct.length > bins - 2) break;
    }
  }
  if (distinct.length <= bins - 2) {
    let gap = Number.POSITIVE_INFINITY;
    for (let i = 1; i < distinct.length; i++) gap = Math.min(gap, distinct[i]! - distinct[i - 1]!);
    // Half the smallest gap keeps the guard bins off the neighbouring values; a constant feature
    // (one value) gets 0.5, which suits the integer features (bits stored, rows, columns).
    const half = Number.isFinite(gap) ? gap / 2 : 0.5;
    const first = distinct[0]!;
    const last = distinct[distinct.length - 1]!;
    const cuts = distinct.slice(1).map((v, i) => (distinct[i]! + v) / 2);
    return [first - 2 * half, first - half, ...cuts, last + half, last + 2 * half];
  }
  const edges = [sorted[0]!];
  for (let i = 1; i < bins; i++) {
    // A cut at the value of rank round(i n / bins): bins are half-open [e_k, e_k+1), so about
    // i / bins of the reference lies below it (exactly, without ties).
    const cut = sorted[Math.min(n - 1, Math.round((i * n) / bins))]!;
    if (cut > edges[edges.length - 1]!) edges.push(cut);
  }
  const max = sorted[n - 1]!;
  // The last bin is closed, so a last cut equal to the maximum already holds the maximum.
  if (max > edges[edges.length - 1]!) edges.push(max);
  checkEdges(edges);
  return edges;
}

/** Proportions of `counts` (which must not all be 0). */
function toProbabilities(counts: readonly number[]): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.map((c) => c / total);
}

/** Options of {@link DriftReferenceBuilder}. */
export interface DriftReferenceBuilderOptions {
  /** The model's labels, in manifest order: one score distribution each. */
  readonly labels: readonly string[];
  /**
   * 'unit': scores are probabilities, binned by UNIT_SCORE_EDGES (softmax, sigmoid).
   * 'quantile': raw scores (activation none), binned at the reference deciles.
   */
  readonly scoreBins: 'unit' | 'quantile';
  readonly source: DriftReferenceSource;
  /** Bins per numeric feature (default DEFAULT_REFERENCE_BINS). */
  readonly bins?: number;
  /** Default DEFAULT_MIN_CATEGORY_SHARE. */
  readonly minCategoryShare?: number;
  /** Default DEFAULT_MAX_CATEGORIES. */
  readonly maxCategories?: number;
}

/**
 * Accumulates observations (one per ok result) and builds the reference. Holds every numeric
 * value until build() (decile edges need them all): about 8 bytes per value, so 40 MB for a
 * million results with five features.
 */
export class DriftReferenceBuilder {
  readonly #options: DriftReferenceBuilderOptions;
  #n = 0;
  readonly #scores = new Map<string, number[]>();
  readonly #numeric = new Map<NumericFeature, number[]>();
  readonly #categorical = new Map<CategoricalFeature, Map<string, number>>();

  constructor(options: DriftReferenceBuilderOptions) {
    if (options.labels.length === 0) throw new RangeError('DriftReferenceBuilder: no labels');
    this.#options = options;
    for (const label of options.labels) this.#scores.set(label, []);
    for (const feature of NUMERIC_FEATURES) this.#numeric.set(feature, []);
    for (const feature of CATEGORICAL_FEATURES) this.#categorical.set(feature, new Map());
  }

  /** Observations added so far. */
  get count(): number {
    return this.#n;
  }

  add(observation: DriftObservation): void {
    this.#n += 1;
    for (const [label, values] of this.#scores) {
      const score = observation.scores[label];
      if (score !== undefined && Number.isFinite(score)) values.push(score);
    }
    for (const [feature, values] of this.#numeric) {
      const value = observation.numeric[feature];
      if (value !== undefined && value !== null && Number.isFinite(value)) values.push(value);
    }
    for (const [feature, counts] of this.#categorical) {
      const name = categoryName(observation.categorical[feature]);
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
  }

  /** The reference of everything added; throws RangeError when nothing was added. */
  build(): DriftReference {
    if (this.#n === 0) throw new RangeError('DriftReferenceBuilder: no observations');
    const bins = this.#options.bins ?? DEFAULT_REFERENCE_BINS;
    const scores: Record<string, BinnedDistribution> = {};
    for (const [label, values] of this.#scores) {
      if (values.length === 0) continue;
      const sorted = Float64Array.from(values).sort();
      const edges = this.#options.scoreBins === 'unit' ? [...UNIT_SCORE_EDGES] : referenceEdges(sorted, bins);
      scores[label] = binned(sorted, edges);
    }
    const numeric: Partial<Record<NumericFeature, BinnedDistribution>> = {};
    for (const [feature, values] of this.#numeric) {
      if (values.length === 0) continue;
      const sorted = Float64Array.from(values).sort();
      numeric[feature] = binned(sorted, referenceEdges(sorted, bins));
    }
    const categorical: Partial<Record<CategoricalFeature, CategoricalDistribution>> = {};
    for (const [feature, counts] of this.#categorical) {
      categorical[feature] = this.#categories(counts);
    }
    return {
      version: DRIFT_REFERENCE_VERSION,
      n: this.#n,
      source: this.#options.source,
      scores,
      numeric,
      categorical,
    };
  }

  #categories(counts: ReadonlyMap<string, number>): CategoricalDistribution {
    const minShare = this.#options.minCategoryShare ?? DEFAULT_MIN_CATEGORY_SHARE;
    const maxCategories = this.#options.maxCategories ?? DEFAULT_MAX_CATEGORIES;
    let n = 0;
    for (const c of counts.values()) n += c;
    // Most frequent first, ties by name, so the same rows always give the same manifest.
    const ranked = [...counts.entries()]
      .filter(([name]) => name !== OTHER_CATEGORY)
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const probabilities: Record<string, number> = {};
    let kept = 0;
    let named = 0;
    for (const [name, count] of ranked) {
      if (named >= maxCategories || count / n < minShare) break;
      probabilities[name] = count / n;
      kept += count;
      named += 1;
    }
    // A tag value literally named `other` is counted in the `other` bucket with the rare ones.
    probabilities[OTHER_CATEGORY] = (n - kept) / n;
    return { probabilities, n };
  }
}

function binned(sorted: Float64Array, edges: readonly number[]): BinnedDistribution {
  return { edges: [...edges], probabilities: toProbabilities(histogram(sorted, edges)), n: sorted.length };
}
