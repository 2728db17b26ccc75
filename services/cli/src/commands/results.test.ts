/**
 * `cxr results export` and `cxr results runs` as a user runs them: a real process over a SQLite
 * store filled through the store API. CSV, JSONL and Parquet must carry the same fields and values,
 * because `cxr evaluate --predictions` reads any of them.
 */
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCsvText } from '@cxr/csv';
import { CANARY_PATIENT_ID } from '@cxr/fixtures';
import {
  hashPatientId,
  openStore,
  parseResultRow,
  readParquetExport,
  type Cell,
  type ResultRowInput,
} from '@cxr/store';
import { cxr, cxrWithEnv, expectNoCanary, runCxr } from '../testing/run-cxr.js';

const REQUIRED = ['uri', 'sop_instance_uid', 'study_instance_uid', 'outcome', 'reason', 'decision'];

let dir: string;
let storeUrl: string;

function row(uri: string, overrides: Partial<ResultRowInput> = {}): ResultRowInput {
  return {
    runId: 'run-a',
    uri,
    etag: '"e1"',
    sizeBytes: 1_048_576,
    studyInstanceUid: '1.2.3.1',
    seriesInstanceUid: '1.2.3.2',
    sopInstanceUid: '1.2.3.3',
    patientIdHash: hashPatientId(CANARY_PATIENT_ID, 'results-cli-test-salt'),
    modality: 'DX',
    viewPosition: 'PA',
    manufacturer: 'ACME, "Imaging"',
    rows: 2048,
    columns: 2048,
    modelId: 'seed-densenet121',
    modelVersion: '1.0.0',
    runtime: 'onnx',
    scores: { normal: 0.75, pneumonia: 0.125, further_evaluation: 0.125 },
    decision: 'normal',
    outcome: 'ok',
    timings: { fetch: 1.25, decode: 30, preprocess: 5, batch_wait: 2, infer: 40, store: null },
    enqueuedAt: '2026-11-27T00:00:00.000Z',
    ...overrides,
  };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cxr-results-cli-'));
  storeUrl = `sqlite:${join(dir, 'results.sqlite')}`;
  const store = await openStore(storeUrl);
  try {
    await store.upsertResults(
      [
        row('s3://archive/a,"1"\nx.dcm'),
        row('s3://archive/b.dcm', { scores: { normal: 0.25, pneumonia: 0.5, further_evaluation: 0.25 } }),
        row('s3://archive/c.dcm', {
          outcome: 'rejected',
          reason: 'not_dicom',
          scores: null,
          decision: null,
          rows: null,
          columns: null,
          sopInstanceUid: null,
        }),
        row('s3://archive/d.dcm', { outcome: 'failed', reason: 's3_timeout', scores: null, decision: null }),
        row('s3://archive/e.dcm', { runId: 'run-b' }),
        row('s3://archive/f.dcm', {
          runId: 'run-rejects',
          outcome: 'rejected',
          reason: 'not_dicom',
          scores: null,
        }),
      ].map(parseResultRow),
    );
  } finally {
    await store.close();
  }
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The fields of each record, as `cxr evaluate` reads them (@cxr/csv). */
function parseCsv(text: string): string[][] {
  return parseCsvText(text).map((record) => [...record.fields]);
}

/** A typed record as CSV text: null is the empty field, numbers print as JavaScript prints them. */
function asCsvText(record: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(record).map(([key, value]) => [
      key,
      value === null ? '' : typeof value === 'string' ? value : String(value as number),
    ]),
  );
}

function csvObjects(text: string): { header: string[]; records: Record<string, string>[] } {
  const [header = [], ...rows] = parseCsv(text);
  return {
    header,
    records: rows.map((cells) => Object.fromEntries(header.map((name, i) => [name, cells[i] ?? '']))),
  };
}

