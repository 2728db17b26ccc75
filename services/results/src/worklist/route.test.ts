/**
 * The /worklist routes through fastify.inject on a real SQLite store: who may see the page
 * (token, session cookie, bearer, Basic), what it shows (order, filters, pages, highlights,
 * viewer links) and what it never shows (object URIs, patient names, unescaped text).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest, type ModelManifest } from '@cxr/model/manifest';
import { openStore, parseResultRow, rowKeyOf, type ResultRow, type ResultStore } from '@cxr/store';
import { registerWorklistRoutes, type ThumbnailProvider, type WorklistRouteOptions } from './route.js';
import { SESSION_SECONDS } from './session.js';
import type { ThumbnailResult, ThumbnailSource } from './thumbnails.js';

const TOKEN = 'worklist-route-token-0123456789';
const CANARY = 'CANARY^PATIENT^DO-NOT-LEAK';
const MODEL = { modelId: 'seed-densenet121', modelVersion: '1.0.0' };

const MANIFEST: ModelManifest = parseManifest({
  id: MODEL.modelId,
  version: MODEL.modelVersion,
  architecture: 'densenet121',
  format: 'onnx',
  weights: ['model.onnx'],
  input: {
    size: 32,
    channels: 3,
    layout: 'NHWC',
    crop: 'none',
    resize: 'bilinear',
    intensity: { method: 'dicom-window' },
    normalization: { method: 'unit' },
  },
  output: {
    activation: 'softmax',
    labels: ['normal', 'pneumonia', 'further_evaluation'],
    decision: 'argmax',
    normalLabel: 'normal',
  },
});

/** Result i: pneumonia score rises with i; every fifth rejected; URIs carry the canary name. */
function row(i: number): ResultRow {
  const uri = `file:///archive/${CANARY}/${String(i).padStart(3, '0')}.dcm`;
  const base = {
    runId: i % 2 === 0 ? 'run-even' : 'run-<odd>&"',
    uri,
    ...MODEL,
    studyInstanceUid: `1.2.826.0.1.3680043.8.498.${i + 1}`,
    seriesInstanceUid: `1.2.826.0.1.3680043.8.498.${i + 1}.1`,
    sopInstanceUid: `1.2.826.0.1.3680043.8.498.${i + 1}.1.1`,
    modality: 'CR',
    viewPosition: 'PA',
  };
  if (i % 5 === 4) return parseResultRow({ ...base, outcome: 'rejected', reason: 'not_dicom' });
  const p = (i + 1) / 100;
  const scores = { normal: 1 - p - 0.001, pneumonia: p, further_evaluation: 0.001 };
  return parseResultRow({
    ...base,
    scores,
    decision: p > scores.normal ? 'pneumonia' : 'normal',
    suspicion: p,
    outcome: 'ok',
  });
}

class FakeThumbnails implements ThumbnailProvider {
  readonly requested: ThumbnailSource[] = [];
  keyOf(source: ThumbnailSource): string {
    return `k${source.rowKey}`;
  }
  thumbnail(source: ThumbnailSource): Promise<ThumbnailResult> {
    this.requested.push(source);
    return Promise.resolve(
      source.uri.endsWith('001.dcm')
        ? { kind: 'unavailable', reason: 'fetch_failed', message: 'the object could not be read' }
        : { kind: 'png', bytes: Buffer.from('PNG!'), etag: this.keyOf(source) },
    );
  }
}

let dir: string;
let store: ResultStore;
const ROWS = 60;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cxr-worklist-route-'));
  store = await openStore(`sqlite:${join(dir, 'results.sqlite')}`);
  await store.upsertResults(Array.from({ length: ROWS }, (_, i) => row(i)));
});

