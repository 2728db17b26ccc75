import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BatcherClosedError, DynamicBatcher } from './batcher.js';

/** A controllable `run`: records batches, resolves each one when the test says so. */
function recordingRun() {
  const batches: number[][] = [];
  const pending: {
    items: number[];
    finish: (results?: (number | Error)[]) => void;
    fail: (e: Error) => void;
  }[] = [];
  const run = (items: number[]): Promise<(number | Error)[]> => {
    batches.push([...items]);
    return new Promise((resolve, reject) => {
      pending.push({
        items,
        finish: (results) => {
          resolve(results ?? items.map((x) => x * 10));
        },
        fail: reject,
      });
    });
  };
  return { batches, pending, run };
}

describe('DynamicBatcher', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('flushes as soon as maxBatch items wait, without waiting for the delay', async () => {
    const { batches, pending, run } = recordingRun();
    const batcher = new DynamicBatcher({ maxBatch: 4, maxDelayMs: 1000, run });
    const results = [1, 2, 3, 4].map((x) => batcher.submit(x));
    await vi.advanceTimersByTimeAsync(0);
    expect(batches).toEqual([[1, 2, 3, 4]]);
    pending[0]!.finish();
    expect(await Promise.all(results)).toEqual([10, 20, 30, 40]);
  });

  it('with weights, bounds a batch by summed weight, keeps items whole and flushes at maxBatch weight', async () => {
    const { batches, pending, run } = recordingRun();
    // An item's weight is its value: 3 + 4 fit in 8, the next 3 does not; 9 alone exceeds 8.
    const batcher = new DynamicBatcher({ maxBatch: 8, maxDelayMs: 1000, run, weight: (x: number) => x });
    const first = [3, 4].map((x) => batcher.submit(x));
    await vi.advanceTimersByTimeAsync(0);
    expect(batches).toEqual([]);
    expect(batcher.waitingWeight).toBe(7);
    const rest = [3, 9, 1].map((x) => batcher.submit(x));
    await vi.advanceTimersByTimeAsync(0);
    expect(batches).toEqual([[3, 4]]);
    pending[0]!.finish();
    await vi.advanceTimersByTimeAsync(0);
    // 3 + 9 + 1 = 13 >= 8 waits: the next batch starts at once with the 3 alone (3 + 9 > 8).
    expect(batches).toEqual([[3, 4], [3]]);
    pending[1]!.finish();
    await vi.advanceTimersByTimeAsync(0);
    // 9 + 1 = 10 >= 8: the heavy item runs alone, never split.
    expect(batches).toEqual([[3, 4], [3], [9]]);
    pending[2]!.finish();
    await vi.advanceTimersByTimeAsync(0);
    // 1 left: below maxBatch, it waits for its delay.
    expect(batches).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(1000);
    expect(batches).toEqual([[3, 4], [3], [9], [1]]);
    pending[3]!.finish();
    expect(await Promise.all([...first, ...rest])).toEqual([30, 40, 30, 90, 10]);
    expect(batcher.waitingWeight).toBe(0);
  });

  it('refuses an item whose weight is not a finite number >= 0', async () => {
    const { run } = recordingRun();
    const batcher = new DynamicBatcher({ maxBatch: 8, maxDelayMs: 10, run, weight: (x: number) => x });
    await expect(batcher.submit(-1)).rejects.toThrow(RangeError);
    await expect(batcher.submit(Number.NaN)).rejects.toThrow(RangeError);
    expect(batcher.waitingCount).toBe(0);
  });

  it('does not flush a partial batch before maxDelayMs, then flushes it', async () => {
    const { batches, pending, run } = recordingRun();
    const batcher = new DynamicBatcher({ maxBatch: 8, maxDelayMs: 50, run });
    const a = batcher.submit(1);
    await vi.advanceTimersByTimeAsync(30);
    const b = batcher.submit(2);
    await vi.advanceTimersByTimeAsync(19);
    expect(batches).toEqual([]);
    // The delay runs from the first waiting item (t=0), not from the last one (t=30).
    await vi.advanceTimersByTimeAsync(1);
    expect(batches).toEqual([[1, 2]]);
    pending[0]!.finish();
    expect(await Promise.all([a, b])).toEqual([10, 20]);
  });

  it('runs one batch at a time; the next batch forms while the current one runs', async () => {
    const { batches, pending, run } = recordingRun();
    const sizes: number[] = [];
    const batcher = new DynamicBatcher({
      maxBatch: 3,
      maxDelayMs: 10,
      run,
      onBatch: ({ size }) => sizes.push(size),
    });
    const all = Array.from({ length: 8 }, (_, i) => batcher.submit(i));
    await vi.advanceTimersByTimeAsync(0);
    expect(batches).toEqual([[0, 1, 2]]);
    // Well past the delay: the waiting items must still wait for the batch in flight.
    await vi.advanceTimersByTimeAsync(100);
    expect(batches).toHaveLength(1);
    expect(batcher.waitingCount).toBe(5);
    pending[0]!.finish();
    await vi.advanceTimersByTimeAsync(0);
    expect(batches[1]).toEqual([3, 4, 5]);
    pending[1]!.finish();
    // The last two waited past their deadline already: they run right away as a partial batch.
    await vi.advanceTimersByTimeAsync(0);
    expect(batches[2]).toEqual([6, 7]);
    pending[2]!.finish();
    expect(await Promise.all(all)).toEqual([0, 10, 20, 30, 40, 50, 60, 70]);
    expect(sizes).toEqual([3, 3, 2]);
  });

  it('fails only the item whose result is an Error', async () => {
    const batcher = new DynamicBatcher<number, number>({
      maxBatch: 3,
      maxDelayMs: 5,
      run: (items) => Promise.resolve(items.map((x) => (x === 2 ? new Error('bad item 2') : x + 1))),
    });
    const results = [1, 2, 3].map((x) => batcher.submit(x));
    const settled = await Promise.allSettled(results);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(settled[0]).toEqual({ status: 'fulfilled', value: 2 });
    expect((settled[1] as PromiseRejectedResult).reason).toMatchObject({ message: 'bad item 2' });
  });

  it('rejects every item of a batch whose run fails, and keeps serving later batches', async () => {
    const { pending, run } = recordingRun();
    const batcher = new DynamicBatcher({ maxBatch: 2, maxDelayMs: 5, run });
    const first = [1, 2].map((x) => batcher.submit(x));
    const third = batcher.submit(3);
    await vi.advanceTimersByTimeAsync(0);
    pending[0]!.fail(new Error('runtime crashed'));
    const settled = await Promise.allSettled(first);
    expect(settled.every((s) => s.status === 'rejected')).toBe(true);
    await vi.advanceTimersByTimeAsync(5);
    pending[1]!.finish();
    expect(await third).toBe(30);
  });

  it('rejects every item when run returns the wrong number of results or throws synchronously', async () => {
    const short = new DynamicBatcher<number, number>({
      maxBatch: 2,
      maxDelayMs: 1000,
      run: () => Promise.resolve([1]),
    });
    const s = await Promise.allSettled([short.submit(1), short.submit(2)]);
    expect(s.map((x) => x.status)).toEqual(['rejected', 'rejected']);

    const throwing = new DynamicBatcher<number, number>({
      maxBatch: 1,
      maxDelayMs: 0,
      run: () => {
        throw new Error('sync throw');
      },
    });
    await expect(throwing.submit(1)).rejects.toThrow('sync throw');
  });

  it('close() rejects new submits and finishes in-flight and waiting items without the delay', async () => {
    const { batches, pending, run } = recordingRun();
    const batcher = new DynamicBatcher({ maxBatch: 2, maxDelayMs: 60_000, run });
    const results = [1, 2, 3].map((x) => batcher.submit(x));
    await vi.advanceTimersByTimeAsync(0);
    expect(batches).toEqual([[1, 2]]);
    let closed = false;
    const closing = batcher.close().then(() => {
      closed = true;
    });
    await expect(batcher.submit(4)).rejects.toBeInstanceOf(BatcherClosedError);
    await vi.advanceTimersByTimeAsync(0);
    expect(closed).toBe(false);
    pending[0]!.finish();
    await vi.advanceTimersByTimeAsync(0);
    // Item 3 runs at once (no 60 s wait) because the batcher is draining.
    expect(batches).toEqual([[1, 2], [3]]);
    expect(closed).toBe(false);
    pending[1]!.finish();
    await closing;
    expect(closed).toBe(true);
    expect(await Promise.all(results)).toEqual([10, 20, 30]);
  });

  it('drain() flushes a partial batch but leaves the batcher open', async () => {
    const batcher = new DynamicBatcher<number, number>({
      maxBatch: 10,
      maxDelayMs: 60_000,
      run: (items) => Promise.resolve(items),
    });
    const a = batcher.submit(7);
    await batcher.drain();
    expect(await a).toBe(7);
    const b = batcher.submit(8);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(await b).toBe(8);
  });

  it('rejects invalid options', () => {
    const run = (items: number[]) => Promise.resolve(items);
    expect(() => new DynamicBatcher({ maxBatch: 0, maxDelayMs: 1, run })).toThrow(RangeError);
    expect(() => new DynamicBatcher({ maxBatch: 2, maxDelayMs: -1, run })).toThrow(RangeError);
  });
});
