/**
 * The `dimse://` source against a real PACS (Orthanc): C-FIND lists exactly the chest
 * radiographs of the date range (other modalities and days excluded) in a resumable order;
 * C-GET and C-MOVE (to an SCP writing the received store, as `cxr listen` does) return each
 * instance's data set byte for byte as stored, in its stored transfer syntax; a missing instance
 * is a permanent failure, a PACS that is down a transient one; every request is reported.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inflateRawSync } from 'node:zlib';
import { parseDicomBytes } from '@cxr/dicom';
import { startStoreScp, type RunningStoreScp } from '@cxr/dicomnet';
import {
  DimseObjectSource,
  ObjectFetchError,
  ObjectListError,
  fetchDimseObject,
  openReceivedInstanceStore,
  type DimseSettings,
  type ReceivedInstanceStore,
} from '@cxr/storage';
import { startOrthanc, type RunningOrthanc } from '@cxr/storage/testing';
import { loadFixtureManifest, type DecodeFixture } from '@cxr/fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instanceVariant, type Variant } from '@cxr/fixtures/pacs';

/**
 * The data set of a Part 10 file: what follows the File Meta Information, inflated when deflated
 * (DCMTK deflates again when it sends: the same data set, other compressed bytes).
 */
function dataSetOf(bytes: Uint8Array): Buffer {
  const buffer = Buffer.from(bytes);
  const dataSet = buffer.subarray(132 + 12 + buffer.readUInt32LE(140));
  return parseDicomBytes(bytes).transferSyntaxUid === DEFLATED ? inflateRawSync(dataSet) : dataSet;
}

/**
 * The Pixel Data element to the end of the data set, exactly: what a transcoding would change.
 * (The elements before it may differ in encoding only: DCMTK sends sequences with explicit
 * lengths whatever the stored file has.)
 */
function pixelDataOf(bytes: Uint8Array): Buffer {
  const dataSet = dataSetOf(bytes);
  const bigEndian = parseDicomBytes(bytes).bigEndian;
  const at = dataSet.lastIndexOf(
    Buffer.from(bigEndian ? [0x7f, 0xe0, 0x00, 0x10] : [0xe0, 0x7f, 0x10, 0x00]),
  );
  expect(at).toBeGreaterThan(0);
  return dataSet.subarray(at);
}

const OUR_AET = 'CXRTEST';
const DEFLATED = '1.2.840.10008.1.2.1.99';
const HTJ2K_LOSSLESS = '1.2.840.10008.1.2.4.201';

