/**
 * The results service end to end against real Redis and both stores (SQLite temp file and
 * PostgreSQL in its own schema): publish result messages, check rows, idempotency, /metrics,
 * probes and that no canary patient identifier reaches the metrics output.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '@cxr/config';
import { ResultQueue, ScreenQueue, redisConnectionFromUrl, type ResultMessage } from '@cxr/queue';
import { hashPatientId } from '@cxr/store';
import { CANARY_PATIENT_ID, CANARY_PATIENT_NAME } from '@cxr/fixtures';
import { startResultsApp, type ResultsApp } from './app.js';
import { expectedCounts, sampleMessages } from './testing/messages.js';

// Tests are not app code: reading the environment here bypasses @cxr/config on purpose.
const REDIS_URL = process.env.CXR_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const POSTGRES_URL = process.env.CXR_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const RUN_ID = 'run-results-test';
const SALT = 'results-int-test-salt-0123456789';

interface StoreTarget {
  readonly url: string;
  readonly schema?: string;
  readonly cleanup: () => Promise<void>;
}

const targets: Record<string, () => Promise<StoreTarget>> = {
  sqlite: async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cxr-results-int-'));
    return {
      url: `sqlite:${join(dir, 'results.sqlite')}`,
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
  postgres: async () => {
    const schema = `cxr_results_test_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    return {
      url: POSTGRES_URL,
      schema,
      cleanup: async () => {
        try {
          await admin.query(`DROP SCHEMA ${schema} CASCADE`);
        } finally {
          await admin.end();
        }
      },
    };
  },
};

/** The value of one exposition line `name{labels} value`, 0 when absent. */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

async function waitFor(what: string, condition: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe.each(Object.keys(targets))('ResultsService with %s', (kind) => {
  it('stores every outcome once, exposes metrics and probes, leaks no patient identifier', async () => {
    const target = await targets[kind]!();
    cleanups.push(target.cleanup);
    const prefix = `cxr-results-test-${randomBytes(6).toString('hex')}`;
    const connection = redisConnectionFromUrl(REDIS_URL);

    // Three waiting screen jobs, so the queue gauges have something to report.
    const screenQueue = new ScreenQueue({ connection, prefix });
    cleanups.push(async () => {
      await screenQueue.obliterate({ force: true });
      await screenQueue.close();
    });
    await screenQueue.enqueueBulk(
      [0, 1, 2].map((i) => ({
        uri: `s3://archive/waiting-${i}.dcm`,
        size: 1000,
        runId: RUN_ID,
        modelId: 'seed-densenet121',
        modelVersion: '1.0.0',
        enqueuedAt: Date.now(),
      })),
    );

    const config = loadConfig({ CXR_STORE_URL: target.url, CXR_REDIS_URL: REDIS_URL });
    const app: ResultsApp = await startResultsApp({
      config,
      port: 0,
      host: '127.0.0.1',
      queuePrefix: prefix,
      ...(target.schema !== undefined ? { storeSchema: target.schema } : {}),
      maxBatch: 16,
      maxDelayMs: 50,
      queueGaugeIntervalMs: 200,
    });
    let stopped = false;
    cleanups.push(async () => {
      if (!stopped) await app.stop();
    });
    const base = `http://127.0.0.1:${app.port}`;
    const metricsText = async (): Promise<string> => (await fetch(`${base}/metrics`)).text();

    const publisher = new ResultQueue({ connection, prefix });
    cleanups.push(async () => {
      await publisher.obliterate({ force: true });
      await publisher.close();
    });

    const messages = sampleMessages(40, { patientIdHash: hashPatientId(CANARY_PATIENT_ID, SALT) });
    const expected = expectedCounts(messages);
    expect(expected.byOutcome).toEqual({ ok: 24, rejected: 8, failed: 8 });
    await publisher.publish(messages);

    await waitFor(
      '40 items counted',
      async () =>
        sample(await metricsText(), 'cxr_items_total{outcome="ok"}') === 24 &&
        sample(await metricsText(), 'cxr_items_total{outcome="failed"}') === 8 &&
        sample(await metricsText(), 'cxr_items_total{outcome="rejected"}') === 8,
    );
    expect(await app.store.countByOutcome(RUN_ID)).toEqual(expected.byOutcome);
    const reasons = await app.store.countByReason(RUN_ID);
    expect(new Map(reasons.map((r) => [r.reason, r.count]))).toEqual(expected.byReason);
    const rows = [];
    for await (const row of app.store.iterateRun(RUN_ID)) rows.push(row);
    expect(rows).toHaveLength(40);
    const byUri = new Map(rows.map((r) => [r.uri, r]));
    for (const m of messages) {
      const row = byUri.get(m.uri);
      expect(row?.outcome).toBe(m.outcome);
      expect(row?.reason ?? undefined).toBe(m.outcome === 'ok' ? undefined : m.reason);
      expect(row?.patientIdHash).toBe(m.patientIdHash);
    }

    let text = await metricsText();
    expect(sample(text, 'cxr_rejected_total{reason="not_dicom"}')).toBe(expected.byReason.get('not_dicom'));
    expect(sample(text, 'cxr_rejected_total{reason="fetch_error"}')).toBe(
      expected.byReason.get('fetch_error'),
    );
    expect(sample(text, 'cxr_stage_duration_seconds_count{stage="store"}')).toBe(40);
    expect(sample(text, 'cxr_stage_duration_seconds_count{stage="infer"}')).toBe(24);
    expect(sample(text, 'cxr_end_to_end_seconds_count')).toBe(40);
    // Messages were enqueued 1.5 s before publishing: no end-to-end latency under 1 s.
    expect(sample(text, 'cxr_end_to_end_seconds_bucket{le="1"}')).toBe(0);
    expect(sample(text, 'cxr_prediction_score_count{label="normal"}')).toBe(24);
    await waitFor(
      'queue gauges',
      async () => sample(await metricsText(), 'cxr_queue_jobs{queue="cxr-screen",state="waiting"}') === 3,
    );
    expect(text).toContain('process_cpu_user_seconds_total');

    // The same messages again (BullMQ dedupes their job ids) and the same results under new
    // message ids (as after a crash between upsert and acknowledgement): no new rows.
    await publisher.publish(messages);
    const redelivered: ResultMessage[] = messages.map((m) => ({ ...m, jobId: `${m.jobId}-redelivered` }));
    await publisher.publish(redelivered);
    await waitFor('redelivered items counted', async () => {
      const t = await metricsText();
      return (
        ['ok', 'rejected', 'failed'].reduce((n, o) => n + sample(t, `cxr_items_total{outcome="${o}"}`), 0) >=
        80
      );
    });
    expect(await app.store.countByOutcome(RUN_ID)).toEqual(expected.byOutcome);

    text = await metricsText();
    for (const canary of [CANARY_PATIENT_ID, CANARY_PATIENT_NAME, 'CANARY'])
      expect(text).not.toContain(canary);

    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);

    await app.store.close();
    const unready = await fetch(`${base}/readyz`);
    expect(unready.status).toBe(503);
    expect(await unready.json()).toEqual({ status: 'unready', failed: ['store'] });
    expect((await fetch(`${base}/healthz`)).status).toBe(200);

    stopped = true;
    // The store was closed above on purpose; closing PostgreSQL's pool twice rejects, and stop()
    // reports that after closing everything else.
    await app.stop().catch(() => undefined);
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
  }, 60_000);
});
