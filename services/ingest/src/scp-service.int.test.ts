/**
 * The C-STORE SCP service against real Redis, a real folder and dcmtk's DIMSE clients: what
 * storescu sends is stored under its SOP Instance UID in the transfer syntax it was sent in and
 * enqueued (one job each, no patient data in the payload) before it is acknowledged; C-ECHO
 * works; wrong AE titles are rejected with one log line; data sets that are not DICOM, or name
 * another instance, are refused while the association goes on; a storage failure answers Out
 * of Resources and enqueues nothing.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@cxr/config';
import { parseDicomBytes } from '@cxr/dicom';
import { cStore, DimseError, DimseStatus } from '@cxr/dicomnet';
import { createMetrics, type CxrMetrics } from '@cxr/metrics';
import { QueueName, ScreenQueue, createRedisClient, redisConnectionFromUrl } from '@cxr/queue';
import { dcmtk, instanceVariant, storescuProfile } from '@cxr/fixtures/pacs';
import {
  CANARY_PATIENT_ID,
  CANARY_PATIENT_NAME,
  loadFixtureManifest,
  type DecodeFixture,
} from '@cxr/fixtures';
import { startScpService, type RunningScpService } from './scp-service.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
/** The Pixel Data element to the end of a Part 10 file's data set (what a transcoding would change). */
function pixelDataOf(bytes: Uint8Array): Buffer {
  const buffer = Buffer.from(bytes);
  const tag = parseDicomBytes(bytes).bigEndian ? [0x7f, 0xe0, 0x00, 0x10] : [0xe0, 0x7f, 0x10, 0x00];
  return buffer.subarray(buffer.lastIndexOf(Buffer.from(tag)));
}

async function metricValue(metrics: CxrMetrics, name: string, label: string): Promise<number> {
  const text = await metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(label));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

