/**
 * The `cxr-findings` queue: one job per stored ok result whose findings (a DICOM SR) go to a PACS.
 * The results service (or `cxr results send`) enqueues; a FindingsConsumer builds and sends.
 *
 * A PACS that is down loses nothing: jobs retry without limit (attempts are unlimited in practice)
 * with a capped exponential backoff, so deliveries wait for the PACS and go out once it is back,
 * at most `capMs` after it returned. A permanent refusal is not a job failure: the processor
 * records it in the store and completes the job. Completed jobs are removed at once (the store
 * keeps the delivery state), so a result replaced later is queued again under the same job id;
 * while a job waits, the same delivery enqueued again is one job (its id is the destination and
 * the row key).
 */
import { createHash } from 'node:crypto';
import { Queue, Worker, type Job, type MinimalJob } from 'bullmq';
import type { Redis } from 'ioredis';
import { createRedisClient, isRedisConnectionError } from './connection.js';
import { errorForQueue } from './errors.js';
import { BACKOFF_JITTER, FAILED_RETENTION_SECONDS, cappedBackoffNominalMs } from './job-options.js';
import { JobName, QueueName } from './names.js';
import { findingsJobPayloadSchema, type FindingsJobPayload } from './payloads.js';
import type { QueueLocation } from './screen-queue.js';

/** First retry delay of a delivery; doubled per retry up to FINDINGS_BACKOFF_CAP_MS. */
export const FINDINGS_FIRST_BACKOFF_MS = 2000;
/** Longest wait between two attempts: a PACS back from an outage is used within about this. */
export const FINDINGS_BACKOFF_CAP_MS = 60_000;
/** Deliveries in flight per consumer: a PACS takes SRs one request each. */
export const DEFAULT_FINDINGS_CONCURRENCY = 4;
const FINDINGS_BACKOFF = 'findings-capped-exponential';

/** The job id of a delivery: one waiting job per (destination, row). */
export function findingsJobId(payload: Pick<FindingsJobPayload, 'rowKey' | 'destination'>): string {
  const hash = createHash('sha256').update(payload.destination).update('\0').update(payload.rowKey);
  return `findings-${hash.digest('hex').slice(0, 40)}`;
}

/** Retry delays of deliveries (tests shorten them; CXR_FINDINGS_BACKOFF_MS / CXR_FINDINGS_BACKOFF_CAP_MS). */
export interface FindingsBackoff {
  readonly firstMs?: number;
  readonly capMs?: number;
}

/** Producer side of `cxr-findings`. */
export class FindingsQueue {
  readonly #queue: Queue;
  readonly #redis: Redis;

  constructor(location: QueueLocation, backoff: FindingsBackoff = {}) {
    this.#redis = createRedisClient(location.connection);
    this.#queue = new Queue(QueueName.Findings, {
      connection: this.#redis,
      ...(location.prefix !== undefined ? { prefix: location.prefix } : {}),
      defaultJobOptions: {
        attempts: Number.MAX_SAFE_INTEGER,
        backoff: { type: FINDINGS_BACKOFF, delay: backoff.firstMs ?? FINDINGS_FIRST_BACKOFF_MS },
        removeOnComplete: true,
        removeOnFail: { age: FAILED_RETENTION_SECONDS },
      },
    });
    this.#queue.on('error', () => undefined);
  }

  /** Enqueues deliveries (validated); a delivery already waiting is not added twice. */
  async enqueue(payloads: readonly FindingsJobPayload[]): Promise<void> {
    if (payloads.length === 0) return;
    const jobs = payloads.map((payload) => {
      const data = findingsJobPayloadSchema.parse(payload);
      return { name: JobName.DeliverFindings, data, opts: { jobId: findingsJobId(data) } };
    });
    try {
      await this.#queue.addBulk(jobs);
    } catch (cause) {
      throw new Error(`enqueue of ${jobs.length} deliveries on ${QueueName.Findings} failed`, { cause });
    }
  }

  /** Deliveries not yet done: waiting, active, or delayed for a retry. */
  async pendingCount(): Promise<number> {
    const counts = await this.#queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed');
    return Object.values(counts).reduce((sum, n) => sum + n, 0);
  }

  /** Jobs per state (tests, gauges). */
  async counts(): Promise<Readonly<Record<'waiting' | 'active' | 'delayed' | 'failed', number>>> {
    const c = await this.#queue.getJobCounts('waiting', 'active', 'delayed', 'failed');
    return { waiting: c.waiting ?? 0, active: c.active ?? 0, delayed: c.delayed ?? 0, failed: c.failed ?? 0 };
  }

  /** Deletes the queue and its jobs (tests, admin). */
  async obliterate(options: { readonly force?: boolean } = {}): Promise<void> {
    await this.#queue.obliterate({ force: options.force ?? false });
  }

  async close(): Promise<void> {
    await this.#queue.close();
    await this.#redis.quit();
  }
}

