/**
 * The operators' queue dashboard (bull-board) in the results service, against real Redis: served
 * only with an API token, and only to requests that carry it (HTTP Basic password or bearer).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@cxr/config';
import { uriHash } from '@cxr/config/log';
import { ScreenQueue, redisConnectionFromUrl } from '@cxr/queue';
import { startResultsApp, type ResultsApp } from './app.js';

const REDIS_URL = process.env.CXR_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const TOKEN = 'dashboard-token-0123456789';

describe('queue dashboard (/admin/queues)', () => {
  const prefix = `cxr-dashboard-${randomUUID().slice(0, 8)}`;
  const apps: ResultsApp[] = [];
  const queue = new ScreenQueue({ connection: redisConnectionFromUrl(REDIS_URL), prefix });

  afterAll(async () => {
    for (const app of apps) await app.stop();
    await queue.obliterate({ force: true });
    await queue.close();
  });

  const start = async (env: Record<string, string>): Promise<string> => {
    const config = loadConfig({ CXR_STORE_URL: 'sqlite::memory:', CXR_REDIS_URL: REDIS_URL, ...env });
    const app = await startResultsApp({ config, port: 0, host: '127.0.0.1', queuePrefix: prefix });
    apps.push(app);
    return `http://127.0.0.1:${app.port}/admin/queues`;
  };
  const basic = (password: string): string => `Basic ${Buffer.from(`ops:${password}`).toString('base64')}`;

  it('asks for the token, refuses a wrong one, and lists both queues with their counts', async () => {
    await queue.enqueueBulk([
      { uri: 'file:///a.dcm', size: 1, runId: 'r', modelId: 'm', modelVersion: '1', enqueuedAt: Date.now() },
    ]);
    const url = await start({ CXR_API_TOKEN: TOKEN });

    const anonymous = await fetch(url);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic realm="cxr queues"/);
    expect((await fetch(url, { headers: { authorization: basic('wrong-token-0123456') } })).status).toBe(401);
    expect((await fetch(`${url}/api/queues`)).status).toBe(401);

    const page = await fetch(url, { headers: { authorization: basic(TOKEN) } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);

    const api = await fetch(`${url}/api/queues`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(api.status).toBe(200);
    const body = (await api.json()) as { queues: { name: string; counts: Record<string, number> }[] };
    const byName = new Map(body.queues.map((q) => [q.name, q]));
    expect([...byName.keys()].sort()).toEqual(['cxr-results', 'cxr-screen']);
    expect(byName.get('cxr-screen')?.counts.waiting).toBe(1);
  });

  it('shows job data with each object URI as its hash and refuses to edit it', async () => {
    // Object names in exported archives often carry the patient's name and record number.
    const uri = 'file:///archive/DOE^QUOKKA_MRN-998877.dcm';
    await queue.enqueueBulk([
      { uri, size: 2, runId: 'r', modelId: 'm', modelVersion: '1', enqueuedAt: Date.now() },
    ]);
    const url = await start({ CXR_API_TOKEN: TOKEN });
    const auth = { authorization: `Bearer ${TOKEN}` };

    const listing = await fetch(`${url}/api/queues?activeQueue=cxr-screen&status=waiting`, { headers: auth });
    expect(listing.status).toBe(200);
    const text = await listing.text();
    const body = JSON.parse(text) as { queues: { name: string; jobs: { id: string; data: unknown }[] }[] };
    const jobs = body.queues.find((q) => q.name === 'cxr-screen')?.jobs ?? [];
    const job = jobs.find((j) => JSON.stringify(j.data).includes(uriHash(uri)));
    expect(job?.data).toMatchObject({ uriHash: uriHash(uri), runId: 'r' });
    expect(text).not.toMatch(/QUOKKA|998877/);

    const single = await fetch(`${url}/api/queues/cxr-screen/${job?.id ?? ''}`, { headers: auth });
    expect(single.status).toBe(200);
    expect(await single.text()).not.toMatch(/QUOKKA|998877/);

    const edit = await fetch(`${url}/api/queues/cxr-screen/${job?.id ?? ''}/update-data`, {
      method: 'PATCH',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ jobData: { uriHash: uriHash(uri) } }),
    });
    expect(edit.status).toBe(405);
    // The stored payload still has the URI the worker needs.
    expect((await queue.counts()).waiting).toBeGreaterThanOrEqual(1);
  });

  it('is not served at all without a configured token', async () => {
    const url = await start({});
    expect((await fetch(url, { headers: { authorization: basic(TOKEN) } })).status).toBe(404);
  });
});
