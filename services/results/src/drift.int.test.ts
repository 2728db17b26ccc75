/**
 * Drift monitoring end to end against real Redis and both stores: a bundle manifest carries a
 * reference computed (as `cxr model reference` does) from results like the first batch; results
 * that match it give PSI 0, results that shift it give PSI far above 0.25, and after a restart the
 * gauges come back from the store before any new message arrives.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '@cxr/config';
import { DriftReferenceBuilder, type DriftReference } from '@cxr/metrics';
import { parseManifest, type ModelManifest } from '@cxr/model/manifest';
import { ResultQueue, redisConnectionFromUrl, type ResultMessage } from '@cxr/queue';
import { startResultsApp, type ResultsApp } from './app.js';
import { driftObservation } from './drift-observation.js';
import { resultRowFromMessage } from './result-row.js';

// Tests are not app code: reading the environment here bypasses @cxr/config on purpose.
const REDIS_URL = process.env.CXR_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const POSTGRES_URL = process.env.CXR_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const WINDOW = 200;

const MANIFEST: ModelManifest = parseManifest({
  id: 'seed-densenet121',
  version: '1.0.0',
  architecture: 'densenet121',
  format: 'onnx',
  weights: ['model.onnx'],
  input: {
    size: 32,
    channels: 3,
    layout: 'NHWC',
    crop: 'center-square',
    resize: 'bilinear',
    intensity: { method: 'dicom-window' },
    normalization: { method: 'unit' },
  },
  output: {
    activation: 'softmax',
    labels: ['normal', 'pneumonia', 'further_evaluation'],
    decision: 'argmax',
  },
});

/**
 * Result i. Matching: the pneumonia score walks the ten deciles (0.05, 0.75, 0.45, ...: 7i mod 10
 * visits every residue), the image mean ten levels, one manufacturer. Shifted: pneumonia scores
 * near 1, a brighter image, a vendor the reference never saw.
 */
function message(i: number, shifted: boolean, runId: string): ResultMessage {
  const p = shifted ? 0.96 + (i % 4) / 100 : (((i * 7) % 10) + 0.5) / 10;
  return {
    jobId: `job-${runId}-${i}`,
    uri: `s3://archive/${runId}/${i}.dcm`,
    runId,
    modelId: MANIFEST.id,
    modelVersion: MANIFEST.version,
    runtime: 'onnx',
    uids: {},
    technical: {
      modality: 'DX',
      manufacturer: shifted ? 'NewVendor' : 'ACME',
      photometricInterpretation: 'MONOCHROME2',
      rows: 2048,
      columns: 2048,
    },
    timingsMs: {},
    features: { imageMean: (shifted ? 3000 : 1000) + (i % 10) * 50, imageStd: 250, bitsStored: 12 },
    enqueuedAt: Date.now(),
    finishedAt: Date.now(),
    attemptsMade: 0,
    outcome: 'ok',
    scores: { normal: (1 - p) * 0.8, pneumonia: p, further_evaluation: (1 - p) * 0.2 },
    decision: 'pneumonia',
  };
}

/** The reference of 1000 matching results, computed with the CLI's own code path. */
function reference(): DriftReference {
  const builder = new DriftReferenceBuilder({
    labels: MANIFEST.output.labels,
    scoreBins: 'unit',
    source: {
      kind: 'run',
      runId: 'validation',
      modelId: MANIFEST.id,
      modelVersion: MANIFEST.version,
      computedAt: new Date().toISOString(),
    },
  });
  for (let i = 0; i < 1000; i++) {
    const observation = driftObservation(
      resultRowFromMessage(message(i, false, 'validation')),
      MANIFEST.output,
    );
    if (observation !== undefined) builder.add(observation);
  }
  return builder.build();
}

/** `series value` lines of the exposition as a map (drift, positive-rate lines only). */
function driftSeries(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!/^cxr_(prediction_drift|input_drift|positive_rate)/.test(line)) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