/** What the processor learns about the job besides its payload. */
export interface FindingsJobContext {
  /** Attempts already made (0 on the first try). */
  readonly attemptsMade: number;
}

/**
 * Delivers one job. Resolve when the delivery reached its outcome (sent, or refused for good and
 * recorded); throw for a transient fault (retried after the backoff).
 */
export type FindingsJobProcessor = (
  payload: FindingsJobPayload,
  context: FindingsJobContext,
) => Promise<void>;

/** Consumer side of `cxr-findings`. */
export class FindingsConsumer {
  readonly #worker: Worker<unknown, void>;
  readonly #redis: Redis;

  constructor(
    options: QueueLocation & {
      readonly process: FindingsJobProcessor;
      readonly concurrency?: number;
      readonly backoff?: FindingsBackoff;
    },
  ) {
    this.#redis = createRedisClient(options.connection);
    const process = options.process;
    const capMs = options.backoff?.capMs ?? FINDINGS_BACKOFF_CAP_MS;
    this.#worker = new Worker<unknown, void>(
      QueueName.Findings,
      async (job: Job<unknown, void>) => {
        try {
          await process(findingsJobPayloadSchema.parse(job.data), { attemptsMade: job.attemptsMade });
        } catch (error) {
          throw errorForQueue(error);
        }
      },
      {
        connection: this.#redis,
        ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
        concurrency: options.concurrency ?? DEFAULT_FINDINGS_CONCURRENCY,
        lockDuration: 30_000,
        stalledInterval: 30_000,
        // A delivery that stalls (its process died) is sent again: an SR has a fixed SOP
        // Instance UID, so the PACS replaces instead of duplicating.
        maxStalledCount: Number.MAX_SAFE_INTEGER,
        settings: {
          backoffStrategy: (attemptsMade: number, type?: string, _error?: Error, job?: MinimalJob) => {
            if (type !== FINDINGS_BACKOFF) throw new Error(`unknown backoff type ${String(type)}`);
            const backoff = job?.opts.backoff;
            const first =
              typeof backoff === 'number' ? backoff : (backoff?.delay ?? FINDINGS_FIRST_BACKOFF_MS);
            const nominal = cappedBackoffNominalMs(attemptsMade, first, capMs);
            return Math.round(nominal * (1 - BACKOFF_JITTER * Math.random()));
          },
        },
      },
    );
    this.#worker.on('error', () => undefined);
  }

  /** Subscribes to the worker's errors other than Redis connection errors (logged once per outage elsewhere). */
  onError(listener: (error: Error) => void): void {
    this.#worker.on('error', (error: Error) => {
      if (!isRedisConnectionError(error)) listener(error);
    });
  }

  /** Graceful shutdown: waits for active deliveries, closes connections. */
  async close(): Promise<void> {
    await this.#worker.close();
    await this.#redis.quit();
  }
}
