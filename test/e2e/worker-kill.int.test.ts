/**
 * End to end, as separate processes: SIGKILL the worker while it holds active jobs (some results
 * stored, not all), start a new worker, and every object still ends with exactly one `ok` row in
 * the store; no job is failed. The jobs the dead worker held come back through BullMQ's stalled
 * check, shortened here with CXR_LOCK_DURATION_MS / CXR_STALLED_INTERVAL_MS.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { QueueName, ScreenQueue, redisConnectionFromUrl, type QueueCounts } from '@cxr/queue';
import type { StoredResult } from '@cxr/store';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessGroup, freePort, waitUntil, type ManagedProcess } from './processes.js';
import {
  REDIS_URL,
  RESULTS_READY,
  SCREEN_JOB_KEY,
  START_TIMEOUT_MS,
  WORKER_READY,
  countRun,
  deleteKeysUnder,
  keysUnder,
  randomName,
  readRun,
  rowsPerUri,
  screenJobsFor,
  seedModel,
  serviceEnv,
  stageGoodCopies,
} from './pipeline.js';

const OBJECTS = 80;
/** Kill the first worker once this many results are stored. */
const KILL_AFTER = 6;

describe('SIGKILL of a worker mid-batch (three processes)', () => {
  const group = new ProcessGroup();
  const prefix = randomName('cxr-e2e-kill');
  const runId = randomName('run-kill');
  const queue = new ScreenQueue({ connection: redisConnectionFromUrl(REDIS_URL), prefix });
  let dir: string;
  let uris: string[] = [];
  let storedAtKill = -1;
  let countsAtKill: QueueCounts | undefined;
  let finalCounts: QueueCounts | undefined;
  let rows: StoredResult[] = [];
  let stalledJobs = 0;
  let secondWorker: ManagedProcess | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-e2e-kill-'));
    const objects = join(dir, 'objects');
    const model = await seedModel(join(dir, 'model'));
    uris = (await stageGoodCopies(objects, OBJECTS)).map((name) => pathToFileURL(join(objects, name)).href);
    const storeUrl = `sqlite:${join(dir, 'results.sqlite')}`;
    const env = serviceEnv({
      prefix,
      storeUrl,
      httpPort: await freePort(),
      logLevel: 'debug',
      // A job of a dead worker is picked up again once its lock expired: ~3-4 s instead of 15-30 s.
      extra: { CXR_LOCK_DURATION_MS: '3000', CXR_STALLED_INTERVAL_MS: '1000' },
    });
    const results = group.startResults('results', env);
    const first = group.startWorker('worker-1', model.dir, env);
    await Promise.all([
      results.waitForLine(RESULTS_READY, START_TIMEOUT_MS),
      first.waitForLine(WORKER_READY, START_TIMEOUT_MS),
    ]);
    const ingest = group.startIngest('ingest', pathToFileURL(objects).href, model.dir, runId, env);

    // Evidence that the run is under way: some results are in the store, then kill at once.
    await waitUntil(
      'some results stored',
      async () => (await countRun(storeUrl, runId)) >= KILL_AFTER,
      60_000,
      50,
    );
    const status = await first.kill();
    expect(status.signal).toBe('SIGKILL');
    countsAtKill = await queue.counts();
    storedAtKill = await countRun(storeUrl, runId);

    expect(await ingest.waitForExit(START_TIMEOUT_MS), ingest.text).toEqual({ code: 0, signal: null });
    secondWorker = group.startWorker('worker-2', model.dir, env);
    await secondWorker.waitForLine(WORKER_READY, START_TIMEOUT_MS);
    await waitUntil(
      'every object stored',
      async () => (await countRun(storeUrl, runId)) >= OBJECTS,
      60_000,
      250,
    );
    // Let a duplicate arrive if one were coming (a re-run job publishing a second result).
    await new Promise((resolve) => setTimeout(resolve, 1000));
    rows = await readRun(storeUrl, runId);
    finalCounts = await queue.counts();

    // BullMQ counts each stall of a job in its hash (`stc`): the jobs the killed worker held.
    const redis = new Redis(REDIS_URL);
    try {
      const jobKeys = (await keysUnder(redis, `${prefix}:${QueueName.Screen}`)).filter((key) =>
        SCREEN_JOB_KEY.test(key),
      );
      for (const key of jobKeys) {
        if ((await redis.type(key)) !== 'hash') continue;
        if (Number((await redis.hget(key, 'stc')) ?? 0) > 0) stalledJobs += 1;
      }
    } finally {
      redis.disconnect();
    }
  }, 150_000);

  afterAll(async () => {
    await group.stopAll();
    await queue.close();
    await deleteKeysUnder(REDIS_URL, prefix);
    await rm(dir, { recursive: true, force: true });
  }, 30_000);

  it('killed the worker mid-run: jobs active, some results stored but not all', () => {
    expect(countsAtKill?.active ?? 0).toBeGreaterThan(0);
    expect(storedAtKill).toBeGreaterThan(0);
    expect(storedAtKill).toBeLessThan(OBJECTS);
  });

  it('the jobs the dead worker held were recovered as stalled by the new worker', () => {
    expect(stalledJobs).toBeGreaterThan(0);
    expect(secondWorker?.text).toMatch(/"msg":"job screened"/);
  });

  it('every object ends with exactly one ok row in the store', () => {
    const perUri = rowsPerUri(rows);
    expect([...perUri.keys()].sort()).toEqual([...uris].sort());
    expect([...perUri.values()].filter((count) => count !== 1)).toEqual([]);
    expect(rows.filter((row) => row.outcome !== 'ok').map((row) => [row.uri, row.reason])).toEqual([]);
  });

  it('leaves no job failed and none waiting or active', () => {
    expect(finalCounts).toMatchObject({
      failed: 0,
      active: 0,
      waiting: 0,
      delayed: 0,
      completed: screenJobsFor(OBJECTS),
    });
  });
});
