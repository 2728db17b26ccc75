/** The `cxr-results` queue adapter: workers publish outcomes, the results service consumes them. */
import { Queue, Worker, type Job } from 'bullmq';
import {
  RESULT_ALIAS_TTL_SECONDS,
  cappedBackoffStrategy,
  resultJobOptions,
  resultWorkerLockOptions,
} from './job-options.js';
import { resultBatchJobId } from './job-id.js';
import { JobName, QueueName } from './names.js';
import {
  RESULT_BATCH_VERSION,
  resultBatchSchema,
  resultMessageSchema,
  type ResultBatch,
  type ResultMessage,
} from './payloads.js';
import type { Redis } from 'ioredis';
import { createRedisClient, isRedisConnectionError } from './connection.js';
import { errorForQueue } from './errors.js';
import type { QueueLocation } from './screen-queue.js';

/**
 * Key suffix (after `<prefix>:cxr-results:`) of an object's alias: the id of the `screen-results`
 * message that carries its outcome. The ingest's re-enqueue rule (ScreenQueue) reads it to see an
 * object's result as pending while that message waits, runs or retries. `:` never occurs in a job
 * id, so no job key collides with it.
 */
export const RESULT_ALIAS_KEY_INFIX = 'obj:';

/**
 * Deletes the aliases of a stored `screen-results` message, each only while it still names that
 * message (a later message of the same object keeps its own). KEYS: the alias keys; ARGV[1]: the
 * message id.
 */
const DROP_ALIASES_LUA = `
local n = 0
for i = 1, #KEYS do
  if redis.call("GET", KEYS[i]) == ARGV[1] then n = n + redis.call("DEL", KEYS[i]) end
end
return n
`;

/** The ioredis client with the `cxrDropResultAliases` command. */
type DropAliasesClient = Redis & {
  cxrDropResultAliases(...keysAndArgs: (string | number)[]): Promise<number>;
};

/** Options of `ResultQueue.publish`. */
export interface PublishOptions {
  /**
   * The id of the `screen-objects` job whose objects these are: with two messages or more they go
   * out as ONE `screen-results` message (id `resultBatchJobId`), each object's alias set first.
   * Without it, one `screen-result` message per outcome (id: the object's screen job id).
   */
  readonly batchOf?: string;
}

/** Producer side of `cxr-results`. */
export class ResultQueue {
  readonly #queue: Queue;
  readonly #redis: Redis;

  constructor(location: QueueLocation) {
    this.#redis = createRedisClient(location.connection);
    this.#queue = new Queue(QueueName.Results, {
      connection: this.#redis,
      ...(location.prefix !== undefined ? { prefix: location.prefix } : {}),
      defaultJobOptions: resultJobOptions,
    });
    // Without a listener BullMQ prints every connection error raw while Redis is down; the
    // consumers' workers report the same outage as one JSON log line each.
    this.#queue.on('error', () => undefined);
  }

  /**
   * Publishes result messages. A single message's job id is the screen job id, so a screen job
   * that is redelivered after a stall does not publish a second message while the first one exists
   * (the store's upsert covers the rest). With `batchOf` and two outcomes or more, one
   * `screen-results` message carries them all (see `PublishOptions`), deduplicated the same way by
   * its deterministic id; each object's alias (`RESULT_ALIAS_KEY_INFIX`) is written before the
   * message, so there is no moment when the message exists and an object's result looks not
   * pending to the ingest's re-enqueue rule.
   */
  async publish(messages: readonly ResultMessage[], options: PublishOptions = {}): Promise<void> {
    const batchOf = options.batchOf;
    if (batchOf !== undefined && messages.length > 1) {
      await this.#publishBatch(batchOf, messages);
      return;
    }
    const jobs = messages.map((message) => {
      const data = resultMessageSchema.parse(message);
      return { name: JobName.ScreenResult, data, opts: { jobId: data.jobId } };
    });
    try {
      await this.#queue.addBulk(jobs);
    } catch (cause) {
      throw new Error(`publish of ${jobs.length} results on ${QueueName.Results} failed`, {
        cause,
      });
    }
  }

  async #publishBatch(batchOf: string, messages: readonly ResultMessage[]): Promise<void> {
    const data: ResultBatch = resultBatchSchema.parse({ version: RESULT_BATCH_VERSION, results: messages });
    const objectIds = data.results.map((message) => message.jobId);
    const jobId = resultBatchJobId(batchOf, objectIds);
    try {
      const aliases = this.#redis.pipeline();
      for (const id of objectIds) {
        aliases.set(this.#queue.toKey(RESULT_ALIAS_KEY_INFIX + id), jobId, 'EX', RESULT_ALIAS_TTL_SECONDS);
      }
      // One round trip: the aliases are written on the queue's own connection before the add
      // (exec() sends them at once, the add follows), and Redis runs one connection's commands in
      // order. An alias that failed while the add succeeded fails the publish: the screen job is
      // retried, publishes the same message again (deduplicated) and writes the aliases again.
      const [written] = await Promise.all([
        aliases.exec(),
        this.#queue.add(JobName.ScreenResults, data, { jobId }),
      ]);
      for (const [error] of written ?? []) {
        if (error !== null) throw error;
      }
    } catch (cause) {
      throw new Error(`publish of ${messages.length} results on ${QueueName.Results} failed`, { cause });
    }
  }

  /** Result messages not yet stored: waiting, active, or delayed for a retry after a store error. */
  async pendingCount(): Promise<number> {
    const counts = await this.#queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed');
    return Object.values(counts).reduce((sum, n) => sum + n, 0);
  }

  /** Result messages per state (tests, the store-outage checks): `failed` must stay 0. */
  async counts(): Promise<
    Readonly<Record<'waiting' | 'active' | 'delayed' | 'completed' | 'failed', number>>
  > {
    const c = await this.#queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed');
    return {
      waiting: c.waiting ?? 0,
      active: c.active ?? 0,
      delayed: c.delayed ?? 0,
      completed: c.completed ?? 0,
      failed: c.failed ?? 0,
    };
  }

  /** Deletes the queue and its jobs (tests, admin). */
  async obliterate(options: { readonly force?: boolean } = {}): Promise<void> {
    await this.#queue.obliterate({ force: options.force ?? false });
  }

  /** Closes the Redis connection. */
  async close(): Promise<void> {
    await this.#queue.close();
    await this.#redis.quit();
  }
}

