/**
 * `evaluate`: the whole report.json of `cxr evaluate` from predictions already joined to labels.
 * Pure: no I/O, deterministic for a given input, settings and `createdAt`.
 */
import { bootstrapAuroc, delong, delongInterval } from './auroc.js';
import { calibration, isProbability } from './calibration.js';
import { averagePrecision, downsample, prCurve, rocCurve, scoreHistogram } from './curves.js';
import { argmax, multiclassReport } from './multiclass.js';
import { operatingPoint, thresholdForSensitivity, youden } from './operating.js';
import { ratio } from './proportion.js';
import { sortClasses, thresholdTable } from './ranking.js';
import type { SortedClasses } from './ranking.js';
import type {
  Estimate,
  EvaluationReport,
  GroupReport,
  LabelReport,
  MulticlassReport,
  OperatingPoint,
} from './report.js';

/** One case (image): its known labels and the model's scores, in the order of `labels`. */
export interface EvaluationCase {
  /** 1 positive, 0 negative, null unknown (the case is left out of that label only). */
  readonly labels: readonly (0 | 1 | null)[];
  /** Null or non-finite: no score (the case is left out of that label, and of the multiclass report). */
  readonly scores: readonly (number | null)[];
  /** Group values by grouping key (institution, manufacturer ...); missing or null: `(missing)`. */
  readonly groups?: Readonly<Record<string, string | null | undefined>>;
}

export interface EvaluationInput {
  /** Label names, in the order of every case's `labels` and `scores`. */
  readonly labels: readonly string[];
  readonly cases: readonly EvaluationCase[];
  /** The manifest's `output.activation`; softmax also gets the multiclass report. */
  readonly activation: 'softmax' | 'sigmoid' | 'none' | null;
  /** The manifest's `output.decision`; `argmax` also gets the multiclass report. */
  readonly decision?: 'argmax' | 'thresholds' | null;
  /** The manifest's per-label thresholds (the `manifest` operating point). */
  readonly thresholds?: Readonly<Record<string, number>>;
  readonly model?: { readonly id: string | null; readonly version: string | null };
  /** Matching counts from the loader; defaults to "every case matched". */
  readonly inputs?: EvaluationReport['inputs'];
  /** Key(s) of `EvaluationCase.groups` to report per value (`groups.<key>.<value>`). */
  readonly group_by?: string | readonly string[] | null;
  /** Loader notes carried into the report's top-level notes. */
  readonly notes?: readonly string[];
  /** ISO timestamp for `created_at`; defaults to now. */
  readonly created_at?: string;
}

/** Settings; every field optional (see DEFAULT_SETTINGS). Same names as `report.settings`. */
export interface EvaluationSettings {
  /** AUROC interval: `delong` (default) or a stratified percentile `bootstrap`. */
  readonly ci_method?: 'delong' | 'bootstrap';
  /** Bootstrap resamples (default 2000); ignored with `delong`. */
  readonly bootstrap_samples?: number | null;
  /** Bootstrap seed (default 1); ignored with `delong`. */
  readonly seed?: number | null;
  /** Sensitivity the `target_sensitivity` operating point must reach (default 0.95). */
  readonly target_sensitivity?: number;
  /** Number of reliability bins, equal-width and equal-mass (default 10). */
  readonly calibration_bins?: number;
  /** Groups with fewer cases are flagged `too_small` (default 30). */
  readonly min_group_size?: number;
  /** Maximum points per ROC / PR curve (default 200). */
  readonly curve_points?: number;
  /** Bins of the score histograms (default 20). */
  readonly histogram_bins?: number;
}

export const DEFAULT_SETTINGS = {
  ci_method: 'delong',
  bootstrap_samples: 2000,
  seed: 1,
  target_sensitivity: 0.95,
  calibration_bins: 10,
  min_group_size: 30,
  curve_points: 200,
  histogram_bins: 20,
} as const satisfies { readonly [K in keyof EvaluationSettings]-?: NonNullable<EvaluationSettings[K]> };

interface ResolvedSettings {
  readonly ciMethod: 'delong' | 'bootstrap';
  readonly bootstrapSamples: number;
  readonly seed: number;
  readonly targetSensitivity: number;
  readonly calibrationBins: number;
  readonly minGroupSize: number;
  readonly curvePoints: number;
  readonly histogramBins: number;
}

/** The group value used for cases without one. */
export const MISSING_GROUP = '(missing)';

/** The per-label columns: scores and labels (1, 0, or -1 = left out). */
interface Columns {
  readonly scores: Float64Array[];
  readonly labels: Int8Array[];
  /** Per label: cases with an unknown label; cases with a known label but a non-finite score. */
  readonly unknown: number[];
  readonly nonFinite: number[];
}

