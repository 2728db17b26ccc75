/**
 * Politeness towards a PACS: the request budget every process talking to one PACS shares
 * (at most N requests at once and R started per second), and the port through which PACS
 * requests are measured. A PACS is fragile (a hospital's archive serves its radiologists first),
 * so the budget is per PACS, not per worker: `RedisRequestBudget` in @cxr/queue keeps it in Redis
 * for every worker and ingest; `MemoryRequestBudget` here serves one process (tests, a run
 * without Redis).
 */

/** The `operation` label of the PACS metrics (as @cxr/metrics' PACS_OPERATIONS). */
export type PacsOperationName =
  'qido' | 'wado' | 'stow' | 'c_echo' | 'c_find' | 'c_get' | 'c_move' | 'c_store';

/** How a PACS request ended (as @cxr/metrics' PACS_STATUS_CLASSES). */
export type PacsStatusClassName =
  '2xx' | '3xx' | '4xx' | '5xx' | 'success' | 'warning' | 'failure' | 'refused' | 'network' | 'timeout';

/** Why a PACS request waited (as @cxr/metrics' PACS_THROTTLE_REASONS). */
export type PacsThrottleReasonName = 'concurrency' | 'rate' | 'pacs_429' | 'pacs_503';

/** Port: where PACS request measurements go (the services pass their CxrMetrics). */
export interface PacsObserver {
  observePacsRequest(operation: PacsOperationName, statusClass: PacsStatusClassName, seconds: number): void;
  countPacsThrottled(reason: PacsThrottleReasonName): void;
}

/** An observer that records nothing. */
export const silentPacsObserver: PacsObserver = {
  observePacsRequest: () => undefined,
  countPacsThrottled: () => undefined,
};

/** The limits of one PACS's budget. */
export interface RequestBudgetLimits {
  /** Requests in flight at once, from all processes together. */
  readonly concurrency: number;
  /** Requests started per second (sliding one-second window); 0 = no rate limit. */
  readonly requestsPerSecond: number;
}

/** A granted request; `release` when it has ended (idempotent). */
export interface RequestSlot {
  release(): void;
}

export interface AcquireOptions {
  readonly signal?: AbortSignal;
  /** Called once, with the first reason, when the request has to wait for the budget. */
  readonly onWait?: (reason: 'concurrency' | 'rate') => void;
}

/** Port: the request budget of each PACS, shared by whoever holds the same budget store. */
export interface RequestBudget {
  /** Resolves when a request to `pacs` (a stable PACS identity, e.g. its base URL) may start. */
  acquire(pacs: string, options?: AcquireOptions): Promise<RequestSlot>;
  close(): Promise<void>;
}

interface PacsState {
  active: number;
  /** Start times (ms) within the last second. */
  readonly starts: number[];
  readonly waiters: Set<() => void>;
}

/** Resolves after `ms`, or rejects when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The budget of one process: in memory, exact, fair enough (waiters retry on every release). */
export class MemoryRequestBudget implements RequestBudget {
  readonly #limits: RequestBudgetLimits;
  readonly #states = new Map<string, PacsState>();

  constructor(limits: RequestBudgetLimits) {
    if (!Number.isInteger(limits.concurrency) || limits.concurrency < 1) {
      throw new RangeError('concurrency must be a positive integer');
    }
    if (!Number.isInteger(limits.requestsPerSecond) || limits.requestsPerSecond < 0) {
      throw new RangeError('requestsPerSecond must be a non-negative integer');
    }
    this.#limits = limits;
  }

  async acquire(pacs: string, options: AcquireOptions = {}): Promise<RequestSlot> {
    let state = this.#states.get(pacs);
    if (state === undefined) {
      state = { active: 0, starts: [], waiters: new Set() };
      this.#states.set(pacs, state);
    }
    let waited = false;
    for (;;) {
      options.signal?.throwIfAborted();
      const now = Date.now();
      while (state.starts.length > 0 && (state.starts[0] ?? now) <= now - 1000) state.starts.shift();
      const { concurrency, requestsPerSecond } = this.#limits;
      let reason: 'concurrency' | 'rate';
      if (state.active >= concurrency) reason = 'concurrency';
      else if (requestsPerSecond > 0 && state.starts.length >= requestsPerSecond) reason = 'rate';
      else {
        state.active += 1;
        state.starts.push(now);
        return this.#slot(state);
      }
      if (!waited) options.onWait?.(reason);
      waited = true;
      if (reason === 'rate') {
        await sleep((state.starts[0] ?? now) + 1000 - now + 1, options.signal);
      } else {
        await this.#released(state, options.signal);
      }
    }
  }

  close(): Promise<void> {
    for (const state of this.#states.values()) for (const wake of state.waiters) wake();
    return Promise.resolve();
  }

  #slot(state: PacsState): RequestSlot {
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        state.active -= 1;
        for (const wake of state.waiters) wake();
      },
    };
  }

  /** Resolves at the next release (or abort). */
  #released(state: PacsState, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const wake = (): void => {
        state.waiters.delete(wake);
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        state.waiters.delete(wake);
        reject(signal?.reason as Error);
      };
      state.waiters.add(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
