import { describe, expect, it } from 'vitest';
import { DicomRejectedError } from './errors.js';
import { extractNativeFrame, normalizeStoredValues, toDecodedFrame, ybrFullToRgb } from './pixels.js';
import type { PixelModule } from './types.js';

const mono16: PixelModule = {
  rows: 1,
  columns: 3,
  samplesPerPixel: 1,
  photometricInterpretation: 'MONOCHROME2',
  bitsAllocated: 16,
  bitsStored: 16,
  highBit: 15,
  pixelRepresentation: 0,
  planarConfiguration: 0,
  numberOfFrames: 1,
};

describe('normalizeStoredValues (PS3.5 8.1.1)', () => {
  it('returns the same array when nothing needs masking (no copy)', () => {
    const raw = Uint16Array.of(1, 2, 3);
    expect(normalizeStoredValues(raw, mono16)).toBe(raw);
  });

  it('reinterprets full-width signed data as a view of the same memory', () => {
    const raw = Uint16Array.of(0xffff, 1, 0x8000);
    const out = normalizeStoredValues(raw, { ...mono16, pixelRepresentation: 1 });
    expect(out).toBeInstanceOf(Int16Array);
    expect(out.buffer).toBe(raw.buffer);
    expect(Array.from(out)).toEqual([-1, 1, -32768]);
  });

  it('sign-extends codec output already held in an Int16Array', () => {
    const pixel = { ...mono16, bitsStored: 12, highBit: 11, pixelRepresentation: 1 as const };
    expect(Array.from(normalizeStoredValues(Int16Array.of(-1, 0x0800, 5), pixel))).toEqual([-1, -2048, 5]);
  });

  it.each([
    ['an even index (the low half of a 32-bit word)', 0, 40],
    ['an odd index (the high half of a 32-bit word)', 0, 41],
    ['the last sample of an odd-length frame', 0, 62],
    ['a frame that does not start on a 4-byte boundary', 2, 17],
  ])('masks a bit above Bits Stored at %s', (_, byteOffset, index) => {
    const pixel = { ...mono16, columns: 63, bitsStored: 12, highBit: 11 };
    const raw = new Uint16Array(new ArrayBuffer(byteOffset + 63 * 2), byteOffset, 63);
    for (let i = 0; i < raw.length; i++) raw[i] = (i * 37) & 0xfff;
    const clean = normalizeStoredValues(raw, pixel);
    expect(clean).toBe(raw);
    raw[index] = 0x8000 | 7;
    const masked = normalizeStoredValues(raw, pixel);
    expect(masked).not.toBe(raw);
    expect(masked[index]).toBe(7);
    expect(masked[index === 0 ? 1 : 0]).toBe(raw[index === 0 ? 1 : 0]);
  });
});

describe('extractNativeFrame', () => {
  it.each([
    ['4-byte aligned, even length', 0, 6],
    ['4-byte aligned, odd length', 0, 7],
    ['2-byte aligned only', 2, 7],
    ['at an odd byte offset', 1, 7],
  ])('swaps explicit VR big endian words (%s)', (_, offset, count) => {
    const bytes = new Uint8Array(offset + count * 2);
    const expected: number[] = [];
    for (let i = 0; i < count; i++) {
      const value = (0x0a00 + i * 0x0111) & 0x0fff;
      expected.push(value);
      bytes[offset + 2 * i] = value >>> 8;
      bytes[offset + 2 * i + 1] = value & 0xff;
    }
    const pixel = { ...mono16, columns: count, bitsStored: 12, highBit: 11 };
    const frame = extractNativeFrame(bytes.subarray(offset), 0, pixel, { bigEndian: true, vr: 'OW' });
    expect(Array.from(frame.samples)).toEqual(expected);
  });
});

