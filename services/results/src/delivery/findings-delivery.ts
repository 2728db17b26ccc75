/**
 * Delivery of findings to a PACS: for each stored ok result of the served model, its DICOM SR
 * (@cxr/findings) is built from the screened object (fetched again: the store keeps no patient
 * data, the SR copies Patient and Study from the source) and sent by STOW-RS or C-STORE, through
 * the `cxr-findings` queue (@cxr/queue FindingsQueue: unlimited retries, capped backoff).
 *
 * Per attempt the store's delivery state is written (migration 4): `sent` once the PACS stored
 * it; `failed` with the reason when the PACS refused the object for good, or no SR can be built
 * (source gone, not DICOM, without UIDs, result of another model version); `pending` with the
 * attempts and the last reason while a transient fault (PACS down, timeout, 5xx) keeps it waiting.
 * The SR's SOP Instance UID is derived from the source's and the model version, so a delivery
 * sent twice (a retry after a lost answer, a stalled job) replaces, never duplicates.
 */
import { errorSummary, silentLogger, type Logger } from '@cxr/config/log';
import { FindingsError, buildFindingsReport, buildSummaryImage, summaryImageWanted } from '@cxr/findings';
import type { CxrMetrics } from '@cxr/metrics';
import type { ModelManifest } from '@cxr/model/manifest';
import {
  FindingsConsumer,
  FindingsQueue,
  type FindingsBackoff,
  type FindingsJobContext,
  type FindingsJobPayload,
  type QueueLocation,
} from '@cxr/queue';
import { isTransientError, type ObjectFetcher } from '@cxr/storage';
import { rowKeyOf, type ResultRow, type ResultStore } from '@cxr/store';
import { parseFindingsDestination, type FindingsDestination } from './destination.js';
import { DeliveryError } from './errors.js';
import { findingsSender, type FindingsSender, type SenderSettings } from './senders.js';

export interface FindingsDeliveryOptions {
  readonly queue: QueueLocation;
  readonly store: ResultStore;
  /** The served model's manifest: the SR's algorithm identification; rows of other versions fail. */
  readonly manifest: ModelManifest;
  /** Fetches the screened objects again (the SR copies Patient and Study from them). */
  readonly fetcher: ObjectFetcher;
  readonly senders: SenderSettings;
  /** Largest source object read (CXR_MAX_OBJECT_BYTES). */
  readonly maxObjectBytes?: number;
  readonly metrics?: CxrMetrics;
  readonly backoff?: FindingsBackoff;
  /** Deliveries in flight (CXR_FINDINGS_CONCURRENCY). */
  readonly concurrency?: number;
  readonly log?: Logger;
  /** Sender per destination (tests substitute one); default findingsSender. */
  readonly senderFor?: (destination: FindingsDestination) => FindingsSender;
  /** Called after each attempt that reached an outcome or a retry (tests, `cxr results send`). */
  readonly onAttempt?: (rowKey: string, outcome: 'sent' | 'failed' | 'retried') => void;
}

/** Enqueues deliveries and, once started, delivers them. */
export class FindingsDelivery {
  readonly #options: FindingsDeliveryOptions;
  readonly #log: Logger;
  readonly #queue: FindingsQueue;
  readonly #senders = new Map<string, FindingsSender>();
  #consumer: FindingsConsumer | undefined;

  constructor(options: FindingsDeliveryOptions) {
    this.#options = options;
    this.#log = options.log ?? silentLogger;
    this.#queue = new FindingsQueue(options.queue, options.backoff);
  }

  /** Deliveries waiting, active or delayed for a retry (all runs). */
  pendingCount(): Promise<number> {
    return this.#queue.pendingCount();
  }

  /**
   * Queues the findings of `rows` for `destination`: the ok rows of the served model version are
   * marked pending in the store, then enqueued (in that order, so that a delivery never finishes
   * before its pending mark). Returns how many were queued. Throws when the store or Redis fails:
   * the caller retries (the results service lets the result messages be redelivered).
   */
  async enqueue(rows: readonly ResultRow[], destination: string, storedAt: number): Promise<number> {
    const { manifest } = this.#options;
    const target = parseFindingsDestination(destination).uri;
    const keys = rows
      .filter(
        (row) => row.outcome === 'ok' && row.modelId === manifest.id && row.modelVersion === manifest.version,
      )
      .map((row) => rowKeyOf(row));
    if (keys.length === 0) return 0;
    await this.#options.store.markDeliveryPending(keys, new Date(storedAt));
    await this.#queue.enqueue(keys.map((rowKey) => ({ rowKey, destination: target, storedAt })));
    return keys.length;
  }

