import { describe, expect, it } from 'vitest';
import { MemoryRequestBudget, sleep } from './budget.js';

describe('MemoryRequestBudget', () => {
  it('never lets more requests than the concurrency run at once, and says why one waited', async () => {
    const budget = new MemoryRequestBudget({ concurrency: 3, requestsPerSecond: 0 });
    let running = 0;
    let peak = 0;
    const waits: string[] = [];
    await Promise.all(
      Array.from({ length: 12 }, async () => {
        const slot = await budget.acquire('pacs-a', { onWait: (reason) => waits.push(reason) });
        running += 1;
        peak = Math.max(peak, running);
        await sleep(10);
        running -= 1;
        slot.release();
        slot.release(); // idempotent
      }),
    );
    expect(peak).toBe(3);
    expect(waits).toEqual(Array.from({ length: 9 }, () => 'concurrency'));
  });

  it('starts at most the rate per second, per PACS', async () => {
    const budget = new MemoryRequestBudget({ concurrency: 100, requestsPerSecond: 5 });
    const started: number[] = [];
    const t0 = Date.now();
    await Promise.all(
      Array.from({ length: 12 }, async () => {
        const slot = await budget.acquire('pacs-a');
        started.push(Date.now() - t0);
        slot.release();
      }),
    );
    // Another PACS has its own budget: no wait.
    const other = Date.now();
    (await budget.acquire('pacs-b')).release();
    expect(Date.now() - other).toBeLessThan(50);
    started.sort((a, b) => a - b);
    // 12 requests at 5/s: the 6th waits for the first second to pass, the 11th for the second.
    expect(started[4]).toBeLessThan(500);
    expect(started[5]).toBeGreaterThanOrEqual(990);
    expect(started[10]).toBeGreaterThanOrEqual(1990);
    for (let i = 5; i < started.length; i++) {
      // Any 5 consecutive starts span at least a second.
      expect((started[i] ?? 0) - (started[i - 5] ?? 0)).toBeGreaterThanOrEqual(990);
    }
  });

  it('gives up waiting when the signal aborts', async () => {
    const budget = new MemoryRequestBudget({ concurrency: 1, requestsPerSecond: 0 });
    const held = await budget.acquire('pacs-a');
    const controller = new AbortController();
    const waiting = budget.acquire('pacs-a', { signal: controller.signal });
    controller.abort(new Error('stopped'));
    await expect(waiting).rejects.toThrow('stopped');
    held.release();
    (await budget.acquire('pacs-a')).release();
  });
});
