/**
 * exportRun over both adapters: a SQLite file and a real PostgreSQL server (own schema) filled
 * with the same rows must export the same records, in the same order, in every format.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cell } from './export.js';
import { readParquetExport } from './export-parquet.js';
import { UnknownRunError, exportRun } from './export-run.js';
import { openStore } from './open-store.js';
import type { ResultRow } from './result-row.js';
import type { ResultStore } from './result-store.js';
import { sampleRow } from './testing/store-contract.js';

// Trust auth on the test server; CXR_TEST_POSTGRES_URL overrides it for CI (tests are not app
// code, so reading the environment here bypasses @cxr/config on purpose).
const POSTGRES_URL = process.env.CXR_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SCHEMA = `cxr_test_export_${randomBytes(6).toString('hex')}`;

// URIs whose bytewise order differs from a locale-aware order, so both stores must sort alike.
const ROWS: ResultRow[] = [
  sampleRow('s3://b/a.dcm', { scores: { normal: 0.6, pneumonia: 0.4 } }),
  sampleRow('s3://b/B.dcm', { scores: { normal: 0.1, pneumonia: 0.2, effusion: 0.7 }, decision: 'effusion' }),
  sampleRow('s3://b/ä,"quoted".dcm', { manufacturer: 'Line\nbreak' }),
  sampleRow('s3://b/c.dcm', { outcome: 'rejected', reason: 'not_dicom', scores: null, decision: null }),
  sampleRow('s3://b/d.dcm', { outcome: 'failed', reason: 's3_timeout', scores: null, decision: null }),
  sampleRow('s3://b/other-run.dcm', { runId: 'run-2' }),
];

let dir: string;
let admin: pg.Client;
const stores: Record<'sqlite' | 'postgres', ResultStore | undefined> = {
  sqlite: undefined,
  postgres: undefined,
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cxr-export-run-'));
  admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${SCHEMA}`);
  stores.sqlite = await openStore(`sqlite:${join(dir, 'results.sqlite')}`);
  stores.postgres = await openStore(POSTGRES_URL, { schema: SCHEMA });
  for (const store of Object.values(stores)) await store?.upsertResults(ROWS);
});

afterAll(async () => {
  for (const store of Object.values(stores)) await store?.close();
  try {
    await admin.query(`DROP SCHEMA ${SCHEMA} CASCADE`);
  } finally {
    await admin.end();
  }
  await rm(dir, { recursive: true, force: true });
});

function storeOf(dialect: 'sqlite' | 'postgres'): ResultStore {
  const store = stores[dialect];
  if (store === undefined) throw new Error(`${dialect} store not opened`);
  return store;
}

/** JSONL export of run-1 through a stream, as parsed records. */
async function jsonlOf(
  store: ResultStore,
  labels?: readonly string[],
): Promise<{ labels: readonly string[]; records: Record<string, Cell>[] }> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (chunk: Buffer) => chunks.push(chunk));
  // A page of 2 rows: the export crosses keyset pages.
  const options = { format: 'jsonl', batchSize: 2, ...(labels === undefined ? {} : { labels }) } as const;
  const summary = await exportRun(store, 'run-1', options, out);
  out.end();
  const records = Buffer.concat(chunks)
    .toString('utf8')
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, Cell>);
  expect(summary.rows).toBe(records.length);
  return { labels: summary.labels, records };
}

/** The store's own timestamps differ between two stores; everything else must match. */
function withoutTimestamps(record: Record<string, Cell>): Record<string, Cell> {
  expect(record.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
  expect(record.updated_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
  const { created_at: _created, updated_at: _updated, ...rest } = record;
  return rest;
}

describe('exportRun on SQLite and PostgreSQL', () => {
  it('exports the same records in the same order, labels in first-appearance order', async () => {
    const sqlite = await jsonlOf(storeOf('sqlite'));
    const postgres = await jsonlOf(storeOf('postgres'));
    // SQLite keeps the keys of `scores` as written (manifest order). PostgreSQL JSONB does not:
    // it stores object keys shortest first, then bytewise, so the discovered order differs.
    expect(sqlite.labels).toEqual(['normal', 'pneumonia', 'effusion', 'further_evaluation']);
    expect(postgres.labels).toEqual(['normal', 'effusion', 'pneumonia', 'further_evaluation']);
    expect(sqlite.records.map((r) => r.uri)).toEqual([
      's3://b/B.dcm',
      's3://b/a.dcm',
      's3://b/c.dcm',
      's3://b/d.dcm',
      's3://b/ä,"quoted".dcm',
    ]);
    // toEqual compares records key by key, so the column order does not matter here.
    expect(postgres.records.map(withoutTimestamps)).toEqual(sqlite.records.map(withoutTimestamps));
    expect(sqlite.records[1]).toMatchObject({
      score_normal: 0.6,
      score_effusion: null,
      size_bytes: 10_485_760,
    });
  });

  it('exports identical columns from both stores when the labels are given (--model)', async () => {
    const labels = ['pneumonia', 'normal', 'effusion', 'further_evaluation'];
    const sqlite = await jsonlOf(storeOf('sqlite'), labels);
    const postgres = await jsonlOf(storeOf('postgres'), labels);
    expect(sqlite.records.map((r) => Object.keys(r))).toEqual(postgres.records.map((r) => Object.keys(r)));
    expect(Object.keys(sqlite.records[0] ?? {}).slice(6, 10)).toEqual(labels.map((l) => `score_${l}`));
    expect(postgres.records.map(withoutTimestamps)).toEqual(sqlite.records.map(withoutTimestamps));
  });

  it('writes CSV and Parquet files with the same rows from either store', async () => {
    for (const dialect of ['sqlite', 'postgres'] as const) {
      const store = storeOf(dialect);
      const { records } = await jsonlOf(store);
      const parquetPath = join(dir, `${dialect}.parquet`);
      const summary = await exportRun(store, 'run-1', { format: 'parquet' }, parquetPath);
      expect(summary.rows).toBe(5);
      const parquet: Record<string, Cell>[] = [];
      for await (const record of readParquetExport(parquetPath)) parquet.push(record);
      expect(parquet).toEqual(records);

      const csvPath = join(dir, `${dialect}.csv`);
      await exportRun(store, 'run-1', { format: 'csv', labels: ['pneumonia'] }, csvPath);
      const csv = await readFile(csvPath, 'utf8');
      expect(csv.split('\r\n')[0]).toMatch(
        /^uri,sop_instance_uid,study_instance_uid,outcome,reason,decision,score_pneumonia,model_id,/,
      );
      expect(csv).toContain('"s3://b/ä,""quoted"".dcm"');
    }
  });

  it('refuses an unknown run with UnknownRunError and a stream for Parquet', async () => {
    for (const dialect of ['sqlite', 'postgres'] as const) {
      await expect(
        exportRun(storeOf(dialect), 'no-such-run', { format: 'csv' }, new PassThrough()),
      ).rejects.toThrow(UnknownRunError);
      await expect(
        exportRun(storeOf(dialect), 'run-1', { format: 'parquet' }, new PassThrough()),
      ).rejects.toThrow(/needs a file path/);
    }
  });
});
