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

/**
 * A new ioredis client owned by one adapter. BullMQ 6 loads ioredis through `require` only, which
 * fails from its ESM build ("could not load the optional 'ioredis' package"), so the adapters hand
 * BullMQ a constructed client instead of options, and close it themselves.
 */
export function createRedisClient(options: RedisConnectionOptions): Redis {
  const client = new Redis({ ...options, maxRetriesPerRequest: null });
  // While Redis is down every reconnect attempt emits 'error'; without a listener ioredis prints
  // "[ioredis] Unhandled error event" plus a stack to stderr (non-JSON noise, test/e2e measured
  // ~10 lines per second per client). The BullMQ object owning the client listens too and
  // forwards the error to its own 'error' event, where the services log it as one JSON line.
  client.on('error', () => undefined);
  return client;
}
