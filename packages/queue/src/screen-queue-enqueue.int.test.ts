/**
 * The `cxrAddScreenJobs` enqueue path against the real Redis at 127.0.0.1:6379 (random key prefix
 * per queue, obliterated afterwards): what it stores must be what BullMQ's own addBulk stores
 * (the worker reads those keys), and its new-vs-duplicate counts must stay exact when ids exist
 * already or when two enqueuers race on the same ids.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createRedisClient, redisConnectionFromUrl } from './connection.js';
import { JobRejectedError } from './errors.js';
import { screenJobId } from './job-id.js';
import type { ResultMessage, ScreenJobPayload } from './payloads.js';
import { ResultConsumer, ResultQueue } from './result-queue.js';
import { ScreenQueue, type ScreenQueueOptions } from './screen-queue.js';
import { ScreenWorker } from './screen-worker.js';

const connection = redisConnectionFromUrl('redis://127.0.0.1:6379/0');
const redis = createRedisClient(connection);
afterAll(async () => {
  await redis.quit();
});

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

function openQueue(prefix: string, options: Partial<ScreenQueueOptions> = {}): ScreenQueue {
  const queue = new ScreenQueue({ connection, prefix, ...options });
  cleanups.push(async () => {
    await queue.obliterate({ force: true });
    await queue.close();
  });
  return queue;
}

function newPrefix(): string {
  return `cxrtest-${randomUUID().slice(0, 8)}`;
}

function payloads(from: number, to: number, modelVersion = '1.0.0'): ScreenJobPayload[] {
  const out: ScreenJobPayload[] = [];
  for (let i = from; i < to; i += 1) {
    out.push({
      uri: `s3://archive/cr/${String(i).padStart(6, '0')}.dcm`,
      etag: `"etag-${i}"`,
      size: 1000 + i,
      runId: 'run-1',
      modelId: 'densenet121-cxr3',
      modelVersion,
      enqueuedAt: 1_700_000_000_000 + i,
    });
  }
  return out;
}

/** Everything BullMQ keeps for a queue under `prefix`, with timestamps and stream ids masked. */
async function snapshot(prefix: string): Promise<Record<string, unknown>> {
  const base = `${prefix}:cxr-screen:`;
  const keys = (await redis.keys(`${base}*`)).sort();
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const name = key.slice(base.length);
    const type = await redis.type(key);
    if (type === 'hash') {
      const fields: Record<string, unknown> = await redis.hgetall(key);
      if (fields.timestamp !== undefined) fields.timestamp = '<ts>';
      if (typeof fields.opts === 'string') fields.opts = JSON.parse(fields.opts);
      out[name] = fields;
    } else if (type === 'list') {
      out[name] = await redis.lrange(key, 0, -1);
    } else if (type === 'zset') {
      out[name] = await redis.zrange(key, 0, -1, 'WITHSCORES');
    } else if (type === 'stream') {
      out[name] = (await redis.xrange(key, '-', '+')).map(([, fields]) => fields);
    } else {
      out[name] = await redis.get(key);
    }
  }
  return out;
}

