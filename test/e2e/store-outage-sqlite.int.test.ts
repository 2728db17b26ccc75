/**
 * `cxr screen` with its SQLite store on a disk that is full for three times the old result retry
 * budget (a tmpfs filled to the last byte), then freed: every object ends with exactly one row,
 * no result message is failed, the command exits 0 and says complete, and no `--force` is needed.
 * (Audit finding: 206 results ended in the failed set and the command still reported success.)
 * Needs root (mount), as CI runs.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ResultQueue, redisConnectionFromUrl } from '@cxr/queue';
import type { StoredResult } from '@cxr/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENTRY, ProcessGroup, freePort, type ExitStatus, type ManagedProcess } from './processes.js';
import {
  REDIS_URL,
  deleteKeysUnder,
  metricsText,
  randomName,
  readRun,
  rowsPerUri,
  seedModel,
  serviceEnv,
  stageGoodCopies,
} from './pipeline.js';
import { STORE_BACK, STORE_OUTAGE_MS, STORE_UNAVAILABLE } from './store-outage.js';

const OBJECTS = 30;

/** Writes zeros into `path` until the file system says ENOSPC. */
function fillDisk(path: string): void {
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, block);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
  // The last partial blocks: a full disk, not an almost full one.
  const fd2 = openSync(`${path}.tail`, 'w');
  try {
    for (;;) writeSync(fd2, Buffer.alloc(512));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd2);
  }
}

describe('cxr screen: SQLite store on a full disk for 3x the old result retry budget', () => {
  const group = new ProcessGroup();
  const prefix = randomName('cxr-e2e-full');
  const runId = randomName('run-full');
  let dir: string;
  let disk: string;
  let mounted = false;
  let uris: string[] = [];
  let screen: ManagedProcess;
  let exit: ExitStatus;
  let storeUpDuring = '';
  let rows: StoredResult[] = [];
  let resultCounts: Awaited<ReturnType<ResultQueue['counts']>> | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-e2e-full-'));
    disk = join(dir, 'disk');
    await mkdir(disk);
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', disk], { encoding: 'utf8' });
    if (mount.status !== 0) throw new Error(`mount tmpfs (needs root): ${mount.stderr}`);
    mounted = true;
    const storeUrl = `sqlite:${join(disk, 'results.sqlite')}`;

    const objects = join(dir, 'objects');
    const model = await seedModel(join(dir, 'model'));
    uris = (await stageGoodCopies(objects, OBJECTS)).map((name) => pathToFileURL(join(objects, name)).href);
    const port = await freePort();
    screen = group.spawnTsx(
      'cxr-screen',
      ENTRY.cli,
      [
        'screen',
        pathToFileURL(objects).href,
        '--model',
        model.dir,
        '--run-id',
        runId,
        '--http-port',
        String(port),
        '--json',
      ],
      serviceEnv({ prefix, storeUrl }),
    );
    // The disk fills once the store is open (SQLite cannot even open its WAL on a full disk):
    // the outage hits the result writes, as when a disk fills during a long run.
    await screen.waitForLine(/"msg":"results service started"/, 60_000);
    fillDisk(join(disk, 'filler'));
    await screen.waitForLine(STORE_UNAVAILABLE, 120_000);
    await new Promise((resolve) => setTimeout(resolve, STORE_OUTAGE_MS));
    storeUpDuring =
      (await metricsText(port)).split('\n').find((line) => line.startsWith('cxr_store_up ')) ?? '';
    // Space again.
    await rm(join(disk, 'filler'));
    await rm(join(disk, 'filler.tail'));
    exit = await screen.waitForExit(180_000);
    rows = await readRun(storeUrl, runId);
    const results = new ResultQueue({ connection: redisConnectionFromUrl(REDIS_URL), prefix });
    try {
      resultCounts = await results.counts();
    } finally {
      await results.close();
    }
  }, STORE_OUTAGE_MS + 420_000);

  afterAll(async () => {
    await group.stopAll();
    if (mounted) spawnSync('umount', [disk]);
    await deleteKeysUnder(REDIS_URL, prefix);
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('kept running through the outage, paused, with cxr_store_up 0, and said when the store was back', () => {
    expect(storeUpDuring).toBe('cxr_store_up 0');
    expect(screen.text).toMatch(STORE_BACK);
  });

  it('exits 0 and says complete: every object has exactly one row', () => {
    expect(exit, screen.text.slice(-2000)).toEqual({ code: 0, signal: null });
    const summary = JSON.parse(screen.stdout) as { complete: boolean; missing: number };
    expect(summary).toMatchObject({ complete: true, missing: 0 });
    const perUri = rowsPerUri(rows);
    expect([...perUri.keys()].sort()).toEqual([...uris].sort());
    expect([...perUri.values()].filter((n) => n !== 1)).toEqual([]);
    expect(rows.filter((row) => row.outcome !== 'ok')).toEqual([]);
  });

  it('moved no result message to the failed set', () => {
    expect(resultCounts).toMatchObject({ failed: 0, waiting: 0, active: 0, delayed: 0 });
  });
});
