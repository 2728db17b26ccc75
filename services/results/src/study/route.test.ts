/**
 * The reading routes through fastify.inject on a real SQLite store: the link and its cookie, who
 * sees what (only the reader's own study, the AI only in the with_ai arm), the form's checks,
 * idempotent recording and resuming, and what responses never carry (URIs, patient names).
 */
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  openStore,
  parseResultRow,
  readerTokenHash,
  rowKeyOf,
  type NewReaderStudy,
  type ResultRow,
  type ResultStore,
} from '@cxr/store';
import type { ThumbnailResult, ThumbnailSource } from '../worklist/thumbnails.js';
import { READER_COOKIE, registerStudyRoutes } from './route.js';

const CANARY = 'CANARY^PATIENT^DO-NOT-LEAK';
const TOKEN_A = 'A'.repeat(43);
const TOKEN_B = 'B'.repeat(43);
const PNG = Buffer.from('89504e470d0a1a0a', 'hex');

function row(i: number): ResultRow {
  return parseResultRow({
    runId: 'run-1',
    uri: `file:///archive/${CANARY}/${i}.dcm`,
    modelId: 'm',
    modelVersion: '1',
    sopInstanceUid: `1.2.826.0.1.3680043.8.498.${i + 1}`,
    scores: { normal: 0.2, pneumonia: 0.8 },
    decision: 'pneumonia',
    suspicion: 0.8,
    outcome: 'ok',
  });
}

function study(studyId: string, token: string, rows: readonly ResultRow[]): NewReaderStudy {
  return {
    study: {
      studyId,
      runId: 'run-1',
      design: 'sequential',
      labels: ['pneumonia', 'effusion'],
      seed: 1,
      createdAt: '2026-12-07T00:00:00.000Z',
    },
    readers: [{ readerId: 'r1', name: 'Dr <One>', tokenHash: readerTokenHash(token) }],
    cases: rows.map((r, i) => ({
      caseId: `case-${i + 1}`,
      rowKey: rowKeyOf(r),
      ai: { scores: { pneumonia: 0.8, effusion: 0.1 }, positives: ['pneumonia'], diagnosis: 'pneumonia' },
    })),
    assignments: rows.flatMap((_, i) => [
      {
        readerId: 'r1',
        position: 2 * i,
        caseId: `case-${i + 1}`,
        arm: 'without_ai' as const,
        session: 1 as const,
      },
      {
        readerId: 'r1',
        position: 2 * i + 1,
        caseId: `case-${i + 1}`,
        arm: 'with_ai' as const,
        session: 1 as const,
      },
    ]),
  };
}

let store: ResultStore;
let app: FastifyInstance;
const rendered: ThumbnailSource[] = [];

beforeAll(async () => {
  store = await openStore('sqlite::memory:');
  const rows = [row(0), row(1), row(2)];
  await store.upsertResults(rows);
  await store.studies.createStudy(study('study-a', TOKEN_A, rows.slice(0, 2)));
  await store.studies.createStudy(study('study-b', TOKEN_B, rows.slice(2)));
  app = Fastify();
  registerStudyRoutes(app, {
    studies: store.studies,
    store,
    images: {
      keyOf: (source) => source.rowKey,
      thumbnail: (source): Promise<ThumbnailResult> => {
        rendered.push(source);
        return Promise.resolve({ kind: 'png', bytes: PNG, etag: source.rowKey });
      },
    },
  });
  await app.ready();
});

afterAll(async () => {
  await app.close();
  await store.close();
});

const cookie = (token: string) => ({ cookie: `${READER_COOKIE}=${token}` });

function noLeak(response: LightMyRequestResponse): void {
  expect(response.body).not.toContain('CANARY');
  expect(response.body).not.toContain('file:');
}