describe('cxr results export', () => {
  it('writes the same fields and values as CSV (stdout), JSONL and Parquet', async () => {
    const csv = await cxr('results', 'export', '--run', 'run-a', '--format', 'csv', '--store', storeUrl);
    expect(csv.stderr).toBe(
      'exported 4 rows of run run-a as csv to stdout (labels normal,pneumonia,further_evaluation)\n',
    );
    expect(csv.code).toBe(0);
    expectNoCanary(csv);
    const { header, records } = csvObjects(csv.stdout);
    expect(header.slice(0, REQUIRED.length)).toEqual(REQUIRED);
    expect(header.slice(REQUIRED.length, REQUIRED.length + 3)).toEqual([
      'score_normal',
      'score_pneumonia',
      'score_further_evaluation',
    ]);
    expect(header).toContain('patient_id_hash');
    expect(records.map((r) => r.uri)).toEqual([
      's3://archive/a,"1"\nx.dcm',
      's3://archive/b.dcm',
      's3://archive/c.dcm',
      's3://archive/d.dcm',
    ]);
    expect(records[1]).toMatchObject({
      outcome: 'ok',
      score_pneumonia: '0.5',
      rows: '2048',
      fetch_ms: '1.25',
    });
    expect(records[2]).toMatchObject({
      outcome: 'rejected',
      reason: 'not_dicom',
      score_normal: '',
      rows: '',
    });

    const jsonlPath = join(dir, 'run-a.jsonl');
    const jsonl = await cxr(
      'results',
      'export',
      '--run',
      'run-a',
      '--format',
      'jsonl',
      '--out',
      jsonlPath,
      '--store',
      storeUrl,
    );
    expect(jsonl.code).toBe(0);
    expect(jsonl.stdout).toBe('');
    expect(jsonl.stderr).toContain(`exported 4 rows of run run-a as jsonl to ${jsonlPath}`);
    const jsonlRecords = (await readFile(jsonlPath, 'utf8'))
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(jsonlRecords.map((r) => Object.keys(r))).toEqual(records.map(() => header));
    expect(jsonlRecords[0]).toMatchObject({ score_normal: 0.75, rows: 2048, store_ms: null, reason: null });

    const parquetPath = join(dir, 'run-a.parquet');
    const parquet = await cxr(
      'results',
      'export',
      '--run',
      'run-a',
      '--format',
      'parquet',
      '--out',
      parquetPath,
      '--store',
      storeUrl,
    );
    expect(parquet.code).toBe(0);
    expect(parquet.stderr).toContain(`exported 4 rows of run run-a as parquet to ${parquetPath}`);
    const parquetRecords: Record<string, Cell>[] = [];
    for await (const record of readParquetExport(parquetPath)) parquetRecords.push(record);
    expect(parquetRecords.map((r) => Object.keys(r))).toEqual(records.map(() => header));
    expect(parquetRecords[0]).toMatchObject({ score_normal: 0.75, rows: 2048, size_bytes: 1_048_576 });

    // The three formats carry the same values (CSV as text, the others typed).
    expect(parquetRecords).toEqual(jsonlRecords);
    expect(jsonlRecords.map(asCsvText)).toEqual(records);
    expect(parquetRecords.map(asCsvText)).toEqual(records);
  });

  it('reads the store from CXR_STORE_URL and takes the score columns from --model', async () => {
    const model = join(dir, 'model');
    await mkdir(model, { recursive: true });
    await writeFile(
      join(model, 'manifest.json'),
      JSON.stringify({
        id: 'seed-densenet121',
        version: '1.0.0',
        architecture: 'densenet121',
        format: 'onnx',
        weights: ['model.onnx'],
        input: {
          size: 32,
          channels: 3,
          layout: 'NCHW',
          crop: 'center-square',
          resize: 'bilinear',
          intensity: { method: 'percentiles', low: 0.5, high: 99.5 },
          normalization: { method: 'imagenet', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
        },
        output: { activation: 'softmax', labels: ['pneumonia', 'normal', 'effusion'], decision: 'argmax' },
      }),
    );
    const result = await cxrWithEnv(
      { CXR_STORE_URL: storeUrl },
      ...['results', 'export', '--run', 'run-b', '--format', 'csv', '--model', model, '--out', '-'],
    );
    expect(result.code).toBe(0);
    const { header, records } = csvObjects(result.stdout);
    expect(header.slice(REQUIRED.length, REQUIRED.length + 4)).toEqual([
      'score_pneumonia',
      'score_normal',
      'score_effusion',
      'model_id',
    ]);
    expect(header).not.toContain('score_further_evaluation');
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ score_pneumonia: '0.125', score_normal: '0.75', score_effusion: '' });
  });

  it('exports a run without ok rows with no score columns', async () => {
    const result = await cxr(
      'results',
      'export',
      '--run',
      'run-rejects',
      '--format',
      'jsonl',
      '--store',
      storeUrl,
    );
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('(no score columns)');
    const record = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(Object.keys(record).filter((key) => key.startsWith('score_'))).toEqual([]);
    expect(record).toMatchObject({ outcome: 'rejected', reason: 'not_dicom' });
  });

  it('fails with one line and exit code 2 for an unknown run, leaving no file', async () => {
    const out = join(dir, 'nope.csv');
    const result = await cxr(
      'results',
      'export',
      '--run',
      'run-nope',
      '--format',
      'csv',
      '--out',
      out,
      '--store',
      storeUrl,
    );
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe('cxr: run run-nope has no results in the store\n');
    await expect(readFile(out)).rejects.toThrow(/ENOENT/);
  });

  it('refuses parquet on stdout and an unknown format with a usage error', async () => {
    const parquet = await cxr(
      'results',
      'export',
      '--run',
      'run-a',
      '--format',
      'parquet',
      '--store',
      storeUrl,
    );
    expect(parquet.code).toBe(2);
    expect(parquet.stderr).toBe(
      'cxr: --format parquet needs --out FILE (Parquet cannot be written to stdout)\n',
    );
    const xml = await cxr('results', 'export', '--run', 'run-a', '--format', 'xml', '--store', storeUrl);
    expect(xml.code).toBe(2);
    expect(xml.stderr).toContain('--format must be one of csv, jsonl, parquet, got "xml"');
  });
});

