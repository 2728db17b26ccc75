/**
 * Findings delivery against a real PACS: Debian's Orthanc (with its DICOMweb plugin) started on
 * loopback by the test. The results service with CXR_FINDINGS_TO queues an SR per stored ok
 * result; Orthanc is stopped mid-run and started again, and every SR must then be in Orthanc
 * exactly once (instance count and SOP Instance UIDs). Also: C-STORE (dimse://), the
 * retrospective push (sendRun, as `cxr results send`), a source gone (failed, with its reason)
 * and the export columns of the delivery state.
 */
import { mkdir, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type AppConfig } from '@cxr/config';
import { generateChestPhantom, littleEndianBytes, writeDicom } from '@cxr/dicom/testing';
import { buildChestDataSet } from '@cxr/fixtures';
import { buildFindingsReport } from '@cxr/findings';
import { parseManifest, type ModelManifest } from '@cxr/model/manifest';
import { FindingsQueue, ResultQueue, redisConnectionFromUrl, type ResultMessage } from '@cxr/queue';
import { startOrthanc, type RunningOrthanc } from '@cxr/storage/testing';
import { exportCells, exportHeader, openStore, type ResultStore } from '@cxr/store';
import { startResultsApp, type ResultsApp } from '../app.js';
import { sendRun } from './send-run.js';

const REDIS_URL = process.env.CXR_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const MODEL = { id: 'seed-densenet121', version: '1.0.0' } as const;

const MANIFEST_JSON = {
  id: MODEL.id,
  version: MODEL.version,
  architecture: 'densenet121',
  format: 'onnx',
  weights: ['model.onnx'],
  input: {
    size: 512,
    channels: 3,
    layout: 'NCHW',
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
};
const SCORES = { normal: 0.2, pneumonia: 0.7, further_evaluation: 0.1 };

let dir: string;
let modelDir: string;
let manifest: ModelManifest;
let orthanc: RunningOrthanc;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cxr-findings-delivery-'));
  modelDir = join(dir, 'model');
  await mkdir(modelDir);
  await writeFile(join(modelDir, 'manifest.json'), JSON.stringify(MANIFEST_JSON));
  manifest = parseManifest(MANIFEST_JSON);
  orthanc = await startOrthanc();
}, 60_000);

afterAll(async () => {
  await orthanc.dispose();
  await rm(dir, { recursive: true, force: true });
});

/** A phantom chest CR written to the temp folder; its file URI and bytes. */
async function source(seed: string): Promise<{ uri: string; bytes: Uint8Array }> {
  const pixels = generateChestPhantom({ rows: 48, columns: 40, seed: 3, bitsStored: 12 });
  const bytes = writeDicom(
    buildChestDataSet(
      { seed, rows: 48, columns: 40, bitsAllocated: 16, bitsStored: 12 },
      { kind: 'native', bytes: littleEndianBytes(pixels) },
    ),
  );
  const path = join(dir, `${seed}.dcm`);
  await writeFile(path, bytes);
  return { uri: pathToFileURL(path).href, bytes };
}

function okMessage(runId: string, uri: string, i: number): ResultMessage {
  const now = Date.now();
  return {
    jobId: `${runId}-${i}`,
    runId,
    uri,
    modelId: MODEL.id,
    modelVersion: MODEL.version,
    runtime: 'onnx',
    uids: {},
    technical: { modality: 'CR' },
    attemptsMade: 0,
    enqueuedAt: now - 100,
    finishedAt: now,
    outcome: 'ok',
    scores: SCORES,
    decision: 'pneumonia',
    timingsMs: { fetch: 1, infer: 2 },
  };
}

/** The SR UID the delivery must produce for a source (deterministic: source SOP UID + model). */
function expectedSrUid(bytes: Uint8Array): string {
  return buildFindingsReport({
    source: bytes,
    result: {
      modelId: MODEL.id,
      modelVersion: MODEL.version,
      runtime: 'onnx',
      outcome: 'ok',
      scores: SCORES,
      decision: 'pneumonia',
    },
    manifest,
    now: new Date(),
  }).sopInstanceUid;
}