  /** Starts delivering queued findings. */
  start(): void {
    if (this.#consumer !== undefined) throw new Error('findings delivery already started');
    this.#consumer = new FindingsConsumer({
      ...this.#options.queue,
      process: (payload, context) => this.deliver(payload, context),
      ...(this.#options.concurrency !== undefined ? { concurrency: this.#options.concurrency } : {}),
      ...(this.#options.backoff !== undefined ? { backoff: this.#options.backoff } : {}),
    });
    this.#consumer.onError((error) => {
      this.#log('warn', 'findings queue error', errorSummary(error));
    });
  }

  /** Stops delivering (active deliveries finish) and closes the queue connections. */
  async stop(): Promise<void> {
    const consumer = this.#consumer;
    this.#consumer = undefined;
    await consumer?.close();
    await this.#queue.close();
  }

  /** One delivery attempt (the queue's processor; public for tests). Throws to retry. */
  async deliver(payload: FindingsJobPayload, context: FindingsJobContext): Promise<void> {
    const { store, manifest } = this.#options;
    const attempts = context.attemptsMade + 1;
    const row = await store.resultByRowKey(payload.rowKey);
    if (row === undefined) {
      // The row was deleted (or the store replaced): nothing to deliver or record.
      this.#log('warn', 'findings delivery of a row that no longer exists', { rowKey: payload.rowKey });
      return;
    }
    const record = async (state: 'sent' | 'failed' | 'pending', reason: string | null): Promise<void> => {
      await store.recordDelivery(payload.rowKey, { state, reason, attempts, at: new Date() });
    };
    try {
      if (row.outcome !== 'ok') throw new DeliveryError('result_not_ok', false, 'the result is not ok');
      if (row.modelId !== manifest.id || row.modelVersion !== manifest.version) {
        throw new DeliveryError(
          'model_mismatch',
          false,
          'the result is of another model version than the served manifest',
        );
      }
      const source = await this.#fetchSource(row.uri);
      const input = { source, result: row, manifest, now: new Date() };
      const sender = this.#sender(payload.destination);
      await sender.send(await asDeliveryError(() => buildFindingsReport(input)));
      // The Secondary Capture summary for viewers without SR display, when the bundle asks for
      // it (manifest findings.summaryImage); its UIDs are deterministic too, so a retry replaces.
      if (summaryImageWanted(manifest))
        await sender.send(await asDeliveryError(() => buildSummaryImage(input)));
    } catch (error) {
      const failure =
        error instanceof DeliveryError
          ? error
          : new DeliveryError('internal_error', true, 'delivery attempt failed', { cause: error });
      const reason = `${failure.reason}: ${failure.message}`;
      if (failure.transient) {
        await record('pending', reason);
        this.#options.metrics?.countFindingsDelivery('retried');
        this.#options.onAttempt?.(payload.rowKey, 'retried');
        this.#log(attempts === 1 ? 'warn' : 'debug', 'findings delivery will be retried', {
          rowKey: payload.rowKey,
          attempts,
          reason: failure.reason,
        });
        throw failure;
      }
      await record('failed', reason);
      this.#options.metrics?.countFindingsDelivery('failed');
      this.#options.onAttempt?.(payload.rowKey, 'failed');
      this.#log('warn', 'findings delivery failed', {
        rowKey: payload.rowKey,
        attempts,
        reason: failure.reason,
      });
      return;
    }
    await record('sent', null);
    this.#options.metrics?.countFindingsDelivery('sent');
    this.#options.metrics?.observeFindingsDeliveryLag(Math.max(0, (Date.now() - payload.storedAt) / 1000));
    this.#options.onAttempt?.(payload.rowKey, 'sent');
  }

  async #fetchSource(uri: string): Promise<Uint8Array> {
    try {
      return await this.#options.fetcher.fetch(
        uri,
        this.#options.maxObjectBytes !== undefined ? { maxBytes: this.#options.maxObjectBytes } : {},
      );
    } catch (error) {
      // The fetch error's message names the URI (it may hold patient data): keep only the class.
      const transient = (error as { transient?: unknown }).transient === true || isTransientError(error);
      throw new DeliveryError(
        'source_unavailable',
        transient,
        `the screened object could not be read again (${transient ? 'transient' : 'permanent'})`,
      );
    }
  }

  #sender(destination: string): FindingsSender {
    let sender = this.#senders.get(destination);
    if (sender === undefined) {
      const parsed = parseFindingsDestination(destination);
      sender =
        this.#options.senderFor?.(parsed) ??
        findingsSender(parsed, {
          ...this.#options.senders,
          ...(this.#options.metrics !== undefined ? { metrics: this.#options.metrics } : {}),
        });
      this.#senders.set(destination, sender);
    }
    return sender;
  }
}

/** A FindingsError (the source cannot make a findings object) as a permanent delivery failure. */
async function asDeliveryError<T>(build: () => T | Promise<T>): Promise<T> {
  try {
    return await build();
  } catch (error) {
    if (error instanceof FindingsError) throw new DeliveryError(error.code, false, error.message);
    throw error;
  }
}
