import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { DicomRejectedError } from '@cxr/dicom';
import {
  CANARY_PATIENT_ID,
  CANARY_PATIENT_NAME,
  isChestRadiographFixture,
  loadFixtureManifest,
  type DecodeFixture,
} from '@cxr/fixtures';
import { ObjectFetchError, createObjectFetcher } from '@cxr/storage';
import { ThumbnailCache } from './thumbnail-cache.js';
import {
  ThumbnailService,
  poolThumbnailDecoder,
  type DecodedThumbnail,
  type ThumbnailDecoder,
  type ThumbnailSource,
} from './thumbnails.js';

const source = (n: number, uri = `file:///archive/${CANARY_PATIENT_NAME}-${n}.dcm`): ThumbnailSource => ({
  rowKey: n.toString(16).padStart(32, '0'),
  uri,
  etag: null,
  updatedAt: '2026-12-01T00:00:00.000Z',
});

const GREY: DecodedThumbnail = {
  pixels: new Float32Array(4 * 6).fill(0.5),
  width: 4,
  height: 6,
  channels: 1,
};

/** A decoder that holds every render until released, counting how many run at once. */
function gatedDecoder(): { decode: ThumbnailDecoder; release(): void; running(): number; peak(): number } {
  let running = 0;
  let peak = 0;
  let gates: (() => void)[] = [];
  return {
    decode: async () => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise<void>((resolve) => gates.push(resolve));
      running -= 1;
      return GREY;
    },
    release: () => {
      const open = gates;
      gates = [];
      for (const resolve of open) resolve();
    },
    running: () => running,
    peak: () => peak,
  };
}

describe('ThumbnailService', () => {
  let dir: string;
  const lines: { msg: string; data: unknown }[] = [];
  const log = (_level: string, msg: string, data?: unknown): void => {
    lines.push({ msg, data });
  };
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-thumbs-'));
    lines.length = 0;
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const service = (
    decode: ThumbnailDecoder,
    fetch = (): Promise<Uint8Array> => Promise.resolve(new Uint8Array(8)),
    maxQueue = 100,
  ) =>
    new ThumbnailService({
      fetcher: { fetch },
      decode,
      cache: new ThumbnailCache({ dir, maxBytes: 1 << 20 }),
      size: 64,
      concurrency: 2,
      maxQueue,
      maxObjectBytes: 1 << 20,
      log,
    });

  it('renders a page of 50 thumbnails two at a time, then serves them from the cache', async () => {
    const gate = gatedDecoder();
    const thumbs = service(gate.decode);
    const all = Promise.all(Array.from({ length: 50 }, (_, i) => thumbs.thumbnail(source(i))));
    const state = { settled: false };
    void all.then(() => {
      state.settled = true;
    });
    while (!state.settled) {
      await new Promise((resolve) => setTimeout(resolve, 2));
      expect(gate.running()).toBeLessThanOrEqual(2);
      gate.release();
    }
    const results = await all;
    expect(gate.peak()).toBe(2);
    expect(results.every((r) => r.kind === 'png')).toBe(true);
    const first = results[0]!;
    if (first.kind !== 'png') throw new Error('expected a PNG');
    const meta = await sharp(first.bytes).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 4, 6]);
    // Cached: no render the second time.
    const again = await thumbs.thumbnail(source(0));
    expect(again).toEqual({ kind: 'png', bytes: first.bytes, etag: first.etag });
    expect(gate.running()).toBe(0);
  });

  it('renders one thumbnail once however many ask at the same time', async () => {
    const gate = gatedDecoder();
    const thumbs = service(gate.decode);
    const same = [thumbs.thumbnail(source(1)), thumbs.thumbnail(source(1)), thumbs.thumbnail(source(1))];
    await new Promise((resolve) => setTimeout(resolve, 5));
    gate.release();
    await Promise.all(same);
    expect(gate.peak()).toBe(1);
  });

  it('answers busy when too many renders wait', async () => {
    const gate = gatedDecoder();
    const thumbs = service(gate.decode, undefined, 3);
    const waiting = Array.from({ length: 5 }, (_, i) => thumbs.thumbnail(source(i)));
    // Two run, three wait: the sixth is refused.
    expect(await thumbs.thumbnail(source(99))).toEqual({ kind: 'busy' });
    for (let i = 0; i < 3; i++) {
      gate.release();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    gate.release();
    expect((await Promise.all(waiting)).map((r) => r.kind)).toEqual(['png', 'png', 'png', 'png', 'png']);
  });

  it('says why there is no thumbnail, and logs the row key and URI hash, never the URI', async () => {
    const rejected = service(() => Promise.reject(new DicomRejectedError('not_dicom', 'no DICM prefix')));
    expect(await rejected.thumbnail(source(1))).toMatchObject({ kind: 'unavailable', reason: 'not_dicom' });
    const missing = service(
      () => Promise.resolve(GREY),
      () => Promise.reject(new ObjectFetchError(`file:///${CANARY_PATIENT_NAME}.dcm`, false, 'ENOENT')),
    );
    expect(await missing.thumbnail(source(2))).toMatchObject({ kind: 'unavailable', reason: 'fetch_failed' });
    const never = service(() => Promise.reject(new Error('never called')));
    for (const uri of [
      `dicomweb+https://pacs/${CANARY_PATIENT_NAME}`,
      `dimse://PACS/1.2.3`,
      CANARY_PATIENT_NAME,
    ]) {
      expect(await never.thumbnail(source(3, uri))).toMatchObject({
        kind: 'unavailable',
        reason: 'unsupported_scheme',
      });
    }
    expect(lines.map((l) => l.msg)).toEqual(Array(5).fill('thumbnail unavailable'));
    expect(lines[0]?.data).toMatchObject({ rowKey: source(1).rowKey, uriHash: expect.any(String) as string });
    expect(JSON.stringify(lines)).not.toContain(CANARY_PATIENT_NAME);
  });
});

