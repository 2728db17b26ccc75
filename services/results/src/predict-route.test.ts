/**
 * `POST /v1/predict` without Redis or a worker (fastify.inject and a fake backend): malformed
 * multipart bodies are the client's fault (400, logged below error level), and the upload is
 * deleted whatever became of its job.
 */
import { readFile } from 'node:fs/promises';
import { loadConfig } from '@cxr/config';
import { DEFAULT_HTTP_TIMEOUTS } from '@cxr/http';
import { createMetrics } from '@cxr/metrics';
import type { PredictOutcome, ScreenJobPayload } from '@cxr/queue';
import { loadFixtureManifest, type DecodeFixture } from '@cxr/fixtures';
import { describe, expect, inject, it } from 'vitest';
import { buildHttpServer } from './http-server.js';
import type { PredictBackend } from './predict-route.js';

interface FakeBackend extends PredictBackend {
  readonly stored: string[];
  readonly discarded: string[];
  readonly payloads: ScreenJobPayload[];
}

function fakeBackend(answer: (jobId: string) => Promise<PredictOutcome>): FakeBackend {
  const stored: string[] = [];
  const discarded: string[] = [];
  const payloads: ScreenJobPayload[] = [];
  return {
    stored,
    discarded,
    payloads,
    store: (bytes) => {
      const uri = `file:///uploads/${String(stored.length)}-${String(bytes.byteLength)}.dcm`;
      stored.push(uri);
      return Promise.resolve(uri);
    },
    predict: (payload) => {
      payloads.push(payload);
      return answer(`scr_${String(payloads.length)}`);
    },
    discard: (uri) => {
      discarded.push(uri);
      return Promise.resolve();
    },
  };
}

function server(backend: PredictBackend, logs: string[]) {
  return buildHttpServer({
    metrics: createMetrics(),
    readiness: [],
    predict: {
      backend,
      model: { available: true, id: 'seed', version: '1' },
      token: undefined,
      maxBytes: 1024 * 1024,
      timeoutMs: 1000,
      log: (level, msg, data) => logs.push(JSON.stringify({ level, msg, data })),
    },
  });
}

const FILE_PART =
  '--abc\r\nContent-Disposition: form-data; name="file"; filename="x.dcm"\r\n' +
  'Content-Type: application/dicom\r\n\r\nDICM-not-really\r\n';

describe('POST /v1/predict with a malformed multipart body', () => {
  it.each([
    ['a boundary the body does not use', 'multipart/form-data; boundary=xyz', `${FILE_PART}--abc--\r\n`],
    ['no boundary parameter', 'multipart/form-data', `${FILE_PART}--abc--\r\n`],
    ['a body that ends inside the file part', 'multipart/form-data; boundary=abc', FILE_PART],
    [
      'a body that ends inside the part headers',
      'multipart/form-data; boundary=abc',
      '--abc\r\nContent-Disposition: form-data; name="file"; filen',
    ],
    ['a body that is not multipart at all', 'multipart/form-data; boundary=abc', 'hello'],
  ])('answers 400 for %s, logged at info, with nothing stored', async (_what, contentType, payload) => {
    const logs: string[] = [];
    const backend = fakeBackend(() => Promise.reject(new Error('must not be called')));
    const app = server(backend, logs);
    try {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/predict',
        headers: { 'content-type': contentType },
        payload,
      });
      expect(response.statusCode).toBe(400);
      expect(response.json()).toEqual({ error: 'bad_request', reason: 'malformed multipart body' });
      expect(backend.stored).toEqual([]);
      expect(logs.map((line) => JSON.parse(line) as { level: string; msg: string })).toEqual([
        { level: 'info', msg: 'predict refused', data: expect.any(Object) as unknown },
      ]);
    } finally {
      await app.close();
    }
  });

  it('still answers 413 for a file part over the size limit', async () => {
    const logs: string[] = [];
    const app = buildHttpServer({
      metrics: createMetrics(),
      readiness: [],
      predict: {
        backend: fakeBackend(() => Promise.reject(new Error('must not be called'))),
        model: { available: true, id: 'seed', version: '1' },
        token: undefined,
        maxBytes: 10,
        timeoutMs: 1000,
        log: (level, msg) => logs.push(`${level} ${msg}`),
      },
    });
    try {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/predict',
        headers: { 'content-type': 'multipart/form-data; boundary=abc' },
        payload: `${FILE_PART}--abc--\r\n`,
      });
      expect(response.statusCode).toBe(413);
      expect(logs).toEqual(['info predict refused']);
    } finally {
      await app.close();
    }
  });
});

describe('POST /v1/predict upload lifetime', () => {
  const good = (): DecodeFixture => {
    const fixture = loadFixtureManifest(inject('fixtureManifestPath')).fixtures.find(
      (f) => f.name === 'explicit-le',
    );
    if (fixture?.kind !== 'decode') throw new Error('fixture explicit-le missing');
    return fixture;
  };

  it.each<[string, (jobId: string) => Promise<PredictOutcome>, number]>([
    [
      'rejected by the worker',
      (jobId) => Promise.resolve({ kind: 'rejected', jobId, reason: 'corrupt_stream' }),
      422,
    ],
    ['failed in the worker', (jobId) => Promise.resolve({ kind: 'failed', jobId }), 502],
    ['not answered in time', (jobId) => Promise.resolve({ kind: 'timeout', jobId }), 504],
    ['not enqueued (Redis down)', () => Promise.reject(new Error('connection refused')), 500],
  ])('deletes the upload when the job was %s', async (_what, answer, status) => {
    const backend = fakeBackend(answer);
    const app = server(backend, []);
    try {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/predict',
        headers: { 'content-type': 'application/dicom' },
        payload: await readFile(good().path),
      });
      expect(response.statusCode).toBe(status);
      expect(backend.stored).toHaveLength(1);
      expect(backend.discarded).toEqual(backend.stored);
      expect(backend.payloads[0]?.uri).toBe(backend.stored[0]);
    } finally {
      await app.close();
    }
  });
});

describe('HTTP timeout defaults', () => {
  it('are the same in @cxr/config and @cxr/http', () => {
    const { host: _host, ...timeouts } = loadConfig({}).http;
    expect(timeouts).toEqual(DEFAULT_HTTP_TIMEOUTS);
  });
});