describe('extractNativeFrame copies', () => {
  it('little endian words at an odd byte offset, which no Uint16Array can view', () => {
    const count = 9;
    const bytes = new Uint8Array(1 + count * 2);
    for (let i = 0; i < count; i++) {
      bytes[1 + 2 * i] = (i * 0x35) & 0xff;
      bytes[2 + 2 * i] = i & 0x0f;
    }
    const pixel = { ...mono16, columns: count, bitsStored: 12, highBit: 11 };
    const frame = extractNativeFrame(bytes.subarray(1), 0, pixel, { bigEndian: false, vr: 'OW' });
    expect(Array.from(frame.samples)).toEqual(
      Array.from({ length: count }, (_, i) => ((i & 0x0f) << 8) | ((i * 0x35) & 0xff)),
    );
  });

  it.each([
    ['little endian, aligned', false, 0],
    ['little endian, 2-byte aligned only', false, 2],
    ['big endian, aligned', true, 0],
    ['big endian, at an odd byte offset', true, 1],
  ])('32-bit samples (%s)', (_, bigEndian, offset) => {
    const values = [0x01020304, 0x7fffffff, 0x00000001, 0x00abcdef, 0x10000000];
    const bytes = new Uint8Array(offset + values.length * 4);
    const view = new DataView(bytes.buffer);
    values.forEach((value, i) => {
      view.setUint32(offset + 4 * i, value, !bigEndian);
    });
    const pixel: PixelModule = {
      ...mono16,
      columns: values.length,
      bitsAllocated: 32,
      bitsStored: 32,
      highBit: 31,
    };
    const frame = extractNativeFrame(bytes.subarray(offset), 0, pixel, { bigEndian, vr: 'OW' });
    expect(Array.from(frame.samples)).toEqual(values);
  });

  it('a second frame of big endian words, leaving the first frame untouched', () => {
    const bytes = Uint8Array.of(0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08);
    const pixel: PixelModule = { ...mono16, columns: 2, numberOfFrames: 2, bitsStored: 16, highBit: 15 };
    const frame = extractNativeFrame(bytes, 1, pixel, { bigEndian: true, vr: 'OW' });
    expect(Array.from(frame.samples)).toEqual([0x0506, 0x0708]);
    expect(Array.from(bytes)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });
});

describe('toDecodedFrame', () => {
  it('rejects codec output shorter than rows x columns x samples as corrupt_stream', () => {
    const call = (): unknown =>
      toDecodedFrame({ samples: new Uint16Array(2), planar: false, colorSpace: 'as-stored' }, mono16);
    expect(call).toThrow(DicomRejectedError);
    try {
      call();
    } catch (error) {
      expect((error as DicomRejectedError).reason).toBe('corrupt_stream');
    }
  });

  it('skips YBR conversion when the codec already produced RGB', () => {
    const ybr: PixelModule = {
      ...mono16,
      columns: 1,
      samplesPerPixel: 3,
      bitsAllocated: 8,
      bitsStored: 8,
      highBit: 7,
      photometricInterpretation: 'YBR_FULL_422',
    };
    const samples = Uint8Array.of(100, 150, 90);
    expect(Array.from(toDecodedFrame({ samples, planar: false, colorSpace: 'RGB' }, ybr).samples)).toEqual([
      100, 150, 90,
    ]);
    // As stored, codec output of YBR_FULL_422 is full resolution YCbCr.
    expect(
      Array.from(toDecodedFrame({ samples, planar: false, colorSpace: 'as-stored' }, ybr).samples),
    ).toEqual([47, 120, 139]);
  });

  it('interleaves planar codec output', () => {
    const rgb: PixelModule = {
      ...mono16,
      columns: 2,
      samplesPerPixel: 3,
      bitsAllocated: 8,
      bitsStored: 8,
      highBit: 7,
      photometricInterpretation: 'RGB',
    };
    const out = toDecodedFrame(
      { samples: Uint8Array.of(1, 2, 3, 4, 5, 6), planar: true, colorSpace: 'as-stored' },
      rgb,
    );
    expect(Array.from(out.samples)).toEqual([1, 3, 5, 2, 4, 6]);
  });
});

describe('ybrFullToRgb', () => {
  it('uses 2^(BitsStored-1) as chroma offset for 12-bit data', () => {
    // Y=2048, Cb=Cr=2048 is neutral grey; Cr=4095 pushes red to the 12-bit maximum.
    expect(Array.from(ybrFullToRgb(Uint16Array.of(2048, 2048, 2048, 2048, 2048, 4095), 12))).toEqual([
      2048, 2048, 2048, 4095, 586, 2048,
    ]);
  });
});
