/**
 * A retrospective study end to end, as `cxr evaluate` runs it and as a script can: predictions
 * (an export file or a run of the store) joined with a labels file, the statistics, report.json
 * and a self-contained report.html. Input problems are StudyInputError (or @cxr/csv's
 * CsvFormatError), each one line naming the file and the reason.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ResultStore } from '@cxr/store';
import { evaluate, type EvaluationSettings } from '../evaluate.js';
import { renderReportHtml } from '../html/report-html.js';
import { unmatchedLine } from '../keys.js';
import { PREDICTION_TAGS } from '../names.js';
import type { EvaluationReport } from '../report.js';
import { StudyInputError } from './errors.js';
import { joinPredictionsAndLabels, type JoinResult } from './join.js';
import { readLabelMap, readLabelsFile, type LabelKeyKind } from './labels.js';
import { readPredictionsFile, readStorePredictions, type Predictions } from './predictions.js';

/** What a study needs of the model: a bundle manifest's id, version and output (a ModelManifest fits). */
export interface StudyModel {
  readonly id: string;
  readonly version: string;
  readonly output: {
    readonly labels: readonly string[];
    readonly activation: 'softmax' | 'sigmoid' | 'none';
    readonly decision: 'argmax' | 'thresholds';
    readonly thresholds?: Readonly<Record<string, number>> | undefined;
  };
}

/** Where the predictions come from: an export of `cxr results export`, or one run of an open store. */
export type StudyPredictions =
  { readonly file: string } | { readonly store: ResultStore; readonly runId: string };

export interface StudyOptions {
  readonly predictions: StudyPredictions;
  /** The labels file (columns layout or NIH Data_Entry_2017.csv). */
  readonly labels: string;
  /** A label map file (JSON object or two-column CSV). */
  readonly labelMap?: string | undefined;
  /** The model: its labels, activation, decision and thresholds; without it, the export's score columns. */
  readonly model?: StudyModel | undefined;
  /** Grouping keys: a stored tag (PREDICTION_TAGS) or a column of the labels file. */
  readonly groupBy?: readonly string[] | undefined;
  readonly settings?: EvaluationSettings | undefined;
  /**
   * Called once the join is known, before the study can fail for want of matches: which keys did
   * not match shows there (unmatchedKeyLines). The keys may be URIs: for a terminal, not a report.
   */
  readonly onJoined?: ((joined: JoinResult, keyKind: LabelKeyKind) => void) | undefined;
}

export interface StudyResult {
  readonly report: EvaluationReport;
  /** report.html: the report as one self-contained page. */
  readonly html: string;
}

/** Runs a study: reads, joins, computes. Writes nothing (see writeStudyReport). */
export async function runEvaluation(options: StudyOptions): Promise<StudyResult> {
  const model = options.model;
  const predictions = await readPredictions(options.predictions, model);
  const modelLabels = model?.output.labels ?? predictions.labels;
  if (modelLabels.length === 0) {
    throw new StudyInputError(
      `${predictions.source}: no score_<label> columns and no --model to name the labels`,
    );
  }
  const groupBy = options.groupBy ?? [];
  const isTag = (key: string): boolean => (PREDICTION_TAGS as readonly string[]).includes(key);
  const labelMap =
    options.labelMap === undefined ? undefined : await readLabelMap(options.labelMap, modelLabels);
  const table = await readLabelsFile(options.labels, {
    modelLabels,
    ...(labelMap === undefined ? {} : { labelMap }),
    groupColumns: groupBy.filter((key) => !isTag(key)),
  });
  const joined = joinPredictionsAndLabels(predictions, table, { groupBy });
  options.onJoined?.(joined, table.keyKind);
  if (joined.labels.length === 0) {
    throw new StudyInputError(`${options.labels}: no label is both scored and labelled`);
  }
  const notes = [...joined.notes];
  if (model === undefined) {
    notes.push(
      'no --model: labels inferred from the score columns; activation unknown, so binary per-label metrics only and no manifest operating point',
    );
  }
  const report = evaluate(
    {
      labels: joined.labels,
      cases: joined.cases,
      activation: model?.output.activation ?? null,
      decision: model?.output.decision ?? null,
      thresholds: model?.output.thresholds ?? {},
      model: modelOf(predictions, model),
      inputs: { predictions: predictions.source, labels: table.source, ...joined.counts },
      group_by: groupBy,
      notes,
    },
    options.settings ?? {},
  );
  return { report, html: renderReportHtml(report) };
}

function readPredictions(source: StudyPredictions, model: StudyModel | undefined): Promise<Predictions> {
  if ('file' in source) return readPredictionsFile(source.file);
  return readStorePredictions(source.store, source.runId, model?.output.labels);
}

/** The model of the predictions: the manifest's, else the one model_id/model_version of the scored rows. */
function modelOf(
  predictions: Predictions,
  model: StudyModel | undefined,
): { id: string | null; version: string | null } {
  if (model !== undefined) return { id: model.id, version: model.version };
  const models = new Set<string>();
  let found: { id: string | null; version: string | null } = { id: null, version: null };
  for (const row of predictions.rows) {
    if (row.outcome !== 'ok') continue;
    const key = `${row.modelId ?? ''}@${row.modelVersion ?? ''}`;
    if (!models.has(key)) {
      models.add(key);
      found = { id: row.modelId, version: row.modelVersion };
    }
  }
  if (models.size > 1) {
    throw new StudyInputError(
      `${predictions.source}: scored rows of ${models.size} model versions (${[...models].join(', ')}): evaluate one model at a time`,
    );
  }
  return found;
}

/** Lines naming how many predictions and label rows did not match, and the first few keys. */
export function unmatchedKeyLines(joined: JoinResult, keyKind: LabelKeyKind): string[] {
  const { counts, unmatched } = joined;
  const lines = [
    unmatchedLine(
      unmatched.predictions,
      counts.predictions_total - counts.not_scored,
      `scored predictions have no label row by ${keyKind}`,
    ),
    unmatchedLine(unmatched.labels, counts.labels_total, `label rows have no prediction by ${keyKind}`),
  ];
  return lines.filter((line): line is string => line !== undefined);
}

/** Writes a file under a temporary name and renames it, so a failed run leaves no half report. */
async function writeAtomically(path: string, content: string): Promise<void> {
  const temporary = `${path}.partial`;
  await writeFile(temporary, content, 'utf8');
  await rename(temporary, path);
}

/** Writes DIR/report.json and DIR/report.html (DIR created if needed); returns their paths. */
export async function writeStudyReport(
  dir: string,
  result: StudyResult,
): Promise<{ readonly json: string; readonly html: string }> {
  const paths = { json: join(dir, 'report.json'), html: join(dir, 'report.html') };
  await mkdir(dir, { recursive: true });
  await writeAtomically(paths.json, `${JSON.stringify(result.report, null, 2)}\n`);
  await writeAtomically(paths.html, result.html);
  return paths;
}
