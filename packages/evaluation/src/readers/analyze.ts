/**
 * analyzeReaderStudy: the whole reader-study report from the readings and the truth. Pure: the
 * caller (`cxr study report`) reads the store and the labels and writes the files.
 */
import { delong, delongTest, quantile } from '../auroc.js';
import { wilson } from '../proportion.js';
import { mulberry32 } from '../random.js';
import { sortClasses } from '../ranking.js';
import { normalQuantile } from './distributions.js';
import {
  aurocFom,
  obuchowskiRockette,
  proportionFom,
  type CovarianceMethod,
  type FomValues,
} from './mrmc.js';
import { ratingOf } from './rating.js';
import type {
  ArmMetrics,
  ArmTime,
  DecisionChanges,
  MrmcResult,
  ReaderLabelMetrics,
  ReaderLabelReport,
  ReaderStudyInput,
  ReaderStudyReport,
  ReadingTimeReport,
  StudyArm,
  StudyEstimate,
} from './types.js';

/** Input that cannot be analysed (one line naming the reason). */
export class ReaderStudyError extends Error {
  override readonly name = 'ReaderStudyError';
}

const DEFAULT_ALPHA = 0.05;
const DEFAULT_SEED = 1;
const DEFAULT_BOOTSTRAP_SAMPLES = 2000;

/** One reader's call on one case of one label, in one arm. */
interface Call {
  readonly decision: boolean;
  readonly rating: number;
  readonly aiDecision: boolean | undefined;
}

/** reader -> case -> call, per arm, for one label. */
type CallTable = Map<string, Map<string, Call>>;

const NONE: StudyEstimate = { value: null, ci_low: null, ci_high: null, method: 'none' };

function key(...parts: string[]): string {
  return parts.join('\u0000');
}

/** Sensitivity, specificity and AUROC of one reader in one arm (cases with a known truth). */
function armMetrics(
  calls: ReadonlyMap<string, Call> | undefined,
  truthOf: (caseId: string) => boolean | undefined,
  z: number,
): ArmMetrics {
  const ratings: number[] = [];
  const labels: number[] = [];
  let tp = 0;
  let tn = 0;
  for (const [caseId, call] of calls ?? []) {
    const truth = truthOf(caseId);
    if (truth === undefined) continue;
    ratings.push(call.rating);
    labels.push(truth ? 1 : 0);
    if (truth && call.decision) tp++;
    if (!truth && !call.decision) tn++;
  }
  const positives = labels.filter((l) => l === 1).length;
  const negatives = labels.length - positives;
  const d = delong(sortClasses(ratings, labels));
  const half = d.variance === null ? null : z * Math.sqrt(d.variance);
  return {
    readings: labels.length,
    positives,
    negatives,
    true_positives: tp,
    true_negatives: tn,
    sensitivity: wilson(tp, positives, z),
    specificity: wilson(tn, negatives, z),
    auroc:
      d.auc === null
        ? NONE
        : {
            value: d.auc,
            ci_low: half === null ? null : Math.max(0, d.auc - half),
            ci_high: half === null ? null : Math.min(1, d.auc + half),
            method: half === null ? 'none' : 'delong',
          },
  };
}

/** The paired DeLong difference (with minus without AI) of one reader, on the cases read in both arms. */
function readerDifference(
  without: ReadonlyMap<string, Call> | undefined,
  withAi: ReadonlyMap<string, Call> | undefined,
  truthOf: (caseId: string) => boolean | undefined,
  z: number,
): ReaderLabelMetrics['auroc_difference'] {
  const a: number[] = [];
  const b: number[] = [];
  const labels: number[] = [];
  let positives = 0;
  for (const [caseId, call] of withAi ?? []) {
    const other = without?.get(caseId);
    const truth = truthOf(caseId);
    if (other === undefined || truth === undefined) continue;
    a.push(call.rating);
    b.push(other.rating);
    labels.push(truth ? 1 : 0);
    if (truth) positives++;
  }
  if (positives < 2 || labels.length - positives < 2)
    return { value: null, ci_low: null, ci_high: null, p: null };
  const test = delongTest(a, b, labels);
  const value = test.auc_a - test.auc_b;
  const variance = test.variance_a + test.variance_b - 2 * test.covariance;
  const half = variance > 0 ? z * Math.sqrt(variance) : 0;
  return { value, ci_low: value - half, ci_high: value + half, p: test.p };
}

