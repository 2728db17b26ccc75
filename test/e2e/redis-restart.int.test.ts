/**
 * End to end, as separate processes: a dedicated redis-server (append-only file, fsync on every
 * write) is shut down in the middle of a run and started again on the same port with the same
 * data directory. The worker and the results service ride out the outage (ioredis / BullMQ
 * reconnect), and the run completes: one `ok` row per object, nothing lost, no job failed.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ScreenQueue, redisConnectionFromUrl, type QueueCounts } from '@cxr/queue';
import type { StoredResult } from '@cxr/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessGroup, freePort, waitUntil, type ExitStatus, type ManagedProcess } from './processes.js';
import {
  RESULTS_READY,
  START_TIMEOUT_MS,
  WORKER_READY,
  countRun,
  randomName,
  readRun,
  rowsPerUri,
  seedModel,
  serviceEnv,
  stageGoodCopies,
  startRedisServer,
} from './pipeline.js';

const OBJECTS = 60;
/** Stop Redis once this many results are stored. */
const STOP_AFTER = 8;
/** How long Redis stays down. */
const OUTAGE_MS = 3000;

describe('Redis restarted mid-run (worker, results, ingest, redis-server as processes)', () => {
  const group = new ProcessGroup();
  const prefix = randomName('cxr-e2e-redis');
  const runId = randomName('run-redis');
  let dir: string;
  let uris: string[] = [];
  let storedAtStop = -1;
  let redisExit: ExitStatus | undefined;
  let rows: StoredResult[] = [];
  let finalCounts: QueueCounts | undefined;
  let services: ManagedProcess[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-e2e-redis-'));
    const redisDir = join(dir, 'redis');
    await mkdir(redisDir);
    const port = await freePort();
    const redisUrl = `redis://127.0.0.1:${port}`;
    const first = await startRedisServer(group, 'redis-1', { port, dir: redisDir });

    const objects = join(dir, 'objects');
    const model = await seedModel(join(dir, 'model'));
    uris = (await stageGoodCopies(objects, OBJECTS)).map((name) => pathToFileURL(join(objects, name)).href);
    const storeUrl = `sqlite:${join(dir, 'results.sqlite')}`;
    const env = serviceEnv({ prefix, storeUrl, redisUrl, httpPort: await freePort() });
    const results = group.startResults('results', env);
    const worker = group.startWorker('worker', model.dir, env);
    services = [results, worker];
    await Promise.all([
      results.waitForLine(RESULTS_READY, START_TIMEOUT_MS),
      worker.waitForLine(WORKER_READY, START_TIMEOUT_MS),
    ]);
    const ingest = group.startIngest('ingest', pathToFileURL(objects).href, model.dir, runId, env);
    expect(await ingest.waitForExit(START_TIMEOUT_MS), ingest.text).toEqual({ code: 0, signal: null });

    await waitUntil(
      'some results stored',
      async () => (await countRun(storeUrl, runId)) >= STOP_AFTER,
      60_000,
      50,
    );
    // SIGTERM = SHUTDOWN: Redis writes out the append-only file and exits.
    redisExit = await first.stop(10_000);
    storedAtStop = await countRun(storeUrl, runId);
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
    await startRedisServer(group, 'redis-2', { port, dir: redisDir });

    await waitUntil(
      'every object stored',
      async () => (await countRun(storeUrl, runId)) >= OBJECTS,
      60_000,
      250,
    );
    await new Promise((resolve) => setTimeout(resolve, 1000));
    rows = await readRun(storeUrl, runId);
    const queue = new ScreenQueue({ connection: redisConnectionFromUrl(redisUrl), prefix });
    try {
      finalCounts = await queue.counts();
    } finally {
      await queue.close();
    }
  }, 150_000);

  afterAll(async () => {
    // Services first (they would log reconnect attempts otherwise), the throwaway Redis last.
    await Promise.allSettled(services.map((managed) => managed.stop()));
    await group.stopAll();
    await rm(dir, { recursive: true, force: true });
  }, 30_000);

  it('stopped Redis mid-run: some results stored, not all', () => {
    expect(redisExit).toEqual({ code: 0, signal: null });
    expect(storedAtStop).toBeGreaterThanOrEqual(STOP_AFTER);
    expect(storedAtStop).toBeLessThan(OBJECTS);
  });

  it('the worker and the results service survived the outage', () => {
    for (const managed of services)
      expect(managed.running, `${managed.name}: ${managed.text.slice(-2000)}`).toBe(true);
  });

  it('logged the outage as a few JSON lines, not one per reconnect attempt, and no raw errors', () => {
    for (const managed of services) {
      const lines = managed.text.trimEnd().split('\n');
      for (const line of lines)
        expect(() => JSON.parse(line) as unknown, `${managed.name}: ${line}`).not.toThrow();
      const outage = lines.filter((line) => line.includes('"msg":"redis connection'));
      // One line when it failed, one when it was restored: a 3 s outage is shorter than the
      // reporter's 30 s interval between "still failing" lines.
      expect(
        outage.map((line) => (JSON.parse(line) as { msg: string }).msg),
        managed.name,
      ).toEqual(['redis connection failed', 'redis connection restored']);
      expect(managed.text, managed.name).not.toContain('[ioredis] Unhandled error event');
      expect(managed.text, managed.name).not.toMatch(/connection error/);
    }
  });

  it('completes the run: every object has exactly one ok row', () => {
    const perUri = rowsPerUri(rows);
    expect([...perUri.keys()].sort()).toEqual([...uris].sort());
    expect([...perUri.values()].filter((count) => count !== 1)).toEqual([]);
    expect(rows.filter((row) => row.outcome !== 'ok').map((row) => [row.uri, row.reason])).toEqual([]);
  });

  it('loses no job: all completed, none failed or left behind', () => {
    expect(finalCounts).toMatchObject({ failed: 0, active: 0, waiting: 0, delayed: 0, completed: OBJECTS });
  });
});
