/**
 * Multi-object screen jobs (CXR_OBJECTS_PER_JOB > 1) against the real Redis at 127.0.0.1:6379:
 * packing, per-object dedupe across calls and across racing enqueuers, per-object re-enqueue
 * (requeueFinished) with the same rule as one job per object, a retry carrying only the objects
 * without an outcome, and a final failure. Each test has its own key prefix.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createRedisClient, redisConnectionFromUrl } from './connection.js';
import { screenJobId } from './job-id.js';
import { JobName } from './names.js';
import type { ResultMessage, ScreenJobObject, ScreenJobPayload, ScreenObjectsPayload } from './payloads.js';
import { ResultConsumer, ResultQueue } from './result-queue.js';
import { ScreenQueue, type ScreenQueueOptions } from './screen-queue.js';
import { ScreenWorker, type ScreenGroupProcessor } from './screen-worker.js';

const connection = redisConnectionFromUrl('redis://127.0.0.1:6379/0');
const redis = createRedisClient(connection);

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

function openQueues(options: Partial<ScreenQueueOptions> = {}): {
  queue: ScreenQueue;
  results: ResultQueue;
  prefix: string;
} {
  const prefix = `cxrtest-grp-${randomUUID().slice(0, 8)}`;
  const queue = new ScreenQueue({ connection, prefix, ...options });
  const results = new ResultQueue({ connection, prefix });
  cleanups.push(async () => {
    await queue.obliterate({ force: true });
    await results.obliterate({ force: true });
    const claims = await redis.keys(`${prefix}:*`);
    if (claims.length > 0) await redis.del(...claims);
    await Promise.all([queue.close(), results.close()]);
  });
  return { queue, results, prefix };
}

function openWorker(...args: ConstructorParameters<typeof ScreenWorker>): ScreenWorker {
  const worker = new ScreenWorker(...args);
  cleanups.push(() => worker.close());
  return worker;
}

function payloads(from: number, n: number): ScreenJobPayload[] {
  const enqueuedAt = Date.now();
  return Array.from({ length: n }, (_, k) => ({
    uri: `s3://archive/cr/${String(from + k).padStart(6, '0')}.dcm`,
    etag: `"etag-${from + k}"`,
    size: 1000 + from + k,
    runId: 'run-1',
    modelId: 'densenet121-cxr3',
    modelVersion: '1.0.0',
    enqueuedAt,
  }));
}

const idOf = (p: ScreenJobPayload): string => screenJobId(p.uri, p.etag ?? p.size, p.modelId, p.modelVersion);

async function waitFor(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * Runs the waiting jobs with a worker that publishes no result message, until `completed` jobs
 * have completed, then stops it (new jobs then stay waiting).
 */
async function completeWithoutResults(prefix: string, queue: ScreenQueue, completed: number): Promise<void> {
  const worker = new ScreenWorker({
    connection,
    prefix,
    maxBatch: 1,
    process: () => Promise.resolve(),
    processGroup: () => Promise.resolve({}),
  });
  await waitFor(async () => (await queue.counts()).completed === completed, 10_000);
  await worker.close();
}

/** Every `screen-objects` job's payload, from the job hashes. */
async function groupPayloads(prefix: string): Promise<{ id: string; data: ScreenObjectsPayload }[]> {
  const keys = (await redis.keys(`${prefix}:cxr-screen:grp_*`)).filter((k) => !k.endsWith(':logs'));
  const out: { id: string; data: ScreenObjectsPayload }[] = [];
  for (const key of keys) {
    const [name, data] = await redis.hmget(key, 'name', 'data');
    expect(name).toBe(JobName.ScreenObjects);
    out.push({
      id: key.slice(key.lastIndexOf(':') + 1),
      data: JSON.parse(data ?? '') as ScreenObjectsPayload,
    });
  }
  return out;
}

function resultMessage(p: ScreenJobPayload): ResultMessage {
  return {
    jobId: idOf(p),
    uri: p.uri,
    runId: p.runId,
    modelId: p.modelId,
    modelVersion: p.modelVersion,
    runtime: 'null',
    uids: {},
    technical: {},
    timingsMs: {},
    enqueuedAt: 1,
    finishedAt: 2,
    attemptsMade: 0,
    outcome: 'rejected',
    reason: 'not_dicom',
  };
}