describe('SCP service (storescu, Redis, a folder)', () => {
  const prefix = `cxr-scp-${randomUUID().slice(0, 8)}`;
  const redis = createRedisClient(redisConnectionFromUrl(REDIS_URL));
  const queue = new ScreenQueue({ connection: redisConnectionFromUrl(REDIS_URL), prefix });
  const metrics = createMetrics();
  const logs: { level: string; msg: string; data: Record<string, unknown> }[] = [];
  let dir: string;
  let storeDir: string;
  let scp: RunningScpService;
  /** The files storescu sends, by SOP Instance UID. */
  const sent = new Map<string, { path: string; syntax: string }>();
  let profile: string[] = [];

  /** Keys matching a pattern (SCAN, never KEYS: the Redis is shared). */
  const scanKeys = async (pattern: string): Promise<string[]> => {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    return keys;
  };

  const jobPayloads = async (): Promise<Record<string, unknown>[]> => {
    const keys = await scanKeys(`${prefix}:${QueueName.Screen}:scr_*`);
    const payloads: Record<string, unknown>[] = [];
    for (const key of keys.filter((k) => /:scr_[0-9a-f]{40}$/.test(k))) {
      const data = await redis.hget(key, 'data');
      if (data !== null) payloads.push(JSON.parse(data) as Record<string, unknown>);
    }
    return payloads;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-scp-service-'));
    storeDir = join(dir, 'store');
    profile = await storescuProfile(dir);
    await mkdir(join(dir, 'send'));
    const fixtures = loadFixtureManifest().fixtures.filter(
      (f): f is DecodeFixture =>
        f.kind === 'decode' &&
        f.expected.hadPreamble &&
        f.expected.hadFileMeta &&
        /^(CR|DX)$/.test(f.expected.modality ?? '') &&
        // DCMTK 3.6.7's storescu does not know HTJ2K.
        !f.transferSyntaxUid.startsWith('1.2.840.10008.1.2.4.20'),
    );
    let index = 100;
    for (const fixture of fixtures) {
      const variant = instanceVariant(await readFile(fixture.path), { index: index++ });
      const path = join(dir, 'send', `${fixture.name}.dcm`);
      await writeFile(path, variant.bytes);
      sent.set(variant.sopInstanceUid, { path, syntax: fixture.transferSyntaxUid });
    }
    const config = loadConfig({ CXR_REDIS_URL: REDIS_URL, CXR_QUEUE_PREFIX: prefix });
    scp = await startScpService({
      config,
      scp: {
        aeTitle: 'CXR',
        host: '127.0.0.1',
        port: 0,
        storeTo: pathToFileURL(storeDir).href,
        allowedCallingAeTitles: ['STORESCU', 'ECHOSCU', 'CXRTEST'],
      },
      modelId: 'seed',
      modelVersion: '1.0.0',
      runId: 'scp-test',
      metrics,
      log: (level, msg, data = {}) => logs.push({ level, msg, data: { ...data } }),
    });
  }, 60_000);

  afterAll(async () => {
    await scp.stop();
    await queue.obliterate({ force: true });
    await queue.close();
    redis.disconnect();
    await rm(dir, { recursive: true, force: true });
  });

  const peer = () => ({ host: '127.0.0.1', port: scp.port, calledAeTitle: 'CXR', callingAeTitle: 'CXRTEST' });

  it('answers C-ECHO', async () => {
    const echo = await dcmtk('echoscu', ['-aet', 'ECHOSCU', '-aec', 'CXR', '127.0.0.1', String(scp.port)]);
    expect(echo.code, echo.output).toBe(0);
  });

  it('stores every instance under its SOP Instance UID in the syntax it was sent in, and enqueues one job each', async () => {
    const files = [...sent.values()].map((s) => s.path);
    const store = await dcmtk('storescu', [
      ...profile,
      '-aet',
      'STORESCU',
      '-aec',
      'CXR',
      '127.0.0.1',
      String(scp.port),
      ...files,
    ]);
    expect(store.code, store.output).toBe(0);
    const names = (await readdir(storeDir)).filter((name) => name.endsWith('.dcm'));
    expect(names.sort()).toEqual([...sent.keys()].map((sop) => `${sop}.dcm`).sort());
    for (const [sop, { path, syntax }] of sent) {
      const stored = await readFile(join(storeDir, `${sop}.dcm`));
      const parsed = parseDicomBytes(stored);
      expect(parsed.transferSyntaxUid, sop).toBe(syntax);
      expect(parsed.dataSet.string('x00080018'), sop).toBe(sop);
      // The File Meta Information says who sent it.
      expect(stored.toString('latin1', 132, 400), sop).toContain('STORESCU');
      if (syntax !== '1.2.840.10008.1.2.1.99') {
        expect(pixelDataOf(stored).equals(pixelDataOf(await readFile(path))), sop).toBe(true);
      }
    }
    const payloads = await jobPayloads();
    expect(payloads).toHaveLength(sent.size);
    const bySop = new Map(payloads.map((p) => [String(p.uri).split('/').at(-1), p]));
    for (const sop of sent.keys()) {
      const payload = bySop.get(`${sop}.dcm`);
      expect(payload, sop).toMatchObject({
        uri: pathToFileURL(join(storeDir, `${sop}.dcm`)).href,
        size: (await readFile(join(storeDir, `${sop}.dcm`))).length,
        runId: 'scp-test',
        modelId: 'seed',
      });
    }
    const everything = JSON.stringify(payloads) + JSON.stringify(logs);
    expect(everything).not.toContain(CANARY_PATIENT_ID);
    expect(everything).not.toContain(CANARY_PATIENT_NAME.split('^')[0]);
    expect(await metricValue(metrics, 'cxr_scp_instances_received_total', 'outcome="stored"')).toBe(
      sent.size,
    );
    expect(await metricValue(metrics, 'cxr_ingest_enqueued_total', 'source="scp"')).toBe(sent.size);
  }, 60_000);

  it('adds no job when the same instances are sent again', async () => {
    const files = [...sent.values()].map((s) => s.path);
    const store = await dcmtk('storescu', [
      ...profile,
      '-aet',
      'STORESCU',
      '-aec',
      'CXR',
      '127.0.0.1',
      String(scp.port),
      ...files,
    ]);
    expect(store.code, store.output).toBe(0);
    expect(await jobPayloads()).toHaveLength(sent.size);
    expect(await metricValue(metrics, 'cxr_ingest_duplicates_total', 'source="scp"')).toBe(sent.size);
  }, 60_000);

  it('rejects a calling AE title that is not allowed, and a wrong called AE title, with one log line each', async () => {
    const [file] = [...sent.values()];
    const before = logs.length;
    const intruder = await dcmtk('storescu', [
      ...profile,
      '-aet',
      'INTRUDER',
      '-aec',
      'CXR',
      '127.0.0.1',
      String(scp.port),
      file!.path,
    ]);
    expect(intruder.code).not.toBe(0);
    const wrongCalled = await dcmtk('storescu', [
      ...profile,
      '-aet',
      'STORESCU',
      '-aec',
      'NOTCXR',
      '127.0.0.1',
      String(scp.port),
      file!.path,
    ]);
    expect(wrongCalled.code).not.toBe(0);
    const rejected = logs.slice(before).filter((l) => l.msg === 'association rejected');
    expect(rejected.map((l) => l.data.reason)).toEqual(['calling_ae_title_not_allowed', 'called_ae_title']);
    expect(await metricValue(metrics, 'cxr_scp_associations_total', 'result="rejected"')).toBe(2);
  }, 30_000);

  it('refuses a data set that is not DICOM, or that names another instance, and takes the next one', async () => {
    const jobsBefore = (await jobPayloads()).length;
    const garbage = await cStore(peer(), {
      sopClassUid: '1.2.840.10008.5.1.4.1.1.1',
      sopInstanceUid: '1.2.3.4.5.6',
      transferSyntaxUid: '1.2.840.10008.1.2.1',
      dataSet: new Uint8Array(Buffer.from('<html><body>not DICOM</body></html>')),
    });
    expect(garbage).toBe(DimseStatus.CannotUnderstand);
    const [sop, file] = [...sent.entries()].find(([, s]) => s.syntax === '1.2.840.10008.1.2.1')!;
    const bytes = await readFile(file.path);
    const dataSet = bytes.subarray(132 + 12 + bytes.readUInt32LE(140));
    const mismatch = await cStore(peer(), {
      sopClassUid: '1.2.840.10008.5.1.4.1.1.1',
      sopInstanceUid: '1.2.3.4.5.7',
      transferSyntaxUid: '1.2.840.10008.1.2.1',
      dataSet,
    });
    expect(mismatch).toBe(DimseStatus.CannotUnderstand);
    const good = await cStore(peer(), {
      sopClassUid: '1.2.840.10008.5.1.4.1.1.1',
      sopInstanceUid: sop,
      transferSyntaxUid: '1.2.840.10008.1.2.1',
      dataSet,
    });
    expect(good).toBe(DimseStatus.Success);
    expect(logs.filter((l) => l.msg === 'instance refused').map((l) => l.data.reason)).toEqual([
      'not_dicom',
      'sop_instance_mismatch',
    ]);
    expect(await readdir(storeDir)).not.toContain('1.2.3.4.5.6.dcm');
    expect((await jobPayloads()).length).toBe(jobsBefore);
    expect(await metricValue(metrics, 'cxr_scp_instances_received_total', 'outcome="refused"')).toBe(2);
  }, 30_000);

  it('answers Out of Resources when the instance cannot be stored, and enqueues nothing', async () => {
    const [sop, file] = [...sent.entries()].find(([, s]) => s.syntax === '1.2.840.10008.1.2.1')!;
    const bytes = await readFile(file.path);
    const dataSet = bytes.subarray(132 + 12 + bytes.readUInt32LE(140));
    // The storage folder replaced by a file: every write fails (as root, permissions would not).
    await rm(storeDir, { recursive: true });
    await writeFile(storeDir, 'not a folder');
    try {
      const status = await cStore(peer(), {
        sopClassUid: '1.2.840.10008.5.1.4.1.1.1',
        sopInstanceUid: sop,
        transferSyntaxUid: '1.2.840.10008.1.2.1',
        dataSet,
      });
      expect(status).toBe(DimseStatus.OutOfResources);
      expect(await metricValue(metrics, 'cxr_scp_instances_received_total', 'outcome="failed"')).toBe(1);
      expect(logs.filter((l) => l.msg === 'instance not stored')).toHaveLength(1);
    } finally {
      await rm(storeDir);
      await mkdir(storeDir);
    }
  }, 30_000);

  it('refuses at negotiation an SOP class it does not take and a transfer syntax the decoder cannot read', async () => {
    const rejectedBefore = await metricValue(metrics, 'cxr_scp_associations_total', 'result="rejected"');
    const refusedBefore = await metricValue(metrics, 'cxr_scp_instances_received_total', 'outcome="refused"');
    const attempts = [
      // MR Image Storage: not a chest radiograph.
      { sopClassUid: '1.2.840.10008.5.1.4.1.1.4', transferSyntaxUid: '1.2.840.10008.1.2.1' },
      // CR in MPEG2: no decoder for it.
      { sopClassUid: '1.2.840.10008.5.1.4.1.1.1', transferSyntaxUid: '1.2.840.10008.1.2.4.100' },
    ];
    for (const attempt of attempts) {
      const error = await cStore(peer(), {
        ...attempt,
        sopInstanceUid: '1.2.3.4.5.8',
        dataSet: new Uint8Array(8),
      }).catch((e: unknown) => e);
      expect(error, attempt.sopClassUid).toBeInstanceOf(DimseError);
      expect((error as DimseError).outcome).toBe('refused');
    }
    const reasons = logs.filter((l) => l.msg === 'association rejected').map((l) => l.data.reason);
    expect(reasons.slice(-2)).toEqual([
      'no_acceptable_presentation_context',
      'no_acceptable_presentation_context',
    ]);
    expect(await metricValue(metrics, 'cxr_scp_associations_total', 'result="rejected"')).toBe(
      rejectedBefore + 2,
    );
    expect(await metricValue(metrics, 'cxr_scp_instances_received_total', 'outcome="refused"')).toBe(
      refusedBefore + 2,
    );
  }, 30_000);
});
