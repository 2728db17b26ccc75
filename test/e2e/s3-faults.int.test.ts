/**
 * End to end, as separate processes, against s3rver behind a fault-injecting HTTP proxy (the
 * worker fetches through the proxy, the ingest lists s3rver directly). Some objects' GETs fail
 * once with a 503 (retried by BullMQ, then ok), some always fail (retried, then `failed` with
 * reason `fetch_error`), one object is deleted after listing (NoSuchKey: `failed`, fetch_error,
 * without a retry), the rest are ok. The SDK's own retries are off (AWS_MAX_ATTEMPTS=1) so every
 * retry is a job retry that the queue and the logs can show.
 */
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { uriHash } from '@cxr/config/log';
import { QueueName } from '@cxr/queue';
import {
  createTestS3Client,
  seedBucket,
  startFaultProxy,
  startS3rver,
  type FaultProxy,
  type RunningS3rver,
} from '@cxr/storage/testing';
import type { StoredResult } from '@cxr/store';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessGroup, freePort, waitUntil, type ManagedProcess } from './processes.js';
import {
  REDIS_URL,
  RESULTS_READY,
  START_TIMEOUT_MS,
  WORKER_READY,
  countRun,
  deleteKeysUnder,
  goodFixtures,
  keysUnder,
  randomName,
  readRun,
  seedModel,
  serviceEnv,
} from './pipeline.js';

const BUCKET = 'cxr-e2e-faults';
const ATTEMPTS = 3;
const GOOD = 12;
const FLAKY = ['flaky/a.dcm', 'flaky/b.dcm', 'flaky/c.dcm'];
const DOWN = ['down/a.dcm', 'down/b.dcm'];
const GONE = 'gone.dcm';

/** What BullMQ and the worker kept about one screen job. */
interface JobFacts {
  /** Attempts made as BullMQ counts them (`atm` of the job hash). */
  readonly attemptsMade: number;
  /** `attemptsMade` of the published result message (the attempt that produced the outcome). */
  readonly resultAttemptsMade: number | undefined;
  readonly failedReason: string | undefined;
}