/** SOP Instance UIDs of Orthanc's SR instances (modality SR). */
async function orthancSrUids(): Promise<string[]> {
  const response = await fetch(`${orthanc.httpUrl}/tools/find`, {
    method: 'POST',
    body: JSON.stringify({ Level: 'Instance', Query: { Modality: 'SR' }, Expand: true }),
  });
  expect(response.ok).toBe(true);
  const found = (await response.json()) as { MainDicomTags: { SOPInstanceUID: string } }[];
  return found.map((instance) => instance.MainDicomTags.SOPInstanceUID);
}

async function waitFor(what: string, condition: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

function configFor(prefix: string, storeUrl: string, extra: Record<string, string> = {}): AppConfig {
  return loadConfig({
    CXR_REDIS_URL: REDIS_URL,
    CXR_STORE_URL: storeUrl,
    CXR_QUEUE_PREFIX: prefix,
    CXR_FINDINGS_BACKOFF_MS: '100',
    CXR_FINDINGS_BACKOFF_CAP_MS: '1000',
    CXR_DIMSE_TIMEOUT_MS: '5000',
    CXR_DICOMWEB_TIMEOUT_MS: '5000',
    ...extra,
  });
}

async function clearQueue(prefix: string): Promise<void> {
  const queue = new FindingsQueue({ connection: redisConnectionFromUrl(REDIS_URL), prefix });
  await queue.obliterate({ force: true });
  await queue.close();
}

describe('findings delivery to Orthanc', () => {
  it('loses nothing while the PACS is down: every SR arrives exactly once after its restart (STOW-RS)', async () => {
    const prefix = `cxr-findings-outage-${Date.now()}`;
    const runId = 'run-outage';
    const storeUrl = `sqlite:${join(dir, 'outage.sqlite')}`;
    const before = (await orthancSrUids()).length;
    const app: ResultsApp = await startResultsApp({
      config: configFor(prefix, storeUrl, { CXR_FINDINGS_TO: `dicomweb+${orthanc.dicomwebUrl}` }),
      modelDir,
      port: 0,
      host: '127.0.0.1',
      queuePrefix: prefix,
      maxDelayMs: 20,
    });
    const results = new ResultQueue({ connection: redisConnectionFromUrl(REDIS_URL), prefix });
    try {
      expect(app.findings).toBeDefined();
      const sources = await Promise.all(Array.from({ length: 10 }, (_, i) => source(`outage-${i}`)));
      const expected = sources.map((s) => expectedSrUid(s.bytes)).sort();
      expect(new Set(expected).size).toBe(10);

      // First half while the PACS is up.
      await results.publish(sources.slice(0, 5).map((s, i) => okMessage(runId, s.uri, i)));
      await waitFor('the first five SRs', async () => (await app.store.deliveryCounts(runId)).sent === 5);

      // The PACS goes down; the second half is stored meanwhile and must wait, not fail.
      await orthanc.stop();
      await results.publish(sources.slice(5).map((s, i) => okMessage(runId, s.uri, i + 5)));
      await waitFor('retries against the stopped PACS', async () => {
        const text = await app.metrics.registry.metrics();
        return sample(text, 'cxr_findings_delivered_total{outcome="retried"}') >= 10;
      });
      const during = await app.store.deliveryCounts(runId);
      expect(during).toEqual({ pending: 5, sent: 5, failed: 0 });
      const waiting = [];
      for await (const row of app.store.iterateRun(runId))
        if (row.delivery?.state === 'pending') waiting.push(row);
      expect(waiting).toHaveLength(5);
      for (const row of waiting) {
        expect(row.delivery?.attempts).toBeGreaterThanOrEqual(2);
        expect(row.delivery?.reason).toMatch(/^pacs_unreachable/);
      }

      // Back up: everything goes out, once.
      await orthanc.restart();
      await waitFor('all ten SRs', async () => (await app.store.deliveryCounts(runId)).sent === 10);
      const uids = (await orthancSrUids()).filter((uid) => expected.includes(uid));
      expect(uids.sort()).toEqual(expected);
      expect(await orthancSrUids()).toHaveLength(before + 10);
      expect(await orthanc.instanceCount()).toBe(before + 10);

      const text = await app.metrics.registry.metrics();
      expect(sample(text, 'cxr_findings_delivered_total{outcome="sent"}')).toBe(10);
      expect(sample(text, 'cxr_findings_delivered_total{outcome="failed"}')).toBe(0);
      expect(sample(text, 'cxr_findings_delivery_lag_seconds_count')).toBe(10);
      expect(
        sample(text, 'cxr_pacs_requests_total{operation="stow",status_class="network"}'),
      ).toBeGreaterThan(0);

      // The export shows the delivery state of every row.
      const header = exportHeader([]);
      for await (const row of app.store.iterateRun(runId)) {
        const cells = exportCells(row, []);
        expect(cells[header.indexOf('delivery_state')]).toBe('sent');
        expect(cells[header.indexOf('delivery_reason')]).toBeNull();
        expect(Number(cells[header.indexOf('delivery_attempts')])).toBeGreaterThanOrEqual(1);
        expect(String(cells[header.indexOf('delivery_at')])).toMatch(/^\d{4}-\d\d-\d\dT/);
      }
    } finally {
      await results.close();
      await app.stop();
      await clearQueue(prefix);
    }
  }, 180_000);

  it('sends a finished run by C-STORE (dimse://), records a source that is gone as failed, and skips what was sent', async () => {
    const prefix = `cxr-findings-send-${Date.now()}`;
    const runId = 'run-retro';
    const storeUrl = `sqlite:${join(dir, 'retro.sqlite')}`;
    const config = configFor(prefix, storeUrl);
    const queue = { connection: redisConnectionFromUrl(REDIS_URL), prefix };
    const before = await orthancSrUids();
    // A run stored without delivery (no CXR_FINDINGS_TO).
    const app = await startResultsApp({
      config,
      modelDir,
      port: 0,
      host: '127.0.0.1',
      queuePrefix: prefix,
      maxDelayMs: 20,
    });
    const results = new ResultQueue(queue);
    const sources = await Promise.all(Array.from({ length: 4 }, (_, i) => source(`retro-${i}`)));
    try {
      await results.publish(sources.map((s, i) => okMessage(runId, s.uri, i)));
      await waitFor('the run stored', async () => (await app.store.countByOutcome(runId)).ok === 4);
      expect(await app.store.deliveryCounts(runId)).toEqual({ pending: 0, sent: 0, failed: 0 });
    } finally {
      await results.close();
      await app.stop();
    }
    // One source disappeared since it was screened: its SR cannot be built.
    await unlink(new URL(sources[3]!.uri));
    const store: ResultStore = await openStore(storeUrl);
    try {
      const summary = await sendRun({
        config,
        queue,
        store,
        manifest,
        runId,
        to: `dimse://${orthanc.aet}@127.0.0.1:${orthanc.dicomPort}`,
        waitSeconds: 60,
        pollMs: 100,
      });
      expect(summary).toMatchObject({ queued: 4, sent: 3, failed: 1, pending: 0 });
      const expected = sources.slice(0, 3).map((s) => expectedSrUid(s.bytes));
      const now = await orthancSrUids();
      expect(now.filter((uid) => !before.includes(uid)).sort()).toEqual([...expected].sort());
      const failed = [];
      for await (const row of store.iterateRun(runId)) if (row.delivery?.state === 'failed') failed.push(row);
      expect(failed).toHaveLength(1);
      expect(failed[0]?.delivery?.reason).toMatch(/^source_unavailable: .*\(permanent\)/);
      expect(failed[0]?.delivery?.reason).not.toContain(sources[3]!.uri);

      // Again: the sent ones are skipped, the failed one is queued (and fails again).
      const again = await sendRun({
        config,
        queue,
        store,
        manifest,
        runId,
        to: `dicomweb+${orthanc.dicomwebUrl}`,
        waitSeconds: 60,
        pollMs: 100,
      });
      expect(again).toMatchObject({
        queued: 1,
        skipped: { alreadySent: 3, otherModel: 0 },
        sent: 3,
        failed: 1,
      });
      // --resend by STOW-RS: the PACS replaces the SRs (same UIDs), nothing is duplicated.
      const resent = await sendRun({
        config,
        queue,
        store,
        manifest,
        runId,
        to: `dicomweb+${orthanc.dicomwebUrl}`,
        resend: true,
        waitSeconds: 60,
        pollMs: 100,
      });
      expect(resent).toMatchObject({ queued: 4, sent: 3, failed: 1, pending: 0 });
      expect((await orthancSrUids()).length).toBe(now.length);
    } finally {
      await store.close();
      await clearQueue(prefix);
    }
  }, 180_000);
});
