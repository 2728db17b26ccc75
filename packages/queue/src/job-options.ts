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
 * How long an object's claim (the key naming the multi-object job that holds it, see
 * ScreenQueue's ADD_SCREEN_GROUPS_LUA) lives: past the retention of its job, finished or failed,
 * plus a day for the job to wait in the queue. A job still waiting when its objects' claims expire
 * loses their dedupe only: an ingest re-run then screens them again (the store keeps one row).
 */
export const SCREEN_CLAIM_TTL_SECONDS = FAILED_RETENTION_SECONDS + DAY / SECOND;

/**
 * How long the key naming an object's pending `screen-results` message lives
 * (`<prefix>:cxr-results:obj:<object id>`, see ResultQueue): as long as a claim. The results service
 * deletes it once the message is stored; the TTL only bounds a key whose deletion was lost.
 */
export const RESULT_ALIAS_TTL_SECONDS = SCREEN_CLAIM_TTL_SECONDS;

/**
 * How long transient faults of one object (an S3 or PACS outage, a network partition, an
 * inference error) are retried before the object ends as `failed`: ten minutes of backoff. A small
 * attempt count with short backoff (the pre-hardening 5 tries over ~30 s) failed whole archives
 * on a 30 s source outage; time is what an outage is measured in, so the budget is set in seconds
 * and the attempt count derived from it (`screenRetryPolicy`). Configurable (CXR_SCREEN_RETRY_SECONDS).
 */
export const SCREEN_RETRY_BUDGET_SECONDS = 600;
/** First retry delay of a screen job; each later one doubles up to SCREEN_BACKOFF_CAP_MS. */
export const SCREEN_FIRST_BACKOFF_MS = 2 * SECOND;
/**
 * Longest single retry delay: once an outage has lasted a minute, an object is tried again at
 * least once a minute, so a recovered source is noticed within about a minute.
 */
export const SCREEN_BACKOFF_CAP_MS = 60 * SECOND;
/**
 * Retry delays are drawn from [1 - JITTER, 1] x the nominal delay: thousands of jobs that failed
 * together in one outage then come back spread out instead of hitting a recovering source at once.
 */
export const BACKOFF_JITTER = 0.2;
/**
 * The backoff type of screen and result jobs: exponential from the job's `backoff.delay`, capped
 * at SCREEN_BACKOFF_CAP_MS, with jitter. BullMQ's own `exponential` has no cap; a custom type is
 * computed by the worker's `settings.backoffStrategy` (`cappedBackoffDelay`).
 */
export const CAPPED_BACKOFF = 'capped-exponential';

/** Nominal delay before retry number `retry` (1 = the first retry), before jitter. */
export function cappedBackoffNominalMs(
  retry: number,
  firstDelayMs: number,
  capMs = SCREEN_BACKOFF_CAP_MS,
): number {
  if (firstDelayMs <= 0) return 0;
  // 2^(retry-1) overflows to Infinity for large retry counts; min() keeps the cap.
  return Math.min(Math.max(capMs, firstDelayMs), firstDelayMs * 2 ** Math.max(0, retry - 1));
}

/** The delay BullMQ waits before retry number `retry`: the nominal delay with jitter. */
export function cappedBackoffDelay(
  retry: number,
  firstDelayMs: number,
  random: () => number = Math.random,
): number {
  const nominal = cappedBackoffNominalMs(retry, firstDelayMs);
  return Math.round(nominal * (1 - BACKOFF_JITTER * random()));
}

/**
 * Attempts (the first included) and backoff of a screen job so that its retries span at least
 * `budgetSeconds` even with the shortest jitter: the smallest attempt count whose summed minimal
 * delays reach the budget. With the defaults (600 s, 2 s first delay, 60 s cap): 18 attempts.
 */
