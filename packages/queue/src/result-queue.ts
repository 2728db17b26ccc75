/** The `cxr-results` queue adapter: workers publish outcomes, the results service consumes them. */
import { Queue, Worker, type Job } from 'bullmq';
import { cappedBackoffStrategy, resultJobOptions, resultWorkerLockOptions } from './job-options.js';
import { JobName, QueueName } from './names.js';
import { resultMessageSchema, type ResultMessage } from './payloads.js';
import type { Redis } from 'ioredis';
import { createRedisClient, isRedisConnectionError } from './connection.js';
import { errorForQueue } from './errors.js';
import type { QueueLocation } from './screen-queue.js';

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
   * Publishes result messages. The message's job id is the screen job id, so a screen job that is
   * redelivered after a stall does not publish a second message while the first one exists (the
   * store's upsert covers the rest).
   */
  async publish(messages: readonly ResultMessage[]): Promise<void> {
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

/** Consumer side of `cxr-results`: hands each validated message to `consume`. */
export class ResultConsumer {
  readonly #worker: Worker<unknown, void>;
  readonly #redis: Redis;

  constructor(
    options: QueueLocation & {
      readonly consume: (message: ResultMessage) => Promise<void>;
      readonly concurrency?: number;
    },
  ) {
    this.#redis = createRedisClient(options.connection);
    const consume = options.consume;
    this.#worker = new Worker<unknown, void>(
      QueueName.Results,
      async (job: Job<unknown, void>) => {
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
