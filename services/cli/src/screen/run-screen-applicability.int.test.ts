/**
 * `cxr screen` over real files the seed model was not made for (audit finding 5): a CT, a
 * 140-frame capture, palette test patterns and an ultrasound end `rejected` with reason
 * `not_applicable`, unscored, and that shows in the summary, the export and the metrics; the
 * public chest CR/DX files beside them are scored. In process, against real Redis (its own queue
 * prefix) and an SQLite store.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@cxr/config';
import { publicDicomPath } from '@cxr/dicom/testing';
import { createMetrics } from '@cxr/metrics';
import { initSeedModel } from '@cxr/model';
import { ResultQueue, ScreenQueue, redisConnectionFromUrl } from '@cxr/queue';
import { exportRun, openStore } from '@cxr/store';
import { runScreen } from './run-screen.js';

// Tests are not app code: reading the environment here bypasses @cxr/config on purpose.
const REDIS_URL = process.env.CXR_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const NOT_APPLICABLE = [
  'fo_D_CLUNIE_CT1_RLE_FRAGS.dcm',
  'fo_IM-0001-0001-0001.dcm',
  'fo_multiframe.dcm',
  'fo_TestPattern_Palette.dcm',
  'other_TestPattern_Palette_16.jpeg_ls_lossless.dcm',
  'other_jpeg_2000_ybr_color_space.dcm',
];
const CHEST = ['fuji_cr_mono1_10bit.dcm', 'siim_cr_jpegbaseline.dcm', 'nih_dx_implicit.dcm'];

describe('cxr screen with images the model does not apply to', () => {
  const prefix = `cxr-screen-applicable-${randomBytes(4).toString('hex')}`;
  let dir: string;
  let modelDir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-screen-applicable-'));
    await mkdir(join(dir, 'archive'));
    for (const name of [...NOT_APPLICABLE, ...CHEST]) {
      await copyFile(publicDicomPath(name), join(dir, 'archive', name));
    }
    const bundle = await initSeedModel({
      outDir: join(dir, 'model'),
      size: 32,
      blocks: [1, 2, 2, 1],
      format: 'onnx',
      seed: 4,
    });
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

  it('rejects them as not_applicable, unscored, in the summary, the export and the metrics', async () => {
    const storeUrl = `sqlite:${join(dir, 'results.sqlite')}`;
    const config = loadConfig({
      CXR_REDIS_URL: REDIS_URL,
      CXR_QUEUE_PREFIX: prefix,
      CXR_STORE_URL: storeUrl,
      CXR_DECODE_THREADS: '1',
      CXR_RUNTIME: 'onnx',
      CXR_RUNTIME_THREADS: '1',
      CXR_MAX_BATCH: '4',
    });
    const metrics = createMetrics();
    const summary = await runScreen({
      config,
      sourceUri: `file://${join(dir, 'archive')}`,
      modelDir,
      runId: 'applicability',
      metrics,
      pollMs: 100,
    });
    expect(summary.outcomes).toEqual({ ok: CHEST.length, rejected: NOT_APPLICABLE.length, failed: 0 });
    expect(summary.reasons).toEqual([
      { outcome: 'rejected', reason: 'not_applicable', count: NOT_APPLICABLE.length },
    ]);
    expect(summary.inferred).toBe(CHEST.length);

    const exposition = await metrics.registry.metrics();
    expect(exposition).toContain(`cxr_rejected_total{reason="not_applicable"} ${NOT_APPLICABLE.length}\n`);
    expect(exposition).toContain(`cxr_items_total{outcome="rejected"} ${NOT_APPLICABLE.length}\n`);

    const store = await openStore(storeUrl);
    try {
      await exportRun(store, 'applicability', { format: 'jsonl' }, join(dir, 'export.jsonl'));
    } finally {
      await store.close();
    }
    const rows = (await readFile(join(dir, 'export.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const byFile = new Map(rows.map((row) => [String(row.uri).split('/').pop(), row]));
    for (const name of NOT_APPLICABLE) {
      expect(byFile.get(name), name).toMatchObject({
        outcome: 'rejected',
        reason: 'not_applicable',
        decision: null,
        score_normal: null,
      });
    }
    for (const name of CHEST) {
      expect(byFile.get(name), name).toMatchObject({ outcome: 'ok', reason: null });
    }
  }, 180_000);
});
