import { Redis, type RedisOptions } from 'ioredis';

/** Redis connection options (ioredis), as built by `redisConnectionFromUrl`. */
export type RedisConnectionOptions = RedisOptions;

/**
 * Redis connection options from a `redis://` or `rediss://` URL (TLS for the latter), e.g.
 * `redis://:secret@redis:6379/2`. The caller passes the URL from `@cxr/config`: this package never
 * reads the environment. `maxRetriesPerRequest: null` is what BullMQ workers require so blocking
 * commands survive a Redis restart instead of failing after 20 retries.
 */
export function redisConnectionFromUrl(url: string): RedisConnectionOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (cause) {
    // The URL may hold a password: never echo it.
    throw new Error('invalid Redis URL (expected redis://[user:password@]host[:port][/db])', {
      cause,
    });
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new Error(`unsupported Redis URL scheme ${parsed.protocol} (expected redis: or rediss:)`);
  }
  const dbPath = parsed.pathname.replace(/^\//, '');
  const db = dbPath === '' ? 0 : Number(dbPath);
  if (!Number.isInteger(db) || db < 0) {
    throw new Error('invalid Redis database number in URL path');
  }
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: parsed.port === '' ? 6379 : Number(parsed.port),
    db,
    ...(parsed.username !== '' ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password !== '' ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: { servername: parsed.hostname } } : {}),
    maxRetriesPerRequest: null,
  };
}

/** `host:port` of the Redis server of some connection options: safe to log (no password). */
export function redisTarget(options: RedisConnectionOptions): string {
  return `${options.host ?? '127.0.0.1'}:${options.port ?? 6379}`;
}

/**
 * A new ioredis client owned by one adapter. BullMQ 6 loads ioredis through `require` only, which
 * fails from its ESM build ("could not load the optional 'ioredis' package"), so the adapters hand
 * BullMQ a constructed client instead of options, and close it themselves.
 */
export function createRedisClient(options: RedisConnectionOptions): Redis {
  const client = new Redis({ ...options, maxRetriesPerRequest: null });
  const target = redisTarget(options);
  // While Redis is down every reconnect attempt emits 'error'; without a listener ioredis prints
  // "[ioredis] Unhandled error event" plus a stack to stderr (non-JSON noise, test/e2e measured
  // ~10 lines per second per client). The process's outage reporter, when one is installed,
  // turns them into a few log lines (see reportRedisConnectionErrors).
  client.on('error', (error: Error) => {
    processOutageReporter?.clientFailed(client, target, error);
  });
  client.on('ready', () => {
    processOutageReporter?.clientReady(client);
  });
  client.on('end', () => {
    processOutageReporter?.clientEnded(client);
  });
  return client;
}

/** Where the outage reporter writes; @cxr/config/log's Logger is one. */
export type ConnectionLog = (
  level: 'info' | 'warn',
  msg: string,
  data: Readonly<Record<string, unknown>>,
) => void;

export interface RedisOutageReporterOptions {
  /** Time between two `redis connection still failing` lines of one outage (default 30 s). */
  readonly intervalMs?: number;
  /** Milliseconds clock (tests). */
  readonly now?: () => number;
}

/** Error class name and code only: ioredis messages name the address, BullMQ's may say more. */
function errorFields(error: Error): { errorName: string; errorCode?: string } {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? { errorName: error.name, errorCode: code } : { errorName: error.name };
}

/**
 * Turns the connection errors of the Redis clients of a process into a few log lines. While Redis
 * is unreachable every client emits an error per reconnect attempt (several a second each), so an
 * outage becomes one `redis connection failed` line, a `redis connection still failing` line with
 * the count every `intervalMs`, and `redis connection restored` once every failing client is ready
 * again. One reporter per process: however many clients there are, it is one outage.
 */
export class RedisOutageReporter {
  readonly #log: ConnectionLog;
  readonly #intervalMs: number;
  readonly #now: () => number;
  /** Clients whose last event was an error. */
  readonly #failing = new Set<object>();
  #downSince: number | undefined;
  #lastLineAt = 0;
  #errors = 0;
  #errorsSinceLine = 0;