function columnsOf(input: EvaluationInput, rows: readonly number[] | null): Columns {
  const count = rows === null ? input.cases.length : rows.length;
  const labelCount = input.labels.length;
  const scores = Array.from({ length: labelCount }, () => new Float64Array(count));
  const labels = Array.from({ length: labelCount }, () => new Int8Array(count));
  const unknown = new Array<number>(labelCount).fill(0);
  const nonFinite = new Array<number>(labelCount).fill(0);
  for (let r = 0; r < count; r++) {
    const c = rows === null ? r : (rows[r] as number);
    const item = input.cases[c] as EvaluationCase;
    for (let l = 0; l < labelCount; l++) {
      const label = item.labels[l];
      const score = item.scores[l] ?? Number.NaN;
      (scores[l] as Float64Array)[r] = score;
      let code = -1;
      if (label === null || label === undefined) unknown[l] = (unknown[l] as number) + 1;
      else if (!Number.isFinite(score)) nonFinite[l] = (nonFinite[l] as number) + 1;
      else code = label;
      (labels[l] as Int8Array)[r] = code;
    }
  }
  return { scores, labels, unknown, nonFinite };
}

function validate(input: EvaluationInput): void {
  const labelCount = input.labels.length;
  if (labelCount === 0) throw new RangeError('evaluate: no labels');
  input.cases.forEach((item, i) => {
    if (item.scores.length !== labelCount || item.labels.length !== labelCount) {
      throw new RangeError(
        `evaluate: case ${String(i)} has ${String(item.scores.length)} scores and ${String(item.labels.length)} labels, expected ${String(labelCount)}`,
      );
    }
    // Checked at run time too: the labels come from files, and a 2 or "1" must not count as 0.
    for (const label of item.labels as readonly unknown[]) {
      if (label !== 0 && label !== 1 && label !== null)
        throw new RangeError(`evaluate: case ${String(i)} has a label that is not 0, 1 or null`);
    }
  });
}

function aurocEstimate(sorted: SortedClasses, settings: ResolvedSettings, notes: string[]): Estimate {
  const m = sorted.positives.length;
  const n = sorted.negatives.length;
  if (m === 0 || n === 0) return { value: null, ci_low: null, ci_high: null, method: 'none' };
  if (settings.ciMethod === 'bootstrap') {
    if (m < 2 || n < 2) {
      notes.push(
        'AUROC interval undefined: the bootstrap needs at least 2 positives and 2 negatives (a single case of a class is in every resample)',
      );
      return { value: delong(sorted).auc, ci_low: null, ci_high: null, method: 'none' };
    }
    const boot = bootstrapAuroc(sorted, { samples: settings.bootstrapSamples, seed: settings.seed });
    return { ...boot, method: boot.ci_low === null ? 'none' : 'bootstrap' };
  }
  const result = delong(sorted);
  if (result.variance === null) {
    notes.push('AUROC interval undefined: DeLong needs at least 2 positives and 2 negatives');
    return { value: result.auc, ci_low: null, ci_high: null, method: 'none' };
  }
  if (result.variance === 0) {
    notes.push(
      'DeLong variance is 0 (every positive-negative pair compares the same way): the interval is a single point',
    );
  }
  return { value: result.auc, ...delongInterval(result), method: 'delong' };
}

