/**
 * Integration tests against the real Redis at 127.0.0.1:6379. Each test gets its own random key
 * prefix and obliterates its queue afterwards; nothing here flushes the database.
 */
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { DynamicBatcher } from './batcher.js';
import { createRedisClient, redisConnectionFromUrl } from './connection.js';
import { JobRejectedError } from './errors.js';
import { JobName, QueueName } from './names.js';
import type { ScreenJobPayload } from './payloads.js';
import { ScreenQueue, type ScreenQueueOptions } from './screen-queue.js';
import { ScreenWorker } from './screen-worker.js';

const connection = redisConnectionFromUrl('redis://127.0.0.1:6379/0');

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  // Workers close before queues are obliterated (LIFO).
  while (cleanups.length > 0) await cleanups.pop()!();
});

function openQueue(options: Partial<ScreenQueueOptions> = {}): {
  queue: ScreenQueue;
  prefix: string;
} {
  const prefix = `cxrtest-${randomUUID().slice(0, 8)}`;
  const queue = new ScreenQueue({ connection, prefix, ...options });
  cleanups.push(async () => {
    await queue.obliterate({ force: true });
    await queue.close();
  });
  return { queue, prefix };
}

function openWorker(...args: ConstructorParameters<typeof ScreenWorker>): ScreenWorker {
  const worker = new ScreenWorker(...args);
  cleanups.push(() => worker.close());
  return worker;
}

