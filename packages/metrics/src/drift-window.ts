/**
 * A sliding window of recent ok results compared with the bundle's drift reference. Pure and
 * synchronous (the results service feeds it and exports the snapshot as gauges).
 *
 * The window holds the most recent results, at most `maxCount` of them and none older than
 * `maxAgeMs` (0 = no age limit): both limits apply at once. Every result is binned once, when it
 * enters; the window keeps per-bin counts and a ring buffer of each result's bins, so adding a
 * result (and evicting the oldest) is O(labels + features) and a snapshot is O(total bins),
 * whatever the window size.
 */
import { checkEdges, DEFAULT_PSI_EPSILON, histogramBin, jensenShannon, psi } from './drift.js';
import {
  CATEGORICAL_FEATURES,
  categoryOf,
  NUMERIC_FEATURES,
  OTHER_CATEGORY,
  type DriftObservation,
  type DriftReference,
} from './drift-reference.js';

/** Defaults of the window (CXR_DRIFT_WINDOW_COUNT, CXR_DRIFT_WINDOW_SECONDS, CXR_DRIFT_MIN_SAMPLES). */
export const DEFAULT_DRIFT_WINDOW_COUNT = 1000;
export const DEFAULT_DRIFT_WINDOW_SECONDS = 3600;
/**
 * Below this many values in the window no drift statistic is reported. Sampling noise alone
 * gives PSI about (bins - 1) / n for a window of n results drawn from the reference itself (PSI
 * is close to chi-square / n): 0.045 at n = 200 with 10 bins, under half the 0.1 warning level.
 */
export const DEFAULT_DRIFT_MIN_SAMPLES = 200;
/** Largest window by count: the ring buffers take about 4 bytes x (labels + features) per slot. */
export const MAX_DRIFT_WINDOW_COUNT = 100_000;

/** Options of {@link DriftWindow}. */
export interface DriftWindowOptions {
  readonly reference: DriftReference;
  /** Every model label, for the positive rate (scores are compared only where the reference has them). */
  readonly labels: readonly string[];
  /** Results held at most (1 .. MAX_DRIFT_WINDOW_COUNT). */
  readonly maxCount: number;
  /** Results older than this leave the window; 0 = no age limit. */
  readonly maxAgeMs: number;
  /** PSI empty-bin epsilon (default DEFAULT_PSI_EPSILON). */
  readonly epsilon?: number;
}

/** Drift statistics of the window at one instant. Labels/features below minSamples are absent. */
export interface DriftSnapshot {
  /** Results in the window. */
  readonly size: number;
  /** Fraction of the window's results positive per label; empty when the window is. */
  readonly positiveRate: ReadonlyMap<string, number>;
  /** PSI of each label's score distribution against the reference. */
  readonly predictionPsi: ReadonlyMap<string, number>;
  /** Jensen-Shannon divergence (base 2, in [0, 1]) of the same score histograms. */
  readonly predictionJs: ReadonlyMap<string, number>;
  /** PSI per input feature (numeric and categorical). */
  readonly inputPsi: ReadonlyMap<string, number>;
}

/** One compared dimension: a label's score or an input feature. */
interface Dimension {
  readonly kind: 'score' | 'feature';
  readonly name: string;
  readonly reference: readonly number[];
  /** Current counts per bin. */
  readonly counts: Float64Array;
  /** Bin of each ring slot's result, -1 when the result had no value. */
  readonly slots: Int32Array;
  /** Results in the window that have a value (sum of counts). */
  present: number;
  readonly binOf: (observation: DriftObservation) => number;
}

/** The window; see the module comment. */
export class DriftWindow {
  readonly #labels: readonly string[];
  readonly #capacity: number;
  readonly #maxAgeMs: number;
  readonly #epsilon: number;
  readonly #dimensions: Dimension[] = [];
  readonly #times: Float64Array;
  /** Per label: 1 in a slot whose result was positive. */
  readonly #positiveSlots: Uint8Array[];
  readonly #positiveCounts: number[];
  #head = 0;
  #size = 0;