describe('dimse:// source against Orthanc (C-FIND, C-GET, C-MOVE)', () => {
  let orthanc: RunningOrthanc;
  let scp: RunningStoreScp;
  let received: ReceivedInstanceStore;
  let dir: string;
  const requests: string[] = [];
  /** Matching instances by SOP Instance UID: what the listing must return. */
  const expected = new Map<string, Variant & { syntax: string; id: string }>();
  const excluded: Variant[] = [];
  let settings: DimseSettings;
  let sourceUri: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-dimse-source-'));
    received = openReceivedInstanceStore(pathToFileURL(join(dir, 'received')).href, { env: {} });
    await received.prepare();
    // The move destination: an SCP that keeps our own retrieves in the retrieved area.
    scp = await startStoreScp({
      aeTitle: 'CXRSCP',
      host: '127.0.0.1',
      port: 0,
      maxObjectBytes: 64 * 1024 * 1024,
      onInstance: async (instance) => {
        await received.put(
          instance.sopInstanceUid,
          instance.bytes,
          instance.moveOriginatorAeTitle === OUR_AET ? 'retrieved' : 'received',
        );
      },
    });
    orthanc = await startOrthanc({
      modalities: { cxr: { aet: 'CXRSCP', host: '127.0.0.1', port: scp.port } },
    });
    const fixtures = loadFixtureManifest().fixtures.filter(
      (f): f is DecodeFixture =>
        f.kind === 'decode' &&
        f.expected.hadFileMeta &&
        f.expected.hadPreamble &&
        /^(CR|DX)$/.test(f.expected.modality ?? ''),
    );
    let index = 1;
    for (const fixture of fixtures) {
      const original = await readFile(fixture.path);
      // Two days of the range, two instances sharing a study on the first.
      const day = index % 2 === 0 ? '20260102' : '20260101';
      const variant = instanceVariant(original, {
        index,
        studyIndex: index % 3 === 0 ? 1 : index,
        studyDate: day,
      });
      const id = await orthanc.upload(variant.bytes);
      expected.set(variant.sopInstanceUid, { ...variant, syntax: fixture.transferSyntaxUid, id });
      index += 1;
    }
    const first = fixtures[0];
    if (first === undefined) throw new Error('no CR fixtures');
    const base = await readFile(first.path);
    // Excluded: another modality in range, and a CR outside the date range.
    for (const [changes, label] of [
      [{ index: 900, studyDate: '20260101', modality: 'MR' }, 'MR'],
      [{ index: 901, studyDate: '20251231' }, 'day before'],
    ] as const) {
      const variant = instanceVariant(base, changes);
      await orthanc.upload(variant.bytes);
      excluded.push(variant);
      expect(label).toBeTruthy();
    }
    settings = {
      callingAeTitle: OUR_AET,
      timeoutMs: 10_000,
      retrieve: 'get',
      moveDestination: 'CXRSCP',
      received,
      onRequest: (operation, outcome) => requests.push(`${operation}:${outcome}`),
    };
    sourceUri = `dimse://${orthanc.aet}@127.0.0.1:${orthanc.dicomPort}?since=2026-01-01&until=2026-01-02`;
  }, 120_000);

  afterAll(async () => {
    await orthanc.dispose();
    await scp.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** The file Orthanc stores for an instance (REST), the reference for "stored bytes". */
  const storedFile = async (id: string): Promise<Uint8Array> => {
    const response = await fetch(`${orthanc.httpUrl}/instances/${id}/file`);
    expect(response.ok).toBe(true);
    return new Uint8Array(await response.arrayBuffer());
  };

  const listAll = async (source: DimseObjectSource, cursor?: string) => {
    const entries: { uri: string; cursor: string }[] = [];
    for await (const entry of source.list(cursor !== undefined ? { cursor } : {})) entries.push(entry);
    return entries;
  };

  it('lists exactly the CR and DX instances of the date range, as UID-only URIs', async () => {
    const entries = await listAll(new DimseObjectSource(sourceUri, settings));
    const sops = entries.map((e) => e.uri.split('/').at(-1));
    expect([...sops].sort()).toEqual([...expected.keys()].sort());
    expect(new Set(sops).size).toBe(sops.length);
    for (const { uri } of entries) {
      expect(uri).toMatch(
        new RegExp(
          `^dimse://ORTHANC@127\\.0\\.0\\.1:${orthanc.dicomPort}/studies/[0-9.]+/series/[0-9.]+/instances/[0-9.]+$`,
        ),
      );
    }
    for (const variant of excluded) expect(sops).not.toContain(variant.sopInstanceUid);
    expect(requests).toContain('c_find:success');
  });

  it('resumes from a cursor without repeating or losing an instance', async () => {
    const source = new DimseObjectSource(sourceUri, settings);
    const all = await listAll(source);
    const middle = Math.floor(all.length / 2);
    const rest = await listAll(source, all[middle - 1]?.cursor);
    expect(rest.map((e) => e.uri)).toEqual(all.slice(middle).map((e) => e.uri));
  });

  it('C-GET returns every instance in its stored transfer syntax with its pixel data byte for byte', async () => {
    const source = new DimseObjectSource(sourceUri, settings);
    for (const { uri } of await listAll(source)) {
      const sop = uri.split('/').at(-1) ?? '';
      const want = expected.get(sop);
      if (want?.syntax === HTJ2K_LOSSLESS) {
        // Orthanc 1.10 (DCMTK 3.6.7) stores HTJ2K but cannot send it over DIMSE: a permanent failure.
        await expect(source.fetch(uri)).rejects.toMatchObject({ transient: false });
        continue;
      }
      const bytes = await source.fetch(uri, { maxBytes: 64 * 1024 * 1024 });
      const parsed = parseDicomBytes(bytes);
      expect(parsed.dataSet.string('x00080018'), sop).toBe(sop);
      expect(parsed.transferSyntaxUid, sop).toBe(want?.syntax);
      // The pixel data exactly as the PACS stores it (Orthanc's own file of the instance).
      expect(pixelDataOf(bytes).equals(pixelDataOf(await storedFile(want!.id))), sop).toBe(true);
    }
    expect(requests).toContain('c_get:success');
  }, 120_000);

  it('C-MOVE to the SCP returns the same bytes and leaves nothing behind in the retrieved area', async () => {
    const source = new DimseObjectSource(`${sourceUri}&retrieve=move&dest=CXRSCP`, settings);
    const entries = await listAll(source);
    for (const { uri } of entries
      .filter((e) => expected.get(e.uri.split('/').at(-1) ?? '')?.syntax !== HTJ2K_LOSSLESS)
      .slice(0, 4)) {
      const sop = uri.split('/').at(-1) ?? '';
      const bytes = await source.fetch(uri);
      expect(parseDicomBytes(bytes).dataSet.string('x00080018')).toBe(sop);
      const want = expected.get(sop);
      expect(pixelDataOf(bytes).equals(pixelDataOf(await storedFile(want!.id))), sop).toBe(true);
    }
    expect(await readdir(join(dir, 'received', 'retrieved'))).toEqual([]);
    // Our retrieves were not taken for pushes.
    expect((await readdir(join(dir, 'received'))).filter((name) => name.endsWith('.dcm'))).toEqual([]);
    expect(requests).toContain('c_move:success');
  }, 60_000);

  it('an instance the PACS does not have fails at once (permanent), by C-GET and by C-MOVE', async () => {
    const missing = `dimse://${orthanc.aet}@127.0.0.1:${orthanc.dicomPort}/studies/1.2.3/series/1.2.3.4/instances/1.2.3.4.5`;
    for (const retrieve of ['get', 'move'] as const) {
      const error = await fetchDimseObject(missing, { ...settings, retrieve }).catch((e: unknown) => e);
      expect(error, retrieve).toBeInstanceOf(ObjectFetchError);
      expect((error as ObjectFetchError).transient, retrieve).toBe(false);
      expect((error as Error).message).toMatch(/no such instance/);
    }
  });

  it('a PACS restarted mid-walk costs a pause: the listing completes with every instance once', async () => {
    const source = new DimseObjectSource(sourceUri, {
      ...settings,
      findRetryDelaysMs: [500, 1000, 2000, 4000],
    });
    const uris: string[] = [];
    let restarted: Promise<void> | undefined;
    for await (const entry of source.list()) {
      uris.push(entry.uri);
      if (uris.length === 2) {
        await orthanc.kill();
        restarted = new Promise((resolve) => setTimeout(resolve, 1500)).then(() => orthanc.restart());
      }
    }
    await restarted;
    expect(uris.map((uri) => uri.split('/').at(-1)).sort()).toEqual([...expected.keys()].sort());
    expect(requests).toContain('c_find:network');
  }, 60_000);

  it('a PACS that is down fails the listing and the fetch as transient', async () => {
    const [first] = await listAll(new DimseObjectSource(sourceUri, settings));
    await orthanc.stop();
    try {
      const listing = listAll(new DimseObjectSource(sourceUri, { ...settings, findRetryDelaysMs: [100] }));
      await expect(listing).rejects.toBeInstanceOf(ObjectListError);
      await expect(listing).rejects.toMatchObject({ transient: true });
      const fetched = await fetchDimseObject(first!.uri, settings).catch((e: unknown) => e);
      expect(fetched).toBeInstanceOf(ObjectFetchError);
      expect((fetched as ObjectFetchError).transient).toBe(true);
      expect(requests).toContain('c_get:network');
    } finally {
      await orthanc.restart();
    }
  }, 60_000);
});
