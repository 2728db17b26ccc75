import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics } from '@cxr/metrics';
import { openStore } from '@cxr/store';
import { buildOpsServer, type ReadinessBody } from './index.js';

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
