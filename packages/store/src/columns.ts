/**
 * The one list of `results` columns shared by both adapters and the export, so a new column is
 * added in one place (plus a migration).
 */
import { OUTCOMES, parseResultRow, type Outcome, type ResultRow, type StoredResult } from './result-row.js';
import { ROW_KEY_PATTERN, rowKeyOf } from './row-key.js';
import { DELIVERY_COLUMNS, isDeliveryState, type ResultDelivery } from './delivery.js';
import { uriSchemeOf, type WorklistItem } from './worklist.js';

export type SqlValue = string | number | null;

interface ColumnSpec {
  /** Column name in SQL and in exports. */
  readonly name: string;
  readonly toSql: (row: ResultRow) => SqlValue;
}

/** The column of the row's opaque id (row-key.ts); not exported (it is the key, hashed). */
export const ROW_KEY_COLUMN = 'row_key';

// Order: identity first, then the DICOM facts, the model, the outcome and the timings.
export const DATA_COLUMNS: readonly ColumnSpec[] = [
  { name: 'uri', toSql: (r) => r.uri },
  { name: 'model_id', toSql: (r) => r.modelId },
  { name: 'model_version', toSql: (r) => r.modelVersion },
  { name: 'run_id', toSql: (r) => r.runId },
  { name: 'etag', toSql: (r) => r.etag },
  { name: 'size_bytes', toSql: (r) => r.sizeBytes },
  { name: 'study_instance_uid', toSql: (r) => r.studyInstanceUid },
  { name: 'series_instance_uid', toSql: (r) => r.seriesInstanceUid },
  { name: 'sop_instance_uid', toSql: (r) => r.sopInstanceUid },
  { name: 'patient_id_hash', toSql: (r) => r.patientIdHash },
  { name: 'modality', toSql: (r) => r.modality },
  { name: 'view_position', toSql: (r) => r.viewPosition },
  { name: 'manufacturer', toSql: (r) => r.manufacturer },
  { name: 'institution', toSql: (r) => r.institution },
  { name: 'photometric', toSql: (r) => r.photometric },
  { name: 'transfer_syntax', toSql: (r) => r.transferSyntax },
  { name: 'rows', toSql: (r) => r.rows },
  { name: 'columns', toSql: (r) => r.columns },
  { name: 'image_mean', toSql: (r) => r.imageMean },
  { name: 'image_std', toSql: (r) => r.imageStd },
  { name: 'bits_stored', toSql: (r) => r.bitsStored },
  { name: 'runtime', toSql: (r) => r.runtime },
  { name: 'scores', toSql: (r) => (r.scores === null ? null : JSON.stringify(r.scores)) },
  { name: 'decision', toSql: (r) => r.decision },
  { name: 'suspicion', toSql: (r) => r.suspicion },
  { name: 'outcome', toSql: (r) => r.outcome },
  { name: 'reason', toSql: (r) => r.reason },
  { name: 'fetch_ms', toSql: (r) => r.timings.fetch },
  { name: 'decode_ms', toSql: (r) => r.timings.decode },
  { name: 'preprocess_ms', toSql: (r) => r.timings.preprocess },
  { name: 'batch_wait_ms', toSql: (r) => r.timings.batch_wait },
  { name: 'infer_ms', toSql: (r) => r.timings.infer },
  { name: 'store_ms', toSql: (r) => r.timings.store },
  { name: 'enqueued_at', toSql: (r) => r.enqueuedAt },
  // Derived from the key (row-key.ts): the row's opaque id in worklist URLs and page cursors.
  { name: ROW_KEY_COLUMN, toSql: (r) => rowKeyOf(r) },
];

/** Double-quoted identifier: `rows` and `columns` are keywords in SQLite and PostgreSQL. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Page size ceiling: a page is held in memory, so bound it whatever the caller asks. */
export const MAX_PAGE_SIZE = 10_000;

function text(record: Record<string, unknown>, name: string): string | null {
  const value = record[name];
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  throw new Error(`column ${name} has an unexpected type`);
}

function num(record: Record<string, unknown>, name: string): number | null {
  const value = record[name];
  if (value === null || value === undefined) return null;
  // pg returns BIGINT as a string to avoid precision loss; sizes stay far below 2^53.
  if (typeof value === 'number' || typeof value === 'string' || typeof value === 'bigint')
    return Number(value);
  throw new Error(`column ${name} has an unexpected type`);
}

function instant(record: Record<string, unknown>, name: string): string | null {
  const value = record[name];
  if (value instanceof Date) return value.toISOString();
  return text(record, name);
}

function jsonObject(record: Record<string, unknown>, name: string): unknown {
  const value = record[name];
  // JSONB arrives parsed from pg, TEXT JSON arrives as a string from SQLite.
  if (typeof value === 'string') return JSON.parse(value) as unknown;
  return value ?? null;
}