/** Everything about one label from its two sorted classes. */
function labelReport(
  sorted: SortedClasses,
  manifestThreshold: number | undefined,
  settings: ResolvedSettings,
  excluded: { unknown: number; nonFinite: number },
): LabelReport {
  const notes: string[] = [];
  const m = sorted.positives.length;
  const n = sorted.negatives.length;
  const total = m + n;
  if (excluded.unknown > 0) notes.push(`${String(excluded.unknown)} cases with an unknown label left out`);
  if (excluded.nonFinite > 0)
    notes.push(`${String(excluded.nonFinite)} cases with a non-finite score left out`);
  if (total > 0 && m === 0)
    notes.push('no positives: AUROC, average precision, sensitivity, PPV and calibration slope undefined');
  if (total > 0 && n === 0)
    notes.push('no negatives: AUROC, specificity, NPV and calibration slope undefined');
  const table = thresholdTable(sorted);
  const distinct = table.thresholds.length;
  if (total > 1 && distinct === 1) {
    notes.push('constant score: AUROC 0.5 (every pair tied), one threshold only');
  } else if (distinct < total) {
    notes.push(
      `ties: ${String(distinct)} distinct scores for ${String(total)} cases; a tie counts 1/2 in the AUROC and is one threshold`,
    );
  }

  const operatingPoints: OperatingPoint[] = [];
  if (manifestThreshold === undefined) notes.push('no manifest threshold for this label');
  else if (total > 0) operatingPoints.push(operatingPoint('manifest', manifestThreshold, sorted));
  const youdenThreshold = youden(table);
  if (youdenThreshold !== null) operatingPoints.push(operatingPoint('youden', youdenThreshold, sorted));
  else if (total > 0) notes.push('Youden threshold undefined: needs positives and negatives');
  const targetThreshold = thresholdForSensitivity(table, settings.targetSensitivity);
  if (targetThreshold !== null) {
    operatingPoints.push(
      operatingPoint('target_sensitivity', targetThreshold, sorted, settings.targetSensitivity),
    );
  }

  const { notes: calibrationNotes, ...calibrationReport } = calibration(sorted, settings.calibrationBins);
  notes.push(...calibrationNotes);
  const [lo, hi] = isProbability(sorted) ? [0, 1] : scoreRange(sorted);
  return {
    n: total,
    positives: m,
    prevalence: ratio(m, total),
    auroc: aurocEstimate(sorted, settings, notes),
    average_precision: averagePrecision(table),
    brier: calibrationReport.brier,
    ece: calibrationReport.ece,
    operating_points: operatingPoints,
    calibration: calibrationReport,
    curves: {
      roc: downsample(rocCurve(table), settings.curvePoints, (p) => [p.fpr, p.tpr]),
      pr: downsample(prCurve(table), settings.curvePoints, (p) => [p.recall, p.precision]),
      histogram: scoreHistogram(sorted, settings.histogramBins, lo, hi),
    },
    notes,
  };
}

function scoreRange(sorted: SortedClasses): [number, number] {
  const { positives: p, negatives: q } = sorted;
  const lo = Math.min(p[0] ?? Infinity, q[0] ?? Infinity);
  const hi = Math.max(p[p.length - 1] ?? -Infinity, q[q.length - 1] ?? -Infinity);
  return Number.isFinite(lo) ? [lo, hi] : [0, 1];
}

function labelReports(
  input: EvaluationInput,
  rows: readonly number[] | null,
  settings: ResolvedSettings,
): Record<string, LabelReport> {
  const columns = columnsOf(input, rows);
  const out: Record<string, LabelReport> = {};
  input.labels.forEach((name, l) => {
    const sorted = sortClasses(columns.scores[l] as Float64Array, columns.labels[l] as Int8Array);
    out[name] = labelReport(sorted, input.thresholds?.[name], settings, {
      unknown: columns.unknown[l] as number,
      nonFinite: columns.nonFinite[l] as number,
    });
  });
  return out;
}

/**
 * The multiclass report for single-label models: the true class is the one label marked 1
 * (others 0 or unknown); cases with no positive label or several are left out and counted.
 * The predicted class is the argmax of the scores (first label on ties).
 */
function multiclassOf(
  input: EvaluationInput,
  rows: readonly number[] | null,
): { report: MulticlassReport; notes: string[] } {
  const truth: number[] = [];
  const predicted: number[] = [];
  let none = 0;
  let several = 0;
  let nonFinite = 0;
  const count = rows === null ? input.cases.length : rows.length;
  for (let r = 0; r < count; r++) {
    const item = input.cases[rows === null ? r : (rows[r] as number)] as EvaluationCase;
    let positive = -1;
    let positives = 0;
    item.labels.forEach((label, l) => {
      if (label === 1) {
        positives++;
        positive = l;
      }
    });
    if (positives === 0) none++;
    else if (positives > 1) several++;
    else {
      const p = argmax(item.scores);
      if (p < 0) nonFinite++;
      else {
        truth.push(positive);
        predicted.push(p);
      }
    }
  }
  const notes: string[] = [];
  if (none > 0) notes.push(`multiclass: ${String(none)} cases with no positive label left out`);
  if (several > 0) notes.push(`multiclass: ${String(several)} cases with several positive labels left out`);
  if (nonFinite > 0) notes.push(`multiclass: ${String(nonFinite)} cases with a non-finite score left out`);
  return { report: multiclassReport(input.labels, truth, predicted), notes };
}

