/**
 * The PACS request budget against the real Redis: two budget objects (two worker processes, as
 * far as Redis can tell) share one PACS's concurrency and rate; a holder that dies without
 * releasing loses its slots after the lease. Each test uses its own key prefix and deletes it.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createRedisClient, redisConnectionFromUrl } from './connection.js';
import { RedisRequestBudget } from './pacs-budget.js';

const connection = redisConnectionFromUrl('redis://127.0.0.1:6379/0');
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

function budgets(
  count: number,
  limits: { concurrency: number; requestsPerSecond: number },
  leaseMs?: number,
): RedisRequestBudget[] {
  const prefix = `cxrtest-${randomUUID().slice(0, 8)}`;
  const made = Array.from(
    { length: count },
    () => new RedisRequestBudget(connection, { limits, prefix, ...(leaseMs ? { leaseMs } : {}) }),
  );
  cleanups.push(async () => {
    await Promise.all(made.map((budget) => budget.close()));
    const redis = createRedisClient(connection);
    // SCAN, never KEYS: the Redis is shared.
    for await (const keys of redis.scanStream({ match: `${prefix}:*` }) as AsyncIterable<string[]>) {
      if (keys.length > 0) await redis.del(...keys);
    }
    await redis.quit();
  });
  return made;
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('RedisRequestBudget', () => {
  it('holds two processes together to one concurrency per PACS', async () => {
    const [a, b] = budgets(2, { concurrency: 3, requestsPerSecond: 0 });
    let running = 0;
    let peak = 0;
    const waits: string[] = [];
    await Promise.all(
      Array.from({ length: 16 }, async (_, i) => {
        const budget = i % 2 === 0 ? a! : b!;
        const slot = await budget.acquire('dicomweb+http://pacs:8042/dicom-web', {
          onWait: (reason) => waits.push(reason),
        });
        running += 1;
        peak = Math.max(peak, running);
        await pause(20);
        running -= 1;
        slot.release();
      }),
    );
    expect(peak).toBe(3);
    expect(waits.length).toBeGreaterThanOrEqual(13);
    expect(new Set(waits)).toEqual(new Set(['concurrency']));
  });

  it('holds two processes together to one rate per PACS, and keeps PACS apart', async () => {
    const [a, b] = budgets(2, { concurrency: 50, requestsPerSecond: 4 });
    const starts: number[] = [];
    const t0 = Date.now();
    await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const slot = await (i % 2 === 0 ? a! : b!).acquire('pacs-1');
        starts.push(Date.now() - t0);
        slot.release();
      }),
    );
    starts.sort((x, y) => x - y);
    for (let i = 4; i < starts.length; i++) {
      // Any 4 consecutive starts within one second at most (a few ms of clock granularity).
      expect((starts[i] ?? 0) - (starts[i - 4] ?? 0)).toBeGreaterThanOrEqual(980);
    }
    const other = Date.now();
    (await a!.acquire('pacs-2')).release();
    expect(Date.now() - other).toBeLessThan(200);
  });

  it('gives the slots of a holder that died back after the lease', async () => {
    const [dead, alive] = budgets(2, { concurrency: 2, requestsPerSecond: 0 }, 600);
    await dead!.acquire('pacs-1');
    await dead!.acquire('pacs-1');
    // The holder's process is gone: its renewals stop with its connection.
    await dead!.close();
    const t0 = Date.now();
    const slot = await alive!.acquire('pacs-1');
    const waited = Date.now() - t0;
    slot.release();
    expect(waited).toBeGreaterThanOrEqual(300);
    expect(waited).toBeLessThan(3000);
  });

  it('keeps a slot held longer than the lease while its holder lives', async () => {
    const [a, b] = budgets(2, { concurrency: 1, requestsPerSecond: 0 }, 300);
    const held = await a!.acquire('pacs-1');
    const controller = new AbortController();
    const waiting = b!.acquire('pacs-1', { signal: controller.signal });
    await pause(1000);
    controller.abort(new Error('still held'));
    await expect(waiting).rejects.toThrow('still held');
    held.release();
    (await b!.acquire('pacs-1')).release();
  });
});
