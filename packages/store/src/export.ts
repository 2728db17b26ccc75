/**
 * Export of a run for retrospective studies: CSV (RFC 4180), JSON Lines or Parquet
 * (export-parquet.ts) with the same fields in the same order. Streaming: rows are written as they
 * arrive, honouring backpressure.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { csvRecord, type CsvCell } from '@cxr/csv';
import { DATA_COLUMNS, ROW_KEY_COLUMN } from './columns.js';
import { EXPORT_FORMATS, type ExportFormat } from './names.js';
import type { ResultRow } from './result-row.js';
import { DELIVERY_COLUMNS, type ResultDelivery } from './delivery.js';

export { EXPORT_FORMATS, type ExportFormat };
/** Formats that can be written to any stream (stdout included); Parquet needs a file. */
export type StreamExportFormat = Exclude<ExportFormat, 'parquet'>;

export interface ExportOptions<F extends ExportFormat = ExportFormat> {
  readonly format: F;
  /** Model labels, in manifest order: one `score_<label>` column each. */
  readonly labels: readonly string[];
}

/** A row to export: a result, with the store's timestamps when it came from the store. */
export type ExportRow = ResultRow & {
  readonly createdAt?: string;
  readonly updatedAt?: string;
  /** Delivery of the findings to a PACS (empty columns when never queued). */
  readonly delivery?: ResultDelivery | null;
};

// What a study needs first; the technical columns follow, then the store timestamps.
const LEADING = ['uri', 'sop_instance_uid', 'study_instance_uid', 'outcome', 'reason', 'decision'] as const;
const TRAILING = [
  ...DATA_COLUMNS.map((c) => c.name).filter(
    (name) => name !== 'scores' && name !== ROW_KEY_COLUMN && !(LEADING as readonly string[]).includes(name),
  ),
  'created_at',
  'updated_at',
  ...DELIVERY_COLUMNS,
];

/** One exported value (a CSV field, a JSON value, a Parquet cell). */
export type Cell = CsvCell;

/** The export header: leading study columns, one score column per label, technical columns. */
export function exportHeader(labels: readonly string[]): string[] {
  const seen = new Set<string>();
  for (const label of labels) {
    if (seen.has(label)) throw new Error(`duplicate label in export: ${label}`);
    seen.add(label);
  }
  return [...LEADING, ...labels.map((label) => `score_${label}`), ...TRAILING];
}

const BY_NAME = new Map(DATA_COLUMNS.map((c) => [c.name, c.toSql]));

/** The cells of one row in exportHeader order (scores of labels not listed are not exported). */
export function exportCells(row: ExportRow, labels: readonly string[]): Cell[] {
  const cell = (name: string): Cell => {
    if (name === 'created_at') return row.createdAt ?? null;
    if (name === 'updated_at') return row.updatedAt ?? null;
    if (name === 'delivery_state') return row.delivery?.state ?? null;
    if (name === 'delivery_reason') return row.delivery?.reason ?? null;
    if (name === 'delivery_attempts') return row.delivery?.attempts ?? null;
    // '' = removed by de-identification (export-deid.ts).
    if (name === 'delivery_at')
      return row.delivery?.at === undefined || row.delivery.at === '' ? null : row.delivery.at;
    const toSql = BY_NAME.get(name);
    if (toSql === undefined) throw new Error(`unknown export column ${name}`);
    return toSql(row);
  };
  return [...LEADING.map(cell), ...labels.map((label) => row.scores?.[label] ?? null), ...TRAILING.map(cell)];
}

/** One JSON Lines record with the same keys, in the same order, as the CSV header. */
export function jsonlRecord(header: readonly string[], values: readonly Cell[]): string {
  const record: Record<string, Cell> = {};
  header.forEach((name, index) => {
    record[name] = values[index] ?? null;
  });
  return `${JSON.stringify(record)}\n`;
}

/**
 * Streams rows to `out` as CSV or JSONL and resolves with the number of rows written. Does not end
 * `out` (it may be stdout); the caller ends it and awaits 'finish'.
 */
export async function writeExport(
  rows: AsyncIterable<ExportRow>,
  options: ExportOptions<StreamExportFormat>,
  out: Writable,
): Promise<{ rows: number }> {
  const header = exportHeader(options.labels);
  const write = async (chunk: string): Promise<void> => {
    // A stream that already failed (a full disk, a closed pipe) would never emit 'drain'.
    if (out.errored) throw out.errored;
    if (!out.write(chunk)) await once(out, 'drain');
  };
  if (options.format === 'csv') await write(csvRecord(header));
  let count = 0;
  for await (const row of rows) {
    const cells = exportCells(row, options.labels);
    await write(options.format === 'csv' ? csvRecord(cells) : jsonlRecord(header, cells));
    count += 1;
  }
  return { rows: count };
}

/**
 * The score labels of a run when no manifest says them: keys in first-appearance order across the
 * rows (the worker writes scores in manifest order, so this is the manifest order of the run's
 * model). One pass; only the label set is held.
 */
export async function scoreLabels(rows: AsyncIterable<ExportRow>): Promise<string[]> {
  const labels = new Set<string>();
  for await (const row of rows) {
    if (row.scores === null) continue;
    for (const label of Object.keys(row.scores)) labels.add(label);
  }
  return [...labels];
}
