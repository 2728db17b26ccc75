/**
 * End to end, as separate processes (worker, results service, `cxr ingest`): a file:// folder
 * mixing good DICOMs with corrupt ones. Every corrupt object is `rejected` with its reason code
 * (without a retry), every good one is `ok`, and nothing is missing: one row per file.
 */
import { copyFile, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { StoredResult } from '@cxr/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessGroup, freePort, waitUntil } from './processes.js';
import {
  REDIS_URL,
  RESULTS_READY,
  START_TIMEOUT_MS,
  WORKER_READY,
  countRun,
  deleteKeysUnder,
  randomName,
  readRun,
  rejectFixtures,
  rowsPerUri,
  seedModel,
  serviceEnv,
  stageGoodCopies,
  writeObject,
} from './pipeline.js';

const GOOD = 28;

describe('a folder of corrupt files mixed with good ones (three processes)', () => {
  const group = new ProcessGroup();
  const prefix = randomName('cxr-e2e-corrupt');
  const runId = randomName('run-corrupt');
  /** file name -> expected outcome and reason. */
  const expected = new Map<string, { outcome: 'ok' | 'rejected'; reason: string | null }>();
  let dir: string;
  let objects: string;
  let rows: StoredResult[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-e2e-corrupt-'));
    objects = join(dir, 'objects');
    const model = await seedModel(join(dir, 'model'));
    for (const name of await stageGoodCopies(objects, GOOD))
      expected.set(name, { outcome: 'ok', reason: null });
    for (const fixture of rejectFixtures()) {
      const name = `bad-${fixture.name}.dcm`;
      await copyFile(fixture.path, join(objects, name));
      expected.set(name, { outcome: 'rejected', reason: fixture.reason });
    }
    await writeObject(objects, 'zero-byte.dcm', new Uint8Array(0));
    expected.set('zero-byte.dcm', { outcome: 'rejected', reason: 'not_dicom' });

    const storeUrl = `sqlite:${join(dir, 'results.sqlite')}`;
    const env = serviceEnv({ prefix, storeUrl, httpPort: await freePort() });
    const results = group.startResults('results', env);
    const worker = group.startWorker('worker', model.dir, env);
    await Promise.all([
      results.waitForLine(RESULTS_READY, START_TIMEOUT_MS),
      worker.waitForLine(WORKER_READY, START_TIMEOUT_MS),
    ]);
    const ingest = group.startIngest('ingest', pathToFileURL(objects).href, model.dir, runId, env);
    const status = await ingest.waitForExit(START_TIMEOUT_MS);
    expect(status, ingest.text).toEqual({ code: 0, signal: null });
    await waitUntil(
      'every object stored',
      async () => (await countRun(storeUrl, runId)) >= expected.size,
      40_000,
    );
    rows = await readRun(storeUrl, runId);
  }, 90_000);

  afterAll(async () => {
    await group.stopAll();
    await deleteKeysUnder(REDIS_URL, prefix);
    await rm(dir, { recursive: true, force: true });
  }, 30_000);

  it('stores exactly one row per file in the folder, nothing missing', async () => {
    const files = await readdir(objects);
    expect(files.length).toBe(expected.size);
    expect((await stat(join(objects, 'zero-byte.dcm'))).size).toBe(0);
    const perUri = rowsPerUri(rows);
    expect([...perUri.keys()].sort()).toEqual(
      files.map((name) => pathToFileURL(join(objects, name)).href).sort(),
    );
    expect([...perUri.values()].every((count) => count === 1)).toBe(true);
  });

  it('rejects every corrupt file with its reason code and scores every good one', () => {
    const byName = new Map(rows.map((row) => [row.uri.slice(row.uri.lastIndexOf('/') + 1), row]));
    for (const [name, want] of expected) {
      const row = byName.get(name);
      expect({ name, outcome: row?.outcome, reason: row?.reason }).toEqual({ name, ...want });
      if (want.outcome === 'ok') {
        expect(Object.keys(row?.scores ?? {}).length, name).toBe(3);
        expect(row?.decision, name).not.toBeNull();
      } else {
        expect(row?.scores, name).toBeNull();
      }
    }
    expect(rows.filter((row) => row.outcome === 'ok')).toHaveLength(GOOD);
    expect(new Set(rows.filter((row) => row.outcome === 'rejected').map((row) => row.reason))).toEqual(
      new Set([
        'not_dicom',
        'truncated',
        'no_pixel_data',
        'pixel_data_short',
        'corrupt_stream',
        'unsupported_transfer_syntax',
      ]),
    );
  });

  it('spends no retry on bad input: one rejection log line per corrupt file, none retried', () => {
    const worker = group.all.find((p) => p.name === 'worker');
    const rejected = [...expected.values()].filter((want) => want.outcome === 'rejected').length;
    const logged = worker?.lines.map((line) => line.text) ?? [];
    expect(logged.filter((line) => line.includes('"msg":"job rejected"'))).toHaveLength(rejected);
    expect(logged.filter((line) => line.includes('"msg":"job will retry"'))).toHaveLength(0);
  });

  it('keeps every process alive through the bad input', () => {
    for (const managed of group.all.filter((p) => p.name !== 'ingest'))
      expect(managed.running, managed.name).toBe(true);
  });
});
