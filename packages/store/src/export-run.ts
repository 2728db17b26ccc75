/**
 * Exports one run of a store to a file or a stream, in any export format. Files are written to a
 * temporary name beside the target and renamed when complete, so a failed export never leaves a
 * truncated file under the requested name.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { finished } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import { scoreLabels, writeExport, type ExportOptions, type ExportRow } from './export.js';
import { writeParquetExport } from './export-parquet.js';
import { UnknownRunError } from './errors.js';
import type { IterateOptions, ResultStore } from './result-store.js';

export { UnknownRunError };

/**
 * Writes rows to a new file at `path` in any export format, atomically (temporary file, then
 * rename), and resolves with the number of rows written.
 */
export async function writeExportFile(
  rows: AsyncIterable<ExportRow>,
  options: ExportOptions,
  path: string,
): Promise<{ rows: number }> {
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.partial`);
  try {
    let count: number;
    if (options.format === 'parquet') {
      ({ rows: count } = await writeParquetExport(rows, { labels: options.labels }, temporary));
    } else {
      const out = (await open(temporary, 'w')).createWriteStream();
      // The error surfaces through writeExport (out.errored) and finished(); without a listener
      // it would also crash the process as an unhandled 'error' event.
      out.on('error', () => undefined);
      try {
        ({ rows: count } = await writeExport(rows, { format: options.format, labels: options.labels }, out));
      } finally {
        out.end();
        await finished(out);
      }
    }
    await rename(temporary, path);
    return { rows: count };
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

export interface ExportRunOptions extends IterateOptions {
  readonly format: ExportOptions['format'];
  /** Score labels in column order; default: the run's score keys in first-appearance order. */
  readonly labels?: readonly string[];
  /** Applied to every row before it is written (de-identification: export-deid.ts). */
  readonly transformRow?: (row: ExportRow) => ExportRow;
}

async function* mapRows(
  rows: AsyncIterable<ExportRow>,
  transform: (row: ExportRow) => ExportRow,
): AsyncIterable<ExportRow> {
  for await (const row of rows) yield transform(row);
}

export interface ExportRunSummary {
  readonly rows: number;
  readonly labels: readonly string[];
}

/**
 * Exports a run: to the file `target` names, or to a stream (CSV and JSONL only; the stream is not
 * ended). Throws UnknownRunError when the run has no rows.
 */
export async function exportRun(
  store: ResultStore,
  runId: string,
  options: ExportRunOptions,
  target: string | Writable,
): Promise<ExportRunSummary> {
  const counts = await store.countByOutcome(runId);
  if (counts.ok + counts.rejected + counts.failed === 0) throw new UnknownRunError(runId);
  const iterate: IterateOptions = options.batchSize === undefined ? {} : { batchSize: options.batchSize };
  // Without labels, a first pass over the run finds them (bounded memory: only the label set).
  const labels = options.labels ?? (await scoreLabels(store.iterateRun(runId, iterate)));
  const stored = store.iterateRun(runId, iterate);
  const rows = options.transformRow === undefined ? stored : mapRows(stored, options.transformRow);
  if (typeof target === 'string') {
    const { rows: count } = await writeExportFile(rows, { format: options.format, labels }, target);
    return { rows: count, labels };
  }
  if (options.format === 'parquet') throw new Error('parquet export needs a file path, not a stream');
  const { rows: count } = await writeExport(rows, { format: options.format, labels }, target);
  return { rows: count, labels };
}