  constructor(log: ConnectionLog, options: RedisOutageReporterOptions = {}) {
    this.#log = log;
    this.#intervalMs = options.intervalMs ?? 30_000;
    this.#now = options.now ?? Date.now;
  }

  clientFailed(client: object, target: string, error: Error): void {
    this.#failing.add(client);
    const now = this.#now();
    if (this.#downSince === undefined) {
      this.#downSince = now;
      this.#lastLineAt = now;
      this.#errors = 1;
      this.#errorsSinceLine = 0;
      this.#log('warn', 'redis connection failed', { redis: target, ...errorFields(error) });
      return;
    }
    this.#errors += 1;
    this.#errorsSinceLine += 1;
    if (now - this.#lastLineAt < this.#intervalMs) return;
    this.#log('warn', 'redis connection still failing', {
      redis: target,
      errors: this.#errorsSinceLine,
      downSeconds: Math.round((now - this.#downSince) / 1000),
      ...errorFields(error),
    });
    this.#lastLineAt = now;
    this.#errorsSinceLine = 0;
  }

  clientReady(client: object): void {
    this.#failing.delete(client);
    if (this.#downSince === undefined || this.#failing.size > 0) return;
    this.#log('info', 'redis connection restored', {
      downSeconds: Math.round((this.#now() - this.#downSince) / 1000),
      errors: this.#errors,
    });
    this.#downSince = undefined;
  }

  /** A client closed (on purpose, or given up): no longer part of the outage. */
  clientEnded(client: object): void {
    this.#failing.delete(client);
  }
}

let processOutageReporter: RedisOutageReporter | undefined;

/**
 * Logs the connection errors of every Redis client of this process (created by
 * createRedisClient) through `log`, as a RedisOutageReporter; the services and the long CLI
 * commands call it once at start with their logger. Without it the errors are dropped.
 */
export function reportRedisConnectionErrors(
  log: ConnectionLog,
  options: RedisOutageReporterOptions = {},
): RedisOutageReporter {
  processOutageReporter = new RedisOutageReporter(log, options);
  return processOutageReporter;
}

const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

/**
 * True for an error that says the connection to Redis is down (refused, reset, unresolvable,
 * closed). BullMQ objects forward these from their clients, including the blocking clients they
 * duplicate themselves; the outage reporter covers them, so the adapters' `onError` skips them.
 */
export function isRedisConnectionError(error: Error): boolean {
  const code = (error as { code?: unknown }).code;
  return (
    (typeof code === 'string' && CONNECTION_ERROR_CODES.has(code)) ||
    error.message === 'Connection is closed.'
  );
}

/** Redis did not answer within the start-up bound (a wrong CXR_REDIS_URL, Redis not running). */
export class RedisUnreachableError extends Error {
  override readonly name = 'RedisUnreachableError';
}

/**
 * Waits until Redis answers a PING: true once it does, false when `signal` aborts first; throws
 * RedisUnreachableError after `timeoutMs`. Commands that start work against Redis call it first,
 * so a wrong URL is one clear error instead of a process waiting forever for a connection.
 */
export async function waitForRedis(
  options: RedisConnectionOptions,
  wait: { readonly timeoutMs: number; readonly signal?: AbortSignal },
): Promise<boolean> {
  const client = createRedisClient(options);
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    return await new Promise<boolean>((resolve, reject) => {
      timer = setTimeout(() => {
        const seconds = Math.round(wait.timeoutMs / 100) / 10;
        reject(
          new RedisUnreachableError(`cannot reach Redis at ${redisTarget(options)} within ${seconds} s`),
        );
      }, wait.timeoutMs);
      onAbort = () => {
        resolve(false);
      };
      if (wait.signal?.aborted === true) onAbort();
      wait.signal?.addEventListener('abort', onAbort, { once: true });
      // Queued by ioredis until a connection is up (maxRetriesPerRequest: null).
      client.ping().then(() => {
        resolve(true);
      }, reject);
    });
  } finally {
    clearTimeout(timer);
    if (onAbort !== undefined) wait.signal?.removeEventListener('abort', onAbort);
    client.disconnect();
  }
}
