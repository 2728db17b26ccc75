import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { FrameBufferCache } from './buffers.js';
import { decodeFrame, type DecodeFrameResult } from './decode.js';
import { imagePixelElements, rleFrame, writeDicom, type DataElement } from './testing/index.js';
import type { SampleAllocator, SampleArray, SampleArrayType } from './types.js';
import { TransferSyntax } from './uids.js';

/**
 * The generated fixture set (packages/fixtures/src/generate.ts, provided by the vitest global setup).
 * Read directly rather than through @cxr/test, which depends on this package: only the file
 * paths are needed, since decoding with a cache is compared with decoding without one.
 */
function fixtureFiles(): { name: string; path: string; frames: number }[] {
  const manifestPath = inject('fixtureManifestPath');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
    fixtures: { kind: string; name: string; path: string; expected?: { frames: number } }[];
  };
  return manifest.fixtures
    .filter((f) => f.kind === 'decode')
    .map((f) => ({
      name: f.name,
      path: resolve(dirname(manifestPath), f.path),
      frames: f.expected?.frames ?? 1,
    }));
}

/**
 * A FrameBufferCache that fills every array it hands out with garbage first, so a decoder that
 * relies on fresh (zeroed) memory produces a visible difference instead of passing by luck.
 */
class PoisonedCache implements SampleAllocator {
  readonly cache = new FrameBufferCache();
  allocate<T extends SampleArray>(type: SampleArrayType<T>, length: number): T {
    const array = this.cache.allocate(type, length);
    new Uint8Array(array.buffer, array.byteOffset, array.byteLength).fill(0xa5);
    return array;
  }
  startFrame(): void {
    this.cache.startFrame();
  }
}

type PixelSpec = Parameters<typeof imagePixelElements>[0];

function image(
  pixel: PixelSpec,
  pixelData: DataElement['value'],
  options: { transferSyntaxUid?: string; extra?: DataElement[] } = {},
): Uint8Array {
  return writeDicom(
    [
      ...imagePixelElements(pixel),
      ...(options.extra ?? []),
      { tag: 0x7fe00010, vr: pixel.bitsAllocated > 8 ? 'OW' : 'OB', value: pixelData },
    ],
    options,
  );
}

function rampBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 7 + seed * 31 + (i >> 5)) & 0xff;
  return out;
}

/** Pixel module variants the fixture set lacks: palette, native YBR_FULL_422, RLE colour, sizes. */
function syntheticImages(): { name: string; bytes: Uint8Array }[] {
  const palette = (entries: number): DataElement[] => [
    { tag: 0x00281101, vr: 'US', value: [entries, 0, 16] },
    { tag: 0x00281102, vr: 'US', value: [entries, 0, 16] },
    { tag: 0x00281103, vr: 'US', value: [entries, 0, 16] },
    { tag: 0x00281201, vr: 'OW', value: Uint16Array.from({ length: entries }, (_, i) => i * 200) },
    { tag: 0x00281202, vr: 'OW', value: Uint16Array.from({ length: entries }, (_, i) => 65535 - i * 100) },
    { tag: 0x00281203, vr: 'OW', value: Uint16Array.from({ length: entries }, (_, i) => (i * 997) & 0xffff) },
  ];
  const rgbPlanes = rampBytes(40 * 30 * 3, 3);
  const rleRgb = rleFrame([
    rgbPlanes.subarray(0, 1200),
    rgbPlanes.subarray(1200, 2400),
    rgbPlanes.subarray(2400),
  ]);
  return [
    {
      name: 'palette 8-bit indices, 16-bit entries',
      bytes: image(
        { rows: 33, columns: 41, bitsAllocated: 8, photometricInterpretation: 'PALETTE COLOR' },
        rampBytes(33 * 41 + 1, 1),
        { extra: palette(256) },
      ),
    },
    {
      name: 'native YBR_FULL_422',
      bytes: image(
        {
          rows: 24,
          columns: 64,
          bitsAllocated: 8,
          samplesPerPixel: 3,
          photometricInterpretation: 'YBR_FULL_422',
        },
        rampBytes(24 * 64 * 2, 2),
      ),
    },
    {
      name: 'RLE RGB (planar segments)',
      bytes: image(
        { rows: 30, columns: 40, bitsAllocated: 8, samplesPerPixel: 3 },
        { kind: 'encapsulated', frames: [[rleRgb]] },
        { transferSyntaxUid: TransferSyntax.RleLossless },
      ),
    },
    {
      name: 'large signed 16-bit, 14 stored bits (bigger than every fixture)',
      bytes: image(
        { rows: 700, columns: 600, bitsAllocated: 16, bitsStored: 14, pixelRepresentation: 1 },
        Uint16Array.from({ length: 700 * 600 }, (_, i) => (i * 2654435761) & 0xffff),
      ),
    },
  ];
}

function snapshot(result: DecodeFrameResult): { frame: object; kind: string; samples: number[] } {
  const { samples, ...rest } = result.frame;
  return { frame: rest, kind: samples.constructor.name, samples: Array.from(samples) };
}

