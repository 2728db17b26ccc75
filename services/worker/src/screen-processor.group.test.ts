/**
 * ScreenProcessor on multi-object jobs (`processGroup`), without Redis: a pre-decoded image, the
 * null runtime and a fetcher that fails some objects. Every object reaches its own outcome in one
 * publish, images of one job share batches, a retry carries only the objects hit by a transient
 * fault, and the final attempt publishes those as failed. The single-object path (`process`) keeps
 * its behaviour on the same outcomes.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DicomRejectedError } from '@cxr/dicom';
import { writeSyntheticTrainingSet } from '@cxr/fixtures';
import { runDecodeTask, type ModelOutput, type PoolDecodeResult } from '@cxr/imaging';
import { createMetrics } from '@cxr/metrics';
import { NullRuntime, initSeedModel, type ModelManifest } from '@cxr/model';
import {
  isJobRejectedError,
  screenJobId,
  type ResultMessage,
  type ScreenJobObject,
  type ScreenObjectsPayload,
} from '@cxr/queue';
import { ObjectFetchError, type ObjectFetcher } from '@cxr/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScreenProcessor, type ModelInputDecoder } from './screen-processor.js';

let dir: string;
let manifest: ModelManifest;
let decoded: PoolDecodeResult<ModelOutput>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cxr-group-'));
  const bundle = await initSeedModel({
    outDir: join(dir, 'model'),
    size: 32,
    blocks: [1, 1, 1, 1],
    format: 'onnx',
    seed: 3,
  });
  manifest = bundle.manifest;
  const [image] = await writeSyntheticTrainingSet({ dir: join(dir, 'images'), count: 1, seed: 3, size: 64 });
  const template = await runDecodeTask(await readFile(image!.path), {
    output: { model: manifest.input, accept: null },
  });
  decoded = { ...template, queueMs: 0 };
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Object URIs name their fate: ok-*, flaky-* (transient), gone-* (permanent), bad-* (not DICOM). */
function harness(): {
  processor: ScreenProcessor;
  published: ResultMessage[][];
  batchSizes: number[];
  batchOf: (string | undefined)[];
} {
  const published: ResultMessage[][] = [];
  const batchOf: (string | undefined)[] = [];
  const batchSizes: number[] = [];
  const bytes = new Uint8Array(8);
  const fetcher: ObjectFetcher = {
    fetch: (uri) => {
      if (uri.includes('flaky-')) return Promise.reject(new ObjectFetchError(uri, true, 'injected 503'));
      if (uri.includes('gone-')) return Promise.reject(new ObjectFetchError(uri, false, 'injected 404'));
      // The bad object's bytes are marked so that the decoder rejects them.
      return Promise.resolve(uri.includes('bad-') ? new Uint8Array([1]) : bytes);
    },
    close: () => Promise.resolve(),
  };
  const decoder: ModelInputDecoder = {
    threads: 1,
    decode: (input) =>
      input.byteLength === 1
        ? Promise.reject(new DicomRejectedError('not_dicom', 'no DICM prefix'))
        : Promise.resolve(decoded),
  };
  const runtime = new NullRuntime(manifest, { latencyMs: 0 });
  const predict = runtime.predict.bind(runtime);
  runtime.predict = (batch, size) => {
    batchSizes.push(size);
    return predict(batch, size);
  };
  const processor = new ScreenProcessor({
    fetcher,
    pool: decoder,
    runtime,
    manifest,
    results: {
      publish: (messages, options) => {
        published.push([...messages]);
        batchOf.push(options?.batchOf);
        return Promise.resolve();
      },
    },
    metrics: createMetrics(),
    maxBatch: 8,
    maxDelayMs: 5,
    maxObjectBytes: 1024,
    maxImagePixels: 10_000_000,
  });
  return { processor, published, batchSizes, batchOf };
}

function group(names: readonly string[]): ScreenObjectsPayload {
  const objects: ScreenJobObject[] = names.map((name, i) => {
    const uri = `s3://archive/${name}.dcm`;
    return { id: screenJobId(uri, 100 + i, manifest.id, manifest.version), uri, size: 100 + i };
  });
  return { objects, runId: 'run-g', modelId: manifest.id, modelVersion: manifest.version, enqueuedAt: 1 };
}

