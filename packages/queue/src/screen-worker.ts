/**
 * The `cxr-screen` worker adapter: BullMQ `Worker` wiring for services/worker, which supplies the
 * processing (fetch, decode, batch, infer, publish) as a plain async function.
 *
 * Batching choice (issue 4). Open-source BullMQ has no batch API; two ways feed a
 * `DynamicBatcher`:
 *   1. Worker concurrency feeding the batcher (chosen): `concurrency` jobs are active at once,
 *      each awaiting `batcher.submit(...)`, so batches form from concurrently active jobs.
 *   2. Manual fetching: a loop calling `worker.getNextJob(token)` until a batch is full.
 * DEPENDENCY_NOTES measured both at ~97% of the ceiling (1,552 jobs/s at batch 32 with a fake
 * 20 ms inference), so throughput does not decide. Lock safety does: with (1) BullMQ's lock
 * manager renews every active job's lock automatically and the stalled-job checker runs; with (2)
 * the lock manager never starts (it starts only in `run()`), so we would have to call
 * `extendJobLocks` every lockDuration/2 and `startStalledCheckTimer()` ourselves, and a bug there
 * means duplicate processing. `concurrency = 2 x maxBatch` lets one full batch run while the next
 * one fills (the batcher keeps one batch in flight), so inference never waits for the queue.
 */
import { Worker, type Job } from 'bullmq';
import { cappedBackoffStrategy, screenRetention, workerLockOptions } from './job-options.js';
import { JobName, QueueName } from './names.js';
import {
  screenJobPayloadSchema,
  screenObjectsPayloadSchema,
  type ScreenJobObject,
  type ScreenJobPayload,
  type ScreenJobReturn,
  type ScreenObjectsPayload,
} from './payloads.js';
import type { QueueLocation } from './screen-queue.js';
import { JobRejectedError, errorForQueue } from './errors.js';
import type { Redis } from 'ioredis';
import { createRedisClient, isRedisConnectionError } from './connection.js';

/** What the processor learns about the job besides its payload. */
export interface ScreenJobContext {
  readonly jobId: string;
  /** Attempts already made (0 on the first try). */
  readonly attemptsMade: number;
  /**
   * True when a failure now is final (no retry left): the processor should publish a `failed`
   * result message before rethrowing so that every outcome reaches the store.
   */
  readonly isFinalAttempt: boolean;
}

/**
 * Processes one screen job. Resolve when the job reached its outcome: screened (`ok`) or its
 * input rejected (`rejected`, a final outcome: the job completes, it is not a failure). Throw
 * `JobRejectedError` for a permanent failure (a missing object: failed at once, no retry); throw
 * anything else for a transient fault (retried with backoff). A `ScreenJobReturn` resolved becomes
 * the job's BullMQ return value, which `PredictClient` awaits for `/v1/predict`; a processor
 * without one (tests) resolves nothing.
 */
export type ScreenJobProcessor = (
  payload: ScreenJobPayload,
  context: ScreenJobContext,
) => Promise<ScreenJobProcessorResult>;

/**
 * What a processor resolves with. `void` keeps processors that return nothing (tests, callers
 * older than the return value) assignable.
 */
// eslint-disable-next-line @typescript-eslint/no-invalid-void-type
export type ScreenJobProcessorResult = ScreenJobReturn | undefined | void;

/** What a `ScreenGroupProcessor` resolves with: the objects to retry (transient faults), if any. */
export interface ScreenGroupResult {
  /**
   * The objects without an outcome yet and the fault that stopped the first of them: the job is
   * stored with these objects alone and retried with backoff (or, on its final attempt, failed,
   * after the processor published a `failed` outcome for each of them).
   */
  readonly retry?: { readonly objects: readonly ScreenJobObject[]; readonly error: unknown };
}

/**
 * Processes one `screen-objects` job: publishes every object's outcome it reached and resolves
 * with the objects to retry. Throws for a fault of the whole job (e.g. the publish failed): the job
 * is retried with all its objects.
 */
export type ScreenGroupProcessor = (
  payload: ScreenObjectsPayload,
  context: ScreenJobContext,
) => Promise<ScreenGroupResult>;