describe('multi-object screen jobs (real Redis)', () => {
  it('packs objects into jobs of up to N, each object keeping its own id; a re-run adds nothing', async () => {
    const { queue, prefix } = openQueues();
    const all = payloads(0, 100);
    expect(await queue.enqueueBulk(all, { objectsPerJob: 32 })).toEqual({
      added: 100,
      requeued: 0,
      duplicates: 0,
    });
    expect((await queue.counts()).waiting).toBe(4);
    const groups = await groupPayloads(prefix);
    expect(groups.map((g) => g.data.objects.length).sort((a, b) => a - b)).toEqual([4, 32, 32, 32]);
    for (const { id } of groups) expect(id).toMatch(/^grp_[0-9a-f]{40}$/);
    const objects = groups.flatMap((g) => g.data.objects);
    expect(new Set(objects.map((o) => o.id))).toEqual(new Set(all.map(idOf)));
    const first = all[0]!;
    expect(objects.find((o) => o.id === idOf(first))).toEqual({
      id: idOf(first),
      uri: first.uri,
      etag: first.etag,
      size: first.size,
    });
    expect(groups[0]!.data).toMatchObject({
      runId: 'run-1',
      modelId: 'densenet121-cxr3',
      modelVersion: '1.0.0',
    });

    // The same objects and 10 new ones: only the new ones are added, in one new job.
    const again = await queue.enqueueBulk([...payloads(0, 100), ...payloads(100, 10)], { objectsPerJob: 32 });
    expect(again).toEqual({ added: 10, requeued: 0, duplicates: 100 });
    expect((await queue.counts()).waiting).toBe(5);
    // One job per object for the same ids: still duplicates (dedupe is per object, whatever the job).
    expect(await queue.enqueueBulk(payloads(0, 10))).toEqual({ added: 0, requeued: 0, duplicates: 10 });
  });

  it('two enqueuers racing on the same objects count each object new exactly once', async () => {
    const { queue: a, prefix } = openQueues();
    const b = new ScreenQueue({ connection, prefix });
    cleanups.push(() => b.close());
    const [ra, rb] = await Promise.all([
      a.enqueueBulk(payloads(0, 3000), { objectsPerJob: 16 }),
      b.enqueueBulk(payloads(1000, 3000), { objectsPerJob: 16 }),
    ]);
    expect(ra.added + rb.added).toBe(4000);
    expect(ra.duplicates + rb.duplicates).toBe(2000);
    const objects = (await groupPayloads(prefix)).flatMap((g) => g.data.objects.map((o) => o.id));
    expect(objects).toHaveLength(4000);
    expect(new Set(objects).size).toBe(4000);
  });

  it('a worker screens every object once, publishing per object; a retry carries only the objects left', async () => {
    const { queue, prefix } = openQueues({ retry: { attempts: 3, backoffDelayMs: 50 } });
    const all = payloads(0, 40);
    const flaky = new Set([all[3]!.uri, all[17]!.uri]);
    const seen: { attempt: number; ids: string[] }[] = [];
    const screened = new Map<string, number>();
    const processGroup: ScreenGroupProcessor = (payload, context) => {
      seen.push({ attempt: context.attemptsMade, ids: payload.objects.map((o) => o.id) });
      const retry: ScreenJobObject[] = [];
      for (const object of payload.objects) {
        // The flaky objects fail on the job's first attempt only.
        if (flaky.has(object.uri) && context.attemptsMade === 0) retry.push(object);
        else screened.set(object.id, (screened.get(object.id) ?? 0) + 1);
      }
      return Promise.resolve(
        retry.length > 0 ? { retry: { objects: retry, error: new Error('S3 503') } } : {},
      );
    };
    await queue.enqueueBulk(all, { objectsPerJob: 20 });
    openWorker({
      connection,
      prefix,
      maxBatch: 4,
      concurrency: 2,
      process: () => Promise.resolve(),
      processGroup,
    });
    await waitFor(async () => (await queue.counts()).completed === 2, 10_000);
    expect([...screened.values()].every((n) => n === 1)).toBe(true);
    expect(new Set(screened.keys())).toEqual(new Set(all.map(idOf)));
    // Both flaky objects were in the first job (objects 0-19): its retry carried exactly them.
    const retries = seen.filter((s) => s.attempt === 1);
    expect(retries).toHaveLength(1);
    expect(new Set(retries[0]!.ids)).toEqual(new Set([idOf(all[3]!), idOf(all[17]!)]));
    expect((await queue.counts()).failed).toBe(0);
  });

  it('fails the job on its final attempt with the objects still failing (after the processor published them)', async () => {
    const { queue, prefix } = openQueues({ retry: { attempts: 2, backoffDelayMs: 20 } });
    const all = payloads(0, 5);
    const finals: boolean[] = [];
    await queue.enqueueBulk(all, { objectsPerJob: 5 });
    openWorker({
      connection,
      prefix,
      maxBatch: 1,
      process: () => Promise.resolve(),
      processGroup: (payload, context) => {
        finals.push(context.isFinalAttempt);
        const bad = payload.objects.filter((o) => o.uri === all[2]!.uri);
        return Promise.resolve(
          bad.length > 0 ? { retry: { objects: bad, error: new Error('gone away') } } : {},
        );
      },
    });
    await waitFor(async () => (await queue.counts()).failed === 1, 10_000);
    expect(finals).toEqual([false, true]);
    const [group] = await groupPayloads(prefix);
    expect(group?.data.objects.map((o) => o.uri)).toEqual([all[2]!.uri]);
  });

  it('re-enqueues, per object, finished objects without a pending result message, and nothing else', async () => {
    const { queue, results, prefix } = openQueues({ retry: { attempts: 1 } });
    const all = payloads(0, 6);
    await queue.enqueueBulk(all, { objectsPerJob: 6 });
    // Stopped after: the new job must stay waiting (this processor publishes no result message).
    await completeWithoutResults(prefix, queue, 1);
    // Object 0's message was stored (completed); object 1's still waits to be stored.
    const consumer = new ResultConsumer({ connection, prefix, consume: () => Promise.resolve() });
    await results.publish([resultMessage(all[0]!)]);
    await waitFor(async () => (await results.counts()).completed === 1, 10_000);
    await consumer.close();
    await results.publish([resultMessage(all[1]!)]);

    // Without the flag, the queue's memory decides: all six are held by the finished job.
    expect(await queue.enqueueBulk(all, { objectsPerJob: 6 })).toEqual({
      added: 0,
      requeued: 0,
      duplicates: 6,
    });
    // With it (no store row for any): all but object 1 (its row is on its way) come back, in one new job.
    expect(await queue.enqueueBulk(all, { objectsPerJob: 6, requeueFinished: true })).toEqual({
      added: 5,
      requeued: 5,
      duplicates: 1,
    });
    expect(await redis.exists(`${prefix}:cxr-results:${idOf(all[0]!)}`)).toBe(0);
    expect(await redis.exists(`${prefix}:cxr-results:${idOf(all[1]!)}`)).toBe(1);
    expect(await queue.counts()).toMatchObject({ completed: 1, waiting: 1 });
    const groups = await groupPayloads(prefix);
    const newest = groups.find((g) => g.data.objects.length === 5);
    expect(newest?.data.objects.map((o) => o.uri)).toEqual([0, 2, 3, 4, 5].map((i) => all[i]!.uri));
    // Asked again at once: every object is queued or on its way.
    expect(await queue.enqueueBulk(all, { objectsPerJob: 6, requeueFinished: true })).toEqual({
      added: 0,
      requeued: 0,
      duplicates: 6,
    });
  });

  it('sees an object whose outcome waits in a screen-results message as pending, until that message is stored', async () => {
    const { queue, results, prefix } = openQueues({ retry: { attempts: 1 } });
    const all = payloads(0, 4);
    // The first three objects went through a multi-object job, the fourth through a single job.
    await queue.enqueueBulk(all.slice(0, 3), { objectsPerJob: 3 });
    await queue.enqueueBulk(all.slice(3));
    await completeWithoutResults(prefix, queue, 2);
    // Objects 0, 1 and 3 travel in one screen-results message (published, not yet stored);
    // object 2's outcome never reached the results queue.
    const [group] = await groupPayloads(prefix);
    await results.publish(
      [0, 1, 3].map((i) => resultMessage(all[i]!)),
      { batchOf: group!.id },
    );
    expect(await results.counts()).toMatchObject({ waiting: 1 });
    expect(await queue.enqueueBulk(all, { objectsPerJob: 4, requeueFinished: true })).toEqual({
      added: 1,
      requeued: 1,
      duplicates: 3,
    });
    // The same on the one-job-per-object path (ADD_SCREEN_JOBS_LUA and the addBulk path).
    for (const enqueueVia of ['script', 'addBulk'] as const) {
      const single = new ScreenQueue({ connection, prefix, enqueueVia });
      try {
        expect(await single.enqueueBulk([all[3]!], { requeueFinished: true })).toMatchObject({
          added: 0,
          requeued: 0,
        });
      } finally {
        await single.close();
      }
    }
    // Once the message is stored (completed), its objects are no longer pending: re-enqueued.
    const consumer = new ResultConsumer({ connection, prefix, consume: () => Promise.resolve() });
    await waitFor(async () => (await results.counts()).completed === 1, 10_000);
    await consumer.close();
    expect(await queue.enqueueBulk([all[0]!, all[1]!], { objectsPerJob: 4, requeueFinished: true })).toEqual({
      added: 2,
      requeued: 2,
      duplicates: 0,
    });
    expect(await queue.enqueueBulk([all[3]!], { requeueFinished: true })).toMatchObject({
      added: 1,
      requeued: 1,
    });
  });

  it('refuses an objects-per-job outside 1..256', async () => {
    const { queue } = openQueues();
    await expect(queue.enqueueBulk(payloads(0, 1), { objectsPerJob: 0 })).rejects.toThrow(RangeError);
    await expect(queue.enqueueBulk(payloads(0, 1), { objectsPerJob: 257 })).rejects.toThrow(RangeError);
  });
});
