/**
 * Predictions for `cxr evaluate`: the rows of a run, read from the results store or from the file
 * `cxr results export` wrote (CSV, JSONL or Parquet; the format is recognised by content). Every
 * source becomes the same PredictionRow, so matching and grouping do not care where rows came from.
 */
import { open } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { readParquetExport, type Cell, type ResultStore } from '@cxr/store';
import { readCsvFile } from '@cxr/csv';
import { StudyInputError } from './errors.js';
import { PREDICTION_TAGS, type PredictionTag } from '../names.js';

export interface PredictionRow {
  /** 1-based position in its source: the line of a CSV or JSONL file, else the row number. */
  readonly position: number;
  readonly uri: string;
  readonly sopInstanceUid: string | null;
  readonly outcome: string;
  /** Score per label of Predictions.labels, in that order; null (or absent) where the row has none. */
  readonly scores: readonly (number | null)[];
  readonly tags: Readonly<Record<PredictionTag, string | null>>;
  readonly modelId: string | null;
  readonly modelVersion: string | null;
}

export interface Predictions {
  /** Where they came from, for report.inputs.predictions (a file path or `store run ID`). */
  readonly source: string;
  /** Score labels in column order (`score_<label>` columns, or the run's score keys). */
  readonly labels: readonly string[];
  readonly rows: readonly PredictionRow[];
  /** What PredictionRow.position counts, for messages. */
  readonly positionUnit: 'line' | 'row';
}

/** A predictions file or run that cannot be used: names the file and the reason. */
export class PredictionsError extends StudyInputError {
  override readonly name = 'PredictionsError';
}

export type PredictionsFormat = 'csv' | 'jsonl' | 'parquet';

/** Recognises an export file by its first bytes: `PAR1` is Parquet, `{` JSONL, anything else CSV. */
export async function detectPredictionsFormat(path: string): Promise<PredictionsFormat> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(64);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    const text = head.subarray(0, bytesRead).toString('utf8');
    if (text.startsWith('PAR1')) return 'parquet';
    return text
      .replace(/^\uFEFF/, '')
      .trimStart()
      .startsWith('{')
      ? 'jsonl'
      : 'csv';
  } finally {
    await handle.close();
  }
}

const SCORE_PREFIX = 'score_';

function scoreLabelsOf(columns: readonly string[]): string[] {
  return columns.filter((c) => c.startsWith(SCORE_PREFIX)).map((c) => c.slice(SCORE_PREFIX.length));
}

/** Reads one cell of the current row by export column name (undefined: no such column). */
type CellReader = (name: string) => Cell | undefined;

/** One row from its cells; `scoreCells` are the `score_<label>` cells in label order. */
function rowFromCells(
  cell: CellReader,
  scoreCells: readonly (Cell | undefined)[],
  labels: readonly string[],
  position: number,
  file: string,
  unit: 'line' | 'row',
): PredictionRow {
  const text = (name: string): string | null => {
    const value = cell(name);
    if (value === null || value === undefined || value === '') return null;
    return String(value);
  };
  const uri = text('uri');
  if (uri === null) throw new PredictionsError(`${file}: ${unit} ${position}: no uri`);
  const outcome = text('outcome');
  if (outcome === null) throw new PredictionsError(`${file}: ${unit} ${position}: no outcome`);
  const scores = scoreCells.map((value, i): number | null => {
    if (value === null || value === undefined || value === '') return null;
    const score = typeof value === 'number' ? value : Number(value);
    if (!Number.isFinite(score)) {
      throw new PredictionsError(
        `${file}: ${unit} ${position}: column ${SCORE_PREFIX}${labels[i] ?? ''} is not a number`,
      );
    }
    return score;
  });
  return {
    position,
    uri,
    sopInstanceUid: text('sop_instance_uid'),
    outcome,
    scores,
    tags: {
      institution: text('institution'),
      manufacturer: text('manufacturer'),
      modality: text('modality'),
      view_position: text('view_position'),
    },
    modelId: text('model_id'),
    modelVersion: text('model_version'),
  };
}

/** A record keyed by export column name (as JSONL and Parquet exports hold them) to a row. */
function rowFromRecord(
  record: Readonly<Record<string, Cell | undefined>>,
  labels: readonly string[],
  position: number,
  file: string,
  unit: 'line' | 'row',
): PredictionRow {
  const scoreCells = labels.map((label) => record[`${SCORE_PREFIX}${label}`]);
  return rowFromCells((name) => record[name], scoreCells, labels, position, file, unit);
}

function requireColumns(columns: readonly string[], file: string): void {
  for (const name of ['uri', 'outcome']) {
    if (!columns.includes(name)) {
      throw new PredictionsError(`${file}: no "${name}" column: not an export of \`cxr results export\``);
    }
  }
}