  constructor(options: DriftWindowOptions) {
    const { reference, maxCount, maxAgeMs } = options;
    if (!Number.isInteger(maxCount) || maxCount < 1 || maxCount > MAX_DRIFT_WINDOW_COUNT) {
      throw new RangeError(`DriftWindow: maxCount must be an integer from 1 to ${MAX_DRIFT_WINDOW_COUNT}`);
    }
    if (!Number.isFinite(maxAgeMs) || maxAgeMs < 0)
      throw new RangeError('DriftWindow: maxAgeMs must be >= 0');
    this.#labels = [...options.labels];
    this.#capacity = maxCount;
    this.#maxAgeMs = maxAgeMs;
    this.#epsilon = options.epsilon ?? DEFAULT_PSI_EPSILON;
    this.#times = new Float64Array(maxCount);
    this.#positiveSlots = this.#labels.map(() => new Uint8Array(maxCount));
    this.#positiveCounts = this.#labels.map(() => 0);

    for (const label of this.#labels) {
      const ref = reference.scores[label];
      if (ref === undefined) continue;
      const edges = checkedBins(ref.edges, ref.probabilities, `scores.${label}`);
      this.#addDimension('score', label, ref.probabilities, (o) => {
        const score = o.scores[label];
        return score === undefined || !Number.isFinite(score) ? -1 : histogramBin(score, edges);
      });
    }
    for (const feature of NUMERIC_FEATURES) {
      const ref = reference.numeric[feature];
      if (ref === undefined) continue;
      const edges = checkedBins(ref.edges, ref.probabilities, `numeric.${feature}`);
      this.#addDimension('feature', feature, ref.probabilities, (o) => {
        const value = o.numeric[feature];
        return value === undefined || value === null || !Number.isFinite(value)
          ? -1
          : histogramBin(value, edges);
      });
    }
    for (const feature of CATEGORICAL_FEATURES) {
      const ref = reference.categorical[feature];
      if (ref === undefined) continue;
      // Fixed category order: the reference's keys, `other` included (added if a hand-written
      // reference left it out, with probability 0).
      const names = Object.keys(ref.probabilities);
      if (!names.includes(OTHER_CATEGORY)) names.push(OTHER_CATEGORY);
      const index = new Map(names.map((name, i) => [name, i]));
      const known = new Set(names);
      this.#addDimension(
        'feature',
        feature,
        names.map((name) => ref.probabilities[name] ?? 0),
        // Every result has a category: an absent tag is `unknown` (or `other` if the reference
        // has no `unknown`).
        (o) => index.get(categoryOf(o.categorical[feature], known))!,
      );
    }
  }

  /** Results in the window (as of the last add or snapshot; call expire to apply the age limit). */
  get size(): number {
    return this.#size;
  }

  /** Score labels and features compared with the reference, in export order. */
  get compared(): { readonly labels: readonly string[]; readonly features: readonly string[] } {
    return {
      labels: this.#dimensions.filter((d) => d.kind === 'score').map((d) => d.name),
      features: this.#dimensions.filter((d) => d.kind === 'feature').map((d) => d.name),
    };
  }

  /** Adds one ok result stored at `atMs`; evicts the oldest when the window is full. */
  add(observation: DriftObservation, atMs: number): void {
    if (this.#size === this.#capacity) this.#evictOldest();
    const slot = (this.#head + this.#size) % this.#capacity;
    this.#size += 1;
    this.#times[slot] = atMs;
    for (const d of this.#dimensions) {
      const bin = d.binOf(observation);
      d.slots[slot] = bin;
      if (bin >= 0) {
        d.counts[bin]! += 1;
        d.present += 1;
      }
    }
    const positives = new Set(observation.positives);
    this.#labels.forEach((label, i) => {
      const positive = positives.has(label) ? 1 : 0;
      this.#positiveSlots[i]![slot] = positive;
      this.#positiveCounts[i]! += positive;
    });
  }

  /**
   * Drops results older than maxAgeMs at `nowMs` (results are expected in time order: a result
   * behind a newer one leaves with it). A no-op without an age limit.
   */
  expire(nowMs: number): void {
    if (this.#maxAgeMs === 0) return;
    const cutoff = nowMs - this.#maxAgeMs;
    while (this.#size > 0 && this.#times[this.#head]! < cutoff) this.#evictOldest();
  }

  /** Applies the age limit at `nowMs`, then computes every statistic with at least `minSamples` values. */
  snapshot(nowMs: number, minSamples: number): DriftSnapshot {
    this.expire(nowMs);
    const positiveRate = new Map<string, number>();
    if (this.#size > 0) {
      this.#labels.forEach((label, i) => positiveRate.set(label, this.#positiveCounts[i]! / this.#size));
    }
    const predictionPsi = new Map<string, number>();
    const predictionJs = new Map<string, number>();
    const inputPsi = new Map<string, number>();
    for (const d of this.#dimensions) {
      if (d.present === 0 || d.present < minSamples) continue;
      const current = Array.from(d.counts);
      const value = psi(d.reference, current, { epsilon: this.#epsilon });
      if (d.kind === 'score') {
        predictionPsi.set(d.name, value);
        predictionJs.set(d.name, jensenShannon(d.reference, current));
      } else {
        inputPsi.set(d.name, value);
      }
    }
    return { size: this.#size, positiveRate, predictionPsi, predictionJs, inputPsi };
  }

  #addDimension(
    kind: Dimension['kind'],
    name: string,
    reference: readonly number[],
    binOf: Dimension['binOf'],
  ): void {
    this.#dimensions.push({
      kind,
      name,
      reference: [...reference],
      counts: new Float64Array(reference.length),
      slots: new Int32Array(this.#capacity),
      present: 0,
      binOf,
    });
  }

  #evictOldest(): void {
    const slot = this.#head;
    for (const d of this.#dimensions) {
      const bin = d.slots[slot]!;
      if (bin >= 0) {
        d.counts[bin]! -= 1;
        d.present -= 1;
      }
    }
    for (let i = 0; i < this.#labels.length; i++) this.#positiveCounts[i]! -= this.#positiveSlots[i]![slot]!;
    this.#head = (this.#head + 1) % this.#capacity;
    this.#size -= 1;
  }
}

/** Validates a reference distribution's bins (the manifest schema does too; this guards hand-built ones). */
function checkedBins(
  edges: readonly number[],
  probabilities: readonly number[],
  what: string,
): readonly number[] {
  checkEdges(edges);
  if (probabilities.length !== edges.length - 1) {
    throw new RangeError(
      `DriftWindow: reference ${what} has ${probabilities.length} probabilities for ${edges.length - 1} bins`,
    );
  }
  return edges;
}