describe('decodeFrame with a FrameBufferCache', () => {
  it('decodes every fixture kind and frame exactly as without a cache, through one shared cache', async () => {
    const inputs: { name: string; bytes: Uint8Array; frame: number }[] = [];
    for (const fixture of fixtureFiles()) {
      const bytes = new Uint8Array(readFileSync(fixture.path));
      for (let frame = 0; frame < Math.min(fixture.frames, 2); frame++) {
        inputs.push({ name: `${fixture.name} frame ${frame}`, bytes, frame });
      }
    }
    for (const synthetic of syntheticImages()) inputs.push({ ...synthetic, frame: 0 });
    expect(inputs.length).toBeGreaterThan(30);

    const expected = new Map<string, ReturnType<typeof snapshot>>();
    for (const input of inputs) {
      expected.set(input.name, snapshot(await decodeFrame(input.bytes, { frame: input.frame })));
    }
    const buffers = new PoisonedCache();
    // Forwards then backwards: consecutive decodes of different sizes, sample types, colour
    // conversions and codecs through the same buffers, in both orders.
    for (const input of [...inputs, ...[...inputs].reverse()]) {
      const result = await decodeFrame(input.bytes, { frame: input.frame, buffers });
      expect(snapshot(result), input.name).toEqual(expected.get(input.name));
    }
    expect(buffers.cache.retainedBytes).toBeGreaterThan(0);
  });

  it.each([
    // Only data with bits set above Bits Stored is copied to be masked; clean 12-in-16 data is a
    // view of the file's bytes (see the test below).
    ['native LE 12-in-16 (masked copy)', 'high-bits-garbage'],
    ['native BE (byte-swapped copy)', 'explicit-be'],
    ['RLE', 'rle'],
    ['JPEG lossless', 'jpeg-lossless-sv1'],
    ['JPEG-LS (wasm copy-out)', 'jpegls-lossless'],
    ['HTJ2K (wasm copy-out)', 'htj2k-lossless'],
    ['planar RGB (interleaving)', 'rgb-planar1'],
  ])('reuses the same memory for the second %s frame', async (_label, name) => {
    const fixture = fixtureFiles().find((f) => f.name === name);
    if (fixture === undefined) throw new Error(`fixture ${name} missing from the manifest`);
    const bytes = new Uint8Array(readFileSync(fixture.path));
    const buffers = new FrameBufferCache();
    const first = await decodeFrame(bytes, { buffers });
    const firstBuffer = first.frame.samples.buffer;
    const firstValues = Array.from(first.frame.samples);
    const retained = buffers.retainedBytes;
    const second = await decodeFrame(bytes, { buffers });
    expect(second.frame.samples.buffer).toBe(firstBuffer);
    expect(Array.from(second.frame.samples)).toEqual(firstValues);
    // Steady state: the second frame added no buffers.
    expect(buffers.retainedBytes).toBe(retained);
    // Without a cache every decode gets its own memory (the default stays safe to keep).
    const a = await decodeFrame(bytes);
    const b = await decodeFrame(bytes);
    expect(a.frame.samples.buffer).not.toBe(b.frame.samples.buffer);
    expect(a.frame.samples.buffer).not.toBe(firstBuffer);
  });
});

describe('native 12-in-16 data without bits above Bits Stored', () => {
  it('is a view of the file bytes, not a masked copy', async () => {
    const fixture = fixtureFiles().find((f) => f.name === 'explicit-le');
    if (fixture === undefined) throw new Error('fixture explicit-le missing from the manifest');
    const bytes = new Uint8Array(readFileSync(fixture.path));
    const { frame } = await decodeFrame(bytes, { buffers: new FrameBufferCache() });
    expect(frame.samples.buffer).toBe(bytes.buffer);
    expect(frame.bitsStored).toBe(12);
    expect(Math.max(...frame.samples)).toBeLessThan(4096);
  });
});

describe('FrameBufferCache', () => {
  it('hands out distinct buffers within a frame and the same ones after startFrame', () => {
    const cache = new FrameBufferCache();
    const a = cache.allocate(Uint16Array, 1000);
    const b = cache.allocate(Uint16Array, 1000);
    expect(a.buffer).not.toBe(b.buffer);
    expect(a).toHaveLength(1000);
    cache.startFrame();
    const c = cache.allocate(Uint16Array, 1000);
    const d = cache.allocate(Uint16Array, 1000);
    expect(new Set([c.buffer, d.buffer])).toEqual(new Set([a.buffer, b.buffer]));
  });

  it('lets any array type reuse any buffer, best fit first, with the exact length requested', () => {
    const cache = new FrameBufferCache();
    const big = cache.allocate(Float32Array, 1000); // 4000 bytes
    const small = cache.allocate(Uint8Array, 1000); // 1000 bytes
    cache.startFrame();
    const bytes = cache.allocate(Int8Array, 900);
    expect(bytes.buffer).toBe(small.buffer);
    expect(bytes).toHaveLength(900);
    const words = cache.allocate(Int32Array, 999);
    expect(words.buffer).toBe(big.buffer);
    expect(words).toHaveLength(999);
    expect(words.byteOffset).toBe(0);
  });

  it('replaces a free buffer that is too small instead of adding one', () => {
    const cache = new FrameBufferCache();
    cache.allocate(Uint8Array, 100);
    cache.startFrame();
    const grown = cache.allocate(Uint8Array, 5000);
    expect(cache.retainedBytes).toBe(5000);
    cache.startFrame();
    expect(cache.allocate(Uint8Array, 4000).buffer).toBe(grown.buffer);
  });

  it('falls back to fresh arrays beyond maxBuffers and maxBytes', () => {
    const cache = new FrameBufferCache({ maxBuffers: 2, maxBytes: 10_000 });
    cache.allocate(Uint8Array, 100);
    cache.allocate(Uint8Array, 100);
    const third = cache.allocate(Uint8Array, 100);
    expect(cache.retainedBytes).toBe(200);
    expect(third.buffer.byteLength).toBe(100);
    cache.startFrame();
    const huge = cache.allocate(Uint8Array, 20_000);
    expect(huge).toHaveLength(20_000);
    expect(cache.retainedBytes).toBe(200);
  });
});
