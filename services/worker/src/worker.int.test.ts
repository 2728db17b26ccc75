/**
 * The worker against real Redis, file:// objects and a small seeded ONNX model: every enqueued
 * job ends in exactly one result message with the right outcome, bad DICOM is rejected without a
 * retry, images the model does not apply to (real CT, multi-frame, palette and ultrasound files;
 * the Secondary Capture fixtures) are rejected `not_applicable` unscored, transient fetch faults
 * are retried and then failed, batches form, and no patient identifier leaves the worker.
 */
import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadConfig } from '@cxr/config';
import { publicDicomPath } from '@cxr/dicom/testing';
import { initSeedModel } from '@cxr/model';
import {
  ResultConsumer,
  ResultQueue,
  ScreenQueue,
  redisConnectionFromUrl,
  screenJobId,
  type ResultMessage,
  type ScreenJobPayload,
} from '@cxr/queue';
import { ObjectFetchError, createObjectFetcher, type ObjectFetcher } from '@cxr/storage';
import { hashPatientId } from '@cxr/store';
import {
  CANARY_PATIENT_ID,
  CANARY_PATIENT_NAME,
  isChestRadiographFixture,
  loadFixtureManifest,
  type DecodeFixture,
  type RejectFixture,
} from '@cxr/fixtures';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { WorkerService } from './worker-service.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const SALT = 'test-salt-0123456789abcdef';
const ATTEMPTS = 2;
const MAX_BATCH = 4;
/** CT (RLE, several fragments), 140-frame SC, two palette test patterns, an ultrasound. */
const NOT_CHEST_PUBLIC_FILES = [
  'fo_D_CLUNIE_CT1_RLE_FRAGS.dcm',
  'fo_multiframe.dcm',
  'fo_TestPattern_Palette.dcm',
  'other_TestPattern_Palette_16.jpeg_ls_lossless.dcm',
  'other_jpeg_2000_ybr_color_space.dcm',
];

interface Expected {
  readonly uri: string;
  readonly outcome: ResultMessage['outcome'];
  readonly reason?: string;
}

