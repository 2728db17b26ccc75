/**
 * Retry, retention and lock policy, declared beside the queues (Medplum style) so that call sites
 * never choose their own. Figures cited are from ../shared/DEPENDENCY_NOTES.md (BullMQ 6 + Redis 7).
 */
import type { DefaultJobOptions, WorkerOptions } from 'bullmq';

const SECOND = 1000;
const HOUR = 3600 * SECOND;
const DAY = 24 * HOUR;

/**
 * How long completed screen jobs stay in Redis. Dedupe by job id only holds while the job exists:
 * `removeOnComplete: true` would let a re-run ingest screen everything again, `{age: N}` keeps
 * dedupe for N seconds. Trade-off: each kept job costs ~740 B of Redis memory (measured with a
 * 153-byte payload), so a 1M-object run holds ~0.75 GB until it ages out. One day covers "the
 * ingest was interrupted / re-run the next morning"; dedupe of older work is the store's job
 * (one row per object and model version; the ingest or worker can skip objects already stored).
 */
export const SCREEN_COMPLETED_RETENTION_SECONDS = DAY / SECOND;

/** Failed jobs stay a week: few, and people need them to see why (reason, stack, attempts). */
export const FAILED_RETENTION_SECONDS = (7 * DAY) / SECOND;

/**
 * Default options of every `cxr-screen` job. Only what must be per job: BullMQ stores the whole
 * `opts` JSON in every job hash, so retention lives on the worker instead (`screenRetention`),
 * which saves ~70 bytes per waiting job towards the 1 KiB-per-job target.
 */
export const screenJobOptions = {
  // Transient faults (S3 5xx, timeouts, resets, a Redis reconnect) get 5 tries in total with
  // exponential backoff 2, 4, 8, 16 s (~30 s): long enough for an S3 or network blip, short enough
  // that a real outage shows up as failures within a minute. Bad input never retries: the
  // processor throws `JobRejectedError` (an UnrecoverableError), which BullMQ fails at once.
  attempts: 5,
  backoff: { type: 'exponential', delay: 2 * SECOND },
} as const satisfies DefaultJobOptions;

/** Retention of finished screen jobs, applied by the worker (job opts would cost memory per job). */
export const screenRetention = {
  removeOnComplete: { age: SCREEN_COMPLETED_RETENTION_SECONDS },
  removeOnFail: { age: FAILED_RETENTION_SECONDS },
} as const satisfies Pick<WorkerOptions, 'removeOnComplete' | 'removeOnFail'>;

/**
 * Default options of every `cxr-results` job. The results consumer upserts idempotently, so a
 * retry is always safe; a store outage is ridden out with longer backoff (5 s .. ~80 s).
 * Completed result messages are dropped after an hour: the store is their durable copy, and
 * keeping them that long still dedupes a result re-published by a redelivered screen job (the
 * message id is the screen job id).
 */
export const resultJobOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 5 * SECOND },
  removeOnComplete: { age: HOUR / SECOND },
  removeOnFail: { age: FAILED_RETENTION_SECONDS },
} as const satisfies DefaultJobOptions;

/** Lock and stall settings shared by the screen and results workers. */
export const workerLockOptions = {
  // The lock manager renews every active job's lock every lockDuration/2 as long as the event
  // loop is free. Decode and inference run off the event loop (decode pool, native runtime), so
  // 15 s gives a 7.5 s margin for event-loop stalls (GC, a large JSON parse) before a job is seen
  // as stalled; a batch that blocks the loop longer than lockDuration is processed twice
  // ("Missing lock ... moveToFinished", DEPENDENCY_NOTES). Shorter than BullMQ's 30 s default
  // because recovery after a SIGKILLed worker takes about lockDuration + stalledInterval
  // (30-60 s with the defaults, ~10 s with 5 s / 5 s): 15 s / 15 s brings jobs back in 15-30 s.
  lockDuration: 15 * SECOND,
  stalledInterval: 15 * SECOND,
  // BullMQ's default (1) fails a job on its second stall. A job can stall twice without being at
  // fault (a worker killed mid-batch, then a Redis restart), so allow 3 before failing it.
  maxStalledCount: 3,
} as const satisfies Partial<WorkerOptions>;