describe('ScreenProcessor.processGroup', () => {
  it('publishes every object outcome once, in one call, and hands back only the transient faults', async () => {
    const { processor, published, batchSizes, batchOf } = harness();
    const payload = group(['ok-1', 'ok-2', 'flaky-3', 'gone-4', 'bad-5', 'ok-6']);
    const result = await processor.processGroup(payload, {
      jobId: 'grp_x',
      attemptsMade: 0,
      isFinalAttempt: false,
    });
    expect(published).toHaveLength(1);
    // As one message of the job (ResultQueue: a `screen-results` message).
    expect(batchOf).toEqual(['grp_x']);
    const byUri = new Map(published[0]!.map((m) => [m.uri, m]));
    expect(byUri.size).toBe(5);
    for (const object of payload.objects) {
      const message = byUri.get(object.uri);
      if (object.uri.includes('flaky-')) {
        expect(message).toBeUndefined();
        continue;
      }
      // Each message carries its object's own id (the result message id, the store's key).
      expect(message?.jobId).toBe(object.id);
      expect(message?.runId).toBe('run-g');
    }
    expect(byUri.get('s3://archive/ok-1.dcm')).toMatchObject({ outcome: 'ok', runtime: 'null' });
    expect(byUri.get('s3://archive/gone-4.dcm')).toMatchObject({ outcome: 'failed', reason: 'fetch_error' });
    expect(byUri.get('s3://archive/bad-5.dcm')).toMatchObject({ outcome: 'rejected', reason: 'not_dicom' });
    expect(result.retry?.objects.map((o) => o.uri)).toEqual(['s3://archive/flaky-3.dcm']);
    expect(result.retry?.error).toBeInstanceOf(ObjectFetchError);
    // The three images of the job went through inference together.
    expect(Math.max(...batchSizes)).toBe(3);
    await processor.close();
  });

  it('on the final attempt publishes the objects still failing as failed, and still hands them back', async () => {
    const { processor, published } = harness();
    const payload = group(['flaky-1', 'ok-2']);
    const result = await processor.processGroup(payload, {
      jobId: 'grp_y',
      attemptsMade: 4,
      isFinalAttempt: true,
    });
    const messages = published.flat();
    expect(messages.map((m) => [m.uri, m.outcome]).sort()).toEqual([
      ['s3://archive/flaky-1.dcm', 'failed'],
      ['s3://archive/ok-2.dcm', 'ok'],
    ]);
    expect(messages.find((m) => m.outcome === 'failed')).toMatchObject({
      reason: 'fetch_error',
      attemptsMade: 4,
    });
    expect(result.retry?.objects.map((o) => o.uri)).toEqual(['s3://archive/flaky-1.dcm']);
    await processor.close();
  });

  it('a job whose objects all reach an outcome asks for no retry', async () => {
    const { processor, published } = harness();
    const result = await processor.processGroup(group(['ok-1', 'bad-2']), {
      jobId: 'grp_z',
      attemptsMade: 0,
      isFinalAttempt: false,
    });
    expect(result).toEqual({});
    expect(published.flat()).toHaveLength(2);
    await processor.close();
  });

  it('the single-object path keeps its outcomes: ok returns scores, a permanent failure publishes then fails the job', async () => {
    const { processor, published } = harness();
    const [ok, gone] = group(['ok-1', 'gone-2']).objects;
    const base = { runId: 'run-s', modelId: manifest.id, modelVersion: manifest.version, enqueuedAt: 1 };
    const returned = await processor.process(
      { ...base, uri: ok!.uri, size: ok!.size },
      { jobId: ok!.id, attemptsMade: 0, isFinalAttempt: false },
    );
    expect(returned).toMatchObject({ outcome: 'ok', modelId: manifest.id });
    const error: unknown = await processor
      .process(
        { ...base, uri: gone!.uri, size: gone!.size },
        { jobId: gone!.id, attemptsMade: 0, isFinalAttempt: false },
      )
      .catch((e: unknown) => e);
    expect(isJobRejectedError(error)).toBe(true);
    expect(published.map((batch) => batch.map((m) => m.outcome))).toEqual([['ok'], ['failed']]);
    const flaky = await processor
      .process(
        { ...base, uri: 's3://archive/flaky-9.dcm', size: 1 },
        { jobId: 'scr_flaky', attemptsMade: 0, isFinalAttempt: false },
      )
      .catch((e: unknown) => e);
    expect(flaky).toBeInstanceOf(ObjectFetchError);
    expect(published).toHaveLength(2);
    await processor.close();
  });
});
