/**
 * The results service: consumes `cxr-results`, writes results to the store in batched idempotent
 * upserts and updates the metrics. At-least-once: a message is acknowledged (its BullMQ job
 * completes) only after the upsert holding it committed, so a crash before that re-delivers it,
 * and the store's upsert keeps one row per object and model version.
 *
 * A result computed must reach the store. When an upsert fails (PostgreSQL down, SQLite on a full
 * disk), the batch is retried in-process without limit, with a capped backoff, while consumption
 * is paused (new messages wait in Redis, not in memory), `cxr_store_up` reads 0 and the
 * CxrStoreDown alert fires; consumption resumes with the first successful write. Only a stop
 * during an outage hands the batch back to BullMQ, whose result-job retries are unlimited too
 * (resultJobOptions): no result message is ever moved to the failed set for a store error.
 */
import {
  DynamicBatcher,
  JobRejectedError,
  ResultConsumer,
  type QueueLocation,
  type ResultMessage,
} from '@cxr/queue';
import type { CxrMetrics } from '@cxr/metrics';
import type { ModelManifest } from '@cxr/model/manifest';
import { setTimeout } from 'node:timers/promises';
import { InvalidResultRowError, type ResultRow, type ResultStore, type UpsertSummary } from '@cxr/store';
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

/** First delay before retrying a failed store write; doubled per failure up to STORE_RETRY_MAX_MS. */
export const STORE_RETRY_FIRST_MS = 500;
/** Longest delay between two store write attempts during an outage: a recovered store is used within it. */
export const STORE_RETRY_MAX_MS = 15_000;
/** While the store stays down, one "store still unavailable" line per this period, not one per attempt. */
const STORE_DOWN_LOG_MS = 60_000;

/** Options of `ResultsService`. */
export interface ResultsServiceOptions {
  /** Where `cxr-results` lives. */
  readonly queue: QueueLocation;
  readonly store: ResultStore;
  readonly metrics: CxrMetrics;
  /**
   * Rows per upsert at most (default DEFAULT_STORE_BATCH); a multi-object message is never split
   * (a larger one is stored alone).
   */
  readonly maxBatch?: number;
  /** Longest wait of a partial batch (default DEFAULT_STORE_DELAY_MS). */
  readonly maxDelayMs?: number;
  /** Store write retry delays (tests shorten them); default STORE_RETRY_FIRST_MS / STORE_RETRY_MAX_MS. */
  readonly storeRetry?: { readonly firstMs?: number; readonly maxMs?: number };
  /** Drift window of the served model, fed with every stored batch; absent = no drift gauges. */
  readonly drift?: DriftMonitor;
  /** The served model's manifest: its ok results get their worklist suspicion; absent = none do. */
  readonly manifest?: ModelManifest;
  /**
   * Called with each stored batch before its messages are acknowledged (the findings delivery
   * queues the batch's SRs here). A rejection hands the batch back to BullMQ, whose redelivery
   * stores it again (unchanged) and calls this again: at least once.
   */
  readonly afterStore?: (rows: readonly ResultRow[], storedAt: number) => Promise<void>;
  readonly log?: Logger;
}

/**
 * One consumed message waiting for its upsert: a `screen-result` (one row) or the valid entries of
 * a `screen-results` message (all its rows, kept in one batch: one transaction).
 */
interface PendingResult {
  readonly messages: readonly ResultMessage[];
  readonly rows: readonly ResultRow[];
}

/** One result of a batch: its message and its row. */
interface StoredItem {
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
  /** Aborted by stop(): ends a store retry wait so the batch goes back to BullMQ. */
  readonly #stopSignal = new AbortController();
  /** Set while the store refuses writes (consumption is paused). */
  #storeDownSince: number | undefined;