describe('cxr results runs', () => {
  it('lists every run with its counts per outcome, as JSON and as a table', async () => {
    const json = await cxr('results', 'runs', '--store', storeUrl, '--json');
    expect(json.code).toBe(0);
    const runs = JSON.parse(json.stdout) as {
      runId: string;
      total: number;
      byOutcome: Record<string, number>;
    }[];
    const byId = new Map(runs.map((r) => [r.runId, r]));
    expect([...byId.keys()].sort()).toEqual(['run-a', 'run-b', 'run-rejects']);
    expect(byId.get('run-a')).toMatchObject({ total: 4, byOutcome: { ok: 2, rejected: 1, failed: 1 } });
    expect(byId.get('run-rejects')).toMatchObject({ total: 1, byOutcome: { ok: 0, rejected: 1, failed: 0 } });

    const table = await cxr('results', 'runs', '--store', storeUrl);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^run\s+total\s+ok\s+rejected\s+failed\s+first created\s+last updated$/);
    expect(lines.find((line) => line.startsWith('run-a '))).toMatch(/^run-a\s+4\s+2\s+1\s+1\s+\d{4}-/);
    expect(lines).toHaveLength(4);
  });
});

describe('read commands and a store that does not exist', () => {
  it('fail with exit 2 and one line naming the store, and create nothing', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'cxr-results-nostore-'));
    try {
      // No --store, CXR_STORE_URL unset: the default ./cxr-results.sqlite, relative to cwd.
      const env = { CXR_STORE_URL: '' };
      const runs = await runCxr({ env, cwd }, 'results', 'runs');
      expect(runs.code).toBe(2);
      expect(runs.stderr).toBe(
        'cxr: result store sqlite:./cxr-results.sqlite does not exist (check --store or CXR_STORE_URL)\n',
      );
      const missing = join(cwd, 'elsewhere.sqlite');
      const exported = await runCxr(
        { env, cwd },
        'results',
        'export',
        '--run',
        'run-a',
        '--format',
        'csv',
        '--store',
        `sqlite:${missing}`,
      );
      expect(exported.code).toBe(2);
      expect(exported.stderr).toBe(
        `cxr: result store sqlite:${missing} does not exist (check --store or CXR_STORE_URL)\n`,
      );
      expect(await readdir(cwd)).toEqual([]);
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  });
});
