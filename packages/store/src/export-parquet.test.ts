import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportCells, exportHeader, writeExport, type ExportRow } from './export.js';
import {
  PARQUET_NUMERIC_COLUMNS,
  parquetSchema,
  readParquetExport,
  writeParquetExport,
} from './export-parquet.js';
import { writeExportFile } from './export-run.js';
import { sampleRow } from './testing/store-contract.js';

const LABELS = ['normal', 'pneumonia', 'further_evaluation'];

async function* stream(rows: Iterable<ExportRow>): AsyncGenerator<ExportRow> {
  for (const row of rows) {
    await Promise.resolve();
    yield row;
  }
}

/** Parquet rows as plain records, INT64 (bigint) converted to number for comparison with JSON. */
async function readParquet(path: string): Promise<Record<string, unknown>[]> {
  const file = await asyncBufferFromFile(path);
  const rows = await parquetReadObjects({ file });
  return rows.map((row) =>
    Object.fromEntries(
      Object.entries(row).map(([key, value]) => [key, typeof value === 'bigint' ? Number(value) : value]),
    ),
  );
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cxr-export-parquet-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const tricky: ExportRow = {
  ...sampleRow('s3://bucket/a,"b"\nc.dcm', { manufacturer: 'ACME, "X-ray"\r\nDiv — ü' }),
  createdAt: '2026-11-27T01:00:00.000Z',
  updatedAt: '2026-11-27T01:00:01.000Z',
};
const rejected = sampleRow('s3://bucket/d.dcm', {
  outcome: 'rejected',
  reason: 'not_dicom',
  scores: null,
  decision: null,
  rows: null,
  sizeBytes: 5_000_000_000,
});
// A score of exactly 1 must still come back as a DOUBLE column value, and a label missing from
// a row's scores is null.
const wholeScore = sampleRow('s3://bucket/e.dcm', { scores: { normal: 1, pneumonia: 0 } });

describe('parquetSchema', () => {
  it('has the CSV header, in order, with UTF8 strings, DOUBLE scores and integer sizes', () => {
    const [root, ...columns] = parquetSchema(LABELS);
    expect(root?.num_children).toBe(columns.length);
    expect(columns.map((c) => c.name)).toEqual(exportHeader(LABELS));
    const byName = new Map(columns.map((c) => [c.name, c]));
    expect(byName.get('uri')).toMatchObject({ type: 'BYTE_ARRAY', converted_type: 'UTF8' });
    expect(byName.get('score_pneumonia')).toMatchObject({ type: 'DOUBLE' });
    expect(byName.get('rows')).toMatchObject({ type: 'INT32' });
    expect(byName.get('size_bytes')).toMatchObject({ type: 'INT64' });
    expect(byName.get('infer_ms')).toMatchObject({ type: 'DOUBLE' });
    for (const instant of ['enqueued_at', 'created_at', 'updated_at']) {
      expect(byName.get(instant), instant).toMatchObject({
        type: 'INT64',
        converted_type: 'TIMESTAMP_MILLIS',
        logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' },
      });
    }
    expect(columns.every((c) => c.repetition_type === 'OPTIONAL')).toBe(true);
  });

  it('types every numeric export column as a number (a new numeric column needs an entry)', () => {
    // A fully populated row: every column that carries a number must be typed numeric.
    const full: ExportRow = {
      ...sampleRow('s3://bucket/full.dcm', {
        reason: 'low_confidence',
        timings: { fetch: 1, decode: 2, preprocess: 3, batch_wait: 4, infer: 5, store: 6 },
      }),
      createdAt: '2026-11-27T01:00:00.000Z',
      updatedAt: '2026-11-27T01:00:00.000Z',
      delivery: {
        state: 'failed',
        reason: 'stow_http_409: refused',
        attempts: 2,
        at: '2026-11-27T01:00:01.000Z',
      },
    };
    const header = exportHeader([]);
    const cells = exportCells(full, []);
    expect(cells.every((cell) => cell !== null)).toBe(true);
    const numeric = header.filter((_, i) => typeof cells[i] === 'number');
    expect(numeric.sort()).toEqual(Object.keys(PARQUET_NUMERIC_COLUMNS).sort());
  });
});

describe('writeParquetExport', () => {
  it('reads back with hyparquet: same header, same values, nulls and numbers', async () => {
    const path = join(dir, 'three.parquet');
    const summary = await writeParquetExport(
      stream([tricky, rejected, wholeScore]),
      { labels: LABELS },
      path,
    );
    expect(summary.rows).toBe(3);

    const metadata = await parquetMetadataAsync(await asyncBufferFromFile(path));
    expect(metadata.num_rows).toBe(3n);
    expect(metadata.schema.slice(1).map((c) => c.name)).toEqual(exportHeader(LABELS));
    // Read back from the file's own schema: the instants are timestamps, not strings.
    const createdAt = metadata.schema.find((c) => c.name === 'created_at');
    expect(createdAt).toMatchObject({
      type: 'INT64',
      logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' },
    });

    const [first, second, third, ...rest] = await readParquet(path);
    expect(rest).toEqual([]);
    expect(Object.keys(first ?? {})).toEqual(exportHeader(LABELS));
    expect(first).toMatchObject({
      uri: tricky.uri,
      manufacturer: 'ACME, "X-ray"\r\nDiv — ü',
      outcome: 'ok',
      reason: null,
      score_normal: 0.7,
      score_pneumonia: 0.2,
      rows: 2500,
      size_bytes: 10_485_760,
      fetch_ms: 1.5,
      store_ms: null,
      // A Parquet reader sees a timestamp, not a string.
      created_at: new Date('2026-11-27T01:00:00.000Z'),
    });
    expect(second).toMatchObject({
      outcome: 'rejected',
      reason: 'not_dicom',
      decision: null,
      score_normal: null,
      rows: null,
      size_bytes: 5_000_000_000,
      created_at: null,
    });
    expect(third).toMatchObject({ score_normal: 1, score_pneumonia: 0, score_further_evaluation: null });
    expect(typeof third?.score_normal).toBe('number');
  });

  it('carries the same records as the JSONL export', async () => {
    const path = join(dir, 'same.parquet');
    const rows = [tricky, rejected, wholeScore];
    await writeParquetExport(stream(rows), { labels: LABELS }, path);
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (chunk: Buffer) => chunks.push(chunk));
    await writeExport(stream(rows), { format: 'jsonl', labels: LABELS }, out);
    out.end();
    const jsonl = Buffer.concat(chunks)
      .toString('utf8')
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as unknown);
    const asIso = (record: Record<string, unknown>): Record<string, unknown> =>
      Object.fromEntries(
        Object.entries(record).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : v]),
      );
    expect((await readParquet(path)).map(asIso)).toEqual(jsonl);
    const records: unknown[] = [];
    for await (const record of readParquetExport(path)) records.push(record);
    expect(records).toEqual(jsonl);
  });

  it('writes a readable file with the header and no rows for an empty run', async () => {
    const path = join(dir, 'empty.parquet');
    expect((await writeParquetExport(stream([]), { labels: [] }, path)).rows).toBe(0);
    const metadata = await parquetMetadataAsync(await asyncBufferFromFile(path));
    expect(metadata.num_rows).toBe(0n);
    expect(metadata.schema.slice(1).map((c) => c.name)).toEqual(exportHeader([]));
    expect(await readParquet(path)).toEqual([]);
  });

  it('streams 50,000 rows in 10,000-row groups, buffering one group at a time', async () => {
    const path = join(dir, 'large.parquet');
    const total = 50_000;
    let pulled = 0;
    async function* many(): AsyncGenerator<ExportRow> {
      for (let i = 0; i < total; i += 1) {
        pulled += 1;
        await Promise.resolve();
        yield sampleRow(`s3://bucket/${String(i).padStart(6, '0')}.dcm`, {
          scores: { normal: i / total, pneumonia: 1 - i / total, further_evaluation: 0 },
        });
      }
    }
    const started = performance.now();
    const summary = await writeParquetExport(many(), { labels: LABELS }, path);
    const elapsedMs = performance.now() - started;
    expect(summary.rows).toBe(total);
    expect(pulled).toBe(total);
    const metadata = await parquetMetadataAsync(await asyncBufferFromFile(path));
    expect(metadata.row_groups.map((g) => g.num_rows)).toEqual([10_000n, 10_000n, 10_000n, 10_000n, 10_000n]);
    // One encoded row group of these rows is well under 4 MB; the whole file would not be.
    expect(summary.maxBufferedBytes).toBeGreaterThan(0);
    expect(summary.maxBufferedBytes).toBeLessThan(4 << 20);
    // Read back one row group at a time, as `cxr evaluate` will.
    let read = 0;
    for await (const record of readParquetExport(path)) {
      expect(record.uri).toBe(`s3://bucket/${String(read).padStart(6, '0')}.dcm`);
      expect(record.score_normal).toBe(read / total);
      read += 1;
    }
    expect(read).toBe(total);
    console.info(`parquet export of ${total} rows: ${Math.round(elapsedMs)} ms`);
  });
});

describe('writeExportFile', () => {
  it('writes each format to the named file and leaves no temporary file', async () => {
    const sub = await mkdtemp(join(dir, 'file-'));
    for (const format of ['csv', 'jsonl', 'parquet'] as const) {
      const path = join(sub, `out.${format}`);
      expect(await writeExportFile(stream([tricky, rejected]), { format, labels: LABELS }, path)).toEqual({
        rows: 2,
      });
    }
    expect((await readdir(sub)).sort()).toEqual(['out.csv', 'out.jsonl', 'out.parquet']);
  });

  it('removes the temporary file and keeps no target when the source fails', async () => {
    const sub = await mkdtemp(join(dir, 'fail-'));
    async function* broken(): AsyncGenerator<ExportRow> {
      yield tricky;
      await Promise.resolve();
      throw new Error('database went away');
    }
    for (const format of ['csv', 'parquet'] as const) {
      await expect(
        writeExportFile(broken(), { format, labels: LABELS }, join(sub, `out.${format}`)),
      ).rejects.toThrow(/database went away/);
    }
    expect(await readdir(sub)).toEqual([]);
  });
});
