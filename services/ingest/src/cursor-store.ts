/**
 * Where an interrupted ingest resumes: the listing cursor of the last fully enqueued chunk, kept
 * per (source URI, run id).
 *
 * Choice: a Redis hash next to the queue rather than a JSON file. The ingest already needs Redis,
 * a service-mode ingest may restart on another host, and a file would need its own locking and
 * atomic rename. One hash per source (`<prefix>:cxr-ingest:cursor:<sha256(source)>`, field = run
 * id) so the source URI, which may name folders, is not spelled out in Redis keys. The cursor is
 * deleted when the listing completes, so a later ingest of the same run lists from the start
 * again and relies on job-id dedupe.
 */
import { createHash } from 'node:crypto';
import { createRedisClient, type RedisConnectionOptions } from '@cxr/queue';

/** Port: load, save and clear the resumable listing cursor of one (source, run). */
export interface CursorStore {
  load(sourceUri: string, runId: string): Promise<string | undefined>;
  save(sourceUri: string, runId: string, cursor: string): Promise<void>;
  clear(sourceUri: string, runId: string): Promise<void>;
  close(): Promise<void>;
}

type RedisClient = ReturnType<typeof createRedisClient>;

/** Cursor store in a Redis hash per source; see the module comment for the key layout. */
export class RedisCursorStore implements CursorStore {
  readonly #redis: RedisClient;
  readonly #prefix: string;

  /** `prefix` should be the queue's key prefix so tests that obliterate a queue can clean up too. */
  constructor(connection: RedisConnectionOptions, options: { readonly prefix?: string } = {}) {
    this.#redis = createRedisClient(connection);
    this.#prefix = options.prefix ?? 'bull';
  }

  /** The Redis key holding the cursors of one source. */
  keyOf(sourceUri: string): string {
    const digest = createHash('sha256').update(sourceUri).digest('hex').slice(0, 32);
    return `${this.#prefix}:cxr-ingest:cursor:${digest}`;
  }

  async load(sourceUri: string, runId: string): Promise<string | undefined> {
    return (await this.#redis.hget(this.keyOf(sourceUri), runId)) ?? undefined;
  }

  async save(sourceUri: string, runId: string, cursor: string): Promise<void> {
    await this.#redis.hset(this.keyOf(sourceUri), runId, cursor);
  }

  async clear(sourceUri: string, runId: string): Promise<void> {
    await this.#redis.hdel(this.keyOf(sourceUri), runId);
  }

  async close(): Promise<void> {
    await this.#redis.quit();
  }
}

/** In-process cursor store (unit tests, one-off runs that need no resume). */
export class MemoryCursorStore implements CursorStore {
  readonly #cursors = new Map<string, string>();

  load(sourceUri: string, runId: string): Promise<string | undefined> {
    return Promise.resolve(this.#cursors.get(JSON.stringify([sourceUri, runId])));
  }

  save(sourceUri: string, runId: string, cursor: string): Promise<void> {
    this.#cursors.set(JSON.stringify([sourceUri, runId]), cursor);
    return Promise.resolve();
  }

  clear(sourceUri: string, runId: string): Promise<void> {
    this.#cursors.delete(JSON.stringify([sourceUri, runId]));
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