/** An OR analysis of one figure of merit as the report's MrmcResult. */
function mrmcResult(
  figure: MrmcResult['figure_of_merit'],
  foms: [FomValues[], FomValues[]],
  covariance: CovarianceMethod,
  alpha: number,
  counts: { cases: number; positives: number; negatives: number },
): { result: MrmcResult; arms: [StudyEstimate, StudyEstimate] } {
  const or = obuchowskiRockette(foms, covariance, alpha);
  const armEstimate = (i: 0 | 1): StudyEstimate => ({
    value: or.arms[i].mean,
    ci_low: Math.max(0, or.arms[i].ci_low),
    ci_high: Math.min(1, or.arms[i].ci_high),
    method: 'obuchowski-rockette',
  });
  return {
    result: {
      method: 'obuchowski-rockette',
      covariance,
      figure_of_merit: figure,
      readers: or.readers,
      ...counts,
      without_ai: or.means[0],
      with_ai: or.means[1],
      difference: or.difference,
      ci_low: or.ci_low,
      ci_high: or.ci_high,
      standard_error: or.standard_error,
      f: or.f,
      df1: 1,
      df2: or.df2,
      p: or.p,
      components: { ms_t: or.ms_t, ms_tr: or.ms_tr, ...or.components },
    },
    arms: [armEstimate(0), armEstimate(1)],
  };
}

function decisionChanges(
  tables: Record<StudyArm, CallTable>,
  truthOf: (caseId: string) => boolean | undefined,
  z: number,
): DecisionChanges {
  let pairs = 0;
  let changed = 0;
  let towardsTruth = 0;
  let awayFromTruth = 0;
  let truthUnknown = 0;
  let towardsAi = 0;
  let aiPairs = 0;
  let agreeWithout = 0;
  let agreeWith = 0;
  for (const [reader, withCalls] of tables.with_ai) {
    const withoutCalls = tables.without_ai.get(reader);
    if (withoutCalls === undefined) continue;
    for (const [caseId, after] of withCalls) {
      const before = withoutCalls.get(caseId);
      if (before === undefined) continue;
      pairs++;
      if (after.aiDecision !== undefined) {
        aiPairs++;
        if (before.decision === after.aiDecision) agreeWithout++;
        if (after.decision === after.aiDecision) agreeWith++;
      }
      if (before.decision === after.decision) continue;
      changed++;
      if (after.aiDecision !== undefined && after.decision === after.aiDecision) towardsAi++;
      const truth = truthOf(caseId);
      if (truth === undefined) truthUnknown++;
      else if (after.decision === truth) towardsTruth++;
      else awayFromTruth++;
    }
  }
  return {
    pairs,
    changed,
    change_rate: wilson(changed, pairs, z),
    towards_truth: towardsTruth,
    away_from_truth: awayFromTruth,
    truth_unknown: truthUnknown,
    towards_ai: towardsAi,
    agreement_with_ai: {
      pairs: aiPairs,
      without_ai: wilson(agreeWithout, aiPairs, z),
      with_ai: wilson(agreeWith, aiPairs, z),
    },
  };
}

function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  return quantile(sorted, 0.5);
}