describe('S3 faults through a fault-injecting proxy (three processes)', () => {
  const group = new ProcessGroup();
  const prefix = randomName('cxr-e2e-s3');
  const runId = randomName('run-s3');
  const getsPerKey = new Map<string, number>();
  const goodKeys = Array.from({ length: GOOD }, (_, i) => `good/${String(i).padStart(3, '0')}.dcm`);
  let dir: string;
  let s3: RunningS3rver | undefined;
  let proxy: FaultProxy | undefined;
  let worker: ManagedProcess | undefined;
  let rows: StoredResult[] = [];
  const jobs = new Map<string, JobFacts>();

  const keyOf = (uri: string): string => uri.replace(`s3://${BUCKET}/`, '');
  const rowOf = (key: string): StoredResult | undefined => rows.find((row) => keyOf(row.uri) === key);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-e2e-s3-'));
    const model = await seedModel(join(dir, 'model'));
    s3 = await startS3rver();
    proxy = await startFaultProxy(s3.endpoint);
    proxy.failWhen(({ method, path }) => {
      const match = new RegExp(`^/${BUCKET}/([^?]+)`).exec(path);
      if (method !== 'GET' || match?.[1] === undefined) return undefined;
      const key = decodeURIComponent(match[1]);
      const seen = (getsPerKey.get(key) ?? 0) + 1;
      getsPerKey.set(key, seen);
      if (DOWN.includes(key)) return 'status-503';
      if (FLAKY.includes(key) && seen === 1) return 'status-503';
      return undefined;
    });

    const good = goodFixtures();
    const objects: [string, Uint8Array][] = [];
    for (const [i, key] of [...goodKeys, ...FLAKY, ...DOWN, GONE].entries()) {
      const fixture = good[i % good.length];
      if (fixture === undefined) throw new Error('no decodable fixtures');
      objects.push([key, new Uint8Array(await readFile(fixture.path))]);
    }
    const client = createTestS3Client(s3.endpoint);
    await seedBucket(client, BUCKET, objects);

    const storeUrl = `sqlite:${join(dir, 'results.sqlite')}`;
    const common = {
      CXR_SCREEN_ATTEMPTS: String(ATTEMPTS),
      CXR_SCREEN_BACKOFF_MS: '200',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_MAX_ATTEMPTS: '1',
    };
    const direct = serviceEnv({
      prefix,
      storeUrl,
      httpPort: await freePort(),
      extra: { ...common, AWS_ENDPOINT_URL: s3.endpoint },
    });
    const viaProxy = { ...direct, AWS_ENDPOINT_URL: proxy.endpoint };
    const results = group.startResults('results', direct);
    await results.waitForLine(RESULTS_READY, START_TIMEOUT_MS);
    const ingest = group.startIngest('ingest', `s3://${BUCKET}/`, model.dir, runId, direct);
    expect(await ingest.waitForExit(START_TIMEOUT_MS), ingest.text).toEqual({ code: 0, signal: null });
    // Listed, then gone before the worker fetches it: S3 answers NoSuchKey.
    await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: GONE }));
    client.destroy();

    worker = group.startWorker('worker', model.dir, viaProxy);
    await worker.waitForLine(WORKER_READY, START_TIMEOUT_MS);
    const total = goodKeys.length + FLAKY.length + DOWN.length + 1;
    await waitUntil(
      'every object stored',
      async () => (await countRun(storeUrl, runId)) >= total,
      60_000,
      250,
    );
    rows = await readRun(storeUrl, runId);

    const redis = new Redis(REDIS_URL);
    try {
      const results = new Map<string, number>();
      for (const key of await keysUnder(redis, `${prefix}:${QueueName.Results}`)) {
        if (!/:scr_[0-9a-f]{40}$/.test(key) || (await redis.type(key)) !== 'hash') continue;
        const data = JSON.parse((await redis.hget(key, 'data')) ?? '{}') as {
          uri?: string;
          attemptsMade?: number;
        };
        if (data.uri !== undefined && data.attemptsMade !== undefined)
          results.set(data.uri, data.attemptsMade);
      }
      for (const key of await keysUnder(redis, `${prefix}:${QueueName.Screen}`)) {
        if (!/:scr_[0-9a-f]{40}$/.test(key) || (await redis.type(key)) !== 'hash') continue;
        const [data, atm, failedReason] = await redis.hmget(key, 'data', 'atm', 'failedReason');
        const uri = (JSON.parse(data ?? '{}') as { uri?: string }).uri;
        if (uri === undefined) continue;
        jobs.set(keyOf(uri), {
          attemptsMade: Number(atm ?? 0),
          resultAttemptsMade: results.get(uri),
          failedReason: failedReason ?? undefined,
        });
      }
    } finally {
      redis.disconnect();
    }
  }, 120_000);

  afterAll(async () => {
    await group.stopAll();
    await proxy?.close();
    await s3?.stop();
    await deleteKeysUnder(REDIS_URL, prefix);
    await rm(dir, { recursive: true, force: true });
  }, 30_000);

  it('stores one row per listed object', () => {
    expect(rows.map((row) => keyOf(row.uri)).sort()).toEqual([...goodKeys, ...FLAKY, ...DOWN, GONE].sort());
  });

  it('objects that fail once are retried and end ok', () => {
    for (const key of FLAKY) {
      expect({ key, outcome: rowOf(key)?.outcome, reason: rowOf(key)?.reason }).toEqual({
        key,
        outcome: 'ok',
        reason: null,
      });
      expect(getsPerKey.get(key), key).toBe(2);
      // The ok result came from the second attempt.
      expect(jobs.get(key)?.resultAttemptsMade, key).toBe(1);
    }
    const retried = worker?.lines.filter((line) => line.text.includes('"msg":"job will retry"')) ?? [];
    // Log lines name an object by the hash of its URI, never by the URI (object names may carry
    // patient data).
    for (const key of FLAKY)
      expect(
        retried.some((line) => line.text.includes(`"uriHash":"${uriHash(`s3://${BUCKET}/${key}`)}"`)),
        key,
      ).toBe(true);
    expect(retried.filter((line) => line.text.includes('flaky/'))).toEqual([]);
  });

  it('objects that always fail use every attempt, then end failed with reason fetch_error', () => {
    for (const key of DOWN) {
      expect({ key, outcome: rowOf(key)?.outcome, reason: rowOf(key)?.reason }).toEqual({
        key,
        outcome: 'failed',
        reason: 'fetch_error',
      });
      expect(getsPerKey.get(key), key).toBe(ATTEMPTS);
      expect(jobs.get(key)?.attemptsMade, key).toBe(ATTEMPTS);
      expect(jobs.get(key)?.resultAttemptsMade, key).toBe(ATTEMPTS - 1);
      // The reason BullMQ keeps (the dashboard shows it) names the fault, not the object.
      expect(jobs.get(key)?.failedReason, key).toBe('attempt failed: ObjectFetchError (transient)');
    }
  });

  it('a missing object (NoSuchKey) fails with fetch_error at once, without a retry', () => {
    expect({ outcome: rowOf(GONE)?.outcome, reason: rowOf(GONE)?.reason }).toEqual({
      outcome: 'failed',
      reason: 'fetch_error',
    });
    expect(getsPerKey.get(GONE)).toBe(1);
    expect(jobs.get(GONE)?.attemptsMade).toBe(1);
    expect(jobs.get(GONE)?.resultAttemptsMade).toBe(0);
    expect(
      worker?.lines.some((line) => line.text.includes('job will retry') && line.text.includes(GONE)),
    ).toBe(false);
  });

  it('every other object is ok on its first attempt', () => {
    for (const key of goodKeys) {
      expect({ key, outcome: rowOf(key)?.outcome }).toEqual({ key, outcome: 'ok' });
      expect(getsPerKey.get(key), key).toBe(1);
      expect(jobs.get(key)?.resultAttemptsMade, key).toBe(0);
    }
  });
});
