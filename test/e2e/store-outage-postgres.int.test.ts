/**
 * The services as separate processes (worker, results, `cxr ingest`) with a PostgreSQL store that
 * is stopped mid-run for three times the old result retry budget, then started again: every
 * object ends with exactly one row, no result message is failed, and the results service rode it
 * out. (Audit finding: 177 results went to the failed set and nothing was stored after PostgreSQL
 * came back.) The database is a server of the test's own, never the shared one.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ResultQueue, redisConnectionFromUrl } from '@cxr/queue';
import type { StoredResult } from '@cxr/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessGroup, freePort, waitUntil, type ManagedProcess } from './processes.js';
import {
  REDIS_URL,
  RESULTS_READY,
  START_TIMEOUT_MS,
  WORKER_READY,
  countRun,
  deleteKeysUnder,
  randomName,
  readRun,
  rowsPerUri,
  seedModel,
  serviceEnv,
  stageGoodCopies,
  startPostgresServer,
} from './pipeline.js';
import { STORE_BACK, STORE_OUTAGE_MS, STORE_UNAVAILABLE } from './store-outage.js';

const OBJECTS = 40;
/** Stop PostgreSQL once this many rows are stored. */
const STOP_AFTER = 4;

describe('services: PostgreSQL stopped for 3x the old result retry budget, then started', () => {
  const group = new ProcessGroup();
  const prefix = randomName('cxr-e2e-pgdown');
  const runId = randomName('run-pgdown');
  let dir: string;
  let uris: string[] = [];
  let storedAtStop = -1;
  let storedAtRestart = -1;
  let results: ManagedProcess;
  let worker: ManagedProcess;
  let rows: StoredResult[] = [];
  let resultCounts: Awaited<ReturnType<ResultQueue['counts']>> | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-e2e-pgdown-'));
    // The postgres system user runs the server from a folder inside it.
    await chmod(dir, 0o755);
    const pgDir = join(dir, 'pg');
    const pgPort = await freePort();
    const first = await startPostgresServer(group, 'postgres-1', { port: pgPort, dir: pgDir });
    const storeUrl = `postgres://postgres@127.0.0.1:${pgPort}/postgres`;

    const objects = join(dir, 'objects');
    const model = await seedModel(join(dir, 'model'));
    uris = (await stageGoodCopies(objects, OBJECTS)).map((name) => pathToFileURL(join(objects, name)).href);
    const env = serviceEnv({ prefix, storeUrl, httpPort: await freePort() });
    results = group.startResults('results', env);
    worker = group.startWorker('worker', model.dir, env);
    await Promise.all([
      results.waitForLine(RESULTS_READY, START_TIMEOUT_MS),
      worker.waitForLine(WORKER_READY, START_TIMEOUT_MS),
    ]);
    const ingest = group.startIngest('ingest', pathToFileURL(objects).href, model.dir, runId, env);
    expect(await ingest.waitForExit(START_TIMEOUT_MS), ingest.text).toEqual({ code: 0, signal: null });

    await waitUntil(
      'some rows stored',
      async () => (await countRun(storeUrl, runId)) >= STOP_AFTER,
      120_000,
      50,
    );
    storedAtStop = await countRun(storeUrl, runId);
    // SIGINT: PostgreSQL's fast shutdown (open connections are cut).
    first.signal('SIGINT');
    await first.waitForExit(30_000);
    await results.waitForLine(STORE_UNAVAILABLE, 60_000);
    await new Promise((resolve) => setTimeout(resolve, STORE_OUTAGE_MS));
    await startPostgresServer(group, 'postgres-2', { port: pgPort, dir: pgDir });
    storedAtRestart = await countRun(storeUrl, runId);
    await waitUntil(
      'every object stored',
      async () => (await countRun(storeUrl, runId)) >= OBJECTS,
      120_000,
      250,
    );
    // Let a duplicate arrive if one were coming.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    rows = await readRun(storeUrl, runId);
    const queue = new ResultQueue({ connection: redisConnectionFromUrl(REDIS_URL), prefix });
    try {
      resultCounts = await queue.counts();
    } finally {
      await queue.close();
    }
  }, STORE_OUTAGE_MS + 420_000);

  afterAll(async () => {
    await Promise.allSettled([results.stop(), worker.stop()]);
    await group.stopAll();
    await deleteKeysUnder(REDIS_URL, prefix);
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('stopped the database mid-run: some rows stored before, none during the outage', () => {
    expect(storedAtStop).toBeGreaterThanOrEqual(STOP_AFTER);
    expect(storedAtStop).toBeLessThan(OBJECTS);
    expect(storedAtRestart).toBe(storedAtStop);
  });

  it('the results service rode out the outage and said when the store was back', () => {
    expect(results.running, results.text.slice(-2000)).toBe(true);
    expect(worker.running, worker.text.slice(-2000)).toBe(true);
    expect(results.text).toMatch(STORE_BACK);
  });

  it('stores every object exactly once, without --force, and fails no result message', () => {
    const perUri = rowsPerUri(rows);
    expect([...perUri.keys()].sort()).toEqual([...uris].sort());
    expect([...perUri.values()].filter((n) => n !== 1)).toEqual([]);
    expect(rows.filter((row) => row.outcome !== 'ok')).toEqual([]);
    expect(resultCounts).toMatchObject({ failed: 0, waiting: 0, active: 0, delayed: 0 });
  });
});
