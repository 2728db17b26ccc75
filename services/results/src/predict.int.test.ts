/**
 * `POST /v1/predict` end to end: real Redis, a WorkerService in-process with a seeded ONNX model,
 * the results app on a free port. Valid uploads (multipart and application/dicom) are screened
 * and answered in the `cxr predict` shape; bad input is refused with the right status and reason;
 * the token, the size limit and a missing model are enforced; a predict job overtakes an archive
 * backlog; uploads live in the upload area only while their job runs, and abandoned ones are
 * swept; no patient identifier appears in bodies or logs.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadConfig, type AppConfig } from '@cxr/config';
import { publicDicomPath } from '@cxr/dicom/testing';
import { initSeedModel, type ModelManifest } from '@cxr/model';
import { ResultQueue, ScreenQueue, redisConnectionFromUrl } from '@cxr/queue';
import { createObjectFetcher, type ObjectFetcher } from '@cxr/storage';
import {
  CANARY_PATIENT_ID,
  CANARY_PATIENT_NAME,
  loadFixtureManifest,
  type DecodeFixture,
  type RejectFixture,
} from '@cxr/fixtures';
import { WorkerService } from '@cxr/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startResultsApp, type ResultsApp } from './app.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const TOKEN = 'predict-test-token-0123456789';
const BACKLOG = 40;
/** Delay of every archive (file://) fetch: makes the backlog last long enough to be overtaken. */
const ARCHIVE_FETCH_DELAY_MS = 100;

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Record<string, unknown>;
  readonly text: string;
}

/** Every response body seen, for the canary check. */
const bodies: string[] = [];
const logLines: string[] = [];

function captureLog(service: string) {
  return (level: string, message: string, data?: Readonly<Record<string, unknown>>): void => {
    logLines.push(JSON.stringify({ service, level, message, data }));
  };
}

async function post(
  port: number,
  init: { body?: FormData | Uint8Array; contentType?: string; token?: string },
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (init.contentType !== undefined) headers['content-type'] = init.contentType;
  if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`;
  const response = await fetch(`http://127.0.0.1:${port}/v1/predict`, {
    method: 'POST',
    headers,
    ...(init.body !== undefined ? { body: init.body } : {}),
  });
  const text = await response.text();
  bodies.push(text);
  return {
    status: response.status,
    headers: response.headers,
    body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
    text,
  };
}

/** A multipart form with the file under a name that carries the canary (it must never be echoed). */
function form(bytes: Uint8Array): FormData {
  const data = new FormData();
  data.append('note', 'a text field before the file');
  data.append('file', new Blob([bytes], { type: 'application/dicom' }), `${CANARY_PATIENT_NAME}.dcm`);
  return data;
}

