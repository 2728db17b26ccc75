/**
 * `screen-results` messages (the outcomes of one multi-object screen job in one message) against
 * real Redis and a SQLite temp file: stored in one upsert with the per-object metrics and after-store
 * rows of single messages, deduplicated when published again, retried without limit through a
 * store outage, `--force` replacing rows, and the objects' aliases dropped once stored.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics } from '@cxr/metrics';
import {
  ResultQueue,
  createRedisClient,
  redisConnectionFromUrl,
  resultBatchJobId,
  type ResultMessage,
} from '@cxr/queue';
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

async function setup(options: { readonly failing?: number } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'cxr-results-bulk-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const store = await openStore(`sqlite:${join(dir, 'results.sqlite')}`);
  cleanups.push(() => store.close());
  const spy = instrumented(store);
  spy.failNext.count = options.failing ?? 0;
  const prefix = `cxr-results-bulk-${randomBytes(6).toString('hex')}`;
  const location = { connection: redisConnectionFromUrl(REDIS_URL), prefix };
  const publisher = new ResultQueue(location);
  const redis = createRedisClient(location.connection);
  cleanups.push(async () => {
    await publisher.obliterate({ force: true });
    await publisher.close();
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });
  const metrics = createMetrics();
  const afterStore: string[][] = [];
  const service = new ResultsService({
    queue: location,
    store: spy.store,
    metrics,
    maxBatch: 100,
    maxDelayMs: 20,
    storeRetry: { firstMs: 20, maxMs: 100 },
    afterStore: (rows) => {
      afterStore.push(rows.map((row) => row.uri));
      return Promise.resolve();
    },
  });
  const aliasOf = (objectId: string): Promise<string | null> =>
    redis.get(`${prefix}:cxr-results:obj:${objectId}`);
  return { store, spy, publisher, service, metrics, afterStore, aliasOf, redis, prefix };
}

/** Stored rows of the run, all outcomes. */
async function stored(store: ResultStore, runId = RUN_ID): Promise<number> {
  const c = await store.countByOutcome(runId);
  return c.ok + c.rejected + c.failed;
}

