/**
 * `cxr evaluate --run ID --store URL` over both stores: a SQLite file and a real PostgreSQL server
 * (own schema, named in the URL as `?schema=`), filled through the store API with the same rows.
 * Both must give the report an export file gives, with the AUROC these data must produce.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EvaluationReport } from '@cxr/evaluation';
import { openStore } from '@cxr/store';
import { CASES, exportRows, pairAuroc, writeStudyInputs } from '@cxr/evaluation/testing/study';
import { cxr } from '../testing/run-cxr.js';

// Trust auth on the test server; CXR_TEST_POSTGRES_URL overrides it for CI.
const POSTGRES_URL = process.env.CXR_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SCHEMA = `cxr_test_evaluate_${randomBytes(6).toString('hex')}`;

let dir: string;
let labelsPath: string;
let modelDir: string;
const urls: Record<'sqlite' | 'postgres', string> = {
  sqlite: '',
  postgres: `${POSTGRES_URL}?schema=${SCHEMA}`,
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cxr-evaluate-store-'));
  urls.sqlite = `sqlite:${join(dir, 'results.sqlite')}`;
  ({ labelsPath, modelDir } = await writeStudyInputs(dir));
  for (const url of Object.values(urls)) {
    const store = await openStore(url);
    try {
      await store.upsertResults(exportRows());
    } finally {
      await store.close();
    }
  }
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  try {
    await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  } finally {
    await admin.end();
  }
});

async function evaluateRun(dialect: 'sqlite' | 'postgres'): Promise<EvaluationReport> {
  const out = join(dir, `out-${dialect}`);
  const result = await cxr(
    'evaluate',
    '--run',
    'study-1',
    '--store',
    urls[dialect],
    '--labels',
    labelsPath,
    '--model',
    modelDir,
    '--group-by',
    'institution',
    '--out',
    out,
  );
  expect(result.stderr).toMatch(/evaluated 80 cases/);
  expect(result.code).toBe(0);
  return JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as EvaluationReport;
}

describe('cxr evaluate --run', () => {
  it('gives the same report from SQLite and PostgreSQL, with the expected counts and AUROC', async () => {
    const sqlite = await evaluateRun('sqlite');
    const postgres = await evaluateRun('postgres');
    expect(sqlite.inputs).toMatchObject({
      predictions: 'store run study-1',
      predictions_total: 82,
      labels_total: 83,
      matched: 80,
      unmatched_predictions: 0,
      unmatched_labels: 3,
      not_scored: 2,
    });
    expect(sqlite.labels.atelectasis?.auroc.value).toBeCloseTo(pairAuroc(0), 12);
    expect(sqlite.labels.effusion?.auroc.value).toBeCloseTo(pairAuroc(1), 12);
    expect(sqlite.labels.atelectasis?.positives).toBe(CASES.filter((c) => c.truth[0] === 1).length);
    expect({ ...postgres, created_at: null }).toEqual({ ...sqlite, created_at: null });
  });

  it('fails with a usage error for a run the store does not hold', async () => {
    const result = await cxr(
      'evaluate',
      '--run',
      'no-such-run',
      '--store',
      urls.sqlite,
      '--labels',
      labelsPath,
      '--out',
      join(dir, 'out-none'),
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('cxr: run no-such-run has no results in the store\n');
  });
});