/** Counts fetches per URI (= processor invocations) and fails one URI transiently. */
function countingFetcher(inner: ObjectFetcher, flakyUri: string, calls: Map<string, number>): ObjectFetcher {
  return {
    fetch(uri) {
      calls.set(uri, (calls.get(uri) ?? 0) + 1);
      if (uri === flakyUri) {
        return Promise.reject(new ObjectFetchError(uri, true, 'injected 503'));
      }
      return inner.fetch(uri);
    },
    close: () => inner.close(),
  };
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('WorkerService (Redis, file:// objects, seeded ONNX model)', () => {
  const prefix = `cxr-worker-test-${randomUUID()}`;
  const connection = redisConnectionFromUrl(REDIS_URL);
  const received: ResultMessage[] = [];
  const fetchCalls = new Map<string, number>();
  const logLines: string[] = [];
  const expected = new Map<string, Expected>();
  let dir: string;
  let queue: ScreenQueue;
  let consumer: ResultConsumer | undefined;
  let service: WorkerService | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-worker-'));
    const objects = join(dir, 'objects');
    await mkdir(objects);
    const set = loadFixtureManifest(inject('fixtureManifestPath'));
    const good = set.fixtures.filter((f): f is DecodeFixture => f.kind === 'decode');
    // frame-out-of-range needs a frame request; the worker always screens frame 0.
    const bad = set.fixtures.filter((f): f is RejectFixture => f.kind === 'reject' && f.frame === undefined);
    const bundle = await initSeedModel({
      outDir: join(dir, 'model'),
      size: 32,
      blocks: [1, 2, 2, 1],
      format: 'onnx',
      seed: 1,
    });
    const { id: modelId, version: modelVersion } = bundle.manifest;
    const payloads: ScreenJobPayload[] = [];
    const add = async (
      source: string | undefined,
      name: string,
      outcome: Expected['outcome'],
      reason?: string,
    ): Promise<void> => {
      const path = join(objects, `${name}.dcm`);
      if (source !== undefined) await copyFile(source, path);
      const uri = pathToFileURL(path).href;
      const size = source === undefined ? 0 : (await stat(path)).size;
      payloads.push({ uri, size, runId: 'run-1', modelId, modelVersion, enqueuedAt: Date.now() });
      const jobId = screenJobId(uri, size, modelId, modelVersion);
      expected.set(jobId, { uri, outcome, ...(reason !== undefined ? { reason } : {}) });
    };
    for (const f of good) {
      if (isChestRadiographFixture(f)) await add(f.path, f.name, 'ok');
      else await add(f.path, f.name, 'rejected', 'not_applicable');
    }
    // Real files that decode but are no chest radiograph (audit finding 5): never scored.
    for (const name of NOT_CHEST_PUBLIC_FILES) {
      await add(publicDicomPath(name), `public-${name}`, 'rejected', 'not_applicable');
    }
    for (const f of bad) await add(f.path, `bad-${f.name}`, 'rejected', f.reason);
    await add(undefined, 'missing', 'failed', 'fetch_error');
    // A real file whose fetch always fails transiently: retried, then failed.
    await add(good[0]?.path, 'flaky', 'failed', 'fetch_error');
    expect(basename(payloads.at(-1)?.uri ?? '')).toBe('flaky.dcm');

    queue = new ScreenQueue({ connection, prefix, retry: { attempts: ATTEMPTS, backoffDelayMs: 100 } });
    const enqueued = await queue.enqueueBulk(payloads);
    expect(enqueued).toEqual({ added: payloads.length, requeued: 0, duplicates: 0 });

    consumer = new ResultConsumer({
      connection,
      prefix,
      consume: (message) => {
        received.push(message);
        return Promise.resolve();
      },
    });
    const config = loadConfig({
      CXR_REDIS_URL: REDIS_URL,
      CXR_MAX_BATCH: String(MAX_BATCH),
      // Generous: batches must form even on a loaded 2-core machine.
      CXR_MAX_DELAY_MS: '200',
      CXR_DECODE_THREADS: '2',
      CXR_RUNTIME: 'onnx',
      CXR_RUNTIME_THREADS: '1',
      CXR_PATIENT_ID_SALT: SALT,
    });
    service = new WorkerService({
      config,
      modelDir: bundle.dir,
      queuePrefix: prefix,
      fetcher: countingFetcher(createObjectFetcher({ env: {} }), payloads.at(-1)?.uri ?? '', fetchCalls),
      log: (level, message, data) => logLines.push(JSON.stringify({ level, message, data })),
    });
    await service.start();
    await waitFor(() => received.length >= expected.size, 30_000);
    // Let a duplicate (a retried rejection, a second publish) arrive if the worker were to make one.
    await new Promise((resolve) => setTimeout(resolve, 500));
  }, 60_000);

  afterAll(async () => {
    await service?.stop();
    await consumer?.close();
    await queue.obliterate({ force: true });
    await queue.close();
    // The results queue lives under the same prefix: obliterate it through its producer adapter.
    const results = new ResultQueue({ connection, prefix });
    await results.obliterate({ force: true });
    await results.close();
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('publishes exactly one result per job, with the expected outcome and reason', () => {
    const byJob = new Map<string, ResultMessage[]>();
    for (const message of received) byJob.set(message.jobId, [...(byJob.get(message.jobId) ?? []), message]);
    expect([...byJob.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [jobId, want] of expected) {
      const messages = byJob.get(jobId) ?? [];
      expect(messages, want.uri).toHaveLength(1);
      const message = messages[0]!;
      expect({ uri: message.uri, outcome: message.outcome }).toEqual({
        uri: want.uri,
        outcome: want.outcome,
      });
      if (message.outcome !== 'ok') expect(message.reason, want.uri).toBe(want.reason);
    }
  });

  it('ok results carry scores summing to 1, a decision, tags, timings and the salted hash', () => {
    const ok = received.filter((m) => m.outcome === 'ok');
    expect(ok.length).toBeGreaterThanOrEqual(20);
    for (const message of ok) {
      const scores = Object.values(message.scores);
      expect(scores).toHaveLength(3);
      expect(scores.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
      expect(Object.keys(message.scores)).toContain(message.decision);
      expect(message.runtime).toBe('onnx');
      expect(message.uids.sopInstanceUid).toMatch(/^[0-9.]+$/);
      expect(message.technical.transferSyntaxUid).toMatch(/^1\.2\.840\.10008\.1\.2/);
      expect(message.technical.rows).toBeGreaterThan(0);
      expect(message.technical.photometricInterpretation).toBeDefined();
      expect(Object.keys(message.timingsMs).sort()).toEqual(
        ['batch_wait', 'decode', 'fetch', 'infer', 'preprocess'].sort(),
      );
      expect(message.patientIdHash).toBe(hashPatientId(CANARY_PATIENT_ID, SALT));
      // Drift features from the decode thread: statistics after the Modality LUT, Bits Stored.
      expect(message.features, message.uri).toBeDefined();
      expect(Number.isFinite(message.features?.imageMean)).toBe(true);
      expect(message.features?.imageStd).toBeGreaterThan(0);
      expect(message.features?.bitsStored).toBeGreaterThanOrEqual(1);
      expect(message.features?.bitsStored).toBeLessThanOrEqual(32);
    }
    // Never decoded, never described.
    for (const message of received.filter((m) => m.outcome === 'rejected')) {
      expect(message.features, message.uri).toBeUndefined();
    }
  });

  it('does not retry rejected or permanently failed jobs; retries transient faults; completes rejections', async () => {
    for (const want of expected.values()) {
      const calls = fetchCalls.get(want.uri);
      if (basename(want.uri) === 'flaky.dcm') expect(calls, want.uri).toBe(ATTEMPTS);
      else expect(calls, want.uri).toBe(1);
    }
    const flaky = received.find((m) => basename(m.uri) === 'flaky.dcm');
    expect(flaky?.attemptsMade).toBe(ATTEMPTS - 1);
    const outcomes = [...expected.values()].map((e) => e.outcome);
    const counts = await queue.counts();
    // A rejection is a final outcome, not a job failure: its job completes, so BullMQ's failed
    // set (and the alert on cxr_queue_jobs{state="failed"}) holds real failures only.
    expect(counts.completed).toBe(outcomes.filter((o) => o === 'ok' || o === 'rejected').length);
    expect(counts.failed).toBe(outcomes.filter((o) => o === 'failed').length);
  });

  it('forms batches larger than one and reports the model and inference metrics', async () => {
    const registry = service!.metrics.registry;
    const batch = await registry.getSingleMetric('cxr_batch_size')!.get();
    const value = (name: string): number =>
      batch.values.find((v) => (v as { metricName?: string }).metricName === name)?.value ?? 0;
    const batches = value('cxr_batch_size_count');
    const images = value('cxr_batch_size_sum');
    expect(images).toBe(received.filter((m) => m.outcome === 'ok').length);
    expect(batches).toBeLessThan(images);
    const text = await registry.metrics();
    expect(text).toMatch(/cxr_inference_batch_duration_seconds_count\{runtime="onnx"\} [1-9]/);
    expect(text).toMatch(/cxr_model_info\{model="[^"]+",version="[^"]+",runtime="onnx"\} 1/);
  });

  it('never lets the canary patient name or ID out (messages, logs, metrics)', async () => {
    const everything = [
      JSON.stringify(received),
      logLines.join('\n'),
      await service!.metrics.registry.metrics(),
    ].join('\n');
    expect(everything).not.toContain(CANARY_PATIENT_ID);
    expect(everything).not.toContain(CANARY_PATIENT_NAME);
    expect(everything).not.toContain('CANARY');
  });
});