/**
 * Consumer side of `cxr-results`: hands each validated `screen-result` message to `consume` and
 * the entries of each `screen-results` message to `consumeBatch` (default: `consume` per entry).
 * A message is acknowledged when the call resolves; the aliases of a stored `screen-results`
 * message are then deleted (a failure there only leaves them to their TTL).
 */
export class ResultConsumer {
  readonly #worker: Worker<unknown, void>;
  readonly #redis: DropAliasesClient;

  constructor(
    options: QueueLocation & {
      readonly consume: (message: ResultMessage) => Promise<void>;
      /** Consumes the entries of one `screen-results` message together (one store transaction). */
      readonly consumeBatch?: (messages: readonly ResultMessage[]) => Promise<void>;
      readonly concurrency?: number;
    },
  ) {
    const redis = createRedisClient(options.connection);
    redis.defineCommand('cxrDropResultAliases', { lua: DROP_ALIASES_LUA });
    this.#redis = redis as DropAliasesClient;
    const consume = options.consume;
    const consumeBatch =
      options.consumeBatch ??
      (async (messages: readonly ResultMessage[]) => {
        await Promise.all(messages.map(consume));
      });
    const aliasKey = (id: string): string =>
      `${options.prefix ?? 'bull'}:${QueueName.Results}:${RESULT_ALIAS_KEY_INFIX}${id}`;
    this.#worker = new Worker<unknown, void>(
      QueueName.Results,
      async (job: Job<unknown, void>) => {
        if (job.name === JobName.ScreenResults) {
          let batch: ResultBatch;
          try {
            // A version this consumer does not know (a newer worker) is retried, not failed: an
            // upgraded results service stores it.
            batch = resultBatchSchema.parse(job.data);
            await consumeBatch(batch.results);
          } catch (error) {
            throw errorForQueue(error);
          }
          const id = job.id;
          if (id !== undefined) {
            const keys = batch.results.map((message) => aliasKey(message.jobId));
            await this.#redis.cxrDropResultAliases(keys.length, ...keys, id).catch(() => undefined);
          }
          return;
        }
        try {
          await consume(resultMessageSchema.parse(job.data));
        } catch (error) {
          // What BullMQ stores (and the dashboard shows) about a failed attempt names no object.
          throw errorForQueue(error);
        }
      },
      {
        connection: this.#redis,
        ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
        // Concurrency lets the results service batch upserts the same way the screen worker
        // batches inference (a DynamicBatcher in front of the store).
        concurrency: options.concurrency ?? 64,
        ...resultWorkerLockOptions,
        settings: { backoffStrategy: cappedBackoffStrategy },
      },
    );
    this.#worker.on('error', () => undefined);
  }

  /**
   * Subscribes to the worker's errors (for logging), except connection errors: BullMQ keeps
   * reconnecting, and the process's outage reporter logs an outage once, not per attempt.
   */
  onError(listener: (error: Error) => void): void {
    this.#worker.on('error', (error: Error) => {
      if (!isRedisConnectionError(error)) listener(error);
    });
  }

  /**
   * Stops taking new messages (the active ones keep their locks and finish): the results service
   * calls it while the store is down, so that messages wait in Redis instead of in memory.
   */
  async pause(): Promise<void> {
    await this.#worker.pause(true);
  }

  /** Takes messages again after `pause`. */
  async resume(): Promise<void> {
    await this.#worker.resume();
  }

  /** Graceful shutdown: waits for active messages, closes connections. */
  async close(): Promise<void> {
    await this.#worker.close();
    await this.#redis.quit();
  }
}