  constructor(options: ResultsServiceOptions) {
    this.#options = options;
    this.#log = options.log ?? silentLogger;
    this.#maxBatch = options.maxBatch ?? DEFAULT_STORE_BATCH;
    this.#batcher = new DynamicBatcher<PendingResult, null>({
      maxBatch: this.#maxBatch,
      maxDelayMs: options.maxDelayMs ?? DEFAULT_STORE_DELAY_MS,
      // maxBatch counts rows: a multi-object message weighs its rows and is never split.
      weight: (item) => item.rows.length,
      run: (items) => this.#storeBatch(items),
    });
  }

  /** Results (rows) received and waiting for their batch's upsert (not counting the batch in flight). */
  get pendingCount(): number {
    return this.#batcher.waitingWeight;
  }

  /** Starts consuming `cxr-results`. */
  start(): void {
    if (this.#consumer !== undefined) throw new Error('results service already started');
    if (this.#stopping !== undefined) throw new Error('results service was stopped');
    this.#consumer = new ResultConsumer({
      ...this.#options.queue,
      consume: (message) => this.#consume(message),
      consumeBatch: (messages) => this.#consumeBatch(messages),
      // Each consumed message waits in the batcher until its batch is stored, so a full batch
      // needs up to maxBatch active jobs (single messages); twice that lets the next batch form
      // during an upsert.
      concurrency: 2 * this.#maxBatch,
    });
    // Connection errors are the outage reporter's (reportRedisConnectionErrors): one line per outage.
    this.#consumer.onError((error) => {
      this.#log('warn', 'results queue error', errorSummary(error));
    });
    this.#options.metrics.setStoreUp(true);
    this.#log('info', 'results service started', {
      dialect: this.#options.store.dialect,
      maxBatch: this.#maxBatch,
    });
  }

  /** True while the store refuses writes and consumption is paused. */
  get storeDown(): boolean {
    return this.#storeDownSince !== undefined;
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
    // A batch retrying against a store that is down gives up now and goes back to BullMQ.
    this.#stopSignal.abort();
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
      row = resultRowFromMessage(message, this.#options.manifest);
    } catch (error) {
      if (error instanceof InvalidResultRowError) {
        // A malformed message never becomes valid: fail it at once (kept in the failed set for
        // people to inspect) rather than retrying it, and keep it out of its batch.
        this.#log('warn', 'result message refused by the store schema', { issues: error.issues });
        throw new JobRejectedError('invalid_result', 'result message does not fit the results table');
      }
      throw error;
    }
    await this.#batcher.submit({ messages: [message], rows: [row] });
  }

  /**
   * The entries of one `screen-results` message: stored together, in one batch (one transaction),
   * each with the metrics, drift and findings of a single message. An entry the results table
   * refuses does not hold back the others: they are stored, then the message is failed (kept in
   * the failed set for people to inspect; the refused object has no row, so an ingest with
   * re-enqueue screens it again).
   */
  async #consumeBatch(messages: readonly ResultMessage[]): Promise<void> {
    const valid: ResultMessage[] = [];
    const rows: ResultRow[] = [];
    let refused: InvalidResultRowError | undefined;
    let refusedCount = 0;
    for (const message of messages) {
      try {
        rows.push(resultRowFromMessage(message, this.#options.manifest));
        valid.push(message);
      } catch (error) {
        if (!(error instanceof InvalidResultRowError)) throw error;
        refused ??= error;
        refusedCount += 1;
      }
    }
    if (rows.length > 0) await this.#batcher.submit({ messages: valid, rows });
    if (refused !== undefined) {
      this.#log('warn', 'result message refused by the store schema', {
        issues: refused.issues,
        refused: refusedCount,
        of: messages.length,
      });
      throw new JobRejectedError(
        'invalid_result',
        `${refusedCount} of ${messages.length} results do not fit the results table`,
      );
    }
  }

  async #storeBatch(pending: readonly PendingResult[]): Promise<null[]> {
    const items: StoredItem[] = [];
    for (const { messages, rows } of pending) {
      messages.forEach((message, i) => {
        const row = rows[i];
        if (row !== undefined) items.push({ message, row });
      });
    }
    const started = process.hrtime.bigint();
    const summary = await this.#upsertUntilStored(items);
    const storeSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    const storedAt = Date.now();
    const afterStore = this.#options.afterStore;
    if (afterStore !== undefined) {
      try {
        await afterStore(
          items.map((item) => item.row),
          storedAt,
        );
      } catch (error) {
        this.#log('error', 'after-store step failed: the batch will be redelivered', {
          size: items.length,
          ...errorSummary(error),
        });
        throw error;
      }
    }
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
    return pending.map(() => null);
  }

  /**
   * Upserts the batch, retrying a failing store until it accepts it (see the file comment).
   * Throws only when stop() ends the wait, or for a row the store's schema refuses (a bug that
   * no retry fixes: the batch then goes back to BullMQ, whose retries keep it visible).
   */
  async #upsertUntilStored(items: readonly StoredItem[]): Promise<UpsertSummary> {
    const firstMs = this.#options.storeRetry?.firstMs ?? STORE_RETRY_FIRST_MS;
    const maxMs = this.#options.storeRetry?.maxMs ?? STORE_RETRY_MAX_MS;
    let lastLog = -Infinity;
    for (let failures = 0; ; failures++) {
      try {
        const summary = await this.#upsert(items);
        if (this.#storeDownSince !== undefined) await this.#storeRecovered();
        return summary;
      } catch (error) {
        this.#options.metrics.countStoreWriteError();
        if (error instanceof InvalidResultRowError || this.#stopSignal.signal.aborted) {
          this.#log('error', 'result batch upsert failed', { size: items.length, ...errorSummary(error) });
          throw error;
        }
        const now = Date.now();
        if (this.#storeDownSince === undefined) {
          this.#storeDownSince = now;
          this.#options.metrics.setStoreUp(false);
          this.#log('error', 'store unavailable: result consumption paused, retrying', {
            size: items.length,
            ...errorSummary(error),
          });
          lastLog = now;
          await this.#consumer?.pause();
        } else if (now - lastLog >= STORE_DOWN_LOG_MS) {
          lastLog = now;
          this.#log('warn', 'store still unavailable', {
            downSeconds: Math.round((now - this.#storeDownSince) / 1000),
            attempts: failures + 1,
            ...errorSummary(error),
          });
        }
        const delay = Math.min(maxMs, firstMs * 2 ** Math.min(failures, 30));
        try {
          await setTimeout(delay, undefined, { signal: this.#stopSignal.signal });
        } catch {
          // stop() during the wait: the next attempt is the last one.
        }
      }
    }
  }

  /**
   * One upsert of the batch. Results of forced screen jobs (`--force`) replace stored rows, the
   * others follow the replacement rule: a second upsert with `force` for those. Not one
   * transaction: a failure between the two retries both, and re-applying either is harmless.
   */
  async #upsert(items: readonly StoredItem[]): Promise<UpsertSummary> {
    const forced = items.filter((item) => item.message.force === true).map((item) => item.row);
    const normal = items.filter((item) => item.message.force !== true).map((item) => item.row);
    const store = this.#options.store;
    if (forced.length === 0) return store.upsertResults(normal);
    const a = normal.length > 0 ? await store.upsertResults(normal) : undefined;
    const b = await store.upsertResults(forced, { force: true });
    return {
      inserted: (a?.inserted ?? 0) + b.inserted,
      updated: (a?.updated ?? 0) + b.updated,
      unchanged: (a?.unchanged ?? 0) + b.unchanged,
    };
  }

  async #storeRecovered(): Promise<void> {
    const downSeconds = Math.round((Date.now() - (this.#storeDownSince ?? Date.now())) / 1000);
    this.#storeDownSince = undefined;
    this.#options.metrics.setStoreUp(true);
    this.#log('info', 'store available again: result consumption resumed', { downSeconds });
    if (!this.#stopSignal.signal.aborted) await this.#consumer?.resume();
  }
}
