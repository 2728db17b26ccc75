/**
 * The request budget of each PACS kept in Redis, so that every worker and ingest process talking
 * to one PACS shares it: at most `concurrency` requests in flight and `requestsPerSecond` started
 * in any one second, whatever the number of pods.
 *
 * Layout, per PACS (`<prefix>:cxr-pacs:{<sha256(pacs)[:16]>}:...`, hash-tagged for Redis Cluster;
 * the PACS URL itself is not spelled out in Redis):
 * - `:leases`, a sorted set of the requests in flight scored by lease expiry. A process that dies
 *   holding slots loses them after LEASE_MS; live holders renew theirs every third of it.
 * - `:starts`, a sorted set of request starts in the last second (the sliding-window rate).
 * One Lua script grants or refuses atomically on Redis's own clock (TIME), so the hosts' clocks do
 * not matter. A refused acquire polls again after the hint the script returns (plus jitter, so
 * that waiters do not retry in lock step).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { AcquireOptions, RequestBudget, RequestBudgetLimits, RequestSlot } from '@cxr/storage';
import { createRedisClient, type RedisConnectionOptions } from './connection.js';

/** How long a slot outlives its holder's last renewal (a crashed worker's slots come back after this). */
export const PACS_LEASE_MS = 30_000;
/** Poll interval bounds while the budget is exhausted. */
const MIN_POLL_MS = 5;
const MAX_POLL_MS = 250;

/**
 * KEYS: leases, starts. ARGV: slot id, concurrency, requests per second (0: none), lease ms.
 * Returns {0, 0} granted, {1, ms} no free slot (retry hint), {2, ms} rate reached (wait).
 */
const ACQUIRE_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return {1, 25}
end
local rate = tonumber(ARGV[3])
if rate > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 1000)
  if redis.call('ZCARD', KEYS[2]) >= rate then
    local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    return {2, tonumber(oldest[2]) + 1000 - now + 1}
  end
  redis.call('ZADD', KEYS[2], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[2], 2000)
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
redis.call('PEXPIRE', KEYS[1], lease * 2)
return {0, 0}
`;

/** KEYS: leases. ARGV: slot id, lease ms. Extends a held lease (no-op when it already expired). */
const RENEW_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return 0
`;

/**
 * The client with the two scripts as commands: ioredis sends them by EVALSHA (the script text
 * only once, when Redis does not know it yet), not the whole script with every request.
 */
type RedisClient = ReturnType<typeof createRedisClient> & {
  cxrPacsAcquire(...keysAndArgs: (string | number)[]): Promise<[number, number]>;
  cxrPacsRenew(...keysAndArgs: (string | number)[]): Promise<number>;
};

/** Resolves after `ms`, or rejects when the signal aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
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

export interface RedisRequestBudgetOptions {
  readonly limits: RequestBudgetLimits;
  /** Key prefix (the queue prefix; default BullMQ's `bull`). */
  readonly prefix?: string;
  /** Lease length (tests); default PACS_LEASE_MS. */
  readonly leaseMs?: number;
}

/** A RequestBudget shared through Redis; see the file comment. */
export class RedisRequestBudget implements RequestBudget {
  readonly #redis: RedisClient;
  readonly #limits: RequestBudgetLimits;
  readonly #prefix: string;
  readonly #leaseMs: number;
  /** keysOf's answers (a hash per request otherwise); a process talks to a few PACS at most. */
  readonly #keys = new Map<string, { leases: string; starts: string }>();

  constructor(connection: RedisConnectionOptions, options: RedisRequestBudgetOptions) {
    const { concurrency, requestsPerSecond } = options.limits;
    if (!Number.isInteger(concurrency) || concurrency < 1)
      throw new RangeError('concurrency must be a positive integer');
    if (!Number.isInteger(requestsPerSecond) || requestsPerSecond < 0) {
      throw new RangeError('requestsPerSecond must be a non-negative integer');
    }
    // Connects on first use: a worker that never talks to a PACS opens no extra connection.
    const redis = createRedisClient({ ...connection, lazyConnect: true });
    redis.defineCommand('cxrPacsAcquire', { numberOfKeys: 2, lua: ACQUIRE_SCRIPT });
    redis.defineCommand('cxrPacsRenew', { numberOfKeys: 1, lua: RENEW_SCRIPT });
    this.#redis = redis as RedisClient;
    this.#limits = options.limits;
    this.#prefix = options.prefix ?? 'bull';
    this.#leaseMs = options.leaseMs ?? PACS_LEASE_MS;
  }

  /** The Redis keys of one PACS's budget. */
  keysOf(pacs: string): { leases: string; starts: string } {
    let keys = this.#keys.get(pacs);
    if (keys === undefined) {
      const tag = createHash('sha256').update(pacs).digest('hex').slice(0, 16);
      const base = `${this.#prefix}:cxr-pacs:{${tag}}`;
      keys = { leases: `${base}:leases`, starts: `${base}:starts` };
      this.#keys.set(pacs, keys);
    }
    return keys;
  }

  async acquire(pacs: string, options: AcquireOptions = {}): Promise<RequestSlot> {
    const keys = this.keysOf(pacs);
    const id = randomUUID();
    let waited = false;
    for (;;) {
      options.signal?.throwIfAborted();
      const [code, hint] = await this.#redis.cxrPacsAcquire(
        keys.leases,
        keys.starts,
        id,
        this.#limits.concurrency,
        this.#limits.requestsPerSecond,
        this.#leaseMs,
      );
      if (code === 0) return this.#slot(keys.leases, id);
      if (!waited) options.onWait?.(code === 1 ? 'concurrency' : 'rate');
      waited = true;
      const pause = Math.min(MAX_POLL_MS, Math.max(MIN_POLL_MS, hint));
      await sleep(pause + Math.random() * MIN_POLL_MS * 2, options.signal);
    }
  }

  async close(): Promise<void> {
    if (this.#redis.status === 'wait') {
      this.#redis.disconnect();
      return;
    }
    await this.#redis.quit().catch(() => undefined);
  }

  #slot(leases: string, id: string): RequestSlot {
    const renew = setInterval(() => {
      this.#redis.cxrPacsRenew(leases, id, this.#leaseMs).catch(() => undefined);
    }, this.#leaseMs / 3);
    renew.unref();
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        clearInterval(renew);
        // Not awaited: a lost release only holds the slot until its lease expires.
        this.#redis.zrem(leases, id).catch(() => undefined);
      },
    };
  }
}
