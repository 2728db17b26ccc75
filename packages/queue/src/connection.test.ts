import { describe, expect, it } from 'vitest';
import { RedisOutageReporter, isRedisConnectionError, redisTarget } from './connection.js';

const refused = (): Error =>
  Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6390'), { code: 'ECONNREFUSED' });

function recorder(): {
  log: (level: 'info' | 'warn', msg: string, data: Readonly<Record<string, unknown>>) => void;
  lines: { level: string; msg: string; data: Readonly<Record<string, unknown>> }[];
} {
  const lines: { level: string; msg: string; data: Readonly<Record<string, unknown>> }[] = [];
  return { log: (level, msg, data) => void lines.push({ level, msg, data }), lines };
}

describe('RedisOutageReporter', () => {
  it('logs an outage of several clients as one line, a count per interval, and one restored line', () => {
    const { log, lines } = recorder();
    let now = 0;
    const reporter = new RedisOutageReporter(log, { intervalMs: 30_000, now: () => now });
    const [a, b] = [{}, {}];
    // Two clients, ten reconnect attempts a second each, for 65 s.
    for (; now <= 65_000; now += 100) {
      reporter.clientFailed(a, '127.0.0.1:6390', refused());
      reporter.clientFailed(b, '127.0.0.1:6390', refused());
    }
    now = 66_000;
    reporter.clientReady(a); // b still failing: not restored yet
    now = 67_000;
    reporter.clientReady(b);
    expect(lines).toEqual([
      {
        level: 'warn',
        msg: 'redis connection failed',
        data: { redis: '127.0.0.1:6390', errorName: 'Error', errorCode: 'ECONNREFUSED' },
      },
      {
        level: 'warn',
        msg: 'redis connection still failing',
        data: {
          redis: '127.0.0.1:6390',
          errors: 600,
          downSeconds: 30,
          errorName: 'Error',
          errorCode: 'ECONNREFUSED',
        },
      },
      {
        level: 'warn',
        msg: 'redis connection still failing',
        data: {
          redis: '127.0.0.1:6390',
          errors: 600,
          downSeconds: 60,
          errorName: 'Error',
          errorCode: 'ECONNREFUSED',
        },
      },
      { level: 'info', msg: 'redis connection restored', data: { downSeconds: 67, errors: 1302 } },
    ]);
    // The message of the error (it names the address, and BullMQ's may say more) is never logged.
    expect(JSON.stringify(lines)).not.toContain('connect ECONNREFUSED');
  });

  it('starts a new outage after a restore; a client that ends leaves it', () => {
    const { log, lines } = recorder();
    let now = 0;
    const reporter = new RedisOutageReporter(log, { now: () => now });
    const [a, b] = [{}, {}];
    reporter.clientReady(a); // a connection without an outage: nothing to say
    reporter.clientFailed(a, 'redis:6379', refused());
    reporter.clientFailed(b, 'redis:6379', refused());
    reporter.clientEnded(b); // closed on purpose while down
    now = 2_000;
    reporter.clientReady(a);
    now = 5_000;
    reporter.clientFailed(a, 'redis:6379', refused());
    expect(lines.map((line) => line.msg)).toEqual([
      'redis connection failed',
      'redis connection restored',
      'redis connection failed',
    ]);
  });
});

describe('isRedisConnectionError', () => {
  it('knows a refused, reset or closed connection from other errors', () => {
    expect(isRedisConnectionError(refused())).toBe(true);
    expect(isRedisConnectionError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toBe(
      true,
    );
    expect(isRedisConnectionError(new Error('Connection is closed.'))).toBe(true);
    expect(isRedisConnectionError(new Error('Missing lock for job 1. moveToFinished'))).toBe(false);
  });
});

describe('redisTarget', () => {
  it('is host:port, never the password', () => {
    expect(redisTarget({ host: 'redis', port: 6380, password: 'secret' })).toBe('redis:6380');
    expect(redisTarget({})).toBe('127.0.0.1:6379');
  });
});
