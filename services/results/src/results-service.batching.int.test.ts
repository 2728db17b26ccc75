/**
 * Batching and acknowledgement of ResultsService against real Redis and a SQLite temp file:
 * messages are stored in one upsert per batch, stop() flushes a partial batch, a batch whose
 * upsert fails is not acknowledged but retried, and a store that stays down pauses consumption
 * until it is back, with no message ever failed.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics } from '@cxr/metrics';
import { ResultQueue, redisConnectionFromUrl } from '@cxr/queue';
import { openStore, type ResultStore } from '@cxr/store';
import { ResultsService } from './results-service.js';
import { sampleMessages } from './testing/messages.js';
import { instrumented, waitFor } from './testing/store-spy.js';

const REDIS_URL = process.env.CXR_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const RUN_ID = 'run-results-test';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(): Promise<{
  store: ResultStore;
  publisher: ResultQueue;
  location: { connection: ReturnType<typeof redisConnectionFromUrl>; prefix: string };
}> {
  const dir = await mkdtemp(join(tmpdir(), 'cxr-results-batch-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const store = await openStore(`sqlite:${join(dir, 'results.sqlite')}`);
  cleanups.push(() => store.close());
  const location = {
    connection: redisConnectionFromUrl(REDIS_URL),
    prefix: `cxr-results-test-${randomBytes(6).toString('hex')}`,
  };
  const publisher = new ResultQueue(location);
  cleanups.push(async () => {
    await publisher.obliterate({ force: true });
    await publisher.close();
  });
  return { store, publisher, location };
}

describe('ResultsService batching', () => {
  it('stores a partial batch in one upsert when stopped, before its delay runs out', async () => {
    const { store, publisher, location } = await setup();
    const spy = instrumented(store);
    // A delay far longer than the test: only stop() can flush this batch.
    const service = new ResultsService({
      queue: location,
      store: spy.store,
      metrics: createMetrics(),
      maxBatch: 50,
      maxDelayMs: 600_000,
    });
    service.start();
    cleanups.push(() => service.stop());
    await publisher.publish(sampleMessages(7));
    await waitFor('7 pending messages', () => service.pendingCount === 7);
    expect(spy.upserts).toEqual([]);
    await service.stop();
    expect(spy.upserts.map((u) => u.size)).toEqual([7]);
    expect(await store.countByOutcome(RUN_ID)).toEqual({ ok: 5, rejected: 1, failed: 1 });
  });

  it('a full batch does not wait for the delay; a failed upsert is retried, not acknowledged', async () => {
    const { store, publisher, location } = await setup();
    const spy = instrumented(store);
    spy.failNext.count = 1;
    const metrics = createMetrics();
    const service = new ResultsService({
      queue: location,
      store: spy.store,
      metrics,
      maxBatch: 5,
      maxDelayMs: 600_000,
    });
    service.start();
    cleanups.push(() => service.stop());
    await publisher.publish(sampleMessages(10));
    // The first batch of 5 fails; the service retries it in-process (STORE_RETRY_FIRST_MS later).
    await waitFor(
      '10 stored',
      async () =>
        (await store.countByOutcome(RUN_ID)).ok === 6 &&
        spy.upserts.reduce((sum, u) => sum + u.size, 0) === 10,
      30_000,
    );
    expect(spy.upserts.every((u) => u.size === 5)).toBe(true);
    const text = await metrics.registry.metrics();
    // Metrics count stored items only: the failed upsert counted nothing.
    expect(text).toContain('cxr_items_total{outcome="ok"} 6');
    expect(text).toContain('cxr_store_write_errors_total 1');
    expect(text).toContain('cxr_store_up 1');
    expect(await store.countByOutcome(RUN_ID)).toEqual({ ok: 6, rejected: 2, failed: 2 });
  }, 45_000);

  it('a store that stays down pauses consumption, loses nothing and fails no message', async () => {
    const { store, publisher, location } = await setup();
    const spy = instrumented(store);
    spy.failNext.count = Number.MAX_SAFE_INTEGER;
    const metrics = createMetrics();
    const service = new ResultsService({
      queue: location,
      store: spy.store,
      metrics,
      maxBatch: 5,
      maxDelayMs: 20,
      storeRetry: { firstMs: 20, maxMs: 100 },
    });
    service.start();
    cleanups.push(() => service.stop());
    await publisher.publish(sampleMessages(40));
    await waitFor('the store seen down', () => service.storeDown);
    // Dozens of failed attempts, far past any attempt count.
    await waitFor('many failed writes', async () =>
      /cxr_store_write_errors_total \d{2,}/.test(await metrics.registry.metrics()),
    );
    const during = await publisher.counts();
    expect(during.failed).toBe(0);
    // Paused: messages wait in Redis, at most one batch in flight and the next one forming.
    expect(during.waiting).toBeGreaterThanOrEqual(40 - 2 * 2 * 5);
    expect(await metrics.registry.metrics()).toContain('cxr_store_up 0');
    expect(await store.countByOutcome(RUN_ID)).toEqual({ ok: 0, rejected: 0, failed: 0 });

    spy.failNext.count = 0;
    await waitFor('all 40 stored', async () => {
      const c = await store.countByOutcome(RUN_ID);
      return c.ok + c.rejected + c.failed === 40;
    });
    await waitFor('the queue drained', async () => (await publisher.pendingCount()) === 0);
    expect(service.storeDown).toBe(false);
    expect((await publisher.counts()).failed).toBe(0);
    expect(await metrics.registry.metrics()).toContain('cxr_store_up 1');
  }, 45_000);
  it('hands a batch back to BullMQ when its after-store step fails, and runs the step again on redelivery', async () => {
    const { store, publisher, location } = await setup();
    const seen: string[][] = [];
    let failures = 1;
    const metrics = createMetrics();
    const service = new ResultsService({
      queue: location,
      store,
      metrics,
      maxBatch: 5,
      maxDelayMs: 20,
      afterStore: (rows) => {
        seen.push(rows.map((row) => row.uri).sort());
        if (failures-- > 0) return Promise.reject(new Error('findings queue unavailable'));
        return Promise.resolve();
      },
    });
    service.start();
    cleanups.push(() => service.stop());
    await publisher.publish(sampleMessages(5));
    // The first call fails after the upsert: the messages are retried by BullMQ (5 s backoff,
    // each message on its own), stored again unchanged, and the step runs again for every row.
    const again = (): Set<string> => new Set(seen.slice(1).flat());
    await waitFor(
      'the step run again for every row',
      () => seen.length > 1 && (seen[0] ?? []).every((uri) => again().has(uri)),
      30_000,
    );
    expect(seen[0]).toHaveLength(5);
    await waitFor('the queue drained', async () => (await publisher.pendingCount()) === 0);
    expect((await publisher.counts()).failed).toBe(0);
    expect(await store.countByOutcome(RUN_ID)).toEqual({ ok: 3, rejected: 1, failed: 1 });
    // Metrics count the batch once: the failed step counted nothing.
    expect(await metrics.registry.metrics()).toContain('cxr_items_total{outcome="ok"} 3');
  }, 45_000);
});