describe('ResultsService with screen-results messages', () => {
  it('stores a whole message in one upsert, with per-object metrics and after-store rows, then drops its aliases', async () => {
    const { store, spy, publisher, service, metrics, afterStore, aliasOf } = await setup();
    const messages = sampleMessages(30);
    await publisher.publish(messages, { batchOf: 'grp_a' });
    // One job on the queue for 30 outcomes, each object's alias naming it.
    const batchId = resultBatchJobId(
      'grp_a',
      messages.map((m) => m.jobId),
    );
    expect(await publisher.counts()).toMatchObject({ waiting: 1 });
    expect(await aliasOf(messages[7]!.jobId)).toBe(batchId);

    service.start();
    cleanups.push(() => service.stop());
    await waitFor('30 stored', async () => (await stored(store)) === 30);
    await waitFor('the message completed', async () => (await publisher.counts()).completed === 1);
    expect(spy.upserts).toEqual([{ size: 30, force: false }]);
    expect(afterStore).toEqual([messages.map((m) => m.uri)]);
    expect(await store.countByOutcome(RUN_ID)).toEqual({ ok: 18, rejected: 6, failed: 6 });
    const text = await metrics.registry.metrics();
    expect(text).toContain('cxr_items_total{outcome="ok"} 18');
    expect(text).toContain('cxr_items_total{outcome="rejected"} 6');
    expect(text).toContain('cxr_items_total{outcome="failed"} 6');
    expect(await aliasOf(messages[7]!.jobId)).toBeNull();
  });

  it('keeps a message of 256 outcomes whole in a batch of 100 rows, and single messages beside it', async () => {
    const { store, spy, publisher, service } = await setup();
    const messages = sampleMessages(300);
    await publisher.publish(messages.slice(0, 256), { batchOf: 'grp_big' });
    // Without `batchOf`: one `screen-result` message per outcome, as before.
    await publisher.publish(messages.slice(256));
    expect(await publisher.counts()).toMatchObject({ waiting: 1 + 44 });
    service.start();
    cleanups.push(() => service.stop());
    await waitFor('300 stored', async () => (await stored(store)) === 300);
    expect(spy.upserts.map((u) => u.size)).toContain(256);
    expect(spy.upserts.reduce((sum, u) => sum + u.size, 0)).toBe(300);
  });

  it('publishing the same outcomes of the same job again is deduplicated; the store keeps one row each', async () => {
    const { store, spy, publisher, service } = await setup();
    const messages = sampleMessages(10);
    // A redelivered screen job (its worker killed after publishing) publishes them again.
    await publisher.publish(messages, { batchOf: 'grp_b' });
    await publisher.publish(
      messages.map((m) => ({ ...m, finishedAt: m.finishedAt + 5 })),
      { batchOf: 'grp_b' },
    );
    expect(await publisher.counts()).toMatchObject({ waiting: 1 });
    service.start();
    cleanups.push(() => service.stop());
    await waitFor('10 stored', async () => (await stored(store)) === 10);
    // Once stored and completed, a third copy is deduplicated too (kept an hour after completion).
    await waitFor('completed', async () => (await publisher.counts()).completed === 1);
    await publisher.publish(messages, { batchOf: 'grp_b' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await publisher.counts()).toMatchObject({ waiting: 0, active: 0, completed: 1 });
    expect(spy.upserts).toEqual([{ size: 10, force: false }]);
    // A copy that gets past the dedupe (a redelivery that reached fewer outcomes: another id, or
    // one published after the first message aged out) is absorbed by the upsert: one row each.
    await publisher.publish(messages.slice(0, 4), { batchOf: 'grp_b' });
    await waitFor('the copy stored', () => spy.upserts.length === 2);
    expect(await stored(store)).toBe(10);
  });

  it('a store outage retries the message without limit and fails nothing', async () => {
    const { store, spy, publisher, service } = await setup({ failing: Number.MAX_SAFE_INTEGER });
    const messages = sampleMessages(64);
    await publisher.publish(messages.slice(0, 32), { batchOf: 'grp_c' });
    await publisher.publish(messages.slice(32), { batchOf: 'grp_d' });
    service.start();
    cleanups.push(() => service.stop());
    await waitFor('the store seen down', () => service.storeDown);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect((await publisher.counts()).failed).toBe(0);
    expect(await stored(store)).toBe(0);
    spy.failNext.count = 0;
    await waitFor('64 stored', async () => (await stored(store)) === 64);
    await waitFor('the queue drained', async () => (await publisher.pendingCount()) === 0);
    expect(await publisher.counts()).toMatchObject({ failed: 0, completed: 2 });
  }, 45_000);

  it('an entry the results table refuses fails the message, after the other entries were stored', async () => {
    const { store, publisher, service, afterStore } = await setup();
    const messages = sampleMessages(5);
    // Valid on the queue (a non-empty URI), refused by the row schema (at most 4096 characters).
    const tooLong: ResultMessage = { ...messages[2]!, uri: `s3://archive/${'x'.repeat(5000)}.dcm` };
    await publisher.publish([messages[0]!, messages[1]!, tooLong, messages[3]!, messages[4]!], {
      batchOf: 'grp_invalid',
    });
    service.start();
    cleanups.push(() => service.stop());
    await waitFor('the message failed', async () => (await publisher.counts()).failed === 1);
    expect(await stored(store)).toBe(4);
    expect(afterStore.flat()).toHaveLength(4);
    expect(await publisher.counts()).toMatchObject({ completed: 0, failed: 1 });
  });

  it('--force: the entries of a forced message replace the stored rows', async () => {
    const { store, spy, publisher, service } = await setup();
    const first = sampleMessages(8);
    await publisher.publish(first, { batchOf: 'grp_e' });
    service.start();
    cleanups.push(() => service.stop());
    await waitFor('8 stored', async () => (await stored(store)) === 8);
    const forced: ResultMessage[] = first.map((m) => ({ ...m, runId: 'run-forced', force: true }));
    await publisher.publish(forced, { batchOf: 'grp_forced' });
    await waitFor('8 rows of the forced run', async () => (await stored(store, 'run-forced')) === 8);
    expect(await stored(store)).toBe(0);
    expect(spy.upserts).toEqual([
      { size: 8, force: false },
      { size: 8, force: true },
    ]);
  });
});
