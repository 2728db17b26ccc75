/**
 * The `cxr-screen` queue adapter: the ingest enqueues through it, the ingest's backpressure and
 * the metrics read it. One of the few files that talk to BullMQ (Immich keeps one such adapter).
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { createRedisClient, type RedisConnectionOptions } from './connection.js';
import { screenJobId } from './job-id.js';
import { screenJobOptions } from './job-options.js';
import { JobName, QueueName } from './names.js';
import { screenJobPayloadSchema, type ScreenJobPayload } from './payloads.js';

/** addBulk chunk: DEPENDENCY_NOTES measured ~13k jobs/s per connection at 1,000 per call. */
export const ENQUEUE_CHUNK = 1000;
/** Chunks in flight: 4 measured ~14-18k jobs/s; more only queues up behind Redis' single thread. */
export const ENQUEUE_CHUNKS_IN_FLIGHT = 4;

/** Where a queue lives: the connection (see `redisConnectionFromUrl`) and key prefix. */
export interface QueueLocation {
  readonly connection: RedisConnectionOptions;
  /** Redis key prefix (BullMQ's default is `bull`); tests use a random one each. */
  readonly prefix?: string;
}

/** Options of `ScreenQueue`. */
export interface ScreenQueueOptions extends QueueLocation {
  /** Overrides of the retry policy in `screenJobOptions` (tests shorten the backoff). */
  readonly retry?: { readonly attempts?: number; readonly backoffDelayMs?: number };
}

/** Result of `enqueueBulk`: how many jobs were new and how many already existed. */
export interface EnqueueResult {
  readonly added: number;
  /** Already in the queue (any state, incl. completed within retention) or repeated in the call. */
  readonly duplicates: number;
}

/** Job counts per BullMQ state; the `state` label of `cxr_queue_jobs`. */
export interface QueueCounts {
  readonly waiting: number;
  readonly prioritized: number;
  readonly active: number;
  readonly delayed: number;
  readonly completed: number;
  readonly failed: number;
}

const COUNTED_STATES = ['waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed'] as const;

/** BullMQ's prioritized zset score is priority * 2^32 + an insertion counter (getPriorityScore.lua). */
const PRIORITY_SCORE_BASE = 0x1_0000_0000;

/** Adapter over the BullMQ `cxr-screen` queue. */
export class ScreenQueue {
  readonly #queue: Queue;
  readonly #redis: Redis;