function payloads(n: number, modelVersion = '1.0.0', priority?: number): ScreenJobPayload[] {
  return Array.from({ length: n }, (_, i) => ({
    uri: `s3://archive/cr/${String(i).padStart(6, '0')}.dcm`,
    etag: `"etag-${i}"`,
    size: 1000 + i,
    runId: 'run-1',
    modelId: 'densenet121-cxr3',
    modelVersion,
    enqueuedAt: Date.now(),
    ...(priority !== undefined ? { priority } : {}),
  }));
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('ScreenQueue (real Redis)', () => {
  it('enqueues 5000 payloads, dedupes a re-run, and re-screens for a new model version', async () => {
    const { queue } = openQueue();
    const first = await queue.enqueueBulk(payloads(5000));
    expect(first).toEqual({ added: 5000, requeued: 0, duplicates: 0 });
    const before = await queue.counts();
    expect(before).toEqual({
      waiting: 5000,
      prioritized: 0,
      active: 0,
      delayed: 0,
      completed: 0,
      failed: 0,
    });

    // The same objects again (new enqueuedAt, same ids): nothing new.
    const again = await queue.enqueueBulk(payloads(5000));
    expect(again).toEqual({ added: 0, requeued: 0, duplicates: 5000 });
    expect(await queue.counts()).toEqual(before);

    // Half old, half new objects: exact split.
    const mixed = await queue.enqueueBulk(payloads(6000).slice(2500));
    expect(mixed).toEqual({ added: 1000, requeued: 0, duplicates: 2500 });

    const newModel = await queue.enqueueBulk(payloads(5000, '1.1.0'));
    expect(newModel).toEqual({ added: 5000, requeued: 0, duplicates: 0 });
    expect((await queue.counts()).waiting).toBe(11_000);

    // --force: a nonce re-screens the same objects with the same model.
    const forced = await queue.enqueueBulk(payloads(10), { forceNonce: 'run-2' });
    expect(forced.added).toBe(10);

    // Repeats inside one call count as duplicates too.
    const repeated = payloads(3, '2.0.0');
    expect(await queue.enqueueBulk([...repeated, ...repeated])).toEqual({
      added: 3,
      requeued: 0,
      duplicates: 3,
    });
  });

  it('counts prioritized jobs in the oldest-waiting age, across priority levels', async () => {
    const { queue } = openQueue();
    expect(await queue.oldestWaitingAgeSeconds()).toBe(0);
    const t0 = Date.now();
    // The oldest job sits in the lowest priority level, behind a newer high-priority one.
    await queue.enqueueBulk(payloads(3, '1.0.0', 5));
    await new Promise((resolve) => setTimeout(resolve, 30));
    await queue.enqueueBulk(payloads(2, '9.9.9', 1));
    const counts = await queue.counts();
    expect(counts.prioritized).toBe(5);
    expect(counts.waiting).toBe(0);
    const now = t0 + 10_000;
    const age = await queue.oldestWaitingAgeSeconds(now);
    // Within the few ms that passed between t0 and the first add, not ~30 ms less.
    expect(age).toBeGreaterThan(9.98);
    expect(age).toBeLessThanOrEqual(10);

    // A FIFO (unprioritized) job even older than those is found on the wait list.
    const fifo = openQueue().queue;
    await fifo.enqueueBulk(payloads(1, 'fifo'));
    expect(await fifo.oldestWaitingAgeSeconds(Date.now() + 2000)).toBeGreaterThan(1.9);
  });

  it('is not fooled by a newer LIFO job (a /v1/predict upload) at the tail of the wait list', async () => {
    const { queue, prefix } = openQueue();
    const t0 = Date.now();
    await queue.enqueueBulk(payloads(3, 'archive'));
    // The archive jobs were enqueued by this moment; the LIFO job comes at least 50 ms later.
    const enqueued = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 50));
    // What PredictClient does: a LIFO job, served next, sitting where the oldest FIFO job sits.
    const redis = createRedisClient(connection);
    const raw = new Queue(QueueName.Screen, { connection: redis, prefix });
    try {
      await raw.add(JobName.ScreenObject, payloads(1, 'predict')[0], { jobId: 'predict-1', lifo: true });
    } finally {
      await raw.close();
      await redis.quit();
    }
    const age = await queue.oldestWaitingAgeSeconds(t0 + 10_000);
    // The archive jobs' age, however long their enqueue took on a loaded machine; the LIFO job's
    // would be at least 0.05 s less.
    expect(age).toBeGreaterThanOrEqual((t0 + 10_000 - enqueued) / 1000);
    expect(age).toBeLessThanOrEqual(10);
  });

  it('waitUntilBelow returns once the backlog drops under the high-water mark', async () => {
    const { queue } = openQueue();
    await queue.enqueueBulk(payloads(50));
    const controller = new AbortController();
    const blocked = queue.waitUntilBelow(10, { pollMs: 20, signal: controller.signal });
    setTimeout(() => {
      controller.abort();
    }, 150);
    await expect(blocked).rejects.toThrow();
    await queue.waitUntilBelow(51, { pollMs: 20 });
  });

  it('a worker with concurrency 2 x maxBatch feeds the batcher: every job once, batches > 1', async () => {
    const { queue, prefix } = openQueue();
    const n = 300;
    await queue.enqueueBulk(payloads(n));
    const batchSizes: number[] = [];
    const seen = new Map<string, number>();
    const maxBatch = 8;
    const batcher = new DynamicBatcher<string, string>({
      maxBatch,
      maxDelayMs: 20,
      run: async (uris) => {
        batchSizes.push(uris.length);
        // A stand-in for inference: off the event loop, a few ms per batch.
        await new Promise((resolve) => setTimeout(resolve, 5));
        return uris.map((uri) => `scored:${uri}`);
      },
    });
    openWorker({
      connection,
      prefix,
      maxBatch,
      process: async (payload) => {
        seen.set(payload.uri, (seen.get(payload.uri) ?? 0) + 1);
        const scored = await batcher.submit(payload.uri);
        expect(scored).toBe(`scored:${payload.uri}`);
      },
    });
    await waitFor(async () => (await queue.counts()).completed === n, 20_000);
    await batcher.close();
    expect(seen.size).toBe(n);
    expect([...seen.values()].every((count) => count === 1)).toBe(true);
    expect(batchSizes.reduce((a, b) => a + b, 0)).toBe(n);
    expect(Math.max(...batchSizes)).toBe(maxBatch);
    expect(batchSizes.every((size) => size >= 1 && size <= maxBatch)).toBe(true);
    // Mostly full batches: the mean is well above 1 (one-at-a-time would give exactly 1).
    expect(n / batchSizes.length).toBeGreaterThan(4);
    const counts = await queue.counts();
    expect(counts.failed).toBe(0);
    expect(counts.waiting + counts.active).toBe(0);
    // Completed jobs are kept (worker-side removeOnComplete {age}), so a re-run adds nothing.
    expect(await queue.enqueueBulk(payloads(n))).toEqual({ added: 0, requeued: 0, duplicates: n });
  });

  it('renews locks while a batch runs longer than lockDuration: no job processed twice', async () => {
    const { queue, prefix } = openQueue();
    const n = 12;
    await queue.enqueueBulk(payloads(n));
    const seen = new Map<string, number>();
    const lockDuration = 600;
    const batcher = new DynamicBatcher<string, true>({
      maxBatch: 6,
      maxDelayMs: 10,
      // Each batch outlives the lock ~2x; the event loop stays free, so renewal keeps it.
      run: async (uris) => {
        await new Promise((resolve) => setTimeout(resolve, 2 * lockDuration));
        return uris.map(() => true as const);
      },
    });
    const errors: Error[] = [];
    const worker = openWorker({
      connection,
      prefix,
      maxBatch: 6,
      lockDuration,
      stalledInterval: lockDuration,
      maxStalledCount: 1,
      process: async (payload) => {
        seen.set(payload.uri, (seen.get(payload.uri) ?? 0) + 1);
        await batcher.submit(payload.uri);
      },
    });
    worker.onError((error) => errors.push(error));
    await waitFor(async () => (await queue.counts()).completed === n, 15_000);
    await batcher.close();
    expect([...seen.values()]).toEqual(Array.from({ length: n }, () => 1));
    expect(errors).toEqual([]);
    expect((await queue.counts()).failed).toBe(0);
  });

  it('fails a rejected input at once, without retries', async () => {
    const { queue, prefix } = openQueue({ retry: { backoffDelayMs: 50 } });
    await queue.enqueueBulk(payloads(1));
    let calls = 0;
    openWorker({
      connection,
      prefix,
      maxBatch: 1,
      process: () => {
        calls += 1;
        return Promise.reject(new JobRejectedError('not_dicom', 'no DICM prefix'));
      },
    });
    await waitFor(async () => (await queue.counts()).failed === 1, 10_000);
    // Give a (wrong) retry time to happen.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(calls).toBe(1);
    const counts = await queue.counts();
    expect(counts).toMatchObject({ failed: 1, delayed: 0, waiting: 0, completed: 0 });
  });

  it('retries a transient fault with exponential backoff, then succeeds', async () => {
    const backoff = 100;
    const { queue, prefix } = openQueue({ retry: { backoffDelayMs: backoff } });
    await queue.enqueueBulk(payloads(1));
    const attempts: { at: number; attemptsMade: number; isFinalAttempt: boolean }[] = [];
    openWorker({
      connection,
      prefix,
      maxBatch: 1,
      process: (_payload, context) => {
        attempts.push({
          at: Date.now(),
          attemptsMade: context.attemptsMade,
          isFinalAttempt: context.isFinalAttempt,
        });
        return attempts.length <= 2 ? Promise.reject(new Error('S3 503 SlowDown')) : Promise.resolve();
      },
    });
    await waitFor(async () => (await queue.counts()).completed === 1, 10_000);
    expect(attempts.map((a) => a.attemptsMade)).toEqual([0, 1, 2]);
    expect(attempts.every((a) => !a.isFinalAttempt)).toBe(true);
    const gap1 = attempts[1]!.at - attempts[0]!.at;
    const gap2 = attempts[2]!.at - attempts[1]!.at;
    // Exponential: delay x 2^(attempt-1) => ~100 ms, then ~200 ms, less up to 20 % jitter.
    expect(gap1).toBeGreaterThanOrEqual(0.8 * backoff - 5);
    expect(gap2).toBeGreaterThanOrEqual(1.6 * backoff - 5);
    expect((await queue.counts()).failed).toBe(0);
  });

  it('keeps object names out of what BullMQ stores about a failed attempt (the dashboard shows it)', async () => {
    const { queue, prefix } = openQueue({ retry: { attempts: 1 } });
    const uri = 's3://archive/DOE^QUOKKA_MRN-998877.dcm';
    await queue.enqueueBulk([{ ...payloads(1)[0]!, uri }]);
    openWorker({
      connection,
      prefix,
      maxBatch: 1,
      // What a storage adapter throws: its message names the object.
      process: () =>
        Promise.reject(Object.assign(new Error(`fetch ${uri} failed (transient): 503`), { transient: true })),
    });
    await waitFor(async () => (await queue.counts()).failed === 1, 10_000);
    const redis = createRedisClient(connection);
    const raw = new Queue(QueueName.Screen, { connection: redis, prefix });
    try {
      const [job] = await raw.getJobs(['failed']);
      expect(job?.data).toMatchObject({ uri }); // the payload keeps it: the worker fetches it
      expect(job?.failedReason).toBe('attempt failed: Error (transient)');
      expect((job?.stacktrace ?? []).join('\n')).toMatch(
        /^JobAttemptError: attempt failed: Error \(transient\)/,
      );
      expect(JSON.stringify([job?.failedReason, job?.stacktrace])).not.toMatch(/QUOKKA|998877/);
    } finally {
      await raw.close();
      await redis.quit();
    }
  });
});