async function readCsvPredictions(path: string): Promise<Predictions> {
  let header: readonly string[] | undefined;
  let labels: string[] = [];
  let columnIndex = new Map<string, number>();
  let scoreIndex: number[] = [];
  const rows: PredictionRow[] = [];
  for await (const { line, fields } of readCsvFile(path)) {
    if (header === undefined) {
      header = fields.map((f) => f.trim());
      requireColumns(header, path);
      labels = scoreLabelsOf(header);
      columnIndex = new Map(header.map((name, index) => [name, index]));
      scoreIndex = labels.map((label) => header?.indexOf(`${SCORE_PREFIX}${label}`) ?? -1);
      continue;
    }
    if (fields.length !== header.length) {
      throw new PredictionsError(
        `${path}: line ${line}: ${fields.length} fields, the header has ${header.length}`,
      );
    }
    // Cells by index: no per-row record object (an export has ~50 columns, a study 100,000 rows).
    const cell: CellReader = (name) => {
      const index = columnIndex.get(name);
      return index === undefined ? undefined : fields[index];
    };
    const scoreCells = scoreIndex.map((index) => fields[index]);
    rows.push(rowFromCells(cell, scoreCells, labels, line, path, 'line'));
  }
  if (header === undefined) throw new PredictionsError(`${path}: empty file`);
  return { source: path, labels, rows, positionUnit: 'line' };
}

async function readJsonlPredictions(path: string): Promise<Predictions> {
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  let labels: string[] | undefined;
  const rows: PredictionRow[] = [];
  let position = 0;
  for await (const text of lines) {
    position += 1;
    if (text.trim() === '') continue;
    let record: unknown;
    try {
      record = JSON.parse(text);
    } catch {
      throw new PredictionsError(`${path}: line ${position}: not valid JSON`);
    }
    if (typeof record !== 'object' || record === null || Array.isArray(record)) {
      throw new PredictionsError(`${path}: line ${position}: not a JSON object`);
    }
    const fields = record as Record<string, Cell | undefined>;
    if (labels === undefined) {
      requireColumns(Object.keys(fields), path);
      labels = scoreLabelsOf(Object.keys(fields));
    }
    rows.push(rowFromRecord(fields, labels, position, path, 'line'));
  }
  return { source: path, labels: labels ?? [], rows, positionUnit: 'line' };
}

async function readParquetPredictions(path: string): Promise<Predictions> {
  let labels: string[] | undefined;
  const rows: PredictionRow[] = [];
  let position = 0;
  const wanted = new Set<string>([
    'uri',
    'sop_instance_uid',
    'outcome',
    'model_id',
    'model_version',
    ...PREDICTION_TAGS,
  ]);
  const select = (column: string): boolean => wanted.has(column) || column.startsWith(SCORE_PREFIX);
  for await (const record of readParquetExport(path, { select })) {
    position += 1;
    if (labels === undefined) {
      requireColumns(Object.keys(record), path);
      labels = scoreLabelsOf(Object.keys(record));
    }
    rows.push(rowFromRecord(record, labels, position, path, 'row'));
  }
  return { source: path, labels: labels ?? [], rows, positionUnit: 'row' };
}

/** Reads an export file of `cxr results export` in any of its formats. */
export async function readPredictionsFile(path: string): Promise<Predictions> {
  const format = await detectPredictionsFormat(path);
  switch (format) {
    case 'csv':
      return readCsvPredictions(path);
    case 'jsonl':
      return readJsonlPredictions(path);
    case 'parquet':
      return readParquetPredictions(path);
  }
}

/**
 * Reads one run of a store. Labels: `labels` when given (the manifest's), else the run's score
 * keys in first-appearance order (the worker writes them in manifest order).
 */
export async function readStorePredictions(
  store: ResultStore,
  runId: string,
  labels?: readonly string[],
): Promise<Predictions> {
  const rows: PredictionRow[] = [];
  const order: string[] = [...(labels ?? [])];
  const indexOf = new Map(order.map((label, index) => [label, index]));
  let position = 0;
  for await (const row of store.iterateRun(runId)) {
    position += 1;
    const scores: (number | null)[] = order.map(() => null);
    for (const [label, score] of Object.entries(row.scores ?? {})) {
      let index = indexOf.get(label);
      if (index === undefined) {
        if (labels !== undefined) continue;
        index = order.length;
        indexOf.set(label, index);
        order.push(label);
      }
      scores[index] = score;
    }
    rows.push({
      position,
      uri: row.uri,
      sopInstanceUid: row.sopInstanceUid,
      outcome: row.outcome,
      scores,
      tags: {
        institution: row.institution,
        manufacturer: row.manufacturer,
        modality: row.modality,
        view_position: row.viewPosition,
      },
      modelId: row.modelId,
      modelVersion: row.modelVersion,
    });
  }
  if (rows.length === 0) throw new PredictionsError(`run ${runId} has no results in the store`);
  return { source: `store run ${runId}`, labels: order, rows, positionUnit: 'row' };
}