describe('/study/read', () => {
  it('a link sets an HttpOnly, SameSite=Strict cookie scoped to /study and drops the token from the URL', async () => {
    const response = await app.inject({ url: `/study/read?token=${TOKEN_A}` });
    expect(response.statusCode).toBe(303);
    expect(response.headers.location).toBe('/study/read');
    const setCookie = String(response.headers['set-cookie']);
    expect(setCookie).toContain(`${READER_COOKIE}=${TOKEN_A}`);
    expect(setCookie).toMatch(/Path=\/study;.*HttpOnly; SameSite=Strict$/);
    const secure = await app.inject({
      url: `/study/read?token=${TOKEN_A}`,
      headers: { 'x-forwarded-proto': 'https' },
    });
    expect(String(secure.headers['set-cookie'])).toMatch(/; Secure$/);
  });

  it('refuses a wrong or malformed token, and a request without the cookie', async () => {
    for (const url of [`/study/read?token=${'C'.repeat(43)}`, '/study/read?token=short', '/study/read']) {
      const response = await app.inject({ url });
      expect(response.statusCode).toBe(401);
      expect(response.headers['set-cookie']).toBeUndefined();
      expect(response.body).toContain('Reading link not valid');
    }
    expect((await app.inject({ url: '/study/read', headers: cookie('C'.repeat(43)) })).statusCode).toBe(401);
  });

  it('shows the next reading: without the AI first, a nonce-bound script, no URI', async () => {
    const response = await app.inject({ url: '/study/read', headers: cookie(TOKEN_A) });
    expect(response.statusCode).toBe(200);
    expect(response.headers['cache-control']).toBe('no-store');
    const nonce = /script-src 'nonce-([^']+)'/.exec(String(response.headers['content-security-policy']))?.[1];
    expect(nonce).toBeDefined();
    expect(response.body).toContain(`<script nonce="${nonce}">`);
    expect(response.body).toContain('data-arm="without_ai"');
    expect(response.body).toContain('Reading 1 of 4');
    expect(response.body).toContain('Dr &#60;One&#62;');
    expect(response.body).not.toContain('AI decision');
    expect(response.body).toContain('src="/study/images/case-1.png"');
    noLeak(response);
  });

  it('checks the form, records once, then shows the with_ai arm with the AI output', async () => {
    const post = (form: Record<string, string>, token = TOKEN_A) =>
      app.inject({
        method: 'POST',
        url: '/study/read',
        headers: { ...cookie(token), 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams(form).toString(),
      });
    const complete = {
      caseId: 'case-1',
      arm: 'without_ai',
      readingTimeMs: '4321',
      decision_0: 'present',
      confidence_0: '4',
      decision_1: 'absent',
      confidence_1: '5',
    };
    const { confidence_1: _missing, ...incomplete } = complete;
    const bad = await post(incomplete);
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('Choose present or absent and a confidence for every label.');
    expect(await store.studies.readings('study-a')).toEqual([]);
    // Another reader's token cannot record into this study's sequence.
    expect((await post(complete, TOKEN_B)).statusCode).toBe(303);
    expect(await store.studies.readings('study-a')).toEqual([]);

    expect((await post(complete)).statusCode).toBe(303);
    expect((await post({ ...complete, decision_0: 'absent' })).statusCode).toBe(303);
    const readings = await store.studies.readings('study-a');
    expect(readings).toHaveLength(1);
    expect(readings[0]).toMatchObject({
      readerId: 'r1',
      caseId: 'case-1',
      arm: 'without_ai',
      decisions: { pneumonia: true, effusion: false },
      confidence: { pneumonia: 4, effusion: 5 },
      readingTimeMs: 4321,
    });

    const next = await app.inject({ url: '/study/read', headers: cookie(TOKEN_A) });
    expect(next.body).toContain('data-arm="with_ai"');
    expect(next.body).toContain('Reading 2 of 4');
    expect(next.body).toContain('AI decision: pneumonia');
    expect(next.body).toMatch(/pneumonia: <data value="0.8">0.800<\/data> \(positive\)/);
    noLeak(next);
  });

  it('serves images of the reader’s own study only', async () => {
    const own = await app.inject({ url: '/study/images/case-2.png', headers: cookie(TOKEN_A) });
    expect(own.statusCode).toBe(200);
    expect(own.headers['content-type']).toBe('image/png');
    expect(own.headers['cache-control']).toBe('private, max-age=3600');
    expect(rendered.at(-1)?.rowKey).toBe(rowKeyOf(row(1)));
    // study-b has a case-1 too, of another image: reader A's cookie gets A's case-1.
    await app.inject({ url: '/study/images/case-1.png', headers: cookie(TOKEN_B) });
    expect(rendered.at(-1)?.rowKey).toBe(rowKeyOf(row(2)));
    expect((await app.inject({ url: '/study/images/case-2.png', headers: cookie(TOKEN_B) })).statusCode).toBe(
      404,
    );
    expect((await app.inject({ url: '/study/images/case-1.png' })).statusCode).toBe(401);
    expect((await app.inject({ url: '/study/images/..%2Fx.png', headers: cookie(TOKEN_A) })).statusCode).toBe(
      404,
    );
  });

  it('says when the reader is done', async () => {
    for (const [caseId, arm] of [
      ['case-1', 'with_ai'],
      ['case-2', 'without_ai'],
      ['case-2', 'with_ai'],
    ] as const) {
      await store.studies.recordReading({
        studyId: 'study-a',
        readerId: 'r1',
        caseId,
        arm,
        decisions: { pneumonia: false, effusion: false },
        confidence: { pneumonia: 3, effusion: 3 },
        readingTimeMs: 1000,
      });
    }
    const done = await app.inject({ url: '/study/read', headers: cookie(TOKEN_A) });
    expect(done.statusCode).toBe(200);
    expect(done.body).toContain('Study complete');
    expect(done.body).toContain('all 4 readings are recorded');
  });
});