  constructor(options: ScreenQueueOptions) {
    this.#redis = createRedisClient(options.connection);
    this.#queue = new Queue(QueueName.Screen, {
      connection: this.#redis,
      ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
      defaultJobOptions: {
        ...screenJobOptions,
        attempts: options.retry?.attempts ?? screenJobOptions.attempts,
        backoff: {
          type: screenJobOptions.backoff.type,
          delay: options.retry?.backoffDelayMs ?? screenJobOptions.backoff.delay,
        },
      },
    });
  }

  /**
   * Validates and enqueues payloads with deterministic job ids (`screenJobId`) via addBulk in
   * chunks, and reports new vs duplicate. `forceNonce` (e.g. the run id) re-screens everything.
   * Holds the payloads of one call in memory: the ingest calls it per listing page.
   *
   * Duplicate detection: BullMQ's addBulk returns a Job object for every entry, also for ids that
   * already existed (the script skips those and returns the existing id), and the returned Job's
   * fields are built client-side, so they cannot tell new from old. So after each chunk the stored
   * `timestamp` of each id is read back in one pipeline and compared with the client-side
   * `job.timestamp` (Date.now() when the Job object was built): equal means this call created it,
   * anything else means it was already there (wrong only if an older add of the same id happened
   * in the very same millisecond). Unlike a pre-check (EXISTS, then add) this stays right when
   * two ingests race on the same ids; the cost is one extra round trip per chunk. A job already removed by the time of the read-back (it was
   * ours and completed very fast) counts as added.
   */
  async enqueueBulk(
    payloads: Iterable<ScreenJobPayload>,
    options: { readonly forceNonce?: string } = {},
  ): Promise<EnqueueResult> {
    const unique = new Map<string, ScreenJobPayload>();
    let duplicates = 0;
    for (const raw of payloads) {
      const payload = screenJobPayloadSchema.parse(raw);
      const id = screenJobId(
        payload.uri,
        payload.etag ?? payload.size,
        payload.modelId,
        payload.modelVersion,
        options.forceNonce,
      );
      if (unique.has(id)) duplicates += 1;
      else unique.set(id, payload);
    }
    const entries = [...unique.entries()];
    const chunks: [string, ScreenJobPayload][][] = [];
    for (let i = 0; i < entries.length; i += ENQUEUE_CHUNK) {
      chunks.push(entries.slice(i, i + ENQUEUE_CHUNK));
    }
    let added = 0;
    let next = 0;
    const lane = async (): Promise<void> => {
      for (let chunk = chunks[next++]; chunk !== undefined; chunk = chunks[next++]) {
        const newInChunk = await this.#addChunk(chunk);
        added += newInChunk;
        duplicates += chunk.length - newInChunk;
      }
    };
    await Promise.all(Array.from({ length: ENQUEUE_CHUNKS_IN_FLIGHT }, lane));
    return { added, duplicates };
  }

  async #addChunk(chunk: readonly [string, ScreenJobPayload][]): Promise<number> {
    try {
      const jobs = await this.#queue.addBulk(
        chunk.map(([jobId, data]) => ({
          name: JobName.ScreenObject,
          data,
          opts: { jobId, ...(data.priority !== undefined ? { priority: data.priority } : {}) },
        })),
      );
      const pipeline = this.#redis.pipeline();
      for (const [jobId] of chunk) pipeline.hget(this.#queue.toKey(jobId), 'timestamp');
      const replies = (await pipeline.exec()) ?? [];
      let created = 0;
      replies.forEach(([error, stored], i) => {
        if (error !== null) throw error;
        if (stored === null || Number(stored) === jobs[i]?.timestamp) created += 1;
      });
      return created;
    } catch (cause) {
      throw new Error(`enqueue of ${chunk.length} jobs on ${QueueName.Screen} failed`, { cause });
    }
  }

  /** Job counts per state. */
  async counts(): Promise<QueueCounts> {
    const counts = await this.#queue.getJobCounts(...COUNTED_STATES);
    return {
      waiting: counts.waiting ?? 0,
      prioritized: counts.prioritized ?? 0,
      active: counts.active ?? 0,
      delayed: counts.delayed ?? 0,
      completed: counts.completed ?? 0,
      failed: counts.failed ?? 0,
    };
  }

  /**
   * Age of the oldest job waiting to start (wait list and prioritized set), 0 when none waits.
   * The wait list is FIFO (oldest at the tail). In the prioritized set the oldest job of each
   * priority level is that level's first member, so the candidates are the first member of the
   * highest and of the lowest level: exact with up to two priority levels in use (archive jobs
   * plus `/v1/predict`), a lower bound with more.
   */
  async oldestWaitingAgeSeconds(now: number = Date.now()): Promise<number> {
    const client = this.#redis;
    const waitKey = this.#queue.toKey('wait');
    const prioritizedKey = this.#queue.toKey('prioritized');
    const [oldestWaiting, highest, lowest] = await Promise.all([
      client.lindex(waitKey, -1),
      client.zrange(prioritizedKey, 0, 0),
      client.zrange(prioritizedKey, -1, -1, 'WITHSCORES'),
    ]);
    const candidates = [oldestWaiting, highest[0]];
    const lowestScore = lowest[1];
    if (lowestScore !== undefined) {
      const levelStart = Math.floor(Number(lowestScore) / PRIORITY_SCORE_BASE) * PRIORITY_SCORE_BASE;
      const [firstOfLowest] = await client.zrangebyscore(prioritizedKey, levelStart, '+inf', 'LIMIT', 0, 1);
      candidates.push(firstOfLowest);
    }
    let oldest = Infinity;
    for (const id of candidates) {
      if (id === null || id === undefined) continue;
      const stored = await client.hget(this.#queue.toKey(id), 'timestamp');
      if (stored !== null) oldest = Math.min(oldest, Number(stored));
    }
    return oldest === Infinity ? 0 : Math.max(0, (now - oldest) / 1000);
  }

  /** Resolves once fewer than `highWater` jobs wait (waiting + prioritized): ingest backpressure. */
  async waitUntilBelow(
    highWater: number,
    options: { readonly pollMs?: number; readonly signal?: AbortSignal } = {},
  ): Promise<void> {
    const pollMs = options.pollMs ?? 500;
    for (;;) {
      options.signal?.throwIfAborted();
      const { waiting = 0, prioritized = 0 } = await this.#queue.getJobCounts('waiting', 'prioritized');
      if (waiting + prioritized < highWater) return;
      await new Promise<void>((resolve) => setTimeout(resolve, pollMs));
    }
  }

  /** Deletes the queue and all its jobs (tests, admin); without `force` refuses active jobs. */
  async obliterate(options: { readonly force?: boolean } = {}): Promise<void> {
    await this.#queue.obliterate({ force: options.force ?? false });
  }

  /** Closes the Redis connection. */
  async close(): Promise<void> {
    await this.#queue.close();
    await this.#redis.quit();
  }
}