describe('thumbnails of real files, rendered in the decode pool', () => {
  let dir: string;
  let chest: DecodeFixture;
  const decoder = poolThumbnailDecoder({ threads: 1, maxImagePixels: 8192 * 8192 });
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-thumbs-real-'));
    const found = loadFixtureManifest(inject('fixtureManifestPath')).fixtures.find(
      (f): f is DecodeFixture =>
        f.kind === 'decode' && f.name === 'monochrome1' && isChestRadiographFixture(f),
    );
    if (found === undefined) throw new Error('no monochrome1 chest fixture');
    chest = found;
  });
  afterAll(async () => {
    await decoder.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('is a small grey PNG of the image, aspect kept, without the patient data the file carries', async () => {
    expect((await readFile(chest.path)).toString('latin1')).toContain(CANARY_PATIENT_NAME);
    const fetcher = createObjectFetcher({ env: {} });
    const thumbs = new ThumbnailService({
      fetcher,
      decode: decoder.decode,
      cache: new ThumbnailCache({ dir, maxBytes: 1 << 20 }),
      size: 128,
      concurrency: 2,
      maxQueue: 10,
      maxObjectBytes: 1 << 26,
    });
    const result = await thumbs.thumbnail({
      rowKey: '0'.repeat(32),
      uri: pathToFileURL(chest.path).href,
      etag: null,
      updatedAt: '2026-12-01T00:00:00.000Z',
    });
    await fetcher.close();
    if (result.kind !== 'png') throw new Error(`expected a PNG, got ${JSON.stringify(result)}`);
    const image = sharp(result.bytes);
    const meta = await image.metadata();
    // 320 rows x 256 columns -> 128 x 102.
    expect([meta.format, meta.width, meta.height, meta.channels]).toEqual(['png', 102, 128, 1]);
    const stats = await image.stats();
    expect(stats.channels[0]!.stdev).toBeGreaterThan(10);
    const text = result.bytes.toString('latin1');
    expect(text).not.toContain(CANARY_PATIENT_NAME);
    expect(text).not.toContain(CANARY_PATIENT_ID);
  });
});
