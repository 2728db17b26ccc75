/**
 * `cxr screen` end to end as a real process: objects in an S3 API server (s3rver), real Redis,
 * each store (SQLite file and PostgreSQL). Every object ends in the store with the right outcome
 * and reason; screening the same source again adds no rows and runs no inference.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { initSeedModel, SEED_WEIGHTS_WARNING } from '@cxr/model';
import { ResultQueue, ScreenQueue, redisConnectionFromUrl } from '@cxr/queue';
import { createTestS3Client, seedBucket, startS3rver, type RunningS3rver } from '@cxr/storage/testing';
import { openStore, type StoredResult } from '@cxr/store';
import { deleteResultRows } from '@cxr/store/testing';
import {
  CANARY_PATIENT_ID,
  CANARY_PATIENT_NAME,
  isChestRadiographFixture,
  loadFixtureManifest,
  type DecodeFixture,
  type RejectFixture,
} from '@cxr/fixtures';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cxrWithEnv } from '../testing/run-cxr.js';
import type { ScreenSummary } from './summary.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';
const BUCKET = 'archive';

interface Expected {
  readonly outcome: 'ok' | 'rejected';
  readonly reason: string | null;
}

describe('cxr screen (s3rver, Redis, SQLite and PostgreSQL)', () => {
  const prefix = `cxr-screen-test-${randomBytes(4).toString('hex')}`;
  const schema = `cxr_screen_${randomBytes(4).toString('hex')}`;
  const expected = new Map<string, Expected>();
  let dir: string;
  let modelDir: string;
  let s3: RunningS3rver;
  let env: Record<string, string>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-screen-'));
    const set = loadFixtureManifest(inject('fixtureManifestPath'));
    const good = set.fixtures.filter((f): f is DecodeFixture => f.kind === 'decode');
    // frame-out-of-range needs a frame request; screening always reads frame 0.
    const bad = set.fixtures.filter((f): f is RejectFixture => f.kind === 'reject' && f.frame === undefined);
    const objects: [string, Uint8Array][] = [];
    for (const f of good) {
      objects.push([`cr/${f.name}.dcm`, await readFile(f.path)]);
      // The seed model screens chest radiographs; the Secondary Capture fixtures are not for it.
      expected.set(
        `s3://${BUCKET}/cr/${f.name}.dcm`,
        isChestRadiographFixture(f)
          ? { outcome: 'ok', reason: null }
          : { outcome: 'rejected', reason: 'not_applicable' },
      );
    }
    for (const f of bad) {
      objects.push([`cr/bad/${f.name}.dcm`, await readFile(f.path)]);
      expected.set(`s3://${BUCKET}/cr/bad/${f.name}.dcm`, { outcome: 'rejected', reason: f.reason });
    }
    // Outside the prefix: must not be listed.
    objects.push(['other/outside.dcm', await readFile(good[0]?.path ?? '')]);

    s3 = await startS3rver();
    await seedBucket(createTestS3Client(s3.endpoint), BUCKET, objects);
    const bundle = await initSeedModel({
      outDir: join(dir, 'model'),
      size: 32,
      blocks: [1, 2, 2, 1],
      format: 'onnx',
      seed: 3,
    });
    modelDir = bundle.dir;
    env = {
      ...Object.fromEntries(Object.entries(s3.env).filter((e): e is [string, string] => e[1] !== undefined)),
      CXR_REDIS_URL: REDIS_URL,
      CXR_DECODE_THREADS: '1',
      CXR_RUNTIME: 'onnx',
      CXR_RUNTIME_THREADS: '1',
      CXR_MAX_BATCH: '4',
      CXR_PATIENT_ID_SALT: 'screen-test-salt-0123456789',
      CXR_LOG_LEVEL: 'debug',
    };
  }, 120_000);

  afterAll(async () => {
    const connection = redisConnectionFromUrl(REDIS_URL);
    for (const queuePrefix of [0, 1].map(prefixOf)) {
      const screen = new ScreenQueue({ connection, prefix: queuePrefix });
      await screen.obliterate({ force: true });
      await screen.close();
      const results = new ResultQueue({ connection, prefix: queuePrefix });
      await results.obliterate({ force: true });
      await results.close();
    }
    await s3.stop();
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  // One queue prefix per store: completed jobs stay in Redis for a day and would dedupe the
  // second store's first run against the first store's.
  const prefixOf = (index: number): string => `${prefix}-${index}`;

  const screen = async (
    index: number,
    store: string,
    runId: string,
    ...extra: string[]
  ): Promise<{ summary: ScreenSummary; stderr: string }> => {
    const run = await cxrWithEnv(
      { ...env, CXR_QUEUE_PREFIX: prefixOf(index) },
      'screen',
      `s3://${BUCKET}/cr/`,
      '--model',
      modelDir,
      '--store',
      store,
      '--run-id',
      runId,
      '--json',
      ...extra,
    );
    expect(run.stderr.split('\n').filter((line) => line.includes('"level":"error"'))).toEqual([]);
    expect(run.code, run.stderr.slice(-2000)).toBe(0);
    return { summary: JSON.parse(run.stdout) as ScreenSummary, stderr: run.stderr };
  };

  const rowsOf = async (store: string): Promise<StoredResult[]> => {
    const opened = await openStore(store);
    try {
      const rows: StoredResult[] = [];
      for (const run of await opened.listRuns()) {
        for await (const row of opened.iterateRun(run.runId)) rows.push(row);
      }
      return rows;
    } finally {
      await opened.close();
    }
  };

  const STORES = ['SQLite', 'PostgreSQL'] as const;
  const storeUrl = (name: (typeof STORES)[number]): string =>
    name === 'SQLite' ? `sqlite:${join(dir, 'results.sqlite')}` : `${PG_URL}?schema=${schema}`;

  it.each(STORES)(
    'screens every object into the %s store with its outcome',
    async (name) => {
      const store = storeUrl(name);
      const { summary, stderr } = await screen(STORES.indexOf(name), store, `first-${name}`);
      const rejected = [...expected.values()].filter((e) => e.outcome === 'rejected').length;
      expect(summary.complete).toBe(true);
      expect(summary.ingest).toMatchObject({ listed: expected.size, enqueued: expected.size, skipped: 0 });
      expect(summary.outcomes).toEqual({ ok: expected.size - rejected, rejected, failed: 0 });
      expect(summary.inferred).toBe(expected.size - rejected);
      expect(summary.stages.infer?.n).toBe(expected.size - rejected);
      expect(summary.stages.fetch?.p95Ms).toBeGreaterThanOrEqual(summary.stages.fetch?.p50Ms ?? Infinity);
      // Images the model does not apply to are counted by their reason, and the seed's warning is said.
      const notApplicable = [...expected.values()].filter((e) => e.reason === 'not_applicable').length;
      expect(notApplicable).toBeGreaterThan(0);
      expect(summary.reasons).toContainEqual({
        outcome: 'rejected',
        reason: 'not_applicable',
        count: notApplicable,
      });
      expect(summary.model.warning).toBe(SEED_WEIGHTS_WARNING);
      expect(stderr).toContain(`cxr: warning: model cxr-seed-densenet121: ${SEED_WEIGHTS_WARNING}\n`);

      const rows = await rowsOf(store);
      expect(rows).toHaveLength(expected.size);
      for (const row of rows) {
        const want = expected.get(row.uri);
        expect(want, row.uri).toBeDefined();
        expect({ uri: row.uri, outcome: row.outcome, reason: row.reason }).toEqual({ uri: row.uri, ...want });
        if (row.outcome === 'ok') {
          expect(Object.values(row.scores ?? {}).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
          expect(row.runtime).toBe('onnx');
        }
      }
      // Logs at debug level name no patient.
      for (const canary of [CANARY_PATIENT_NAME, CANARY_PATIENT_ID]) expect(stderr).not.toContain(canary);
    },
    180_000,
  );

  it.each(STORES)(
    'screening again adds no rows to the %s store and runs no inference',
    async (name) => {
      const store = storeUrl(name);
      const before = await rowsOf(store);
      const { summary } = await screen(STORES.indexOf(name), store, `second-${name}`);
      expect(summary.ingest).toMatchObject({ listed: expected.size, enqueued: 0, skipped: expected.size });
      expect(summary.inferred).toBe(0);
      expect(summary.outcomes).toEqual({ ok: 0, rejected: 0, failed: 0 });
      const after = await rowsOf(store);
      expect(after).toHaveLength(before.length);
      const key = (r: StoredResult): string => `${r.uri} ${r.runId} ${r.updatedAt}`;
      expect(after.map(key).sort()).toEqual(before.map(key).sort());
    },
    180_000,
  );

  it.each(STORES)(
    'objects whose rows were lost from the %s store are screened again, without --force',
    async (name) => {
      const store = storeUrl(name);
      const before = await rowsOf(store);
      // Two ok rows and one rejected row vanish (a write lost on its way): the queue still
      // remembers their jobs as completed, which used to make them "already queued" for a day.
      const lost = [
        ...before.filter((r) => r.outcome === 'ok').slice(0, 2),
        ...before.filter((r) => r.outcome === 'rejected').slice(0, 1),
      ];
      expect(
        await deleteResultRows(
          store,
          lost.map((r) => r.uri),
        ),
      ).toBe(3);
      const { summary } = await screen(STORES.indexOf(name), store, `third-${name}`);
      expect(summary.complete).toBe(true);
      expect(summary.missing).toBe(0);
      expect(summary.ingest).toMatchObject({
        listed: expected.size,
        enqueued: 3,
        requeued: 3,
        skipped: expected.size - 3,
        duplicates: 0,
      });
      expect(summary.outcomes).toEqual({ ok: 2, rejected: 1, failed: 0 });
      const after = await rowsOf(store);
      expect(after).toHaveLength(expected.size);
      for (const row of lost) {
        const again = after.find((r) => r.uri === row.uri);
        expect({ runId: again?.runId, outcome: again?.outcome }).toEqual({
          runId: `third-${name}`,
          outcome: row.outcome,
        });
      }
    },
    180_000,
  );

  it.each(STORES)(
    '--force re-screens and replaces every row of the %s store, and the export shows the new run',
    async (name) => {
      const store = storeUrl(name);
      const before = new Map((await rowsOf(store)).map((r) => [r.uri, r]));
      const runId = `forced-${name}`;
      const { summary } = await screen(STORES.indexOf(name), store, runId, '--force');
      const rejected = [...expected.values()].filter((e) => e.outcome === 'rejected').length;
      expect(summary.complete).toBe(true);
      expect(summary.ingest).toMatchObject({ listed: expected.size, enqueued: expected.size, skipped: 0 });
      expect(summary.inferred).toBe(expected.size - rejected);
      expect(summary.outcomes).toEqual({ ok: expected.size - rejected, rejected, failed: 0 });
      const after = await rowsOf(store);
      expect(after).toHaveLength(expected.size);
      for (const row of after) {
        const old = before.get(row.uri);
        expect(row.runId, row.uri).toBe(runId);
        expect(Date.parse(row.updatedAt), row.uri).toBeGreaterThan(Date.parse(old?.updatedAt ?? ''));
      }
      const exported = await cxrWithEnv(
        env,
        'results',
        'export',
        '--run',
        runId,
        '--format',
        'csv',
        '--store',
        store,
      );
      expect(exported.code, exported.stderr).toBe(0);
      // Header plus one line per object.
      expect(exported.stdout.trim().split('\n')).toHaveLength(expected.size + 1);
    },
    180_000,
  );
});