/** Quickselect: rearranges values[0..n) so that values[k] is the k-th smallest, and returns it. */
function select(values: Float64Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const pivot = values[(lo + hi) >>> 1] as number;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while ((values[i] as number) < pivot) i++;
      while ((values[j] as number) > pivot) j--;
      if (i <= j) {
        const t = values[i] as number;
        values[i] = values[j] as number;
        values[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return values[k] as number;
}

/** The median of values[0..n) (n > 0; the mean of the two middle values when n is even), in O(n); reorders them. */
export function medianInPlace(values: Float64Array, n: number): number {
  const k = (n - 1) >>> 1;
  const lower = select(values, n, k);
  if (n % 2 === 1) return lower;
  let upper = Infinity;
  for (let i = k + 1; i < n; i++) upper = Math.min(upper, values[i] as number);
  return (lower + upper) / 2;
}

/**
 * Reading time per arm and the paired difference. The interval resamples readers and cases
 * (two-way bootstrap: each resample draws r readers and c cases with replacement and takes the
 * median of the differences of the drawn reader x case pairs), so that it reflects both sources of
 * variation, like the MRMC analysis does for accuracy.
 */
function readingTime(
  times: ReadonlyMap<string, { readerId: string; caseId: string; arm: StudyArm; ms: number }>,
  alpha: number,
  seed: number,
  samples: number,
): ReadingTimeReport {
  const byArm: Record<StudyArm, number[]> = { without_ai: [], with_ai: [] };
  const perPair = new Map<string, { readerId: string; caseId: string; without?: number; with?: number }>();
  for (const t of times.values()) {
    byArm[t.arm].push(t.ms);
    const k = key(t.readerId, t.caseId);
    const entry = perPair.get(k) ?? { readerId: t.readerId, caseId: t.caseId };
    if (t.arm === 'without_ai') entry.without = t.ms;
    else entry.with = t.ms;
    perPair.set(k, entry);
  }
  const readerIds: string[] = [];
  const caseIds: string[] = [];
  const readerIndex = new Map<string, number>();
  const caseIndex = new Map<string, number>();
  const differences: number[] = [];
  const cells: { r: number; c: number; d: number }[] = [];
  const perReader = new Map<string, { without: number[]; with: number[]; diff: number[] }>();
  for (const p of perPair.values()) {
    const stats = perReader.get(p.readerId) ?? { without: [], with: [], diff: [] };
    perReader.set(p.readerId, stats);
    if (p.without !== undefined) stats.without.push(p.without);
    if (p.with !== undefined) stats.with.push(p.with);
    if (p.without === undefined || p.with === undefined) continue;
    const d = p.with - p.without;
    differences.push(d);
    stats.diff.push(d);
    if (!readerIndex.has(p.readerId)) {
      readerIndex.set(p.readerId, readerIds.length);
      readerIds.push(p.readerId);
    }
    if (!caseIndex.has(p.caseId)) {
      caseIndex.set(p.caseId, caseIds.length);
      caseIds.push(p.caseId);
    }
    cells.push({ r: readerIndex.get(p.readerId) as number, c: caseIndex.get(p.caseId) as number, d });
  }
  let ciLow: number | null = null;
  let ciHigh: number | null = null;
  if (differences.length >= 2 && samples > 0) {
    const r = readerIds.length;
    const c = caseIds.length;
    const grid = new Float64Array(r * c).fill(Number.NaN);
    for (const cell of cells) grid[cell.r * c + cell.c] = cell.d;
    const random = mulberry32(seed);
    const readerCount = new Uint32Array(r);
    const caseDraws = new Uint32Array(c);
    const medians: number[] = [];
    const drawn = new Float64Array(r * c);
    for (let b = 0; b < samples; b++) {
      readerCount.fill(0);
      for (let i = 0; i < r; i++) {
        const pick = Math.floor(random() * r);
        readerCount[pick] = (readerCount[pick] as number) + 1;
      }
      for (let i = 0; i < c; i++) caseDraws[i] = Math.floor(random() * c);
      let n = 0;
      for (let i = 0; i < r; i++) {
        const copies = readerCount[i] as number;
        if (copies === 0) continue;
        const row = i * c;
        for (let k = 0; k < c; k++) {
          const d = grid[row + (caseDraws[k] as number)] as number;
          if (Number.isNaN(d)) continue;
          for (let t = 0; t < copies; t++) drawn[n++] = d;
        }
      }
      if (n > 0) medians.push(medianInPlace(drawn, n));
    }
    if (medians.length > 0) {
      const sorted = Float64Array.from(medians).sort();
      ciLow = quantile(sorted, alpha / 2);
      ciHigh = quantile(sorted, 1 - alpha / 2);
    }
  }
  const arm = (values: number[]): ArmTime => ({ readings: values.length, median_ms: median(values) });
  return {
    without_ai: arm(byArm.without_ai),
    with_ai: arm(byArm.with_ai),
    pairs: differences.length,
    median_difference_ms: { value: median(differences), ci_low: ciLow, ci_high: ciHigh },
    per_reader: [...perReader.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([readerId, s]) => ({
        reader_id: readerId,
        pairs: s.diff.length,
        median_without_ai_ms: median(s.without),
        median_with_ai_ms: median(s.with),
        median_difference_ms: median(s.diff),
      })),
    bootstrap: { samples, seed },
  };
}

/** The whole reader-study analysis. Throws ReaderStudyError on input that cannot be analysed. */
export function analyzeReaderStudy(input: ReaderStudyInput): ReaderStudyReport {
  const alpha = input.alpha ?? DEFAULT_ALPHA;
  if (!(alpha > 0 && alpha < 1))
    throw new ReaderStudyError(`reader study ${input.studyId}: alpha ${String(alpha)} outside (0, 1)`);
  const seed = input.seed ?? DEFAULT_SEED;
  const samples = input.bootstrapSamples ?? DEFAULT_BOOTSTRAP_SAMPLES;
  if (!Number.isInteger(samples) || samples < 0)
    throw new ReaderStudyError(
      `reader study ${input.studyId}: bootstrapSamples ${String(samples)} is not a non-negative integer`,
    );
  const z = normalQuantile(1 - alpha / 2);
  const notes: string[] = [];
  const labels = [...new Set(input.labels)];
  const labelSet = new Set(labels);
  const tables = new Map<string, Record<StudyArm, CallTable>>(
    labels.map((l) => [l, { without_ai: new Map(), with_ai: new Map() }]),
  );
  const seen = new Set<string>();
  const times = new Map<string, { readerId: string; caseId: string; arm: StudyArm; ms: number }>();
  const readers = new Set<string>();
  const cases = new Set<string>();
  let unknownLabel = 0;
  let badTime = 0;
  let used = 0;
  for (const reading of input.readings) {
    const where = (): string =>
      `reading of reader ${reading.readerId}, case ${reading.caseId}, ${reading.arm}, ${reading.label}`;
    // The type says StudyArm, but readings come from a store or a file: check at run time too.
    const arm: string = reading.arm;
    if (arm !== 'without_ai' && arm !== 'with_ai')
      throw new ReaderStudyError(`${where()}: arm is not without_ai or with_ai`);
    let rating: number;
    try {
      rating = ratingOf(reading.decision, reading.confidence);
    } catch {
      throw new ReaderStudyError(
        `${where()}: confidence ${String(reading.confidence)} is not an integer 1..5`,
      );
    }
    const k = key(reading.readerId, reading.caseId, reading.arm, reading.label);
    if (seen.has(k)) throw new ReaderStudyError(`${where()}: recorded twice`);
    seen.add(k);
    if (!labelSet.has(reading.label)) {
      unknownLabel++;
      continue;
    }
    used++;
    readers.add(reading.readerId);
    cases.add(reading.caseId);
    const table = (tables.get(reading.label) as Record<StudyArm, CallTable>)[reading.arm];
    const calls = table.get(reading.readerId) ?? new Map<string, Call>();
    table.set(reading.readerId, calls);
    calls.set(reading.caseId, { decision: reading.decision, rating, aiDecision: reading.aiDecision });
    const tk = key(reading.readerId, reading.caseId, reading.arm);
    if (!times.has(tk)) {
      if (Number.isFinite(reading.readingTimeMs) && reading.readingTimeMs >= 0)
        times.set(tk, {
          readerId: reading.readerId,
          caseId: reading.caseId,
          arm: reading.arm,
          ms: reading.readingTimeMs,
        });
      else badTime++;
    }
  }
  if (unknownLabel > 0)
    notes.push(`${String(unknownLabel)} readings of labels outside the study's labels were left out.`);
  if (badTime > 0)
    notes.push(
      `${String(badTime)} readings without a valid reading time (finite, >= 0 ms) were left out of the reading-time analysis.`,
    );
  const readerIds = [...readers].sort();
  const perLabel = labels.map((label) =>
    analyzeLabel(label, tables.get(label) as Record<StudyArm, CallTable>, input, readerIds, alpha, z, notes),
  );
  return {
    study_id: input.studyId,
    design: input.design,
    alpha,
    labels,
    readers: readerIds,
    cases: cases.size,
    readings: used,
    per_label: perLabel,
    reading_time: readingTime(times, alpha, seed, samples),
    notes,
  };
}

function analyzeLabel(
  label: string,
  tables: Record<StudyArm, CallTable>,
  input: ReaderStudyInput,
  readerIds: readonly string[],
  alpha: number,
  z: number,
  notes: string[],
): ReaderLabelReport {
  const truthOf = (caseId: string): boolean | undefined => input.truth.get(caseId)?.[label];
  const readCases = new Set<string>();
  for (const arm of [tables.without_ai, tables.with_ai])
    for (const calls of arm.values()) for (const c of calls.keys()) readCases.add(c);
  let positives = 0;
  let negatives = 0;
  for (const c of readCases) {
    const t = truthOf(c);
    if (t === true) positives++;
    else if (t === false) negatives++;
  }
  const unknown = readCases.size - positives - negatives;
  if (unknown > 0)
    notes.push(
      `${label}: ${String(unknown)} read cases without a known truth are left out of the accuracy figures.`,
    );
  const labelReaders = readerIds.filter((r) => tables.without_ai.has(r) || tables.with_ai.has(r));
  const readerMetrics = labelReaders.map((reader): ReaderLabelMetrics => ({
    reader_id: reader,
    without_ai: armMetrics(tables.without_ai.get(reader), truthOf, z),
    with_ai: armMetrics(tables.with_ai.get(reader), truthOf, z),
    auroc_difference: readerDifference(tables.without_ai.get(reader), tables.with_ai.get(reader), truthOf, z),
  }));
  // The MRMC readers: those with readings in both arms (a reader who read one arm only cannot be
  // paired); the complete block: cases with a known truth read by each of them in both arms.
  const mrmcReaders = labelReaders.filter((r) => tables.without_ai.has(r) && tables.with_ai.has(r));
  if (mrmcReaders.length < labelReaders.length)
    notes.push(
      `${label}: ${String(labelReaders.length - mrmcReaders.length)} readers with readings in one arm only are left out of the MRMC analysis.`,
    );
  const complete = [...readCases]
    .filter(
      (c) =>
        truthOf(c) !== undefined &&
        mrmcReaders.every(
          (r) => tables.without_ai.get(r)?.has(c) === true && tables.with_ai.get(r)?.has(c) === true,
        ),
    )
    .sort();
  const truth = Uint8Array.from(complete, (c) => (truthOf(c) === true ? 1 : 0));
  const blockPositives = truth.reduce((s, t) => s + t, 0);
  const blockNegatives = complete.length - blockPositives;
  if (complete.length < positives + negatives)
    notes.push(
      `${label}: the MRMC analysis uses the ${String(complete.length)} cases read by every reader in both arms, out of ${String(positives + negatives)} with a known truth.`,
    );
  const counts = { cases: complete.length, positives: blockPositives, negatives: blockNegatives };
  const column = (arm: StudyArm, pick: (call: Call) => number): Float64Array[] =>
    mrmcReaders.map((r) => {
      const calls = tables[arm].get(r) as Map<string, Call>;
      return Float64Array.from(complete, (c) => pick(calls.get(c) as Call));
    });
  let mrmcAuroc: MrmcResult | null = null;
  let mrmcAurocDelong: MrmcResult | null = null;
  let mrmcSens: MrmcResult | null = null;
  let mrmcSpec: MrmcResult | null = null;
  const pooledAuroc: [StudyEstimate, StudyEstimate] = [NONE, NONE];
  const pooledSens: [StudyEstimate | null, StudyEstimate | null] = [null, null];
  const pooledSpec: [StudyEstimate | null, StudyEstimate | null] = [null, null];
  if (mrmcReaders.length < 2) {
    notes.push(
      `${label}: the MRMC analysis needs at least 2 readers who read both arms, got ${String(mrmcReaders.length)}.`,
    );
  } else {
    const ratings = (arm: StudyArm): FomValues[] =>
      column(arm, (c) => c.rating).map((r) => aurocFom(r, truth));
    if (blockPositives >= 2 && blockNegatives >= 2) {
      const foms: [FomValues[], FomValues[]] = [ratings('without_ai'), ratings('with_ai')];
      const jack = mrmcResult('auroc', foms, 'jackknife', alpha, counts);
      mrmcAuroc = jack.result;
      pooledAuroc[0] = jack.arms[0];
      pooledAuroc[1] = jack.arms[1];
      mrmcAurocDelong = mrmcResult('auroc', foms, 'delong', alpha, counts).result;
    } else {
      notes.push(
        `${label}: the MRMC AUROC analysis needs 2 positive and 2 negative complete cases, got ${String(blockPositives)} and ${String(blockNegatives)}.`,
      );
    }
    const negativesMask = truth.map((t) => 1 - t);
    const decisions = (arm: StudyArm, positive: boolean): FomValues[] =>
      column(arm, (c) => (c.decision === positive ? 1 : 0)).map((d) =>
        proportionFom(d, positive ? truth : negativesMask),
      );
    if (blockPositives >= 2) {
      const sens = mrmcResult(
        'sensitivity',
        [decisions('without_ai', true), decisions('with_ai', true)],
        'jackknife',
        alpha,
        counts,
      );
      mrmcSens = sens.result;
      pooledSens[0] = sens.arms[0];
      pooledSens[1] = sens.arms[1];
    }
    if (blockNegatives >= 2) {
      const spec = mrmcResult(
        'specificity',
        [decisions('without_ai', false), decisions('with_ai', false)],
        'jackknife',
        alpha,
        counts,
      );
      mrmcSpec = spec.result;
      pooledSpec[0] = spec.arms[0];
      pooledSpec[1] = spec.arms[1];
    }
  }
  const pooledArm = (arm: StudyArm, i: 0 | 1): ArmMetrics => {
    let readings = 0;
    let pos = 0;
    let neg = 0;
    let tp = 0;
    let tn = 0;
    const aucs: number[] = [];
    for (const r of readerMetrics) {
      const m = r[arm];
      readings += m.readings;
      pos += m.positives;
      neg += m.negatives;
      tp += m.true_positives;
      tn += m.true_negatives;
      if (m.auroc.value !== null) aucs.push(m.auroc.value);
    }
    const meanAuc = aucs.length === 0 ? null : aucs.reduce((s, a) => s + a, 0) / aucs.length;
    const fallbackAuc: StudyEstimate =
      readerMetrics.length === 1
        ? (readerMetrics[0] as ReaderLabelMetrics)[arm].auroc
        : { ...NONE, value: meanAuc };
    return {
      readings,
      positives: pos,
      negatives: neg,
      true_positives: tp,
      true_negatives: tn,
      sensitivity: pooledSens[i] ?? wilson(tp, pos, z),
      specificity: pooledSpec[i] ?? wilson(tn, neg, z),
      auroc: pooledAuroc[i].method === 'none' ? fallbackAuc : pooledAuroc[i],
    };
  };
  return {
    label,
    cases: positives + negatives,
    positives,
    negatives,
    readers: readerMetrics,
    complete_cases: complete.length,
    pooled: { without_ai: pooledArm('without_ai', 0), with_ai: pooledArm('with_ai', 1) },
    mrmc_auroc: mrmcAuroc,
    mrmc_auroc_delong: mrmcAurocDelong,
    mrmc_sensitivity: mrmcSens,
    mrmc_specificity: mrmcSpec,
    decision_changes: decisionChanges(tables, truthOf, z),
  };
}
