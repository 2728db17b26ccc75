/**
 * Audit finding 7: `/v1/predict` uploads parked in Redis ended up in Redis's append-only file on
 * disk (114 canary hits after the uploads had been deleted; the README recommends AOF). Here the
 * results service and the worker run as the production processes against a dedicated
 * redis-server with `--appendonly yes` (every write fsynced) on a temporary directory; uploads
 * carrying the canary patient name and ID go through `POST /v1/predict` (raw and multipart, a
 * screened one and a worker-side reject); then every file Redis wrote (appendonlydir/ and an RDB
 * snapshot taken at the end) is searched for the canaries: none may be there. The uploads
 * themselves lived in the upload area (CXR_UPLOAD_URL) and are gone from it too.
 */
import { readFile, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { CANARY_PATIENT_ID, CANARY_PATIENT_NAME } from '@cxr/fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessGroup, freePort } from './processes.js';
import {
  RESULTS_READY,
  START_TIMEOUT_MS,
  WORKER_READY,
  fixtures,
  goodFixtures,
  randomName,
  seedModel,
  serviceEnv,
  startRedisServer,
  type SeedModel,
} from './pipeline.js';

/** The canaries as bytes in the files: the DICOM strings are latin1. */
const CANARIES = [CANARY_PATIENT_NAME, CANARY_PATIENT_ID].map((text) => Buffer.from(text, 'latin1'));

/** Every regular file under `dir`, recursively (appendonlydir/ holds the AOF segments). */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

/** Occurrences of every canary in a buffer. */
function canaryHits(bytes: Buffer): number {
  let hits = 0;
  for (const canary of CANARIES) {
    for (let at = bytes.indexOf(canary); at !== -1; at = bytes.indexOf(canary, at + 1)) hits += 1;
  }
  return hits;
}

describe('POST /v1/predict keeps uploads out of Redis persistence (AOF + RDB)', () => {
  const group = new ProcessGroup();
  const prefix = randomName('cxr-e2e-aof');
  let dir: string;
  let redisDir: string;
  let uploadDir: string;
  let redisUrl: string;
  let model: SeedModel;
  let resultsPort: number;
  const statuses: number[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-e2e-aof-'));
    redisDir = join(dir, 'redis');
    uploadDir = join(dir, 'uploads');
    await mkdir(redisDir);
    const redisPort = await freePort();
    redisUrl = `redis://127.0.0.1:${redisPort}`;
    await startRedisServer(group, 'redis', { port: redisPort, dir: redisDir });
    model = await seedModel(join(dir, 'model'));
    resultsPort = await freePort();
    const env = {
      ...serviceEnv({
        prefix,
        storeUrl: `sqlite:${join(dir, 'results.sqlite')}`,
        redisUrl,
        httpPort: resultsPort,
      }),
      CXR_MODEL_DIR: model.dir,
      CXR_UPLOAD_URL: pathToFileURL(uploadDir).href,
      CXR_PATIENT_ID_SALT: 'e2e-aof-salt-0123456789',
    };
    const results = group.startResults('results', env);
    const worker = group.startWorker('worker', model.dir, env);
    await Promise.all([
      results.waitForLine(RESULTS_READY, START_TIMEOUT_MS),
      worker.waitForLine(WORKER_READY, START_TIMEOUT_MS),
    ]);
  }, 120_000);

  afterAll(async () => {
    await group.stopAll();
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('screens uploads that carry the canary patient name and ID', async () => {
    const uploads = [
      ...goodFixtures().slice(0, 4),
      // Header fine, pixel stream broken: rejected by the worker, after it fetched the upload.
      ...fixtures().fixtures.filter((f) => f.name === 'corrupt-jpeg-lossless'),
    ];
    expect(uploads).toHaveLength(5);
    for (const [index, fixture] of uploads.entries()) {
      const bytes = await readFile(fixture.path);
      // The positive control: the canaries are in what is uploaded.
      expect(canaryHits(bytes), fixture.name).toBeGreaterThanOrEqual(2);
      let body: FormData | Uint8Array = bytes;
      const headers: Record<string, string> = {};
      if (index % 2 === 0) {
        body = new FormData();
        body.append('file', new Blob([bytes]), `${CANARY_PATIENT_NAME}.dcm`);
      } else {
        headers['content-type'] = 'application/dicom';
      }
      const response = await fetch(`http://127.0.0.1:${resultsPort}/v1/predict`, {
        method: 'POST',
        headers,
        body,
      });
      await response.text();
      statuses.push(response.status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 422]);
    // (Before the fix the uploads were in Redis and this folder was never created.)
    expect(await readdir(uploadDir).catch(() => [])).toEqual([]);
  }, 120_000);

  it('leaves no canary in any file Redis wrote (append-only file and snapshot)', async () => {
    expect(statuses).toHaveLength(5);
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    try {
      // An RDB snapshot of the state after the uploads, beside the AOF written along the way.
      await redis.save();
      expect(await redis.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
    } finally {
      redis.disconnect();
    }
    const files = await filesUnder(redisDir);
    expect(files.some((file) => file.includes('appendonlydir'))).toBe(true);
    expect(files.some((file) => file.endsWith('.rdb'))).toBe(true);
    let searched = '';
    const hits: Record<string, number> = {};
    for (const file of files) {
      const bytes = await readFile(file);
      searched += bytes.toString('latin1');
      const count = canaryHits(bytes);
      if (count > 0) hits[file.slice(redisDir.length + 1)] = count;
    }
    expect(hits).toEqual({});
    // The search does see the queue traffic: the jobs, naming their uploads, are in the AOF.
    expect(searched).toContain(`${prefix}:cxr-screen`);
    expect(searched).toContain(pathToFileURL(uploadDir).href);
  });
});
