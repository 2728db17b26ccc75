/**
 * How the results service faces the network (real Redis, in-process app): the listen address
 * comes from CXR_HTTP_HOST, slow-header clients are cut off after CXR_HTTP_HEADERS_TIMEOUT_MS,
 * and without CXR_API_TOKEN it warns on loopback and refuses (before opening anything) any other
 * address unless CXR_ALLOW_NO_AUTH=1.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@cxr/config';
import { ResultQueue, ScreenQueue, redisConnectionFromUrl } from '@cxr/queue';
import { startResultsApp, type ResultsApp, type ResultsAppOptions } from './app.js';
import { UnauthenticatedBindError } from './auth.js';

const REDIS_URL = process.env.CXR_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const TOKEN = 'security-test-token-0123456789';

describe('results service start-up on the network', () => {
  const prefix = `cxr-app-security-${randomUUID().slice(0, 8)}`;
  const lines: { level: string; msg: string; data: Readonly<Record<string, unknown>> | undefined }[] = [];
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-app-security-'));
  });

  afterAll(async () => {
    const connection = redisConnectionFromUrl(REDIS_URL);
    for (const queue of [new ScreenQueue({ connection, prefix }), new ResultQueue({ connection, prefix })]) {
      await queue.obliterate({ force: true });
      await queue.close();
    }
    await rm(dir, { recursive: true, force: true });
  });

  const start = (
    env: Record<string, string>,
    options: Partial<ResultsAppOptions> = {},
  ): Promise<ResultsApp> =>
    startResultsApp({
      config: loadConfig({
        CXR_REDIS_URL: REDIS_URL,
        CXR_STORE_URL: `sqlite:${join(dir, `${randomUUID()}.sqlite`)}`,
        CXR_UPLOAD_URL: pathToFileURL(join(dir, 'uploads')).href,
        ...env,
      }),
      port: 0,
      queuePrefix: prefix,
      queueGaugeIntervalMs: 60_000,
      log: (level, msg, data) => lines.push({ level, msg, data }),
      ...options,
    });
  const warnings = (): string[] => lines.filter((l) => l.level === 'warn').map((l) => l.msg);

  it('refuses to listen on a network address without a token, before opening the store', async () => {
    for (const host of ['0.0.0.0', '::']) {
      const store = join(dir, `refused-${randomUUID()}.sqlite`);
      await expect(
        start({ CXR_HTTP_HOST: host, CXR_STORE_URL: `sqlite:${store}` }),
        host,
      ).rejects.toBeInstanceOf(UnauthenticatedBindError);
      expect(existsSync(store), host).toBe(false);
    }
    // An explicit host option is held to the same rule.
    await expect(start({}, { host: '0.0.0.0' })).rejects.toThrow(/CXR_API_TOKEN is not set/);
  });

  it('starts on a network address with a token, or without one when CXR_ALLOW_NO_AUTH=1 (warning)', async () => {
    lines.length = 0;
    const guarded = await start({ CXR_HTTP_HOST: '0.0.0.0', CXR_API_TOKEN: TOKEN });
    await guarded.stop();
    expect(warnings()).toEqual([]);
    const open = await start({ CXR_HTTP_HOST: '0.0.0.0', CXR_ALLOW_NO_AUTH: '1' });
    try {
      expect((await fetch(`http://127.0.0.1:${open.port}/healthz`)).status).toBe(200);
    } finally {
      await open.stop();
    }
    expect(warnings()).toEqual(['no API token: /v1/predict accepts unauthenticated requests']);
  });

  it('listens on CXR_HTTP_HOST (loopback by default), warning when there is no token', async () => {
    lines.length = 0;
    const app = await start({ CXR_HTTP_HOST: '127.0.0.2' });
    try {
      expect((await fetch(`http://127.0.0.2:${app.port}/healthz`)).status).toBe(200);
      // Nothing listens on that port at another address.
      await expect(fetch(`http://127.0.0.1:${app.port}/healthz`)).rejects.toThrow();
    } finally {
      await app.stop();
    }
    expect(warnings()).toEqual(['no API token: /v1/predict accepts unauthenticated requests']);
    expect(lines.find((l) => l.msg === 'results http listening')?.data).toMatchObject({ host: '127.0.0.2' });
    const loopback = await start({});
    await loopback.stop();
    expect(lines.filter((l) => l.msg === 'results http listening').at(-1)?.data).toMatchObject({
      host: '127.0.0.1',
    });
  });

  it('closes a client that never finishes its headers after CXR_HTTP_HEADERS_TIMEOUT_MS', async () => {
    const app = await start({ CXR_API_TOKEN: TOKEN, CXR_HTTP_HEADERS_TIMEOUT_MS: '300' });
    try {
      const started = Date.now();
      let received = '';
      const closedAfterMs = await new Promise<number>((resolve, reject) => {
        const socket = connect(app.port, '127.0.0.1', () => {
          socket.write('POST /v1/predict HTTP/1.1\r\nHost: results\r\nContent-Type: application/dicom\r\n');
        });
        const giveUp = setTimeout(() => {
          socket.destroy();
          resolve(Infinity);
        }, 5000);
        socket.on('error', reject);
        // Read what arrives: a paused socket would not report the server's close.
        socket.on('data', (chunk: Buffer) => {
          received += chunk.toString('latin1');
        });
        socket.on('close', () => {
          clearTimeout(giveUp);
          resolve(Date.now() - started);
        });
      });
      expect(closedAfterMs).toBeGreaterThanOrEqual(250);
      expect(closedAfterMs).toBeLessThan(2500);
      expect(received).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      await app.stop();
    }
  });
});
