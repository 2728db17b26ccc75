/**
 * One delivery attempt (FindingsDelivery.deliver) against a SQLite store, a source in memory and
 * a sender that answers as told: the state, reason and attempts it records, the metrics it
 * counts, and which faults it rethrows for a retry. The queue and a real PACS are in
 * findings-delivery.int.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { generateChestPhantom, littleEndianBytes, writeDicom } from '@cxr/dicom/testing';
import { buildChestDataSet } from '@cxr/fixtures';
import { createMetrics } from '@cxr/metrics';
import { parseManifest } from '@cxr/model/manifest';
import { redisConnectionFromUrl } from '@cxr/queue';
import { ObjectFetchError } from '@cxr/storage';
import { SqliteResultStore, parseResultRow, rowKeyOf, type ResultRow } from '@cxr/store';
import { DeliveryError } from './errors.js';
import { FindingsDelivery } from './findings-delivery.js';
import type { OutgoingFindings } from './senders.js';

const REDIS_URL = process.env.CXR_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const manifest = parseManifest({
  id: 'seed-densenet121',
  version: '1.0.0',
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
  output: { activation: 'softmax', labels: ['normal', 'pneumonia'], decision: 'argmax' },
});
const SOURCE = writeDicom(
  buildChestDataSet(
    { seed: 'deliver', rows: 32, columns: 32, bitsAllocated: 16, bitsStored: 12 },
    {
      kind: 'native',
      bytes: littleEndianBytes(generateChestPhantom({ rows: 32, columns: 32, seed: 1, bitsStored: 12 })),
    },
  ),
);

function row(uri: string, overrides: Record<string, unknown> = {}): ResultRow {
  return parseResultRow({
    runId: 'run-1',
    uri,
    modelId: manifest.id,
    modelVersion: manifest.version,
    runtime: 'onnx',
    scores: { normal: 0.3, pneumonia: 0.7 },
    decision: 'pneumonia',
    outcome: 'ok',
    ...overrides,
  });
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function setup(
  send: (object: OutgoingFindings) => Promise<void>,
  fetch?: (uri: string) => Promise<Uint8Array>,
  served = manifest,
) {
  const store = new SqliteResultStore(':memory:');
  await store.migrate();
  const metrics = createMetrics();
  const sent: OutgoingFindings[] = [];
  const delivery = new FindingsDelivery({
    queue: { connection: redisConnectionFromUrl(REDIS_URL), prefix: `cxr-deliver-unit-${process.pid}` },
    store,
    manifest: served,
    fetcher: { fetch: fetch ?? (() => Promise.resolve(SOURCE)), close: () => Promise.resolve() },
    senders: {
      dicomweb: { token: undefined, user: undefined, password: undefined, timeoutMs: 1000 },
      dimse: { callingAeTitle: 'CXR', timeoutMs: 1000 },
    },
    metrics,
    senderFor: () => ({
      send: async (object) => {
        await send(object);
        sent.push(object);
      },
    }),
  });
  closers.push(async () => {
    await delivery.stop();
    await store.close();
  });
  const counted = async (outcome: string): Promise<number> => {
    const text = await metrics.registry.getSingleMetricAsString('cxr_findings_delivered_total');
    const line = text
      .split('\n')
      .find((l) => l.startsWith(`cxr_findings_delivered_total{outcome="${outcome}"}`));
    return line === undefined ? 0 : Number(line.split(' ')[1]);
  };
  return { store, delivery, sent, counted };
}

const payload = (r: ResultRow) => ({
  rowKey: rowKeyOf(r),
  destination: 'dicomweb+http://pacs/dicom-web',
  storedAt: Date.now() - 1000,
});

describe('FindingsDelivery.deliver', () => {
  it('sends the SR of an ok result and records it sent', async () => {
    const { store, delivery, sent, counted } = await setup(() => Promise.resolve());
    const r = row('file:///a.dcm');
    await store.upsertResults([r]);
    await delivery.deliver(payload(r), { attemptsMade: 0 });
    expect(sent).toHaveLength(1);
    expect(sent[0]?.sopClassUid).toBe('1.2.840.10008.5.1.4.1.1.88.22');
    expect((await store.resultByRowKey(rowKeyOf(r)))?.delivery).toMatchObject({
      state: 'sent',
      reason: null,
      attempts: 1,
    });
    expect(await counted('sent')).toBe(1);
  });

  it('sends the Secondary Capture summary after the SR when the manifest asks for it', async () => {
    const withSummary = parseManifest({ ...manifest, findings: { summaryImage: true } });
    const { store, delivery, sent } = await setup(() => Promise.resolve(), undefined, withSummary);
    const r = row('file:///summary.dcm');
    await store.upsertResults([r]);
    await delivery.deliver(payload(r), { attemptsMade: 0 });
    expect(sent.map((object) => object.sopClassUid)).toEqual([
      '1.2.840.10008.5.1.4.1.1.88.22',
      '1.2.840.10008.5.1.4.1.1.7',
    ]);
    // A second attempt sends the same two instances (replacing them at the PACS).
    await delivery.deliver(payload(r), { attemptsMade: 1 });
    expect(sent[2]?.sopInstanceUid).toBe(sent[0]?.sopInstanceUid);
    expect(sent[3]?.sopInstanceUid).toBe(sent[1]?.sopInstanceUid);
    expect((await store.resultByRowKey(rowKeyOf(r)))?.delivery).toMatchObject({ state: 'sent' });
  });

  it('records a permanent refusal by the PACS as failed with its reason, without a retry', async () => {
    const { store, delivery, counted } = await setup(() =>
      Promise.reject(new DeliveryError('stow_failure_0xC000', false, 'STOW-RS: the PACS refused the object')),
    );
    const r = row('file:///b.dcm');
    await store.upsertResults([r]);
    await expect(delivery.deliver(payload(r), { attemptsMade: 2 })).resolves.toBeUndefined();
    expect((await store.resultByRowKey(rowKeyOf(r)))?.delivery).toMatchObject({
      state: 'failed',
      reason: 'stow_failure_0xC000: STOW-RS: the PACS refused the object',
      attempts: 3,
    });
    expect(await counted('failed')).toBe(1);
  });

  it('keeps a delivery pending and rethrows on a transient fault (the queue retries it)', async () => {
    const { store, delivery, counted } = await setup(() =>
      Promise.reject(new DeliveryError('pacs_unreachable', true, 'STOW-RS: no connection (ECONNREFUSED)')),
    );
    const r = row('file:///c.dcm');
    await store.upsertResults([r]);
    await expect(delivery.deliver(payload(r), { attemptsMade: 0 })).rejects.toBeInstanceOf(DeliveryError);
    expect((await store.resultByRowKey(rowKeyOf(r)))?.delivery).toMatchObject({
      state: 'pending',
      attempts: 1,
    });
    expect(await counted('retried')).toBe(1);
  });

  it('fails for good a result of another model version, and a source that is gone; retries a source that is down', async () => {
    const gone = new ObjectFetchError('file:///SECRET-NAME.dcm', false, 'no such file');
    const down = new ObjectFetchError('s3://bucket/SECRET-NAME.dcm', true, 'timeout');
    const { store, delivery } = await setup(
      () => Promise.resolve(),
      (uri) => Promise.reject(uri.startsWith('s3:') ? down : gone),
    );
    const other = row('file:///other.dcm', { modelVersion: '0.9.0' });
    const missing = row('file:///SECRET-NAME.dcm');
    const unreachable = row('s3://bucket/SECRET-NAME.dcm');
    await store.upsertResults([other, missing, unreachable]);
    await delivery.deliver(payload(other), { attemptsMade: 0 });
    expect((await store.resultByRowKey(rowKeyOf(other)))?.delivery?.reason).toMatch(/^model_mismatch/);
    await delivery.deliver(payload(missing), { attemptsMade: 0 });
    const failed = (await store.resultByRowKey(rowKeyOf(missing)))?.delivery;
    expect(failed).toMatchObject({ state: 'failed' });
    expect(failed?.reason).toMatch(/^source_unavailable/);
    expect(failed?.reason).not.toContain('SECRET');
    await expect(delivery.deliver(payload(unreachable), { attemptsMade: 0 })).rejects.toThrow(/transient/);
    expect((await store.resultByRowKey(rowKeyOf(unreachable)))?.delivery?.state).toBe('pending');
  });
});