export function screenRetryPolicy(
  options: {
    readonly budgetSeconds?: number;
    readonly firstDelayMs?: number;
    readonly attempts?: number;
  } = {},
): {
  readonly attempts: number;
  readonly backoff: { readonly type: typeof CAPPED_BACKOFF; readonly delay: number };
} {
  const budgetMs = (options.budgetSeconds ?? SCREEN_RETRY_BUDGET_SECONDS) * SECOND;
  const firstDelayMs = options.firstDelayMs ?? SCREEN_FIRST_BACKOFF_MS;
  const backoff = { type: CAPPED_BACKOFF, delay: firstDelayMs } as const;
  if (options.attempts !== undefined) return { attempts: options.attempts, backoff };
  let attempts = 1;
  let spanMs = 0;
  // A zero first delay retries at once: the budget cannot be spanned, so one retry per budget second.
  const limit = firstDelayMs <= 0 ? Math.max(1, Math.ceil(budgetMs / SECOND)) : Number.MAX_SAFE_INTEGER;
  while (spanMs < budgetMs && attempts < limit) {
    spanMs += cappedBackoffNominalMs(attempts, firstDelayMs) * (1 - BACKOFF_JITTER);
    attempts += 1;
  }
  return { attempts, backoff };
}

/**
 * Default options of every `cxr-screen` job. Only what must be per job: BullMQ stores the whole
 * `opts` JSON in every job hash, so retention lives on the worker instead (`screenRetention`),
 * which saves ~70 bytes per waiting job towards the 1 KiB-per-job target.
 * Transient faults retry for SCREEN_RETRY_BUDGET_SECONDS (see `screenRetryPolicy`). Bad input never
 * retries: the processor completes the job with a `rejected` outcome.
 */
export const screenJobOptions = screenRetryPolicy() satisfies DefaultJobOptions;

/** Retention of finished screen jobs, applied by the worker (job opts would cost memory per job). */
export const screenRetention = {
  removeOnComplete: { age: SCREEN_COMPLETED_RETENTION_SECONDS },
  removeOnFail: { age: FAILED_RETENTION_SECONDS },
} as const satisfies Pick<WorkerOptions, 'removeOnComplete' | 'removeOnFail'>;

/**
 * Default options of every `cxr-results` job. A result computed must reach the store: the results
 * service retries a failing store in-process, without limit, with consumption paused (see
 * ResultsService), so BullMQ's retries only matter when a results process stops or dies during a
 * store outage. Attempts are therefore unlimited in practice (a result message is never moved to
 * the failed set for a store error) and the backoff is capped (5 s doubling to 60 s). The upsert
 * is idempotent, so a retry is always safe. Completed result messages are dropped after an hour:
 * the store is their durable copy, and keeping them that long still dedupes a result re-published
 * by a redelivered screen job (the message id is the screen job id).
 */
export const resultJobOptions = {
  attempts: Number.MAX_SAFE_INTEGER,
  backoff: { type: CAPPED_BACKOFF, delay: 5 * SECOND },
  removeOnComplete: { age: HOUR / SECOND },
  removeOnFail: { age: FAILED_RETENTION_SECONDS },
} as const satisfies DefaultJobOptions;

/**
 * The workers' `settings.backoffStrategy`: computes CAPPED_BACKOFF delays from the job's own
 * `backoff.delay`. BullMQ calls it with the attempt number being scheduled (1 = first retry).
 */
export function cappedBackoffStrategy(
  attemptsMade: number,
  type: string | undefined,
  _error: Error | undefined,
  job: { readonly opts: { readonly backoff?: number | { readonly delay?: number } } } | undefined,
): number {
  if (type !== CAPPED_BACKOFF) throw new Error(`unknown backoff type ${String(type)}`);
  const backoff = job?.opts.backoff;
  const first = typeof backoff === 'number' ? backoff : (backoff?.delay ?? SCREEN_FIRST_BACKOFF_MS);
  return cappedBackoffDelay(attemptsMade, first);
}

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

/**
 * Lock and stall settings of the results consumer. A result message that stalls (its results
 * process died or lost Redis while the store was down) is never failed for it: the stall limit
 * protects workers from a poison job that kills them, and a stored result message is plain data
 * whose upsert is idempotent, whereas failing it would lose a computed result for good.
 */
export const resultWorkerLockOptions = {
  ...workerLockOptions,
  maxStalledCount: Number.MAX_SAFE_INTEGER,
} as const satisfies Partial<WorkerOptions>;
