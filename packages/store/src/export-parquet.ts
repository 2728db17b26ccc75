/**
 * Parquet export (hyparquet-writer, pure JS): the columns of exportHeader, in the same order, one
 * row group per `rowGroupSize` rows. Rows are pulled from the source one group at a time and each
 * group is written to the file before the next is pulled, so memory is bounded by one row group
 * whatever the size of the run. readParquetExport (hyparquet) reads such a file back, one row
 * group at a time, as the records a JSONL export holds.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { ByteWriter, parquetWriteRows, type SchemaElement, type Writer } from 'hyparquet-writer';
import { exportCells, exportHeader, type Cell, type ExportRow } from './export.js';

/** Rows per row group: ~10 MB of uncompressed column data for result rows. */
export const PARQUET_ROW_GROUP_SIZE = 10_000;

type NumericType = 'INT32' | 'INT64' | 'DOUBLE';
/** Instants: INT64 milliseconds since the epoch, annotated TIMESTAMP(MILLIS, UTC). */
type ColumnType = NumericType | 'UTF8' | 'TIMESTAMP';

/**
 * The instant columns: Parquet readers (pyarrow, DuckDB, Spark) see them as UTC timestamps, not
 * strings. Milliseconds: the store's instants are written and exported at that precision.
 */
export const PARQUET_TIMESTAMP_COLUMNS: ReadonlySet<string> = new Set([
  'enqueued_at',
  'created_at',
  'updated_at',
  'delivery_at',
]);

/**
 * The numeric export columns and their Parquet physical type (every other column is a UTF8
 * string; score columns are DOUBLE). Timings are DOUBLE because the store keeps fractional
 * milliseconds (REAL / DOUBLE PRECISION). export-parquet.test.ts fails when a numeric column is
 * added to DATA_COLUMNS without an entry here.
 */
export const PARQUET_NUMERIC_COLUMNS: Readonly<Record<string, NumericType>> = {
  size_bytes: 'INT64',
  rows: 'INT32',
  columns: 'INT32',
  image_mean: 'DOUBLE',
  image_std: 'DOUBLE',
  bits_stored: 'INT32',
  suspicion: 'DOUBLE',
  fetch_ms: 'DOUBLE',
  decode_ms: 'DOUBLE',
  preprocess_ms: 'DOUBLE',
  batch_wait_ms: 'DOUBLE',
  infer_ms: 'DOUBLE',
  store_ms: 'DOUBLE',
  delivery_attempts: 'INT32',
};

function columnType(name: string): ColumnType {
  if (name.startsWith('score_')) return 'DOUBLE';
  if (PARQUET_TIMESTAMP_COLUMNS.has(name)) return 'TIMESTAMP';
  return PARQUET_NUMERIC_COLUMNS[name] ?? 'UTF8';
}