function resolve(settings: EvaluationSettings): ResolvedSettings {
  const d = DEFAULT_SETTINGS;
  const resolved: ResolvedSettings = {
    ciMethod: settings.ci_method ?? d.ci_method,
    bootstrapSamples: settings.bootstrap_samples ?? d.bootstrap_samples,
    seed: settings.seed ?? d.seed,
    targetSensitivity: settings.target_sensitivity ?? d.target_sensitivity,
    calibrationBins: settings.calibration_bins ?? d.calibration_bins,
    minGroupSize: settings.min_group_size ?? d.min_group_size,
    curvePoints: settings.curve_points ?? d.curve_points,
    histogramBins: settings.histogram_bins ?? d.histogram_bins,
  };
  const positiveInteger = (name: string, value: number, min: number): void => {
    if (!Number.isInteger(value) || value < min)
      throw new RangeError(`evaluate: ${name} must be an integer >= ${String(min)}, got ${String(value)}`);
  };
  positiveInteger('bootstrap_samples', resolved.bootstrapSamples, 1);
  positiveInteger('calibration_bins', resolved.calibrationBins, 1);
  positiveInteger('min_group_size', resolved.minGroupSize, 0);
  positiveInteger('curve_points', resolved.curvePoints, 2);
  positiveInteger('histogram_bins', resolved.histogramBins, 1);
  if (!Number.isInteger(resolved.seed))
    throw new RangeError(`evaluate: seed must be an integer, got ${String(resolved.seed)}`);
  if (!(resolved.targetSensitivity > 0 && resolved.targetSensitivity <= 1)) {
    throw new RangeError(
      `evaluate: target_sensitivity must be in (0, 1], got ${String(resolved.targetSensitivity)}`,
    );
  }
  return resolved;
}

/** Computes the evaluation report (see report.ts for the shape and README for the definitions). */
export function evaluate(input: EvaluationInput, settings: EvaluationSettings = {}): EvaluationReport {
  validate(input);
  const resolved = resolve(settings);
  const groupBy =
    input.group_by === undefined || input.group_by === null
      ? []
      : typeof input.group_by === 'string'
        ? [input.group_by]
        : [...input.group_by];
  const singleLabel = input.activation === 'softmax' || input.decision === 'argmax';
  const notes: string[] = [...(input.notes ?? [])];

  const labels = labelReports(input, null, resolved);
  let multiclass: MulticlassReport | undefined;
  if (singleLabel) {
    const result = multiclassOf(input, null);
    multiclass = result.report;
    notes.push(...result.notes);
  }

  let groups: Record<string, Record<string, GroupReport>> | undefined;
  if (groupBy.length > 0) {
    groups = {};
    for (const key of groupBy) {
      const members = new Map<string, number[]>();
      input.cases.forEach((item, i) => {
        const value = item.groups?.[key] ?? MISSING_GROUP;
        let list = members.get(value);
        if (list === undefined) members.set(value, (list = []));
        list.push(i);
      });
      const byValue: Record<string, GroupReport> = {};
      for (const value of [...members.keys()].sort()) {
        const rows = members.get(value) ?? [];
        const groupLabels = labelReports(input, rows, resolved);
        const groupNotes: string[] = [];
        if (rows.length < resolved.minGroupSize)
          groupNotes.push(`too small: ${String(rows.length)} cases < ${String(resolved.minGroupSize)}`);
        const oneClass = Object.entries(groupLabels)
          .filter(([, report]) => report.positives === 0 || report.positives === report.n)
          .map(([name]) => name);
        if (oneClass.length > 0)
          groupNotes.push(`too small: no positives or no negatives for ${oneClass.join(', ')}`);
        let groupMulticlass: MulticlassReport | undefined;
        if (singleLabel) {
          const result = multiclassOf(input, rows);
          groupMulticlass = result.report;
          groupNotes.push(...result.notes);
        }
        byValue[value] = {
          n: rows.length,
          labels: groupLabels,
          ...(groupMulticlass === undefined ? {} : { multiclass: groupMulticlass }),
          too_small: rows.length < resolved.minGroupSize || oneClass.length > 0,
          notes: groupNotes,
        };
      }
      groups[key] = byValue;
    }
  }

  const total = input.cases.length;
  return {
    version: 1,
    created_at: input.created_at ?? new Date().toISOString(),
    model: {
      id: input.model?.id ?? null,
      version: input.model?.version ?? null,
      activation: input.activation,
    },
    inputs: input.inputs ?? {
      predictions: '',
      labels: '',
      predictions_total: total,
      labels_total: total,
      matched: total,
      unmatched_predictions: 0,
      unmatched_labels: 0,
      not_scored: 0,
    },
    settings: {
      ci_method: resolved.ciMethod,
      bootstrap_samples: resolved.ciMethod === 'bootstrap' ? resolved.bootstrapSamples : null,
      seed: resolved.ciMethod === 'bootstrap' ? resolved.seed : null,
      target_sensitivity: resolved.targetSensitivity,
      calibration_bins: resolved.calibrationBins,
      min_group_size: resolved.minGroupSize,
      group_by: groupBy.length > 0 ? groupBy.join(',') : null,
    },
    labels,
    ...(multiclass === undefined ? {} : { multiclass }),
    ...(groups === undefined ? {} : { groups }),
    notes,
  };
}