/** Maps a database record (either dialect) back to a validated StoredResult. */
export function storedResultFromRecord(record: Record<string, unknown>): StoredResult {
  const row = parseResultRow({
    runId: text(record, 'run_id'),
    uri: text(record, 'uri'),
    etag: text(record, 'etag'),
    sizeBytes: num(record, 'size_bytes'),
    studyInstanceUid: text(record, 'study_instance_uid'),
    seriesInstanceUid: text(record, 'series_instance_uid'),
    sopInstanceUid: text(record, 'sop_instance_uid'),
    patientIdHash: text(record, 'patient_id_hash'),
    modality: text(record, 'modality'),
    viewPosition: text(record, 'view_position'),
    manufacturer: text(record, 'manufacturer'),
    institution: text(record, 'institution'),
    photometric: text(record, 'photometric'),
    transferSyntax: text(record, 'transfer_syntax'),
    rows: num(record, 'rows'),
    columns: num(record, 'columns'),
    imageMean: num(record, 'image_mean'),
    imageStd: num(record, 'image_std'),
    bitsStored: num(record, 'bits_stored'),
    modelId: text(record, 'model_id'),
    modelVersion: text(record, 'model_version'),
    runtime: text(record, 'runtime'),
    scores: jsonObject(record, 'scores'),
    decision: text(record, 'decision'),
    suspicion: num(record, 'suspicion'),
    outcome: text(record, 'outcome'),
    reason: text(record, 'reason'),
    timings: {
      fetch: num(record, 'fetch_ms'),
      decode: num(record, 'decode_ms'),
      preprocess: num(record, 'preprocess_ms'),
      batch_wait: num(record, 'batch_wait_ms'),
      infer: num(record, 'infer_ms'),
      store: num(record, 'store_ms'),
    },
    enqueuedAt: instant(record, 'enqueued_at'),
  });
  const stored: StoredResult = {
    ...row,
    createdAt: instant(record, 'created_at') ?? '',
    updatedAt: instant(record, 'updated_at') ?? '',
  };
  const delivery = deliveryFromRecord(record);
  return delivery === null ? stored : { ...stored, delivery };
}

/** The delivery columns of a record (migration 4); null when the row was never queued for delivery. */
export function deliveryFromRecord(record: Record<string, unknown>): ResultDelivery | null {
  const state = record.delivery_state;
  if (state === null || state === undefined) return null;
  if (!isDeliveryState(state)) throw new Error('column delivery_state has an unexpected value');
  return {
    state,
    reason: text(record, 'delivery_reason'),
    attempts: num(record, 'delivery_attempts') ?? 0,
    at: instant(record, 'delivery_at') ?? '',
  };
}

function scoresObject(record: Record<string, unknown>): Record<string, number> | null {
  const value = jsonObject(record, 'scores');
  if (value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value))
    throw new Error('column scores has an unexpected type');
  const scores: Record<string, number> = {};
  for (const [label, score] of Object.entries(value as Record<string, unknown>)) {
    if (typeof score !== 'number') throw new Error('column scores has an unexpected type');
    scores[label] = score;
  }
  return scores;
}

/** Maps a record of a worklist query (WORKLIST_SELECT_LIST) to a WorklistItem: the URI becomes its scheme. */
export function worklistItemFromRecord(record: Record<string, unknown>): WorklistItem {
  const required = (name: string): string => {
    const value = text(record, name);
    if (value === null) throw new Error(`column ${name} is null`);
    return value;
  };
  const rowKey = required('row_key');
  const outcome = required('outcome');
  if (!ROW_KEY_PATTERN.test(rowKey)) throw new Error('column row_key has an unexpected value');
  if (!OUTCOMES.some((o) => o === outcome)) throw new Error('column outcome has an unexpected value');
  return {
    rowKey,
    runId: required('run_id'),
    modelId: required('model_id'),
    modelVersion: required('model_version'),
    uriScheme: uriSchemeOf(required('uri')),
    studyInstanceUid: text(record, 'study_instance_uid'),
    seriesInstanceUid: text(record, 'series_instance_uid'),
    sopInstanceUid: text(record, 'sop_instance_uid'),
    modality: text(record, 'modality'),
    viewPosition: text(record, 'view_position'),
    scores: scoresObject(record),
    decision: text(record, 'decision'),
    suspicion: num(record, 'suspicion'),
    outcome: outcome as Outcome,
    reason: text(record, 'reason'),
    createdAt: instant(record, 'created_at') ?? '',
    updatedAt: instant(record, 'updated_at') ?? '',
  };
}

/** The primary key: one row per object and model version. */
export const KEY_COLUMNS: readonly string[] = ['uri', 'model_id', 'model_version'];
/** Columns an upsert overwrites when the replacement rule lets a new result win. */
export const UPDATABLE_COLUMNS = DATA_COLUMNS.filter((column) => !KEY_COLUMNS.includes(column.name));
/** Every stored column, in export order, for SELECT statements. */
export const SELECT_LIST = [
  ...DATA_COLUMNS.map((c) => quoteIdent(c.name)),
  'created_at',
  'updated_at',
  ...DELIVERY_COLUMNS,
].join(', ');

/** What an upsert that replaces a result sets besides its data: the old result's delivery is void. */
export const CLEAR_DELIVERY_SQL = DELIVERY_COLUMNS.map((name) => `${name} = NULL`).join(', ');