describe('ScreenQueue script enqueue (real Redis)', () => {
  it('stores exactly what BullMQ addBulk stores, for new and for duplicate ids', async () => {
    const viaBullmq = newPrefix();
    const viaScript = newPrefix();
    const reference = openQueue(viaBullmq, { enqueueVia: 'addBulk' });
    const queue = openQueue(viaScript);
    const first = payloads(0, 5);
    expect(await reference.enqueueBulk(first)).toEqual({ added: 5, requeued: 0, duplicates: 0 });
    expect(await queue.enqueueBulk(first)).toEqual({ added: 5, requeued: 0, duplicates: 0 });
    // Two new ids and three existing ones: `duplicated` events, id counter and wait list alike.
    expect(await reference.enqueueBulk(payloads(2, 7))).toEqual({ added: 2, requeued: 0, duplicates: 3 });
    expect(await queue.enqueueBulk(payloads(2, 7))).toEqual({ added: 2, requeued: 0, duplicates: 3 });
    // Prioritized jobs (the `/v1/predict` path): prioritized set scores from the `pc` counter.
    const prioritized = [
      ...payloads(7, 9).map((p) => ({ ...p, priority: 2 })),
      ...payloads(9, 10).map((p) => ({ ...p, priority: 1 })),
      ...payloads(0, 1).map((p) => ({ ...p, priority: 1 })),
    ];
    expect(await reference.enqueueBulk(prioritized)).toEqual({ added: 3, requeued: 0, duplicates: 1 });
    expect(await queue.enqueueBulk(prioritized)).toEqual({ added: 3, requeued: 0, duplicates: 1 });

    const expected = await snapshot(viaBullmq);
    const actual = await snapshot(viaScript);
    // 10 job hashes + id, wait, meta, events, marker, prioritized, pc
    expect(Object.keys(expected)).toHaveLength(10 + 7);
    expect(actual).toEqual(expected);
    expect(expected.wait).toHaveLength(7);
    expect(expected.prioritized).toHaveLength(6); // 3 members WITHSCORES
  });

  it('adds no marker while the queue is paused, like BullMQ', async () => {
    const viaBullmq = newPrefix();
    const viaScript = newPrefix();
    const reference = openQueue(viaBullmq, { enqueueVia: 'addBulk' });
    const queue = openQueue(viaScript);
    // Queue.pause() sets this meta field; the worker then takes nothing from wait.
    await redis.hset(`${viaBullmq}:cxr-screen:meta`, 'paused', '1');
    await redis.hset(`${viaScript}:cxr-screen:meta`, 'paused', '1');
    await reference.enqueueBulk(payloads(0, 3));
    await queue.enqueueBulk(payloads(0, 3));
    expect(await redis.exists(`${viaBullmq}:cxr-screen:marker`)).toBe(0);
    expect(await snapshot(viaScript)).toEqual(await snapshot(viaBullmq));
  });

  it('counts ids that exist already as duplicates, whichever path added them', async () => {
    const prefix = newPrefix();
    const older = openQueue(prefix, { enqueueVia: 'addBulk' });
    const queue = openQueue(prefix);
    expect(await older.enqueueBulk(payloads(0, 1500))).toEqual({ added: 1500, requeued: 0, duplicates: 0 });
    // Spans two script calls (1,000 jobs each), with old ids in both.
    expect(await queue.enqueueBulk(payloads(500, 2500))).toEqual({
      added: 1000,
      requeued: 0,
      duplicates: 1000,
    });
    expect((await queue.counts()).waiting).toBe(2500);
    // An id is one job whatever its priority: prioritized payloads of known ids are duplicates.
    const prioritized = payloads(2000, 3000).map((p) => ({ ...p, priority: 3 }));
    expect(await queue.enqueueBulk(prioritized)).toEqual({ added: 500, requeued: 0, duplicates: 500 });
    expect((await queue.counts()).prioritized).toBe(500);
  });

  it('two enqueuers racing on the same ids count each id new exactly once', async () => {
    const prefix = newPrefix();
    const a = openQueue(prefix);
    const b = openQueue(prefix);
    for (const version of ['r1', 'r2', 'r3']) {
      // Overlapping ranges, sent at the same time over two connections.
      const [fromA, fromB] = await Promise.all([
        a.enqueueBulk(payloads(0, 6000, version)),
        b.enqueueBulk(payloads(3000, 9000, version)),
      ]);
      expect(fromA.added + fromA.duplicates).toBe(6000);
      expect(fromB.added + fromB.duplicates).toBe(6000);
      expect(fromA.added + fromB.added).toBe(9000);
      // The ranges each own 3,000 ids outright: those are new whoever wins the shared ones.
      expect(fromA.added).toBeGreaterThanOrEqual(3000);
      expect(fromB.added).toBeGreaterThanOrEqual(3000);
    }
    expect((await a.counts()).waiting).toBe(27_000);
  });

  describe.each(['script', 'addBulk'] as const)('requeueFinished (%s path)', (enqueueVia) => {
    it('re-enqueues finished jobs without a pending result message, and nothing else', async () => {
      const prefix = newPrefix();
      const queue = openQueue(prefix, { enqueueVia, retry: { attempts: 1 } });
      const results = new ResultQueue({ connection, prefix });
      cleanups.push(async () => {
        await results.obliterate({ force: true });
        await results.close();
      });
      const [completedLost, completedPending, failed, waiting] = payloads(0, 4);
      if (!completedLost || !completedPending || !failed || !waiting) throw new Error('payloads');
      await queue.enqueueBulk([completedLost, completedPending, failed]);
      // Finish the first three: two complete, one fails for good.
      const worker = new ScreenWorker({
        connection,
        prefix,
        maxBatch: 1,
        process: (payload) =>
          payload.uri === failed.uri
            ? Promise.reject(new JobRejectedError('fetch_error', 'object is gone'))
            : Promise.resolve(),
      });
      const deadline = Date.now() + 10_000;
      for (;;) {
        const counts = await queue.counts();
        if (counts.completed === 2 && counts.failed === 1) break;
        if (Date.now() > deadline) throw new Error(`jobs not finished: ${JSON.stringify(counts)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await worker.close();
      await queue.enqueueBulk([waiting]);
      // The second completed job's result message will still wait to be stored: its row is on its way.
      const idOf = (p: ScreenJobPayload): string =>
        screenJobId(p.uri, p.etag ?? p.size, p.modelId, p.modelVersion);
      const message: ResultMessage = {
        jobId: idOf(completedPending),
        uri: completedPending.uri,
        runId: 'run-1',
        modelId: completedPending.modelId,
        modelVersion: completedPending.modelVersion,
        runtime: 'onnx',
        uids: {},
        technical: {},
        timingsMs: {},
        enqueuedAt: 1,
        finishedAt: 2,
        attemptsMade: 0,
        outcome: 'rejected',
        reason: 'not_dicom',
      };
      // The first completed job's result message was stored long ago (completed, kept an hour):
      // a re-screen must drop it too, or its new message would be deduplicated against it.
      const consumer = new ResultConsumer({ connection, prefix, consume: () => Promise.resolve() });
      await results.publish([{ ...message, jobId: idOf(completedLost), uri: completedLost.uri }]);
      const stopAt = Date.now() + 10_000;
      while ((await results.counts()).completed < 1) {
        if (Date.now() > stopAt) throw new Error('result message not consumed');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await consumer.close();
      // The second one's message still waits to be stored (no consumer now).
      await results.publish([message]);

      const all = [completedLost, completedPending, failed, waiting];
      // Without the flag, the queue's memory decides: everything is a duplicate.
      expect(await queue.enqueueBulk(all)).toEqual({ added: 0, requeued: 0, duplicates: 4 });
      // With it (the store has no row for any of them): the lost and the failed ones come back.
      expect(await queue.enqueueBulk(all, { requeueFinished: true })).toEqual({
        added: 2,
        requeued: 2,
        duplicates: 2,
      });
      const counts = await queue.counts();
      expect(counts).toMatchObject({ waiting: 3, completed: 1, failed: 0 });
      const key = (p: ScreenJobPayload): string => `${prefix}:cxr-screen:${idOf(p)}`;
      expect(await redis.hget(key(completedLost), 'finishedOn')).toBeNull();
      expect(await redis.exists(`${prefix}:cxr-results:${idOf(completedLost)}`)).toBe(0);
      expect(await redis.exists(`${prefix}:cxr-results:${idOf(completedPending)}`)).toBe(1);
      expect(await redis.hget(key(failed), 'failedReason')).toBeNull();
      // Asked again at once: all four are queued or on their way now.
      expect(await queue.enqueueBulk(all, { requeueFinished: true })).toEqual({
        added: 0,
        requeued: 0,
        duplicates: 4,
      });
    });
  });
});