/** Options of `ScreenWorker`. */
export interface ScreenWorkerOptions extends QueueLocation {
  readonly process: ScreenJobProcessor;
  /** Processes `screen-objects` jobs; without it such a job fails (invalid_payload). */
  readonly processGroup?: ScreenGroupProcessor;
  /** The batcher's maxBatch; concurrency defaults to 2 x maxBatch (see the file comment). */
  readonly maxBatch: number;
  readonly concurrency?: number;
  /** Overrides of the lock settings (tests use short ones); defaults in `workerLockOptions`. */
  readonly lockDuration?: number;
  readonly stalledInterval?: number;
  readonly maxStalledCount?: number;
  /** Start consuming at construction (default true). */
  readonly autorun?: boolean;
}

/** Adapter over a BullMQ `Worker` consuming `cxr-screen`. */
export class ScreenWorker {
  readonly #worker: Worker<unknown, ScreenJobReturn | null>;
  readonly #redis: Redis;

  constructor(options: ScreenWorkerOptions) {
    this.#redis = createRedisClient(options.connection);
    const process = options.process;
    const processGroup = options.processGroup;
    this.#worker = new Worker<unknown, ScreenJobReturn | null>(
      QueueName.Screen,
      async (job: Job<unknown, ScreenJobReturn | null>) => {
        if (job.name === JobName.ScreenObjects) {
          const group = screenObjectsPayloadSchema.safeParse(job.data);
          if (!group.success || processGroup === undefined) {
            throw new JobRejectedError('invalid_payload', 'screen-objects job payload failed validation');
          }
          const attempts = job.opts.attempts ?? 1;
          let result: ScreenGroupResult;
          try {
            result = await processGroup(group.data, {
              jobId: job.id ?? '',
              attemptsMade: job.attemptsMade,
              isFinalAttempt: job.attemptsMade + 1 >= attempts,
            });
          } catch (error) {
            throw errorForQueue(error);
          }
          const retry = result.retry;
          if (retry === undefined) return null;
          // The retry carries only the objects without an outcome: the others are published.
          if (retry.objects.length < group.data.objects.length) {
            await job.updateData({ ...group.data, objects: [...retry.objects] });
          }
          throw errorForQueue(retry.error);
        }
        const parsed = screenJobPayloadSchema.safeParse(job.data);
        if (!parsed.success) {
          // A malformed payload will not get better on retry.
          throw new JobRejectedError('invalid_payload', 'screen job payload failed validation');
        }
        const attemptsAllowed = job.opts.attempts ?? 1;
        let returned: ScreenJobProcessorResult;
        try {
          returned = await process(parsed.data, {
            jobId: job.id ?? '',
            attemptsMade: job.attemptsMade,
            isFinalAttempt: job.attemptsMade + 1 >= attemptsAllowed,
          });
        } catch (error) {
          // What BullMQ stores (and the dashboard shows) about a failed attempt names no object.
          throw errorForQueue(error);
        }
        // null rather than undefined: BullMQ stores the JSON of the return value.
        return returned ?? null;
      },
      {
        connection: this.#redis,
        ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
        concurrency: options.concurrency ?? 2 * options.maxBatch,
        lockDuration: options.lockDuration ?? workerLockOptions.lockDuration,
        stalledInterval: options.stalledInterval ?? workerLockOptions.stalledInterval,
        maxStalledCount: options.maxStalledCount ?? workerLockOptions.maxStalledCount,
        autorun: options.autorun ?? true,
        ...screenRetention,
        settings: { backoffStrategy: cappedBackoffStrategy },
      },
    );
    // Without a listener an 'error' event (e.g. Redis reconnecting) would crash the process;
    // BullMQ reconnects by itself, the service's logger subscribes via onError.
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

  /** Starts consuming when constructed with `autorun: false`. */
  async run(): Promise<void> {
    await this.#worker.run();
  }

  /** Resolves when the worker runs and its Redis connection answers (readiness probe). */
  async ping(): Promise<void> {
    if (!this.#worker.isRunning()) throw new Error('screen worker is not running');
    await this.#redis.ping();
  }

  /** Graceful shutdown: stops fetching, waits for active jobs to finish, closes connections. */
  async close(): Promise<void> {
    await this.#worker.close();
    await this.#redis.quit();
  }
}
