import { describe, expect, it } from 'vitest';
import { DicomRejectedError } from '../errors.js';
import { rleFrame } from '../testing/index.js';
import type { EncodedFrameInfo } from '../types.js';
import { decodeRle, decodeRleSync } from './rle.js';

const mono8: EncodedFrameInfo = {
  rows: 2,
  columns: 4,
  samplesPerPixel: 1,
  bitsAllocated: 8,
  bitsStored: 8,
  pixelRepresentation: 0,
  planarConfiguration: 0,
  photometricInterpretation: 'MONOCHROME2',
};

/** Builds a frame from hand-written PackBits segments (PS3.5 G.3.1). */
function handMade(segments: number[][]): Uint8Array {
  const header = new Uint8Array(64);
  const view = new DataView(header.buffer);
  view.setUint32(0, segments.length, true);
  let offset = 64;
  segments.forEach((segment, i) => {
    view.setUint32(4 + i * 4, offset, true);
    offset += segment.length;
  });
  return Uint8Array.from([...header, ...segments.flat()]);
}

describe('decodeRle (PS3.5 Annex G)', () => {
  it('decodes literal runs, replicate runs and ignores the -128 no-op', () => {
    // 2 literal (n=1), no-op (128), replicate 5 x 9 (n=257-5=252), literal 1 (n=0).
    const frame = handMade([[1, 10, 20, 128, 252, 9, 0, 30]]);
    const out = decodeRleSync(frame, mono8);
    expect(out.samples).toBeInstanceOf(Uint8Array);
    expect(Array.from(out.samples)).toEqual([10, 20, 9, 9, 9, 9, 9, 30]);
    expect(out.planar).toBe(false);
  });

  it('assembles 16-bit samples from the most significant byte segment first', () => {
    const info = { ...mono8, rows: 1, columns: 3, bitsAllocated: 16 as const, bitsStored: 16 };
    // High bytes 0x12 0x12 0xff (replicate + literal), low bytes 0x34 0x56 0x00.
    const frame = handMade([
      [255, 0x12, 0, 0xff],
      [2, 0x34, 0x56, 0x00, 128],
    ]);
    const unsigned = decodeRleSync(frame, info);
    expect(unsigned.samples).toBeInstanceOf(Uint16Array);
    expect(Array.from(unsigned.samples)).toEqual([0x1234, 0x1256, 0xff00]);
    const signed = decodeRleSync(frame, { ...info, pixelRepresentation: 1 });
    expect(signed.samples).toBeInstanceOf(Int16Array);
    expect(Array.from(signed.samples)).toEqual([0x1234, 0x1256, -256]);
  });

  it('returns colour as planar samples, one segment per sample', () => {
    const info = {
      ...mono8,
      rows: 1,
      columns: 2,
      samplesPerPixel: 3 as const,
      photometricInterpretation: 'RGB',
    };
    const frame = rleFrame([Uint8Array.of(1, 2), Uint8Array.of(3, 4), Uint8Array.of(5, 6)]);
    const out = decodeRleSync(frame, info);
    expect(out.planar).toBe(true);
    expect(Array.from(out.samples)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('decodes 16-bit colour: segments R-high, R-low, G-high, ...', () => {
    const info = {
      ...mono8,
      rows: 1,
      columns: 1,
      samplesPerPixel: 3 as const,
      bitsAllocated: 16 as const,
      bitsStored: 16,
      photometricInterpretation: 'RGB',
    };
    const frame = rleFrame([0x01, 0x02, 0x03, 0x04, 0x05, 0x06].map((b) => Uint8Array.of(b)));
    expect(Array.from(decodeRleSync(frame, info).samples)).toEqual([0x0102, 0x0304, 0x0506]);
  });

  it('round-trips a large random-ish 16-bit frame built by the test encoder', () => {
    const info = { ...mono8, rows: 64, columns: 100, bitsAllocated: 16 as const, bitsStored: 16 };
    const values = Uint16Array.from({ length: 6400 }, (_, i) => (i % 37 < 20 ? 1000 : (i * 7919) & 0xffff));
    const frame = rleFrame([
      Uint8Array.from(values, (v) => v >> 8),
      Uint8Array.from(values, (v) => v & 0xff),
    ]);
    expect(Array.from(decodeRleSync(frame, info).samples)).toEqual(Array.from(values));
  });

  it.each([
    ['a frame shorter than the header', new Uint8Array(10)],
    ['too few segments', handMade([[0, 1]])],
    ['a segment that ends early', handMade([[3, 1, 2, 3, 4]])],
    [
      'an offset past the end',
      (() => {
        const f = handMade([[7, 1, 2, 3, 4, 5, 6, 7, 8]]);
        new DataView(f.buffer).setUint32(4, 5000, true);
        return f;
      })(),
    ],
  ])('rejects %s as corrupt_stream', async (_name, frame) => {
    const info =
      _name === 'too few segments' ? { ...mono8, bitsAllocated: 16 as const, bitsStored: 16 } : mono8;
    const error: unknown = await decodeRle(frame, info).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DicomRejectedError);
    expect((error as DicomRejectedError).reason).toBe('corrupt_stream');
  });
});
