/**
 * `cxr screen` rides out an outage of its S3 source that outlasts the old attempt-count budget:
 * every object GET answers 503 for OUTAGE_MS, then the source comes back, and every object ends
 * `ok`. Retries are budgeted in time (CXR_SCREEN_RETRY_SECONDS), not as a small attempt count:
 * with the old policy (5 attempts, first delay doubled) the same first delay spanned 3.75 s and a
 * 6 s outage failed the objects. The test scales the policy down (250 ms first delay, 10 s budget)
 * so that it runs in seconds; the default (600 s) is checked in @cxr/queue's contract tests.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createTestS3Client,
  seedBucket,
  startFaultProxy,
  startS3rver,
  type FaultProxy,
  type RunningS3rver,
} from '@cxr/storage/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENTRY, ProcessGroup, type ExitStatus, type ManagedProcess } from './processes.js';
import {
  REDIS_URL,
  deleteKeysUnder,
  goodFixtures,
  randomName,
  readRun,
  seedModel,
  serviceEnv,
} from './pipeline.js';
import type { StoredResult } from '@cxr/store';

const BUCKET = 'cxr-e2e-outage';
const OBJECTS = 8;
/** Longer than the 3.75 s the old 5-attempt policy spanned with a 250 ms first delay. */
const OUTAGE_MS = 6000;

describe('cxr screen rides out an S3 outage longer than the old retry count', () => {
  const group = new ProcessGroup();
  const prefix = randomName('cxr-e2e-outage');
  const runId = randomName('run-outage');
  let dir: string;
  let s3: RunningS3rver | undefined;
  let proxy: FaultProxy | undefined;
  let screen: ManagedProcess;
  let exit: ExitStatus;
  let rows: StoredResult[] = [];
  const failedGets = new Map<string, number>();
  let outageStartedAt: number | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-e2e-outage-'));
    const model = await seedModel(join(dir, 'model'));
    s3 = await startS3rver();
    proxy = await startFaultProxy(s3.endpoint);
    // Listing works (the ingest runs first); every object GET fails until the outage is over.
    proxy.failWhen(({ method, path }) => {
      const key = new RegExp(`^/${BUCKET}/([^?]+)`).exec(path)?.[1];
      if (method !== 'GET' || key === undefined) return undefined;
      outageStartedAt ??= Date.now();
      if (Date.now() - outageStartedAt >= OUTAGE_MS) return undefined;
      failedGets.set(key, (failedGets.get(key) ?? 0) + 1);
      return 'status-503';
    });
    const good = goodFixtures();
    const objects: [string, Uint8Array][] = [];
    for (let i = 0; i < OBJECTS; i++) {
      const fixture = good[i % good.length];
      if (fixture === undefined) throw new Error('no decodable fixtures');
      objects.push([`cr/${String(i).padStart(3, '0')}.dcm`, new Uint8Array(await readFile(fixture.path))]);
    }
    const client = createTestS3Client(s3.endpoint);
    await seedBucket(client, BUCKET, objects);
    client.destroy();

    const storeUrl = `sqlite:${join(dir, 'results.sqlite')}`;
    const env = serviceEnv({
      prefix,
      storeUrl,
      extra: {
        CXR_SCREEN_BACKOFF_MS: '250',
        CXR_SCREEN_RETRY_SECONDS: '10',
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'S3RVER',
        AWS_SECRET_ACCESS_KEY: 'S3RVER',
        // The SDK's own retries off: every retry is a job retry.
        AWS_MAX_ATTEMPTS: '1',
        AWS_ENDPOINT_URL: proxy.endpoint,
      },
    });
    screen = group.spawnTsx(
      'cxr-screen',
      ENTRY.cli,
      [
        'screen',
        `s3://${BUCKET}/cr/`,
        '--model',
        model.dir,
        '--store',
        storeUrl,
        '--run-id',
        runId,
        '--json',
      ],
      env,
    );
    exit = await screen.waitForExit(120_000);
    rows = await readRun(storeUrl, runId);
  }, 180_000);

  afterAll(async () => {
    await group.stopAll();
    await proxy?.close();
    await s3?.stop();
    await deleteKeysUnder(REDIS_URL, prefix);
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('the source was down long enough to exhaust the old policy', () => {
    // Every object was refused at least 5 times: all the attempts the old policy had.
    expect(failedGets.size).toBe(OBJECTS);
    expect([...failedGets.values()].every((n) => n >= 5)).toBe(true);
  });

  it('every object ends ok once the source is back, and the command exits 0', () => {
    expect(exit, screen.text.slice(-2000)).toEqual({ code: 0, signal: null });
    expect(rows.map((row) => [row.outcome, row.reason])).toEqual(
      Array.from({ length: OBJECTS }, () => ['ok', null]),
    );
  });
});