async function waitFor(what: string, condition: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface StoreTarget {
  readonly url: string;
  readonly schema?: string;
  readonly cleanup: () => Promise<void>;
}

const targets: Record<string, () => Promise<StoreTarget>> = {
  sqlite: async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cxr-drift-int-'));
    return {
      url: `sqlite:${join(dir, 'results.sqlite')}`,
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
  postgres: async () => {
    const schema = `cxr_drift_test_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    return {
      url: POSTGRES_URL,
      schema,
      cleanup: async () => {
        try {
          await admin.query(`DROP SCHEMA ${schema} CASCADE`);
        } finally {
          await admin.end();
        }
      },
    };
  },
};

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe.each(Object.keys(targets))('drift gauges with %s', (kind) => {
  it('PSI ~0 for matching results, > 0.25 for shifted ones, and the same after a restart', async () => {
    const target = await targets[kind]!();
    cleanups.push(target.cleanup);
    const bundle = await mkdtemp(join(tmpdir(), 'cxr-drift-bundle-'));
    cleanups.push(() => rm(bundle, { recursive: true, force: true }));
    await writeFile(
      join(bundle, 'manifest.json'),
      JSON.stringify({ ...MANIFEST, reference: reference() }, null, 2),
    );
    const prefix = `cxr-drift-test-${randomBytes(6).toString('hex')}`;
    const connection = redisConnectionFromUrl(REDIS_URL);
    const config = loadConfig({
      CXR_STORE_URL: target.url,
      CXR_REDIS_URL: REDIS_URL,
      CXR_DRIFT_WINDOW_COUNT: String(WINDOW),
      CXR_DRIFT_MIN_SAMPLES: '100',
    });
    const start = (): Promise<ResultsApp> =>
      startResultsApp({
        config,
        port: 0,
        host: '127.0.0.1',
        queuePrefix: prefix,
        ...(target.schema !== undefined ? { storeSchema: target.schema } : {}),
        modelDir: bundle,
        maxBatch: 50,
        maxDelayMs: 20,
      });
    let app = await start();
    let running = true;
    cleanups.push(async () => {
      if (running) await app.stop();
    });
    const metrics = async (): Promise<Map<string, number>> =>
      driftSeries(await (await fetch(`http://127.0.0.1:${app.port}/metrics`)).text());
    const publisher = new ResultQueue({ connection, prefix });
    cleanups.push(async () => {
      await publisher.obliterate({ force: true });
      await publisher.close();
    });
    const okCount = async (): Promise<number> => (await app.store.countByOutcome('live')).ok;

    // Empty store: no drift series at all (the window is below CXR_DRIFT_MIN_SAMPLES).
    expect([...(await metrics()).keys()]).toEqual([]);

    // 50 matching results: under min samples, only the positive rate is reported.
    await publisher.publish(Array.from({ length: 50 }, (_, i) => message(i, false, 'live')));
    await waitFor('50 stored', async () => (await okCount()) === 50);
    await waitFor('positive rate', async () => (await metrics()).has('cxr_positive_rate{label="pneumonia"}'));
    let m = await metrics();
    expect(m.has('cxr_prediction_drift_psi{label="pneumonia"}')).toBe(false);
    // argmax: pneumonia wins when p > 0.8 (1 - p), i.e. p > 0.444: 0.45, 0.55, ..., 0.95 are 6
    // of the 10 deciles, and 50 results hold each decile 5 times.
    expect(m.get('cxr_positive_rate{label="pneumonia"}')).toBe(0.6);

    // 200 matching results fill the window: the same decile/level mix as the reference.
    await publisher.publish(Array.from({ length: 150 }, (_, i) => message(50 + i, false, 'live')));
    await waitFor('200 stored', async () => (await okCount()) === 200);
    await waitFor('drift gauges', async () =>
      (await metrics()).has('cxr_prediction_drift_psi{label="pneumonia"}'),
    );
    m = await metrics();
    for (const label of MANIFEST.output.labels) {
      expect(m.get(`cxr_prediction_drift_psi{label="${label}"}`), label).toBeLessThan(0.01);
      expect(m.get(`cxr_prediction_drift_js{label="${label}"}`), label).toBeLessThan(0.01);
    }
    for (const feature of ['image_mean', 'image_std', 'bits_stored', 'rows', 'manufacturer', 'modality']) {
      expect(m.get(`cxr_input_drift_psi{feature="${feature}"}`), feature).toBeLessThan(0.01);
    }

    // 200 shifted results replace them in the window (count 200).
    await publisher.publish(Array.from({ length: WINDOW }, (_, i) => message(1000 + i, true, 'live')));
    await waitFor('400 stored', async () => (await okCount()) === 400);
    await waitFor(
      'shifted window',
      async () => (await metrics()).get('cxr_positive_rate{label="pneumonia"}') === 1,
    );
    const shifted = await metrics();
    expect(shifted.get('cxr_prediction_drift_psi{label="pneumonia"}')).toBeGreaterThan(0.25);
    expect(shifted.get('cxr_prediction_drift_js{label="pneumonia"}')).toBeGreaterThan(0.25);
    expect(shifted.get('cxr_input_drift_psi{feature="image_mean"}')).toBeGreaterThan(0.25);
    expect(shifted.get('cxr_input_drift_psi{feature="manufacturer"}')).toBeGreaterThan(0.25);
    // Unchanged features stay at 0.
    expect(shifted.get('cxr_input_drift_psi{feature="image_std"}')).toBeLessThan(0.01);

    // Restart: the new process rebuilds the window from the store, no message needed.
    running = false;
    await app.stop();
    app = await start();
    running = true;
    expect(await metrics()).toEqual(shifted);
  }, 120_000);
});