/** The Parquet schema of an export: every column OPTIONAL (null where absent), header order. */
export function parquetSchema(labels: readonly string[]): SchemaElement[] {
  const header = exportHeader(labels);
  return [
    { name: 'root', num_children: header.length },
    ...header.map((name): SchemaElement => {
      const type = columnType(name);
      if (type === 'UTF8')
        return { name, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' };
      if (type === 'TIMESTAMP') {
        return {
          name,
          type: 'INT64',
          converted_type: 'TIMESTAMP_MILLIS',
          logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' },
          repetition_type: 'OPTIONAL',
        };
      }
      return { name, type, repetition_type: 'OPTIONAL' };
    }),
  ];
}

type ParquetCell = string | number | bigint | null;

/** One row as a record keyed by header name, with the values the Parquet types need. */
function parquetRecord(
  header: readonly string[],
  types: readonly ColumnType[],
  row: ExportRow,
  labels: readonly string[],
): Record<string, ParquetCell> {
  const cells = exportCells(row, labels);
  const record: Record<string, ParquetCell> = {};
  header.forEach((name, index) => {
    const value = cells[index] ?? null;
    const type = types[index];
    if (value === null) record[name] = null;
    else if (type === 'UTF8') {
      if (typeof value !== 'string') throw new Error(`export column ${name} is not a string`);
      record[name] = value;
    } else if (type === 'TIMESTAMP') {
      const ms = typeof value === 'string' ? Date.parse(value) : Number.NaN;
      if (!Number.isFinite(ms)) throw new Error(`export column ${name} is not an instant`);
      record[name] = BigInt(ms);
    } else {
      if (typeof value !== 'number') throw new Error(`export column ${name} is not a number`);
      record[name] = type === 'INT64' ? BigInt(value) : value;
    }
  });
  return record;
}

/**
 * A hyparquet-writer sink that appends to an open file: the writer calls flush() after each row
 * group and awaits it before encoding the next, so at most one encoded row group is buffered.
 * (A ByteWriter with async flush/finish, as the library's own fileWriter is built, but without
 * its synchronous appends.)
 */
function fileSink(handle: FileHandle): { writer: Writer; maxBufferedBytes: () => number } {
  const bytes = new ByteWriter(1 << 20);
  let maxBuffered = 0;
  const flush = async (): Promise<void> => {
    maxBuffered = Math.max(maxBuffered, bytes.index);
    let written = 0;
    while (written < bytes.index) {
      const { bytesWritten } = await handle.write(
        new Uint8Array(bytes.buffer, written, bytes.index - written),
      );
      written += bytesWritten;
    }
    bytes.index = 0;
  };
  const writer: Writer = Object.assign(bytes, { flush, finish: flush });
  return { writer, maxBufferedBytes: () => maxBuffered };
}

export interface ParquetExportOptions {
  readonly labels: readonly string[];
  /** Rows per row group (default PARQUET_ROW_GROUP_SIZE). */
  readonly rowGroupSize?: number;
}

export interface ParquetExportSummary {
  readonly rows: number;
  /** Largest encoded row group held in memory before it was written, in bytes. */
  readonly maxBufferedBytes: number;
}

/**
 * Streams rows into a new Parquet file at `path` (created or truncated) and resolves with the
 * number of rows written. The file is complete only when the promise resolves.
 */
export async function writeParquetExport(
  rows: AsyncIterable<ExportRow>,
  options: ParquetExportOptions,
  path: string,
): Promise<ParquetExportSummary> {
  const rowGroupSize = options.rowGroupSize ?? PARQUET_ROW_GROUP_SIZE;
  if (!Number.isInteger(rowGroupSize) || rowGroupSize < 1) {
    throw new Error('parquet rowGroupSize must be a positive integer');
  }
  const schema = parquetSchema(options.labels);
  const header = exportHeader(options.labels);
  const types = header.map(columnType);
  let count = 0;
  async function* records(): AsyncGenerator<Record<string, ParquetCell>> {
    for await (const row of rows) {
      yield parquetRecord(header, types, row, options.labels);
      count += 1;
    }
  }
  const handle = await open(path, 'w');
  try {
    const sink = fileSink(handle);
    await parquetWriteRows({
      writer: sink.writer,
      rows: records(),
      columns: header.map((name) => ({ name })),
      schema,
      rowGroupSize,
      createdBy: 'cxr-pipeline',
    });
    return { rows: count, maxBufferedBytes: sink.maxBufferedBytes() };
  } finally {
    await handle.close();
  }
}

/**
 * Reads a Parquet export back as records keyed by column name, one row group at a time, with the
 * values a JSONL export of the same rows holds (INT64 as number, absent as null). `select` limits
 * the columns read.
 */
export async function* readParquetExport(
  path: string,
  options: { readonly select?: (column: string) => boolean } = {},
): AsyncGenerator<Record<string, Cell>> {
  const file = await asyncBufferFromFile(path);
  const metadata = await parquetMetadataAsync(file);
  // Only the selected columns are decoded (`cxr evaluate` needs ~20 of ~50).
  const { select } = options;
  const columns =
    select === undefined
      ? undefined
      : metadata.schema
          .slice(1)
          .map((c) => c.name)
          .filter(select);
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    const rows = await parquetReadObjects({
      file,
      metadata,
      rowStart,
      rowEnd,
      ...(columns === undefined ? {} : { columns }),
    });
    for (const row of rows) {
      const record: Record<string, Cell> = {};
      for (const [name, value] of Object.entries(row) as [string, unknown][]) {
        if (value === null || value === undefined) record[name] = null;
        // TIMESTAMP columns: the ISO 8601 form a JSONL export holds.
        else if (value instanceof Date) record[name] = value.toISOString();
        else if (typeof value === 'string' || typeof value === 'number') record[name] = value;
        else if (typeof value === 'bigint' && value <= BigInt(Number.MAX_SAFE_INTEGER))
          record[name] = Number(value);
        else
          throw new Error(
            `${path}: column ${name} holds a value of type ${typeof value}, not an export cell`,
          );
      }
      yield record;
    }
    rowStart = rowEnd;
  }
}
