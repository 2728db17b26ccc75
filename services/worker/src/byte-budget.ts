/**
 * A budget of bytes shared by the jobs a worker runs at once, so that the objects it holds in
 * memory (fetched, waiting for a decode thread or being decoded) never exceed a bound, whatever
 * the archive holds. Grants are first come, first served: a large object waiting for room is not
 * overtaken by a stream of small ones.
 */

/** One job's share: reserved once the object's size is known, released when its bytes are no longer needed. */
export interface BudgetShare {
  /** Waits until `bytes` fit in the budget (a request above the whole budget waits for all of it). */
  reserve(bytes: number): Promise<void>;
  /** Gives the reserved bytes back; safe to call more than once, or without a reservation. */
  release(): void;
}

interface Waiter {
  readonly bytes: number;
  readonly grant: () => void;
}

export class ByteBudget {
  readonly limit: number;
  #available: number;
  readonly #waiters: Waiter[] = [];

  constructor(limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new RangeError(`ByteBudget: limit must be a positive integer, got ${limit}`);
    }
    this.limit = limit;
    this.#available = limit;
  }

  /** Bytes not reserved at the moment. */
  get available(): number {
    return this.#available;
  }

  /** Reservations waiting for room. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** A new, empty share for one job. */
  share(): BudgetShare {
    let state: 'empty' | 'pending' | 'held' | 'released' = 'empty';
    let held = 0;
    const giveBack = (): void => {
      this.#available += held;
      held = 0;
      this.#grant();
    };
    return {
      reserve: (bytes) => {
        if (state !== 'empty') return Promise.reject(new Error('ByteBudget: a share reserves once'));
        const amount = Math.min(Math.max(0, Math.ceil(bytes)), this.limit);
        state = 'pending';
        return new Promise<void>((resolve) => {
          this.#enqueue({
            bytes: amount,
            grant: () => {
              held = amount;
              // Released while it waited (its job ended): hand the bytes straight back.
              if (state === 'released') giveBack();
              else state = 'held';
              resolve();
            },
          });
        });
      },
      release: () => {
        const wasHeld = state === 'held';
        state = 'released';
        if (wasHeld) giveBack();
      },
    };
  }

  #enqueue(waiter: Waiter): void {
    this.#waiters.push(waiter);
    this.#grant();
  }

  #grant(): void {
    for (
      let next = this.#waiters[0];
      next !== undefined && next.bytes <= this.#available;
      next = this.#waiters[0]
    ) {
      this.#waiters.shift();
      this.#available -= next.bytes;
      next.grant();
    }
  }
}
