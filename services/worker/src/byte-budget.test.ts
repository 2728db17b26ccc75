import { describe, expect, it } from 'vitest';
import { ByteBudget } from './byte-budget.js';

/** Resolves after pending promise callbacks have run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('ByteBudget', () => {
  it('grants reservations that fit and holds back the rest until bytes are released', async () => {
    const budget = new ByteBudget(100);
    const a = budget.share();
    const b = budget.share();
    const c = budget.share();
    const granted: string[] = [];
    await a.reserve(60);
    void b.reserve(50).then(() => granted.push('b'));
    void c.reserve(10).then(() => granted.push('c'));
    await settle();
    // c would fit, but first come first served: it must not overtake b.
    expect(granted).toEqual([]);
    expect(budget.waiting).toBe(2);
    a.release();
    await settle();
    expect(granted).toEqual(['b', 'c']);
    expect(budget.available).toBe(40);
    b.release();
    c.release();
    c.release(); // idempotent
    expect(budget.available).toBe(100);
  });

  it('lets a request above the whole budget through alone, and gives back a share released while waiting', async () => {
    const budget = new ByteBudget(100);
    const small = budget.share();
    await small.reserve(1);
    const huge = budget.share();
    let hugeGranted = false;
    void huge.reserve(5_000).then(() => (hugeGranted = true));
    await settle();
    expect(hugeGranted).toBe(false);
    small.release();
    await settle();
    expect(hugeGranted).toBe(true);
    expect(budget.available).toBe(0);
    const gone = budget.share();
    const waiting = gone.reserve(10);
    gone.release(); // its job ended before the bytes came
    huge.release();
    await waiting;
    expect(budget.available).toBe(100);
    await expect(gone.reserve(1)).rejects.toThrow(/reserves once/);
  });
});
