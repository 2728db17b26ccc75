/**
 * The results service: consumes `cxr-results`, writes results to the store in batched idempotent
 * upserts and updates the metrics. At-least-once: a message is acknowledged (its BullMQ job
 * completes) only after the upsert holding it committed, so a crash before that re-delivers it,
 * and the store's upsert keeps one row per object and model version.
 */
import {
  DynamicBatcher,
  JobRejectedError,
  ResultConsumer,
  type QueueLocation,
  type ResultMessage,
} from '@cxr/queue';
import type { CxrMetrics } from '@cxr/metrics';
import { InvalidResultRowError, type ResultRow, type ResultStore } from '@cxr/store';
import { errorSummary, silentLogger, type Logger } from '@cxr/config/log';
import type { DriftMonitor } from './drift-monitor.js';
import { recordStoredResult } from './record-metrics.js';
import { resultRowFromMessage } from './result-row.js';

/**
 * Rows per upsert. One transaction per batch: 100 rows keep PostgreSQL statements small (35 bind
 * parameters per row) while cutting round trips and SQLite fsyncs by two orders of magnitude.
 */
export const DEFAULT_STORE_BATCH = 100;
/** How long the oldest message waits for its batch to fill: adds at most this to end-to-end latency. */
export const DEFAULT_STORE_DELAY_MS = 200;

/** Options of `ResultsService`. */
export interface ResultsServiceOptions {
  /** Where `cxr-results` lives. */
  readonly queue: QueueLocation;
  readonly store: ResultStore;
  readonly metrics: CxrMetrics;
  /** Messages per upsert at most (default DEFAULT_STORE_BATCH). */
  readonly maxBatch?: number;
  /** Longest wait of a partial batch (default DEFAULT_STORE_DELAY_MS). */
  readonly maxDelayMs?: number;
  /** Drift window of the served model, fed with every stored batch; absent = no drift gauges. */
  readonly drift?: DriftMonitor;
  readonly log?: Logger;
}

interface PendingResult {
  readonly message: ResultMessage;
  readonly row: ResultRow;
}

/** Consumes result messages and stores them in batches; start() / stop(). */
export class ResultsService {
  readonly #options: ResultsServiceOptions;
  readonly #log: Logger;
  readonly #maxBatch: number;
  readonly #batcher: DynamicBatcher<PendingResult, null>;
  #consumer: ResultConsumer | undefined;
  #stopping: Promise<void> | undefined;

  constructor(options: ResultsServiceOptions) {
    this.#options = options;
    this.#log = options.log ?? silentLogger;
    this.#maxBatch = options.maxBatch ?? DEFAULT_STORE_BATCH;
    this.#batcher = new DynamicBatcher<PendingResult, null>({
      maxBatch: this.#maxBatch,
      maxDelayMs: options.maxDelayMs ?? DEFAULT_STORE_DELAY_MS,
      run: (items) => this.#storeBatch(items),
    });
  }

  /** Messages received and waiting for their batch's upsert (not counting the batch in flight). */
  get pendingCount(): number {
    return this.#batcher.waitingCount;
  }

  /** Starts consuming `cxr-results`. */
  start(): void {
    if (this.#consumer !== undefined) throw new Error('results service already started');
    if (this.#stopping !== undefined) throw new Error('results service was stopped');
    this.#consumer = new ResultConsumer({
      ...this.#options.queue,
      consume: (message) => this.#consume(message),
      // Each consumed message waits in the batcher until its batch is stored, so a full batch
      // needs at least maxBatch active jobs; twice that lets the next batch form during an upsert.
      concurrency: 2 * this.#maxBatch,
    });
    // Connection errors are the outage reporter's (reportRedisConnectionErrors): one line per outage.
    this.#consumer.onError((error) => {
      this.#log('warn', 'results queue error', errorSummary(error));
    });
    this.#log('info', 'results service started', {
      dialect: this.#options.store.dialect,
      maxBatch: this.#maxBatch,
    });
  }

  /**
   * Stops consuming, stores the pending batch and waits for in-flight messages to be acknowledged.
   * Does not close the store (the caller owns it). Idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    const consumer = this.#consumer;
    // BullMQ's close() stops fetching, then waits for active jobs; those wait on the batcher, so
    // flush it at the same time instead of letting the last partial batch sit out its delay.
    await Promise.all([consumer?.close(), this.#batcher.drain()]);
    await this.#batcher.close();
    this.#log('info', 'results service stopped', {});
  }

  async #consume(message: ResultMessage): Promise<void> {
    let row: ResultRow;
    try {
      row = resultRowFromMessage(message);
    } catch (error) {
      if (error instanceof InvalidResultRowError) {
        // A malformed message never becomes valid: fail it at once (kept in the failed set for
        // people to inspect) rather than retrying it, and keep it out of its batch.
        this.#log('warn', 'result message refused by the store schema', { issues: error.issues });
        throw new JobRejectedError('invalid_result', 'result message does not fit the results table');
      }
      throw error;
    }
    await this.#batcher.submit({ message, row });
  }

  async #storeBatch(items: readonly PendingResult[]): Promise<null[]> {
    const started = process.hrtime.bigint();
    let summary;
    try {
      summary = await this.#options.store.upsertResults(items.map((item) => item.row));
    } catch (error) {
      // Every message of the batch fails and BullMQ retries it with backoff (resultJobOptions).
      this.#log('error', 'result batch upsert failed', { size: items.length, ...errorSummary(error) });
      throw error;
    }
    const storeSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    const storedAt = Date.now();
    let unknownReasons = 0;
    for (const { message } of items) {
      try {
        if (recordStoredResult(this.#options.metrics, message, storedAt, storeSeconds).unknownReason) {
          unknownReasons += 1;
        }
      } catch (error) {
        // Metrics never fail a stored batch: that would re-deliver results already written.
        this.#log('warn', 'metric update failed', errorSummary(error));
      }
    }
    if (unknownReasons > 0)
      this.#log('warn', 'results with a reason code outside the contract', { count: unknownReasons });
    const drift = this.#options.drift;
    if (drift !== undefined) {
      try {
        // Once per batch: binning is O(labels + features) per row and the statistics are O(bins).
        drift.observe(
          items.map((item) => item.row),
          storedAt,
        );
        drift.publish(storedAt);
      } catch (error) {
        this.#log('warn', 'drift update failed', errorSummary(error));
      }
    }
    this.#log('debug', 'result batch stored', { size: items.length, storeSeconds, ...summary });
    return items.map(() => null);
  }
}