afterAll(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

async function app(overrides: Partial<WorklistRouteOptions> = {}): Promise<FastifyInstance> {
  const fastify = Fastify();
  registerWorklistRoutes(fastify, {
    store,
    token: TOKEN,
    manifest: MANIFEST,
    viewerUrlTemplate: 'https://pacs.example/ohif/viewer?StudyInstanceUIDs={StudyInstanceUID}',
    pageSize: 10,
    maxPageSize: 50,
    thumbnails: new FakeThumbnails(),
    thumbnailSize: 128,
    ...overrides,
  });
  await fastify.ready();
  return fastify;
}

function sessionOf(response: LightMyRequestResponse): string {
  const header = String(response.headers['set-cookie']);
  const value = /^cxr_worklist=([^;]+);/.exec(header)?.[1];
  if (value === undefined) throw new Error(`no session cookie in ${header}`);
  return `cxr_worklist=${value}`;
}

/** Row keys of the page in order, from the data attributes. */
function rowKeys(html: string): string[] {
  return [...html.matchAll(/data-row-key="([0-9a-f]{32})"/g)].map((m) => m[1]!);
}

function expectNoPatientData(text: string): void {
  expect(text).not.toContain('CANARY');
  expect(text).not.toContain('file://');
  expect(text).not.toContain('/archive/');
}

describe('who may open /worklist', () => {
  it('asks for the token: a 401 sign-in page, no results', async () => {
    const fastify = await app();
    const response = await fastify.inject({ url: '/worklist?sort=time' });
    expect(response.statusCode).toBe(401);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    expect(response.body).toContain('<form method="post" action="/worklist/login">');
    expect(response.body).toContain('value="/worklist?sort=time"');
    expect(rowKeys(response.body)).toEqual([]);
    const thumb = await fastify.inject({
      url: `/worklist/thumbnails/${rowKeyOf({ uri: row(0).uri, ...MODEL })}.png`,
    });
    expect(thumb.statusCode).toBe(401);
    await fastify.close();
  });

  it('signs in from ?token= and redirects to the same URL without it; the cookie opens page and thumbnails', async () => {
    const fastify = await app();
    const signIn = await fastify.inject({ url: `/worklist?sort=time&token=${TOKEN}&order=asc` });
    expect(signIn.statusCode).toBe(303);
    expect(signIn.headers.location).toBe('/worklist?sort=time&order=asc');
    const cookie = String(signIn.headers['set-cookie']);
    expect(cookie).toMatch(
      new RegExp(
        `^cxr_worklist=[^;]+; Path=/worklist; Max-Age=${SESSION_SECONDS}; HttpOnly; SameSite=Strict$`,
      ),
    );
    expect(cookie).not.toContain(TOKEN);
    const page = await fastify.inject({ url: '/worklist', headers: { cookie: sessionOf(signIn) } });
    expect(page.statusCode).toBe(200);
    expect(rowKeys(page.body)).toHaveLength(10);
    expect(page.body).toContain('Sign out');
    const key = rowKeyOf({ uri: row(2).uri, ...MODEL });
    const thumb = await fastify.inject({
      url: `/worklist/thumbnails/${key}.png`,
      headers: { cookie: sessionOf(signIn) },
    });
    expect(thumb.statusCode).toBe(200);
    // Behind a TLS-terminating proxy the cookie is Secure.
    const https = await fastify.inject({
      url: `/worklist?token=${TOKEN}`,
      headers: { 'x-forwarded-proto': 'https' },
    });
    expect(String(https.headers['set-cookie'])).toMatch(/; Secure$/);
    await fastify.close();
  });

  it('signs in from the form and returns to a /worklist URL only', async () => {
    const fastify = await app();
    const form = (token: string, next: string) =>
      fastify.inject({
        method: 'POST',
        url: '/worklist/login',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ token, next }).toString(),
      });
    const ok = await form(TOKEN, '/worklist?run=run-even&token=leaked');
    expect(ok.statusCode).toBe(303);
    expect(ok.headers.location).toBe('/worklist?run=run-even');
    for (const next of [
      'https://evil.example/',
      '//evil.example/worklist',
      '/admin/queues',
      '/worklist/../x',
    ]) {
      expect((await form(TOKEN, next)).headers.location, next).toBe('/worklist');
    }
    const wrong = await form('not-the-token-at-all', '/worklist');
    expect(wrong.statusCode).toBe(401);
    expect(wrong.headers['set-cookie']).toBeUndefined();
    expect(wrong.body).toContain('That token is not the API token.');
    const wrongLink = await fastify.inject({ url: '/worklist?token=guess' });
    expect(wrongLink.statusCode).toBe(401);
    expect(wrongLink.headers['set-cookie']).toBeUndefined();
    expect(wrongLink.body).not.toContain('guess');
    await fastify.close();
  });

  it('refuses a tampered, expired or other-token session; accepts bearer and Basic for scripts', async () => {
    let now = 1_765_000_000_000;
    const fastify = await app({ now: () => now });
    const cookie = sessionOf(await fastify.inject({ url: `/worklist?token=${TOKEN}` }));
    expect((await fastify.inject({ url: '/worklist', headers: { cookie } })).statusCode).toBe(200);
    const tampered = cookie.replace(/=(\d)/, (_m, d: string) => `=${(Number(d) + 1) % 10}`);
    expect((await fastify.inject({ url: '/worklist', headers: { cookie: tampered } })).statusCode).toBe(401);
    now += SESSION_SECONDS * 1000;
    expect((await fastify.inject({ url: '/worklist', headers: { cookie } })).statusCode).toBe(401);
    await fastify.close();
    const rotated = await app({ token: `${TOKEN}-rotated` });
    expect((await rotated.inject({ url: '/worklist', headers: { cookie } })).statusCode).toBe(401);
    await rotated.close();

    const scripts = await app();
    const bearer = await scripts.inject({ url: '/worklist', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(bearer.statusCode).toBe(200);
    expect(bearer.body).not.toContain('Sign out');
    const basic = Buffer.from(`anyone:${TOKEN}`).toString('base64');
    expect(
      (await scripts.inject({ url: '/worklist', headers: { authorization: `Basic ${basic}` } })).statusCode,
    ).toBe(200);
    expect(
      (await scripts.inject({ url: '/worklist', headers: { authorization: 'Bearer nope' } })).statusCode,
    ).toBe(401);
    await scripts.close();
  });

  it('signs out by clearing the cookie', async () => {
    const fastify = await app();
    const out = await fastify.inject({ method: 'POST', url: '/worklist/logout' });
    expect(out.statusCode).toBe(303);
    expect(String(out.headers['set-cookie'])).toMatch(/^cxr_worklist=; Path=\/worklist; Max-Age=0; HttpOnly/);
    await fastify.close();
  });

  it('is open without a configured token (loopback or an authenticating proxy)', async () => {
    const fastify = await app({ token: undefined });
    expect((await fastify.inject({ url: '/worklist' })).statusCode).toBe(200);
    expect((await fastify.inject({ url: '/worklist?token=x&sort=time' })).headers.location).toBe(
      '/worklist?sort=time',
    );
    await fastify.close();
  });
});

describe('what /worklist shows', () => {
  let fastify: FastifyInstance;
  const auth = { authorization: `Bearer ${TOKEN}` };
  beforeAll(async () => {
    fastify = await app();
  });
  afterAll(async () => {
    await fastify.close();
  });
  const get = (url: string) => fastify.inject({ url, headers: auth });
  const keyOf = (i: number) => rowKeyOf({ uri: row(i).uri, ...MODEL });

  it('sorts by suspicion, most suspicious first, with highlights, scores and viewer links', async () => {
    const page = await get('/worklist');
    expect(page.statusCode).toBe(200);
    // ok rows by pneumonia score: 58, 57, 56, 55, 53, ... (every fifth is rejected).
    expect(rowKeys(page.body)).toEqual([58, 57, 56, 55, 53, 52, 51, 50, 48, 47].map(keyOf));
    expect(page.body).toContain(
      '<a href="https://pacs.example/ohif/viewer?StudyInstanceUIDs=1.2.826.0.1.3680043.8.498.59" target="_blank" rel="noopener noreferrer">Open study</a>',
    );
    expect(page.body).toMatch(/<tr data-row-key="[0-9a-f]{32}"[^>]*class="finding">/);
    expect(page.body).toContain('<li class="positive">pneumonia <data value="0.59">0.590</data>');
    expect(page.body).toContain(`<img src="/worklist/thumbnails/${keyOf(58)}.png" alt="Image thumbnail"`);
    expect(page.headers['cache-control']).toBe('no-store');
    expect(page.headers['content-security-policy']).toContain(
      "script-src 'none'".replace('script-src', 'default-src'),
    );
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    expectNoPatientData(page.body);
  });

  it('pages forwards and backwards with the cursors of its links', async () => {
    const seen: string[] = [];
    let url: string | undefined = '/worklist?sort=time&order=asc&limit=7';
    const pages: string[] = [];
    while (url !== undefined) {
      const page = await get(url);
      expect(page.statusCode).toBe(200);
      pages.push(url);
      seen.push(...rowKeys(page.body));
      url = /<a href="([^"]+)" rel="next">/.exec(page.body)?.[1]?.replaceAll('&#38;', '&');
    }
    expect(seen).toHaveLength(ROWS);
    expect(new Set(seen).size).toBe(ROWS);
    expect(pages).toHaveLength(Math.ceil(ROWS / 7));
    // Back from the last page.
    const last = await get(pages[pages.length - 1]!);
    const previous = /<a href="([^"]+)" rel="prev">/.exec(last.body)?.[1]?.replaceAll('&#38;', '&');
    expect(rowKeys((await get(previous!)).body)).toEqual(seen.slice(-7 - (ROWS % 7), -(ROWS % 7)));
  });

  it('filters by run, positive label, decision, outcome and day, and escapes what it shows', async () => {
    const odd = await get(`/worklist?run=${encodeURIComponent('run-<odd>&"')}&limit=50`);
    expect(rowKeys(odd.body).length).toBe(30);
    expect(odd.body).toContain('run-&#60;odd&#62;&#38;&#34;');
    expect(odd.body).not.toContain('run-<odd>');
    const positive = await get('/worklist?label=pneumonia&limit=50');
    // Argmax: pneumonia is positive where it is the decision (p > 0.5).
    expect(rowKeys(positive.body)).toEqual([58, 57, 56, 55, 53, 52, 51, 50].map(keyOf));
    expect(rowKeys((await get('/worklist?decision=pneumonia&label=normal')).body)).toEqual([]);
    const rejected = await get('/worklist?outcome=rejected&sort=time&limit=50');
    expect(rowKeys(rejected.body)).toHaveLength(12);
    expect(rejected.body).toContain('rejected: not_dicom');
    expect(rejected.body).toContain('No thumbnail: the object was rejected (not_dicom)');
    const today = new Date().toISOString().slice(0, 10);
    expect(rowKeys((await get(`/worklist?from=${today}&to=${today}&limit=50`)).body)).toHaveLength(50);
    expect(rowKeys((await get('/worklist?to=2000-01-01')).body)).toEqual([]);
  });

  it('answers a bad filter or page link with a 400 page that says what is wrong', async () => {
    for (const [url, message] of [
      ['/worklist?sort=name', 'Sort must be one of suspicion, time.'],
      ['/worklist?limit=5000', 'Rows per page must be a whole number from 1 to 50.'],
      ['/worklist?from=2026-02-30', 'From must be a date (YYYY-MM-DD).'],
      ['/worklist?from=2026-02-03&to=2026-02-01', 'From must not be after To.'],
      ['/worklist?label=cardiomegaly', 'That label is not one of the model’s labels.'],
      [
        '/worklist?cursor=bogus',
        'This page link is not valid for these settings; start again from the first page.',
      ],
    ] as const) {
      const page = await get(url);
      expect(page.statusCode, url).toBe(400);
      expect(page.body, url).toContain(message);
    }
  });

  it('serves thumbnails by row key with ETag revalidation, placeholders with the reason, 404 for unknown keys', async () => {
    const url = `/worklist/thumbnails/${keyOf(2)}.png`;
    const first = await get(url);
    expect(first.statusCode).toBe(200);
    expect(first.headers['content-type']).toBe('image/png');
    expect(first.headers['cache-control']).toBe('private, max-age=86400');
    const etag = String(first.headers.etag);
    const again = await fastify.inject({ url, headers: { ...auth, 'if-none-match': etag } });
    expect(again.statusCode).toBe(304);
    const failing = await get(`/worklist/thumbnails/${keyOf(1)}.png`);
    expect(failing.statusCode).toBe(200);
    expect(failing.headers['content-type']).toMatch(/^image\/svg\+xml/);
    expect(failing.headers['x-cxr-thumbnail']).toBe('unavailable; reason=fetch_failed');
    expect(failing.body).toContain('No thumbnail: the object could not be read');
    expectNoPatientData(failing.body);
    expect((await get(`/worklist/thumbnails/${'0'.repeat(32)}.png`)).statusCode).toBe(404);
    expect((await get('/worklist/thumbnails/..%2F..%2Fetc%2Fpasswd.png')).statusCode).toBe(404);
  });
});
