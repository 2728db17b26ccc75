/**
 * `pnpm bench ingest [--keys 1000000] [--redis redis://127.0.0.1:6379/0]`: writes a CSV manifest
 * of N synthetic S3 keys, ingests it onto a fresh `cxr-screen` queue (random key prefix), and
 * prints keys/s and Redis memory per waiting job (INFO used_memory after minus before, over N).
 * Baselines in the same run: listing the same manifest without enqueueing (the listing ceiling),
 * and the queue adapter alone (`ScreenQueue.enqueueBulk` of pre-built payloads in 4,000-job calls,
 * on its own prefix: the enqueue ceiling the ingest is built on).
 * The queue and its cursor are deleted afterwards. Targets (issue 4): >= 20,000 keys/s and
 * <= 1 KiB per waiting job. The memory figure includes anything else writing to the same Redis
 * meanwhile: run it on an idle server.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { DEFAULT_INGEST_CHUNK, RedisCursorStore, enqueueSource } from '@cxr/ingest';
import { ScreenQueue, createRedisClient, redisConnectionFromUrl, type ScreenJobPayload } from '@cxr/queue';
import { openObjectSource } from '@cxr/storage';

function option(args: readonly string[], name: string): string | undefined {
  const at = args.indexOf(name);
  return at === -1 ? undefined : args[at + 1];
}

async function writeManifest(path: string, keys: number): Promise<void> {
  const out = createWriteStream(path);
  out.write('uri,etag,size\n');
  for (let i = 0; i < keys; i += 1) {
    // Realistic lengths: a dated archive path and a 32-hex ETag like S3's MD5 ETags.
    const line = `s3://bench-archive/cr/2024/05/${String(i).padStart(9, '0')}.dcm,${randomBytes(16).toString('hex')},${8_000_000 + (i % 4_000_000)}\n`;
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

async function usedMemory(redis: ReturnType<typeof createRedisClient>): Promise<number> {
  const info = await redis.info('memory');
  const match = /^used_memory:(\d+)/m.exec(info);
  if (match?.[1] === undefined) throw new Error('INFO memory has no used_memory');
  return Number(match[1]);
}

/** Keys/s of the queue adapter alone: sequential enqueueBulk calls of DEFAULT_INGEST_CHUNK payloads. */
async function bareEnqueue(
  connection: ReturnType<typeof redisConnectionFromUrl>,
  keys: number,
): Promise<number> {
  const queue = new ScreenQueue({ connection, prefix: `cxrbench-${randomUUID().slice(0, 8)}` });
  try {
    const t0 = performance.now();
    for (let start = 0; start < keys; start += DEFAULT_INGEST_CHUNK) {
      const payloads: ScreenJobPayload[] = [];
      for (let i = start; i < Math.min(keys, start + DEFAULT_INGEST_CHUNK); i += 1) {
        payloads.push({
          uri: `s3://bench-archive/cr/2024/05/${String(i).padStart(9, '0')}.dcm`,
          etag: randomBytes(16).toString('hex'),
          size: 8_000_000 + (i % 4_000_000),
          runId: 'bench-bare',
          modelId: 'densenet121-cxr3',
          modelVersion: '1.0.0',
          enqueuedAt: Date.now(),
        });
      }
      await queue.enqueueBulk(payloads);
    }
    return Math.round(keys / ((performance.now() - t0) / 1000));
  } finally {
    await queue.obliterate({ force: true });
    await queue.close();
  }
}

/** Runs the ingest benchmark (see the module comment). */
export async function run(args: readonly string[]): Promise<void> {
  const keys = Number(option(args, '--keys') ?? 1_000_000);
  if (!Number.isInteger(keys) || keys < 1) throw new Error('--keys must be a positive integer');
  const connection = redisConnectionFromUrl(option(args, '--redis') ?? 'redis://127.0.0.1:6379/0');
  const dir = await mkdtemp(join(tmpdir(), 'cxr-bench-ingest-'));
  const manifestPath = join(dir, 'keys.csv');
  const prefix = `cxrbench-${randomUUID().slice(0, 8)}`;
  const queue = new ScreenQueue({ connection, prefix });
  const cursors = new RedisCursorStore(connection, { prefix });
  const redis = createRedisClient(connection);
  try {
    await writeManifest(manifestPath, keys);

    // Baseline: the listing alone.
    const listing = openObjectSource(manifestPath, { env: {} });
    let listedOnly = 0;
    const l0 = performance.now();
    for await (const entry of listing.list()) if (entry.uri !== '') listedOnly += 1;
    const listSeconds = (performance.now() - l0) / 1000;
    await listing.close();

    const bareKeysPerSecond = await bareEnqueue(connection, keys);

    const source = openObjectSource(manifestPath, { env: {} });
    const before = await usedMemory(redis);
    const t0 = performance.now();
    const result = await enqueueSource({
      source,
      queue,
      cursorStore: cursors,
      runId: 'bench',
      modelId: 'densenet121-cxr3',
      modelVersion: '1.0.0',
      highWater: keys + 1,
    });
    const seconds = (performance.now() - t0) / 1000;
    const after = await usedMemory(redis);
    await source.close();
    const waiting = (await queue.counts()).waiting;

    const report = {
      keys,
      listOnlyKeysPerSecond: Math.round(listedOnly / listSeconds),
      bareEnqueueBulkKeysPerSecond: bareKeysPerSecond,
      ingestSeconds: Math.round(seconds * 100) / 100,
      ingestKeysPerSecond: Math.round(result.listed / seconds),
      enqueued: result.enqueued,
      waiting,
      redisBytesPerWaitingJob: Math.round((after - before) / Math.max(1, waiting)),
      targets: { keysPerSecond: 20_000, bytesPerWaitingJob: 1024 },
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } finally {
    await queue.obliterate({ force: true });
    await cursors.clear(manifestPath, 'bench');
    await Promise.allSettled([queue.close(), cursors.close(), redis.quit()]);
    await rm(dir, { recursive: true, force: true });
  }
}
