import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics } from '@cxr/metrics';
import { openStore } from '@cxr/store';
import {
  DEFAULT_HTTP_TIMEOUTS,
  buildOpsServer,
  isLoopbackHost,
  listeningPort,
  type ReadinessBody,
} from './index.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('buildOpsServer', () => {
  it('serves the registry text with the registry content type', async () => {
    const metrics = createMetrics();
    metrics.countItem('ok');
    const app = buildOpsServer({ metrics, readiness: [] });
    const response = await app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe(metrics.registry.contentType);
    expect(response.body).toContain('cxr_items_total{outcome="ok"} 1');
    await app.close();
  });

  it('/healthz answers 200 even when every dependency is down', async () => {
    const app = buildOpsServer({
      metrics: createMetrics(),
      readiness: [{ name: 'redis', check: () => Promise.reject(new Error('down')) }],
    });
    const response = await app.inject({ method: 'GET', url: '/healthz' });
    expect(response.statusCode).toBe(200);
    await app.close();
  });

  it('/readyz is 200 while the store answers and 503 naming it once it is closed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cxr-results-http-'));
    dirs.push(dir);
    const store = await openStore(`sqlite:${join(dir, 'r.sqlite')}`);
    const app = buildOpsServer({
      metrics: createMetrics(),
      readiness: [
        { name: 'redis', check: () => Promise.resolve() },
        { name: 'store', check: () => store.appliedMigrations() },
      ],
    });
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json<ReadinessBody>()).toEqual({ status: 'ready', failed: [] });
    await store.close();
    const unready = await app.inject({ method: 'GET', url: '/readyz' });
    expect(unready.statusCode).toBe(503);
    expect(unready.json<ReadinessBody>()).toEqual({ status: 'unready', failed: ['store'] });
    await app.close();
  });

  it('/readyz reports a check that hangs as failed after the timeout, without the error text', async () => {
    const app = buildOpsServer({
      metrics: createMetrics(),
      readiness: [
        { name: 'redis', check: () => new Promise(() => undefined) },
        { name: 'store', check: () => Promise.reject(new Error('postgres://user:secret@db')) },
      ],
      readinessTimeoutMs: 100,
    });
    const response = await app.inject({ method: 'GET', url: '/readyz' });
    expect(response.statusCode).toBe(503);
    expect(response.json<ReadinessBody>().failed).toEqual(['redis', 'store']);
    expect(response.body).not.toContain('secret');
    await app.close();
  });
});

/** How a raw client connection ended: when it closed (ms after connecting) and what the server sent. */
interface SlowClientEnd {
  readonly closedAfterMs: number;
  readonly received: string;
}

/**
 * A slowloris client: connects, sends `prefix` (part of a request head, or nothing) and never
 * finishes. Resolves when the server closes the connection, or with `closedAfterMs: Infinity`
 * when it is still open after `giveUpMs`.
 */
function slowClient(port: number, prefix: string, giveUpMs: number): Promise<SlowClientEnd> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let received = '';
    const socket = connect(port, '127.0.0.1', () => {
      if (prefix !== '') socket.write(prefix);
    });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ closedAfterMs: Infinity, received });
    }, giveUpMs);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ closedAfterMs: Date.now() - started, received });
    });
  });
}

describe('ops server connection timeouts', () => {
  it('closes clients that never finish their request head after the headers timeout', async () => {
    const app = buildOpsServer({
      metrics: createMetrics(),
      readiness: [],
      timeouts: { headersTimeoutMs: 400, requestTimeoutMs: 5000, keepAliveTimeoutMs: 5000 },
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const port = listeningPort(app, 0);
      const ends = await Promise.all([
        // A request line and one header, then silence (slowloris).
        ...Array.from({ length: 20 }, () => slowClient(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n', 5000)),
        slowClient(port, 'GET /metr', 5000),
        // Connected, nothing sent.
        slowClient(port, '', 5000),
      ]);
      for (const end of ends) {
        // 400 ms plus at most one 200 ms check interval, with room for a busy machine; without
        // the timeouts (fastify's and Node's defaults) they stayed open for 60 s.
        expect(end.closedAfterMs).toBeGreaterThanOrEqual(350);
        expect(end.closedAfterMs).toBeLessThan(2500);
        expect(end.received).toMatch(/^HTTP\/1\.1 408 /);
      }
      // The server still answers complete requests.
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('sets the configured timeouts on the Node server, and safe defaults without them', async () => {
    const configured = buildOpsServer({
      metrics: createMetrics(),
      readiness: [],
      timeouts: { headersTimeoutMs: 3000, requestTimeoutMs: 20_000, keepAliveTimeoutMs: 7000 },
    });
    expect(configured.server.headersTimeout).toBe(3000);
    expect(configured.server.requestTimeout).toBe(20_000);
    expect(configured.server.keepAliveTimeout).toBe(7000);
    await configured.close();
    const defaults = buildOpsServer({ metrics: createMetrics(), readiness: [] });
    expect(defaults.server.headersTimeout).toBe(DEFAULT_HTTP_TIMEOUTS.headersTimeoutMs);
    expect(defaults.server.requestTimeout).toBe(DEFAULT_HTTP_TIMEOUTS.requestTimeoutMs);
    expect(defaults.server.keepAliveTimeout).toBe(DEFAULT_HTTP_TIMEOUTS.keepAliveTimeoutMs);
    expect(DEFAULT_HTTP_TIMEOUTS.requestTimeoutMs).toBeGreaterThan(0);
    await defaults.close();
  });
});

describe('isLoopbackHost', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.0.0.2', true],
    ['localhost', true],
    ['::1', true],
    ['[::1]', true],
    ['::ffff:127.0.0.1', true],
    ['0.0.0.0', false],
    ['::', false],
    ['10.0.0.5', false],
    ['128.0.0.1', false],
    ['results.cxr.svc', false],
    ['127.example.org', false],
  ])('%s -> %s', (host, loopback) => {
    expect(isLoopbackHost(host)).toBe(loopback);
  });
});
