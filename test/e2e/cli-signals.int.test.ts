/**
 * `cxr` as users start it (the `services/cli/bin/cxr.js` bin) and stop it: a SIGTERM (or a
 * Ctrl-C's SIGINT) in the middle of `cxr screen` reaches the process doing the work, which stops gracefully (active jobs
 * finish, their results are stored), prints a summary that matches the store, exits 130, and
 * leaves no process behind; running the same command again completes the run with one row per
 * object. (Audit finding: the bin ran the real process with spawnSync and forwarded no signal, so
 * it exited 143 at once while the screen went on, reparented to PID 1.)
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  COMPILED_ENTRY,
  ProcessGroup,
  waitUntil,
  type ExitStatus,
  type ManagedProcess,
} from './processes.js';
import {
  countRun,
  deleteKeysUnder,
  randomName,
  readRun,
  REDIS_URL,
  rowsPerUri,
  seedModel,
  serviceEnv,
  stageGoodCopies,
} from './pipeline.js';

const BIN = COMPILED_ENTRY.cli;
const OBJECTS = 150;

interface Summary {
  readonly complete: boolean;
  readonly interrupted: boolean;
  readonly outcomes: { readonly ok: number; readonly rejected: number; readonly failed: number };
}

/** PIDs of live processes whose command line contains `marker`. */
async function processesWith(marker: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes(marker)) pids.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

describe('cxr bin: signals reach the screening process', () => {
  const group = new ProcessGroup();
  const prefix = randomName('cxr-e2e-signals');
  const runId = randomName('run-signals');
  let dir: string;
  let storeUrl: string;
  let args: string[];
  let env: Record<string, string>;
  let uris: string[];
  let first: ManagedProcess;
  let firstExit: ExitStatus;
  let storedAfterExit = -1;
  let orphans: number[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-e2e-signals-'));
    const objects = join(dir, 'objects');
    const model = await seedModel(join(dir, 'model'));
    uris = (await stageGoodCopies(objects, OBJECTS)).map((name) => pathToFileURL(join(objects, name)).href);
    storeUrl = `sqlite:${join(dir, 'results.sqlite')}`;
    env = serviceEnv({ prefix, storeUrl });
    args = [BIN, 'screen', pathToFileURL(objects).href, '--model', model.dir, '--run-id', runId, '--json'];

    first = group.spawn('cxr-screen-1', process.execPath, args, env);
    await waitUntil('some results stored', async () => (await countRun(storeUrl, runId)) >= 5, 120_000, 100);
    first.signal('SIGTERM');
    firstExit = await first.waitForExit(60_000);
    storedAfterExit = await countRun(storeUrl, runId);
    orphans = await processesWith(runId);
  }, 240_000);

  afterAll(async () => {
    await group.stopAll();
    for (const pid of await processesWith(runId)) process.kill(pid, 'SIGKILL');
    await deleteKeysUnder(REDIS_URL, prefix);
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('stops gracefully on SIGTERM: exit 130 after the summary, no process left running', () => {
    expect(firstExit, first.text.slice(-2000)).toEqual({ code: 130, signal: null });
    expect(orphans).toEqual([]);
    const summary = JSON.parse(first.stdout) as Summary;
    expect(summary.interrupted).toBe(true);
    expect(summary.complete).toBe(false);
    // The summary was read after everything in flight was stored: it matches the store.
    const { ok, rejected, failed } = summary.outcomes;
    expect(ok + rejected + failed).toBe(storedAfterExit);
    expect(storedAfterExit).toBeLessThan(OBJECTS);
  });

  it('stops gracefully on SIGINT (Ctrl-C) too, resuming where the first run stopped', async () => {
    const before = await countRun(storeUrl, runId);
    const second = group.spawn('cxr-screen-2', process.execPath, args, env);
    await waitUntil(
      'more results stored',
      async () => (await countRun(storeUrl, runId)) >= before + 5,
      120_000,
      100,
    );
    second.signal('SIGINT');
    const exit = await second.waitForExit(60_000);
    const stored = await countRun(storeUrl, runId);
    expect(exit, second.text.slice(-2000)).toEqual({ code: 130, signal: null });
    expect(await processesWith(runId)).toEqual([]);
    const summary = JSON.parse(second.stdout) as Summary;
    expect(summary.interrupted).toBe(true);
    const { ok, rejected, failed } = summary.outcomes;
    expect(ok + rejected + failed).toBe(stored);
    expect(stored).toBeLessThan(OBJECTS);
  }, 240_000);

  it('the same command again completes the run: one row per object', async () => {
    const second = group.spawn('cxr-screen-3', process.execPath, args, env);
    const exit = await second.waitForExit(240_000);
    expect(exit, second.text.slice(-2000)).toEqual({ code: 0, signal: null });
    const summary = JSON.parse(second.stdout) as Summary;
    expect(summary.complete).toBe(true);
    const perUri = rowsPerUri(await readRun(storeUrl, runId));
    expect([...perUri.keys()].sort()).toEqual([...uris].sort());
    expect([...perUri.values()].filter((n) => n !== 1)).toEqual([]);
  }, 300_000);
});
