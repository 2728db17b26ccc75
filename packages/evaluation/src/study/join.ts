/**
 * Joins predictions to labels for `cxr evaluate`: one case per scored prediction that has a label
 * row, with the label and score vectors in the order of the evaluated labels and the values of the
 * grouping keys. Nothing is dropped silently: predictions without a label row, label rows without
 * a prediction and predictions that were not scored are counted.
 *
 * Counts: predictions_total = matched + unmatched_predictions + not_scored. A label row is
 * unmatched when no prediction row (of any outcome) has its key; a label row whose prediction was
 * rejected or failed is neither matched nor unmatched (its prediction counts in not_scored).
 */
import { MISSING_GROUP } from '../evaluate.js';
import { baseName, fileKeyMatcher, UnmatchedKeyCollector, type UnmatchedKeys } from '../keys.js';
import type { LabelRow, LabelsTable, LabelValue } from './labels.js';
import { PREDICTION_TAGS, type PredictionTag } from '../names.js';
import type { PredictionRow, Predictions } from './predictions.js';
import { StudyInputError } from './errors.js';

/** Group value used when a case has none for a grouping key (the statistics' own). */
export { MISSING_GROUP };

export interface JoinedCase {
  /** Label per evaluated label: 1, 0 or null (unknown). */
  readonly labels: readonly LabelValue[];
  /** Score per evaluated label; null where the prediction carries none. */
  readonly scores: readonly (number | null)[];
  /** Value per grouping key. */
  readonly groups: Readonly<Record<string, string>>;
}

export interface JoinCounts {
  readonly predictions_total: number;
  readonly labels_total: number;
  readonly matched: number;
  readonly unmatched_predictions: number;
  readonly unmatched_labels: number;
  readonly not_scored: number;
}

export interface JoinResult {
  /** Evaluated labels: model labels present in both the predictions and the labels file. */
  readonly labels: readonly string[];
  readonly cases: readonly JoinedCase[];
  readonly counts: JoinCounts;
  /**
   * The keys behind unmatched_predictions and unmatched_labels (the first few, in input order),
   * for the command's stderr only: they may be URIs, so they stay out of the report.
   */
  readonly unmatched: { readonly predictions: UnmatchedKeys; readonly labels: UnmatchedKeys };
  readonly notes: readonly string[];
}

/** Two predictions claim one label row: the key kind cannot tell them apart. */
export class JoinError extends StudyInputError {
  override readonly name = 'JoinError';
}

function isTag(key: string): key is PredictionTag {
  return (PREDICTION_TAGS as readonly string[]).includes(key);
}

/** Finds the label row of a prediction by the labels file's key kind. */
function labelIndex(table: LabelsTable): (prediction: PredictionRow) => number | undefined {
  const byKey = new Map<string, number>();
  table.rows.forEach((row, i) => byKey.set(row.key, i));
  switch (table.keyKind) {
    case 'sop_instance_uid':
      return (p) => (p.sopInstanceUid === null ? undefined : byKey.get(p.sopInstanceUid));
    case 'uri':
      return (p) => byKey.get(p.uri);
    case 'file': {
      // The base name, with or without an image extension (../keys.ts, shared with cxr train).
      const find = fileKeyMatcher(table.rows.map((row) => row.key));
      return (p) => find(p.uri);
    }
  }
}

/** The key a prediction is looked up by, as the unmatched-keys line shows it. */
function predictionKey(prediction: PredictionRow, kind: LabelsTable['keyKind']): string {
  switch (kind) {
    case 'sop_instance_uid':
      return prediction.sopInstanceUid ?? '(no SOP Instance UID)';
    case 'uri':
      return prediction.uri;
    case 'file':
      return baseName(prediction.uri);
  }
}

export interface JoinOptions {
  /** Grouping keys: a prediction tag (institution, manufacturer, modality, view_position) or a labels column. */
  readonly groupBy?: readonly string[];
}

/** Joins predictions and labels (see the module comment for the counting rules). */
export function joinPredictionsAndLabels(
  predictions: Predictions,
  table: LabelsTable,
  options: JoinOptions = {},
): JoinResult {
  const notes: string[] = [...table.notes];
  const scoreLabels = new Set(predictions.labels);
  const labels = table.labels.filter((label) => scoreLabels.has(label));
  for (const label of table.labels) {
    if (!scoreLabels.has(label))
      notes.push(`label ${label} has no score column in the predictions: not evaluated`);
  }
  for (const label of table.missing) {
    if (scoreLabels.has(label))
      notes.push(`label ${label} has no ground truth in the labels file: not evaluated`);
  }
  const valueIndex = labels.map((label) => table.labels.indexOf(label));
  const scoreIndex = labels.map((label) => predictions.labels.indexOf(label));
  const find = labelIndex(table);
  const claimedBy = new Map<number, PredictionRow>();
  const cases: JoinedCase[] = [];
  let notScored = 0;
  const unmatchedPredictionKeys = new UnmatchedKeyCollector();
  for (const prediction of predictions.rows) {
    const index = find(prediction);
    if (index !== undefined) {
      const previous = claimedBy.get(index);
      if (previous !== undefined) {
        const line = table.rows[index]?.line ?? 0;
        throw new JoinError(
          `${predictions.source}: ${predictions.positionUnit}s ${previous.position} and ${prediction.position} both match ${table.source} line ${line} ` +
            `by ${table.keyKind}: use a labels file keyed by uri or sop_instance_uid`,
        );
      }
      claimedBy.set(index, prediction);
    }
    if (prediction.outcome !== 'ok') {
      notScored += 1;
      continue;
    }
    const row: LabelRow | undefined = index === undefined ? undefined : table.rows[index];
    if (row === undefined) {
      unmatchedPredictionKeys.add(predictionKey(prediction, table.keyKind));
      continue;
    }
    const groups: Record<string, string> = {};
    for (const key of options.groupBy ?? []) {
      const value = isTag(key) ? prediction.tags[key] : (row.groups[key] ?? null);
      groups[key] = value ?? MISSING_GROUP;
    }
    cases.push({
      labels: valueIndex.map((i) => row.values[i] ?? null),
      scores: scoreIndex.map((i) => prediction.scores[i] ?? null),
      groups,
    });
  }
  const unmatchedLabelKeys = new UnmatchedKeyCollector();
  table.rows.forEach((row, i) => {
    if (!claimedBy.has(i)) unmatchedLabelKeys.add(row.key);
  });
  const unmatched = { predictions: unmatchedPredictionKeys.result(), labels: unmatchedLabelKeys.result() };
  const unmatchedPredictions = unmatched.predictions.count;
  const unmatchedLabels = unmatched.labels.count;
  if (unmatchedPredictions > 0) notes.push(`${unmatchedPredictions} scored predictions have no label row`);
  if (unmatchedLabels > 0) notes.push(`${unmatchedLabels} label rows have no prediction`);
  if (notScored > 0) notes.push(`${notScored} predictions were rejected or failed and are not scored`);
  for (const [label, count] of Object.entries(table.unknownCells)) {
    if (count > 0) notes.push(`label ${label}: ${count} rows of the labels file leave it unknown`);
  }
  return {
    labels,
    cases,
    counts: {
      predictions_total: predictions.rows.length,
      labels_total: table.rows.length,
      matched: cases.length,
      unmatched_predictions: unmatchedPredictions,
      unmatched_labels: unmatchedLabels,
      not_scored: notScored,
    },
    unmatched,
    notes,
  };
}
