/**
 * `pnpm bench ingest [--keys 1000000] [--rounds 3] [--redis redis://127.0.0.1:6379/0]`: writes a
 * CSV manifest of N synthetic S3 keys (temp dir) and, each round:
 *  1. ingests it with `enqueueSource` onto a fresh `cxr-screen` queue (random key prefix) and
 *     reports keys/s and Redis memory per waiting job (INFO used_memory after minus before, over
 *     the waiting count);
 *  2. re-runs the same ingest on the now full queue (every key a duplicate: the re-run case);
 *  3. the baseline on its own fresh prefix: the same ingest with `enqueueVia: 'addBulk'`, i.e.
 *     BullMQ's addBulk (1,000 jobs per call, 4 in flight) plus the timestamp read-back, the
 *     implementation before issue 4, and reports ingest keys/s over baseline keys/s.
 * Every queue is obliterated (and the cursor cleared) right after its measurement, so Redis holds
 * at most one run's jobs (~1 GB at 1M keys). High water is set above N so backpressure never
 * pauses the listing: this measures enqueueing, with no worker consuming.
 * Targets (issue 4): >= 20,000 keys/s and <= 1 KiB per waiting job. Redis figures include
 * anything else hitting the same server meanwhile, and node and redis-server share the CPU cores:
 * run it on an idle machine and server.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { RedisCursorStore, enqueueSource, type IngestResult } from '@cxr/ingest';
import {
  ScreenQueue,
  createRedisClient,
  redisConnectionFromUrl,
  type RedisConnectionOptions,
} from '@cxr/queue';
import { openObjectSource } from '@cxr/storage';
import { median } from './lib/stats.js';

type RedisClient = ReturnType<typeof createRedisClient>;

function option(args: readonly string[], name: string): string | undefined {
  const at = args.indexOf(name);
  return at === -1 ? undefined : args[at + 1];
}

function positiveInteger(args: readonly string[], name: string, fallback: number): number {
  const value = Number(option(args, name) ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
  return value;
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

async function usedMemory(redis: RedisClient): Promise<number> {
  const info = await redis.info('memory');
  const match = /^used_memory:(\d+)/m.exec(info);
  if (match?.[1] === undefined) throw new Error('INFO memory has no used_memory');
  return Number(match[1]);
}

interface Measured {
  readonly result: IngestResult;
  readonly keysPerSecond: number;
  readonly bytesPerWaitingJob: number;
  readonly waiting: number;
}

/** One ingest of the manifest onto `queue`, timed, with the used_memory delta per waiting job. */
async function ingestOnce(
  manifestPath: string,
  queue: ScreenQueue,
  connection: RedisConnectionOptions,
  prefix: string,
  redis: RedisClient,
  keys: number,
): Promise<Measured> {
  const source = openObjectSource(manifestPath, { env: {} });
  const cursors = new RedisCursorStore(connection, { prefix });
  try {
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
    const waiting = (await queue.counts()).waiting;
    return {
      result,
      keysPerSecond: Math.round(result.listed / seconds),
      bytesPerWaitingJob: Math.round((after - before) / Math.max(1, waiting)),
      waiting,
    };
  } finally {
    await cursors.clear(manifestPath, 'bench');
    await Promise.allSettled([source.close(), cursors.close()]);
  }
}

/** Runs the ingest benchmark (see the module comment). */
export async function run(args: readonly string[]): Promise<void> {
  const keys = positiveInteger(args, '--keys', 1_000_000);
  const rounds = positiveInteger(args, '--rounds', 3);
  const connection = redisConnectionFromUrl(option(args, '--redis') ?? 'redis://127.0.0.1:6379/0');
  const dir = await mkdtemp(join(tmpdir(), 'cxr-bench-ingest-'));
  const manifestPath = join(dir, 'keys.csv');
  const redis = createRedisClient(connection);
  const open = new Set<ScreenQueue>();
  const fresh = (enqueueVia: 'script' | 'addBulk'): { queue: ScreenQueue; prefix: string } => {
    const prefix = `cxrbench-${randomUUID().slice(0, 8)}`;
    const queue = new ScreenQueue({ connection, prefix, enqueueVia });
    open.add(queue);
    return { queue, prefix };
  };
  const dispose = async (queue: ScreenQueue): Promise<void> => {
    await queue.obliterate({ force: true });
    await queue.close();
    open.delete(queue);
  };
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  try {
    await writeManifest(manifestPath, keys);
    const listing = openObjectSource(manifestPath, { env: {} });
    let listedOnly = 0;
    const l0 = performance.now();
    for await (const entry of listing.list()) if (entry.uri !== '') listedOnly += 1;
    const listOnlyKeysPerSecond = Math.round(listedOnly / ((performance.now() - l0) / 1000));
    await listing.close();

    const perRound = [];
    for (let round = 1; round <= rounds; round += 1) {
      const current = fresh('script');
      const ingest = await ingestOnce(manifestPath, current.queue, connection, current.prefix, redis, keys);
      log(`round ${round}: ingest ${ingest.keysPerSecond} keys/s, ${ingest.bytesPerWaitingJob} B/job`);
      const rerun = await ingestOnce(manifestPath, current.queue, connection, current.prefix, redis, keys);
      log(`round ${round}: re-run (all duplicates) ${rerun.keysPerSecond} keys/s`);
      await dispose(current.queue);

      const previous = fresh('addBulk');
      const baseline = await ingestOnce(
        manifestPath,
        previous.queue,
        connection,
        previous.prefix,
        redis,
        keys,
      );
      log(`round ${round}: baseline (addBulk + read-back) ${baseline.keysPerSecond} keys/s`);
      await dispose(previous.queue);

      if (ingest.result.enqueued !== keys || ingest.waiting !== keys || rerun.result.duplicates !== keys) {
        throw new Error(
          `bench ingest round ${round}: expected ${keys} new then ${keys} duplicates, got ${ingest.result.enqueued} new (${ingest.waiting} waiting) then ${rerun.result.duplicates} duplicates`,
        );
      }
      perRound.push({
        round,
        ingestKeysPerSecond: ingest.keysPerSecond,
        rerunKeysPerSecond: rerun.keysPerSecond,
        baselineKeysPerSecond: baseline.keysPerSecond,
        ratioToBaseline: Math.round((ingest.keysPerSecond / baseline.keysPerSecond) * 100) / 100,
        redisBytesPerWaitingJob: ingest.bytesPerWaitingJob,
        baselineRedisBytesPerWaitingJob: baseline.bytesPerWaitingJob,
      });
    }

    const report = {
      keys,
      rounds,
      listOnlyKeysPerSecond,
      perRound,
      median: {
        ingestKeysPerSecond: median(perRound.map((r) => r.ingestKeysPerSecond)),
        rerunKeysPerSecond: median(perRound.map((r) => r.rerunKeysPerSecond)),
        baselineKeysPerSecond: median(perRound.map((r) => r.baselineKeysPerSecond)),
        ratioToBaseline: median(perRound.map((r) => r.ratioToBaseline)),
        redisBytesPerWaitingJob: median(perRound.map((r) => r.redisBytesPerWaitingJob)),
      },
      targets: { keysPerSecond: 20_000, bytesPerWaitingJob: 1024 },
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } finally {
    await Promise.allSettled([...open].map((queue) => dispose(queue)));
    await redis.quit();
    await rm(dir, { recursive: true, force: true });
  }
}