async function waitFor(
  condition: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('POST /v1/predict (Redis, in-process worker, seeded ONNX model)', () => {
  const prefix = `cxr-predict-test-${randomUUID()}`;
  const connection = redisConnectionFromUrl(REDIS_URL);
  /** Archive fetches in the order they finished; 'predict-answered' marks the predict answer. */
  const events: string[] = [];
  let dir: string;
  let manifest: ModelManifest;
  let modelDir: string;
  let worker: WorkerService | undefined;
  let app: ResultsApp | undefined;
  /** The upload area (CXR_UPLOAD_URL) of every app of this file. */
  let uploadDir: string;
  let good: DecodeFixture;
  let small: DecodeFixture;
  let rejects: Map<string, RejectFixture>;

  const appConfig = (env: Record<string, string>): AppConfig =>
    loadConfig({
      CXR_REDIS_URL: REDIS_URL,
      CXR_STORE_URL: 'sqlite::memory:',
      CXR_PREDICT_TIMEOUT_MS: '30000',
      CXR_UPLOAD_URL: pathToFileURL(uploadDir).href,
      ...env,
    });
  const startApp = (
    config: AppConfig,
    name: string,
    queuePrefix = prefix,
    uploadSweepIntervalMs?: number,
  ): Promise<ResultsApp> =>
    startResultsApp({
      config,
      port: 0,
      host: '127.0.0.1',
      queuePrefix,
      maxDelayMs: 20,
      queueGaugeIntervalMs: 60_000,
      ...(uploadSweepIntervalMs !== undefined ? { uploadSweepIntervalMs } : {}),
      log: captureLog(name),
    });
  const uploadsLeft = async (): Promise<string[]> => readdir(uploadDir);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-predict-'));
    uploadDir = join(dir, 'uploads');
    const set = loadFixtureManifest(inject('fixtureManifestPath'));
    const byName = new Map(set.fixtures.map((f) => [f.name, f]));
    good = byName.get('explicit-le') as DecodeFixture;
    small = byName.get('jpeg-baseline') as DecodeFixture;
    rejects = new Map(
      set.fixtures.filter((f): f is RejectFixture => f.kind === 'reject').map((f) => [f.name, f]),
    );
    expect(good.kind).toBe('decode');
    expect(small.kind).toBe('decode');
    const bundle = await initSeedModel({
      outDir: join(dir, 'model'),
      size: 32,
      blocks: [1, 2, 2, 1],
      format: 'onnx',
      seed: 1,
    });
    manifest = bundle.manifest;
    modelDir = bundle.dir;

    const files = createObjectFetcher({ env: {} });
    const slowArchive: ObjectFetcher = {
      async fetch(uri) {
        // Uploads are file:// objects too; only the archive is slowed down and counted.
        if (uri.startsWith(pathToFileURL(uploadDir).href)) return files.fetch(uri);
        await new Promise((resolve) => setTimeout(resolve, ARCHIVE_FETCH_DELAY_MS));
        const bytes = await files.fetch(uri);
        events.push('archive');
        return bytes;
      },
      close: () => files.close(),
    };
    worker = new WorkerService({
      config: loadConfig({
        CXR_REDIS_URL: REDIS_URL,
        CXR_MAX_BATCH: '4',
        CXR_MAX_DELAY_MS: '50',
        CXR_DECODE_THREADS: '1',
        CXR_RUNTIME: 'onnx',
        CXR_RUNTIME_THREADS: '1',
        CXR_PATIENT_ID_SALT: 'predict-test-salt-0123456789',
      }),
      modelDir,
      queuePrefix: prefix,
      fetcher: slowArchive,
      log: captureLog('worker'),
    });
    await worker.start();
    app = await startApp(
      appConfig({ CXR_MODEL_DIR: modelDir, CXR_PREDICT_MAX_BYTES: String(2 * 1024 * 1024) }),
      'results',
    );
  }, 120_000);

  afterAll(async () => {
    await app?.stop();
    await worker?.stop();
    const screen = new ScreenQueue({ connection, prefix });
    await screen.obliterate({ force: true });
    await screen.close();
    const results = new ResultQueue({ connection, prefix });
    await results.obliterate({ force: true });
    await results.close();
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  const expectPrediction = (answer: Answer): void => {
    expect(answer.status, answer.text).toBe(200);
    const body = answer.body as {
      diagnosis: string;
      confidence: number;
      all_probabilities: Record<string, number>;
      positives: string[];
      model: { id: string; version: string };
      runtime: { name: string; version: string; backend: string[] };
      timings_ms: Record<string, number>;
    };
    expect(Object.keys(body).sort()).toEqual(
      ['all_probabilities', 'confidence', 'diagnosis', 'model', 'positives', 'runtime', 'timings_ms'].sort(),
    );
    expect(Object.keys(body.all_probabilities)).toEqual(manifest.output.labels);
    const scores = Object.values(body.all_probabilities);
    expect(scores.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    // The seed manifest decides by argmax: the diagnosis is the top label with its score.
    expect(manifest.output.decision).toBe('argmax');
    expect(body.confidence).toBe(Math.max(...scores));
    expect(body.all_probabilities[body.diagnosis]).toBe(body.confidence);
    expect(body.positives).toEqual([body.diagnosis]);
    expect(body.model).toEqual({ id: manifest.id, version: manifest.version });
    expect(body.runtime.name).toBe('onnx');
    expect(body.runtime.version).toMatch(/onnxruntime/);
    for (const stage of [
      'upload',
      'validate',
      'fetch',
      'decode',
      'preprocess',
      'batch_wait',
      'infer',
      'total',
    ]) {
      expect(body.timings_ms[stage], stage).toBeGreaterThanOrEqual(0);
    }
    expect(body.timings_ms.total).toBeGreaterThanOrEqual(body.timings_ms.infer ?? Infinity);
    expect(answer.headers.get('cxr-job-id')).toMatch(/^scr_[0-9a-f]{40}$/);
  };

  it('screens a multipart upload and answers in the `cxr predict` shape', async () => {
    const bytes = await readFile(good.path);
    expectPrediction(await post(app!.port, { body: form(bytes) }));
  });

  it('screens a raw application/dicom body the same way, with the same scores', async () => {
    const bytes = await readFile(good.path);
    const raw = await post(app!.port, { body: bytes, contentType: 'application/dicom' });
    expectPrediction(raw);
    const multipart = await post(app!.port, { body: form(bytes) });
    expect(raw.body.all_probabilities).toEqual(multipart.body.all_probabilities);
  });

  it('answers 422 with the reject reason for a file that is not DICOM (checked before queueing)', async () => {
    const answer = await post(app!.port, {
      body: await readFile(rejects.get('not-dicom')!.path),
      contentType: 'application/dicom',
    });
    expect(answer.status).toBe(422);
    expect(answer.body).toEqual({ error: 'rejected', reason: 'not_dicom' });
    expect(answer.headers.get('cxr-job-id')).toBeNull();
  });

  it('answers 422 truncated for a truncated DICOM upload', async () => {
    const answer = await post(app!.port, { body: form(await readFile(rejects.get('truncated')!.path)) });
    expect(answer.status).toBe(422);
    expect(answer.body).toEqual({ error: 'rejected', reason: 'truncated' });
  });

  it('answers 422 with the worker-side reason for a corrupt pixel stream (header fine, decode fails)', async () => {
    const answer = await post(app!.port, {
      body: await readFile(rejects.get('corrupt-jpeg-lossless')!.path),
      contentType: 'application/dicom',
    });
    expect(answer.status).toBe(422);
    expect(answer.body).toEqual({ error: 'rejected', reason: 'corrupt_stream' });
    // It went through the queue: the worker rejected it.
    expect(answer.headers.get('cxr-job-id')).toMatch(/^scr_/);
  });

  it('answers 422 not_applicable for a CT, rejected by the worker before it is decoded (audit finding 5)', async () => {
    const answer = await post(app!.port, {
      body: await readFile(publicDicomPath('fo_D_CLUNIE_CT1_RLE_FRAGS.dcm')),
      contentType: 'application/dicom',
    });
    expect(answer.status).toBe(422);
    expect(answer.body).toEqual({ error: 'rejected', reason: 'not_applicable' });
    expect(answer.headers.get('cxr-job-id')).toMatch(/^scr_/);
  });

  it('answers 415 for a content type that is neither multipart nor application/dicom', async () => {
    const answer = await post(app!.port, { body: await readFile(good.path), contentType: 'image/png' });
    expect(answer.status).toBe(415);
    expect(answer.body.error).toBe('unsupported_media_type');
    const none = await post(app!.port, {});
    expect(none.status).toBe(415);
  });

  it('answers 400 for a multipart body without a file part and for an empty body', async () => {
    const fields = new FormData();
    fields.append('note', 'no file here');
    const noFile = await post(app!.port, { body: fields });
    expect(noFile.status).toBe(400);
    expect(noFile.body).toEqual({ error: 'no_file', reason: 'multipart body has no file part' });
    const empty = await post(app!.port, { body: new Uint8Array(0), contentType: 'application/dicom' });
    expect(empty.status).toBe(400);
    expect(empty.body.error).toBe('empty_body');
  });

  it('deletes uploads once their job is over, and stores predict results under runId `predict`', async () => {
    // Five uploads reached the worker so far (3 valid, 1 corrupt, 1 CT): none is left in the upload area.
    expect(await uploadsLeft()).toEqual([]);
    await waitFor(
      async () => {
        const counts = await app!.store.countByOutcome('predict');
        return counts.ok >= 3 && counts.rejected >= 2;
      },
      15_000,
      'predict results in the store',
    );
    const counts = await app!.store.countByOutcome('predict');
    // Refused before queueing (not DICOM, truncated, 4xx) never reach the store.
    expect(counts).toEqual({ ok: 3, rejected: 2, failed: 0 });
  });

  it('overtakes a backlog of archive jobs waiting on the same queue', async () => {
    const screen = new ScreenQueue({ connection, prefix });
    try {
      const uri = pathToFileURL(good.path).href;
      const payloads = Array.from({ length: BACKLOG }, (_, i) => ({
        uri,
        etag: `backlog-${i}`,
        size: 1,
        runId: 'backlog',
        modelId: manifest.id,
        modelVersion: manifest.version,
        enqueuedAt: Date.now(),
      }));
      events.length = 0;
      expect(await screen.enqueueBulk(payloads)).toEqual({ added: BACKLOG, requeued: 0, duplicates: 0 });
      const answer = await post(app!.port, {
        body: await readFile(good.path),
        contentType: 'application/dicom',
      });
      events.push('predict-answered');
      expectPrediction(answer);
      await waitFor(() => events.filter((e) => e === 'archive').length === BACKLOG, 60_000, 'the backlog');
      // The predict answer came while archive jobs were still to be fetched; with the job at the
      // back of the queue it would come after all BACKLOG fetches.
      // (Measured: 0 archive fetches before the answer; 40 of 40 with a `priority: 1` job.)
      expect(events.indexOf('predict-answered')).toBeLessThan(BACKLOG / 2);
    } finally {
      await screen.close();
    }
  }, 90_000);

  it('requires the bearer token when one is configured, and enforces the size limit', async () => {
    const guarded = await startApp(
      appConfig({ CXR_MODEL_DIR: modelDir, CXR_API_TOKEN: TOKEN, CXR_PREDICT_MAX_BYTES: '100000' }),
      'results-guarded',
    );
    try {
      const smallBytes = await readFile(small.path);
      const bigBytes = await readFile(good.path);
      expect(smallBytes.byteLength).toBeLessThan(100_000);
      expect(bigBytes.byteLength).toBeGreaterThan(100_000);

      const none = await post(guarded.port, { body: smallBytes, contentType: 'application/dicom' });
      expect(none.status).toBe(401);
      expect(none.body).toEqual({ error: 'unauthorized', reason: 'missing bearer token' });
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer /);

      const wrong = await post(guarded.port, {
        body: smallBytes,
        contentType: 'application/dicom',
        token: `${TOKEN.slice(0, -1)}x`,
      });
      expect(wrong.status).toBe(401);
      expect(wrong.body).toEqual({ error: 'unauthorized', reason: 'invalid bearer token' });
      expect(wrong.headers.get('www-authenticate')).toContain('error="invalid_token"');

      expectPrediction(await post(guarded.port, { body: form(smallBytes), token: TOKEN }));

      // Raw body: refused on its Content-Length. Multipart: within the header allowance, refused
      // by the part's size limit while streaming.
      const raw = await post(guarded.port, {
        body: bigBytes,
        contentType: 'application/dicom',
        token: TOKEN,
      });
      expect(raw.status).toBe(413);
      expect(raw.body).toEqual({ error: 'payload_too_large', reason: 'upload exceeds 100000 bytes' });
      const multipart = await post(guarded.port, { body: form(bigBytes), token: TOKEN });
      expect(multipart.status).toBe(413);
      expect(multipart.body.error).toBe('payload_too_large');
    } finally {
      await guarded.stop();
    }
  });

  it('answers 503 with a reason when no model is configured', async () => {
    const modelless = await startApp(appConfig({}), 'results-modelless');
    try {
      const answer = await post(modelless.port, {
        body: await readFile(good.path),
        contentType: 'application/dicom',
      });
      expect(answer.status).toBe(503);
      expect(answer.body.error).toBe('no_model');
      expect(answer.body.reason).toMatch(/CXR_MODEL_DIR/);
    } finally {
      await modelless.stop();
    }
  });

  it('sweeps uploads abandoned for longer than the timeout plus a minute, and nothing else', async () => {
    // What a results process killed between storing an upload and deleting it leaves behind.
    await mkdir(uploadDir, { recursive: true });
    const abandoned = `${randomUUID()}.dcm`;
    const recent = `${randomUUID()}.dcm`;
    for (const name of [abandoned, recent, 'not-an-upload.dcm']) {
      await writeFile(join(uploadDir, name), 'x');
    }
    // CXR_PREDICT_TIMEOUT_MS is 30 s: 91 s old is abandoned, 60 s old may still be read.
    const at = (secondsAgo: number): Date => new Date(Date.now() - secondsAgo * 1000);
    await utimes(join(uploadDir, abandoned), at(91), at(91));
    await utimes(join(uploadDir, recent), at(60), at(60));
    await utimes(join(uploadDir, 'not-an-upload.dcm'), at(3600), at(3600));
    const sweeping = await startApp(appConfig({}), 'results-sweeping', `${prefix}-sweep`, 100);
    try {
      await waitFor(async () => !(await uploadsLeft()).includes(abandoned), 5000, 'the sweep');
      expect((await uploadsLeft()).sort()).toEqual([recent, 'not-an-upload.dcm'].sort());
      expect(logLines.some((line) => line.includes('abandoned uploads deleted'))).toBe(true);
    } finally {
      await sweeping.stop();
      await rm(join(uploadDir, recent));
      await rm(join(uploadDir, 'not-an-upload.dcm'));
    }
  });

  it('answers 504 when no worker answers in time, and withdraws the job and the upload', async () => {
    // A queue no worker consumes.
    const idlePrefix = `${prefix}-idle`;
    const idle = await startApp(
      appConfig({ CXR_MODEL_DIR: modelDir, CXR_PREDICT_TIMEOUT_MS: '500' }),
      'results-idle',
      idlePrefix,
    );
    const idleQueue = new ScreenQueue({ connection, prefix: idlePrefix });
    try {
      const answer = await post(idle.port, {
        body: await readFile(good.path),
        contentType: 'application/dicom',
      });
      expect(answer.status).toBe(504);
      expect(answer.body).toEqual({ error: 'timeout', reason: 'no result within 500 ms' });
      expect(await uploadsLeft()).toEqual([]);
      const counts = await idleQueue.counts();
      expect(counts.waiting + counts.prioritized + counts.active).toBe(0);
    } finally {
      await idle.stop();
      await idleQueue.obliterate({ force: true });
      await idleQueue.close();
    }
  });

  it('never lets the canary patient name or ID (or the upload file name) out', () => {
    expect(bodies.length).toBeGreaterThan(15);
    expect(logLines.length).toBeGreaterThan(10);
    const everything = [...bodies, ...logLines].join('\n');
    expect(everything).not.toContain(CANARY_PATIENT_ID);
    expect(everything).not.toContain(CANARY_PATIENT_NAME);
    expect(everything).not.toContain('CANARY');
  });
});
