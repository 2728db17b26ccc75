/**
 * The synchronous side of `cxr-screen`: `/v1/predict` puts one job on the same queue as the
 * archive (so it shares the worker's GPU batches) and awaits its result through QueueEvents.
 *
 * Queue position. BullMQ 6 takes the next job from the wait list first and from the prioritized
 * set only when the wait list is empty (fetchNextJob.lua: RPOPLPUSH wait, then ZPOPMIN
 * prioritized; "jobs with no explicit priority are processed before prioritized jobs"). The
 * ingest enqueues archive jobs without a priority, so a `priority: 1` job would wait for the
 * whole archive backlog. A LIFO add instead puts the job at the head of the wait list: the next
 * free worker slot takes it, whether or not archive jobs ever get priorities. Cost: concurrent
 * predict jobs are served newest first.
 *
 * One attempt: a retried job would go back through the delayed set to the tail of the wait list,
 * behind the backlog, and outlive the request's timeout; the HTTP client retries instead.
 */
import { randomUUID } from 'node:crypto';
import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { createRedisClient } from './connection.js';
import { screenJobId } from './job-id.js';
import { JobName, QueueName } from './names.js';
import {
  screenJobPayloadSchema,
  screenJobReturnSchema,
  type ScreenJobPayload,
  type ScreenedJobReturn,
} from './payloads.js';
import type { QueueLocation } from './screen-queue.js';

/** Completed predict jobs stay an hour (their return value is all they hold; the store has the row). */
const PREDICT_COMPLETED_RETENTION_SECONDS = 3600;
/** Failed ones a day: enough to look at why a request failed. */
const PREDICT_FAILED_RETENTION_SECONDS = 24 * 3600;

/** How a predict job ended, as seen by the waiting request. */
export type PredictOutcome =
  | { readonly kind: 'ok'; readonly jobId: string; readonly result: ScreenedJobReturn }
  /** Bad input found by the worker (`reason` is a RejectReason of @cxr/dicom, or `fetch_error`). */
  | { readonly kind: 'rejected'; readonly jobId: string; readonly reason: string }
  /** Any other failure (inference error, lost upload, worker error); no retry was made. */
  | { readonly kind: 'failed'; readonly jobId: string }
  /** No result within the timeout; the job may still run (and still reach the store). */
  | { readonly kind: 'timeout'; readonly jobId: string };

/** Options of `PredictClient`. */
export type PredictClientOptions = QueueLocation;

/** Submits screen jobs at the head of `cxr-screen` and awaits their return value. */
export class PredictClient {
  readonly #queue: Queue;
  readonly #events: QueueEvents;
  readonly #redis: Redis;
  /** QueueEvents blocks on XREAD: it gets a connection of its own. */
  readonly #eventsRedis: Redis;

  constructor(options: PredictClientOptions) {
    this.#redis = createRedisClient(options.connection);
    this.#eventsRedis = createRedisClient(options.connection);
    const prefix = options.prefix !== undefined ? { prefix: options.prefix } : {};
    this.#queue = new Queue(QueueName.Screen, { connection: this.#redis, ...prefix });
    this.#events = new QueueEvents(QueueName.Screen, { connection: this.#eventsRedis, ...prefix });
    // Reconnects are BullMQ's business; without a listener an 'error' event would crash the process.
    this.#queue.on('error', () => undefined);
    this.#events.on('error', () => undefined);
  }

  /**
   * Enqueues one job (validated; a random job id, so the same upload twice is screened twice)
   * and waits up to `timeoutMs` for it to finish.
   */
  async predict(payload: ScreenJobPayload, timeoutMs: number): Promise<PredictOutcome> {
    const data = screenJobPayloadSchema.parse(payload);
    const jobId = screenJobId(data.uri, data.size, data.modelId, data.modelVersion, randomUUID());
    const job = await this.#queue.add(JobName.ScreenObject, data, {
      jobId,
      lifo: true,
      attempts: 1,
      removeOnComplete: { age: PREDICT_COMPLETED_RETENTION_SECONDS },
      removeOnFail: { age: PREDICT_FAILED_RETENTION_SECONDS },
    });
    let returned: unknown;
    try {
      returned = await job.waitUntilFinished(this.#events, timeoutMs);
    } catch {
      return this.#failureOutcome(jobId);
    }
    return outcomeOfReturn(jobId, returned);
  }

  async #failureOutcome(jobId: string): Promise<PredictOutcome> {
    // waitUntilFinished rejects with `new Error(failedReason)` or with its own timeout message,
    // so the job's stored state says which it was, not the text.
    const job = await this.#queue.getJob(jobId);
    const state = job === undefined ? 'unknown' : await job.getState();
    if (job !== undefined && state === 'failed') {
      const reason = rejectReasonOf(job.failedReason, job.stacktrace);
      return reason === undefined ? { kind: 'failed', jobId } : { kind: 'rejected', jobId, reason };
    }
    if (job !== undefined && state === 'completed') {
      // Finished between the timeout and this read: the answer is there, use it.
      return outcomeOfReturn(jobId, job.returnvalue);
    }
    // Still waiting: take it off the queue so an abandoned request costs no GPU time (an active
    // job is locked and stays; it finishes and reaches the store as usual).
    await this.#queue.remove(jobId).catch(() => 0);
    return { kind: 'timeout', jobId };
  }

  /** Closes the queue, the event reader and their connections. */
  async close(): Promise<void> {
    await this.#events.close();
    await this.#queue.close();
    await Promise.all([this.#redis.quit(), this.#eventsRedis.quit()]);
  }
}

/**
 * The outcome of a completed job from its return value: screened, or rejected (bad input
 * completes its job with the reason). A worker without a return value (an older worker during a
 * rolling update) completes with null: `failed`.
 */
function outcomeOfReturn(jobId: string, returned: unknown): PredictOutcome {
  const parsed = screenJobReturnSchema.safeParse(returned);
  if (!parsed.success) return { kind: 'failed', jobId };
  const result = parsed.data;
  return result.outcome === 'ok'
    ? { kind: 'ok', jobId, result }
    : { kind: 'rejected', jobId, reason: result.reason };
}

/**
 * The reason code of a job that failed with a `JobRejectedError`, or undefined for any other
 * failure. BullMQ keeps the message (`reason: message`, see errors.ts) and the stack of the
 * error, not the error object: the stack's first line names the class, the message the code.
 */
export function rejectReasonOf(
  failedReason: string | undefined,
  stacktrace: readonly string[] | null | undefined,
): string | undefined {
  const lastStack = stacktrace?.at(-1) ?? '';
  if (failedReason === undefined || !lastStack.startsWith('JobRejectedError: ')) return undefined;
  return /^([a-z][a-z0-9_]*): /.exec(failedReason)?.[1];
}
