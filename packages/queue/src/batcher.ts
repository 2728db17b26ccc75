/**
 * Dynamic batching in the style of Triton's dynamic batcher: items submitted one by one are run
 * together in batches of at most `maxBatch`, waiting at most `maxDelayMs` after the oldest waiting
 * item. Pure (no queue, no model): the worker puts BullMQ jobs in, a runtime's `predict` runs the
 * batches.
 */

/** Options of a `DynamicBatcher`. */
export interface DynamicBatcherOptions<T, R> {
  /** Largest batch passed to `run`. */
  readonly maxBatch: number;
  /** Longest time the oldest waiting item waits for the batch to fill before it runs anyway. */
  readonly maxDelayMs: number;
  /**
   * Runs one batch. Returns one entry per item, in order; an `Error` entry fails only that item.
   * A rejection (or a result of the wrong length) fails every item of the batch.
   */
  readonly run: (items: T[]) => Promise<readonly (R | Error)[]>;
  /**
   * An item's weight (default 1): `maxBatch` then bounds the summed weight of a batch, and a batch
   * is ready once the waiting weight reaches it. An item is never split: one heavier than
   * `maxBatch` runs alone. The results service weighs a message by its rows.
   */
  readonly weight?: (item: T) => number;
  /** Called when a batch starts: its size and how long its oldest item waited (for metrics). */
  readonly onBatch?: (info: { readonly size: number; readonly oldestWaitMs: number }) => void;
}

/** Raised by `submit` after `close()`. */
export class BatcherClosedError extends Error {
  readonly code = 'CXR_BATCHER_CLOSED';
  constructor() {
    super('dynamic batcher is closed');
    this.name = 'BatcherClosedError';
  }
}

interface Waiting<T, R> {
  readonly item: T;
  readonly weight: number;
  readonly submittedAt: number;
  readonly resolve: (result: R) => void;
  readonly reject: (error: unknown) => void;
}

/** Collects submitted items into batches; one batch runs at a time while the next one forms. */
export class DynamicBatcher<T, R> {
  readonly #maxBatch: number;
  readonly #maxDelayMs: number;
  readonly #run: DynamicBatcherOptions<T, R>['run'];
  readonly #onBatch: DynamicBatcherOptions<T, R>['onBatch'];
  readonly #weight: DynamicBatcherOptions<T, R>['weight'];
  readonly #waiting: Waiting<T, R>[] = [];
  /** Summed weight of #waiting. */
  #waitingWeight = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Set when the oldest waiting item's delay expired while a batch was in flight. */
  #deadlinePassed = false;
  /** Set by drain()/close(): run whatever waits without waiting for size or delay. */
  #flushAll = false;
  #inFlight: Promise<void> | undefined;
  #closed = false;
  #idleWaiters: (() => void)[] = [];

  constructor(options: DynamicBatcherOptions<T, R>) {
    if (!Number.isInteger(options.maxBatch) || options.maxBatch < 1) {
      throw new RangeError('maxBatch must be a positive integer');
    }
    if (!(options.maxDelayMs >= 0)) throw new RangeError('maxDelayMs must be >= 0');
    this.#maxBatch = options.maxBatch;
    this.#maxDelayMs = options.maxDelayMs;
    this.#run = options.run;
    this.#onBatch = options.onBatch;
    this.#weight = options.weight;
  }

  /** Items waiting for a batch (not counting the batch in flight). */
  get waitingCount(): number {
    return this.#waiting.length;
  }

  /** Summed weight of the items waiting for a batch (their count without `weight`). */
  get waitingWeight(): number {
    return this.#waitingWeight;
  }

  /** Adds an item to the next batch; resolves with its result or rejects with its error. */
  submit(item: T): Promise<R> {
    if (this.#closed) return Promise.reject(new BatcherClosedError());
    let weight = 1;
    if (this.#weight !== undefined) {
      weight = this.#weight(item);
      if (!(Number.isFinite(weight) && weight >= 0)) {
        return Promise.reject(new RangeError(`item weight must be a finite number >= 0, got ${weight}`));
      }
    }
    return new Promise<R>((resolve, reject) => {
      this.#waiting.push({ item, weight, submittedAt: Date.now(), resolve, reject });
      this.#waitingWeight += weight;
      if (this.#waiting.length === 1 && this.#inFlight === undefined) this.#armTimer();
      this.#maybeStartBatch();
    });
  }

  /** Runs everything already submitted without waiting for size or delay; resolves when done. */
  async drain(): Promise<void> {
    this.#flushAll = true;
    this.#maybeStartBatch();
    await this.#whenIdle();
    this.#flushAll = false;
  }

  /** Rejects new submits, then runs and finishes everything already submitted. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.drain();
  }

  #armTimer(): void {
    this.#clearTimer();
    const oldest = this.#waiting[0];
    if (oldest === undefined) return;
    const remaining = oldest.submittedAt + this.#maxDelayMs - Date.now();
    if (remaining <= 0) {
      this.#deadlinePassed = true;
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#deadlinePassed = true;
      this.#maybeStartBatch();
    }, remaining);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #maybeStartBatch(): void {
    if (this.#inFlight !== undefined || this.#waiting.length === 0) return;
    const ready = this.#waitingWeight >= this.#maxBatch || this.#deadlinePassed || this.#flushAll;
    if (!ready) return;
    this.#clearTimer();
    this.#deadlinePassed = false;
    // As many of the oldest items as fit in maxBatch, at least one.
    let count = 0;
    let weight = 0;
    for (const w of this.#waiting) {
      if (count > 0 && weight + w.weight > this.#maxBatch) break;
      count += 1;
      weight += w.weight;
    }
    this.#waitingWeight -= weight;
    const batch = this.#waiting.splice(0, count);
    this.#inFlight = this.#runBatch(batch).finally(() => {
      this.#inFlight = undefined;
      if (this.#waiting.length > 0) {
        // Items that arrived during the batch keep their own deadline (it may already have passed).
        this.#armTimer();
        this.#maybeStartBatch();
      } else {
        this.#notifyIdle();
      }
    });
  }

  async #runBatch(batch: Waiting<T, R>[]): Promise<void> {
    const now = Date.now();
    this.#onBatch?.({ size: batch.length, oldestWaitMs: now - (batch[0]?.submittedAt ?? now) });
    let results: readonly (R | Error)[];
    try {
      // Promise.resolve().then: a `run` that throws synchronously fails the batch, not submit().
      results = await Promise.resolve().then(() => this.#run(batch.map((w) => w.item)));
    } catch (error) {
      for (const w of batch) w.reject(error);
      return;
    }
    if (results.length !== batch.length) {
      const error = new Error(`batch run returned ${results.length} results for ${batch.length} items`);
      for (const w of batch) w.reject(error);
      return;
    }
    batch.forEach((w, i) => {
      const result = results[i] as R | Error;
      if (result instanceof Error) w.reject(result);
      else w.resolve(result);
    });
  }

  #whenIdle(): Promise<void> {
    if (this.#inFlight === undefined && this.#waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #notifyIdle(): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
