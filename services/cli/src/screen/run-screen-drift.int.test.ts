/**
 * `cxr screen --model DIR` with a bundle that carries a drift reference (audit finding 6): the
 * results service must compare with that bundle, not with CXR_MODEL_DIR (unset here), so the
 * drift monitor starts and the cxr_prediction_drift_* gauges are exported. In process, against
 * real Redis (its own queue prefix) and an SQLite store.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '@cxr/config';
import type { Logger } from '@cxr/config/log';
import { createMetrics, DriftReferenceBuilder } from '@cxr/metrics';
import { initSeedModel, type ModelManifest } from '@cxr/model';
import { writeManifestReference } from '@cxr/model/manifest';
import { ResultQueue, ScreenQueue, redisConnectionFromUrl } from '@cxr/queue';
import { loadFixtureManifest, type DecodeFixture } from '@cxr/fixtures';
import { runScreen } from './run-screen.js';

// Tests are not app code: reading the environment here bypasses @cxr/config on purpose.
const REDIS_URL = process.env.CXR_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A reference of 50 plausible observations for the bundle's labels, as `cxr model reference` writes one. */
function referenceFor(manifest: ModelManifest): unknown {
  const builder = new DriftReferenceBuilder({
    labels: manifest.output.labels,
    scoreBins: 'unit',
    source: {
      kind: 'run',
      runId: 'validation',
      modelId: manifest.id,
      modelVersion: manifest.version,
      computedAt: new Date().toISOString(),
    },
  });
  for (let i = 0; i < 50; i++) {
    const p = (i % 10) / 10 + 0.05;
    const scores = Object.fromEntries(
      manifest.output.labels.map((label, l) => [label, l === 0 ? p : (1 - p) / 2]),
    );
    builder.add({
      scores,
      positives: [],
      numeric: { image_mean: 1000 + i * 10, image_std: 200, rows: 320, columns: 256, bits_stored: 12 },
      categorical: {
        manufacturer: 'CXR Fixture Works',
        modality: 'CR',
        view_position: 'PA',
        photometric_interpretation: 'MONOCHROME2',
        transfer_syntax: '1.2.840.10008.1.2.1',
      },
    });
  }
  return builder.build();
}

describe('cxr screen --model with a drift reference', () => {
  const prefix = `cxr-screen-drift-${randomBytes(4).toString('hex')}`;
  let dir: string;
  let modelDir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-screen-drift-'));
    const set = loadFixtureManifest(inject('fixtureManifestPath'));
    const chest = set.fixtures
      .filter((f): f is DecodeFixture => f.kind === 'decode' && f.expected.modality === 'CR')
      .slice(0, 3);
    await mkdir(join(dir, 'archive'));
    for (const f of chest) await copyFile(f.path, join(dir, 'archive', `${f.name}.dcm`));
    const bundle = await initSeedModel({
      outDir: join(dir, 'model'),
      size: 32,
      blocks: [1, 2, 2, 1],
      format: 'onnx',
      seed: 2,
    });
    await writeManifestReference(bundle.dir, referenceFor(bundle.manifest));
    modelDir = bundle.dir;
  }, 120_000);

  afterAll(async () => {
    const connection = redisConnectionFromUrl(REDIS_URL);
    const screen = new ScreenQueue({ connection, prefix });
    await screen.obliterate({ force: true });
    await screen.close();
    const results = new ResultQueue({ connection, prefix });
    await results.obliterate({ force: true });
    await results.close();
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('turns drift monitoring on from the bundle it screens with and exports the drift gauges', async () => {
    const config = loadConfig({
      CXR_REDIS_URL: REDIS_URL,
      CXR_QUEUE_PREFIX: prefix,
      CXR_STORE_URL: `sqlite:${join(dir, 'results.sqlite')}`,
      CXR_DECODE_THREADS: '1',
      CXR_RUNTIME: 'onnx',
      CXR_RUNTIME_THREADS: '1',
      CXR_MAX_BATCH: '4',
      CXR_DRIFT_MIN_SAMPLES: '1',
    });
    expect(config.modelDir).toBeUndefined();
    const messages: string[] = [];
    const log: Logger = (_level, msg) => {
      messages.push(msg);
    };
    const metrics = createMetrics();
    const summary = await runScreen({
      config,
      sourceUri: `file://${join(dir, 'archive')}`,
      modelDir,
      runId: 'drift-run',
      metrics,
      log,
      pollMs: 100,
    });
    expect(summary.outcomes).toEqual({ ok: 3, rejected: 0, failed: 0 });
    expect(messages).toContain('drift monitoring on');
    const exposition = await metrics.registry.metrics();
    expect(exposition).toMatch(/^cxr_prediction_drift_psi\{label="normal"\} [0-9.e+-]+$/m);
    expect(exposition).toMatch(/^cxr_prediction_drift_js\{label="normal"\} [0-9.e+-]+$/m);
  }, 180_000);
});
