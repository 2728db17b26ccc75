import { describe, expect, it } from 'vitest';

import { DicomRejectedError } from '../errors.js';
import type { LookupTable } from '../types.js';
import { applyModalityLut } from './modality.js';

function table(firstMapped: number, data: number[], bitsPerEntry: number): LookupTable {
  return { firstMapped, bitsPerEntry, data: Uint16Array.from(data) };
}

describe('applyModalityLut (PS3.3 C.11.1)', () => {
  it('identity copies stored values, signed ones included', () => {
    const out = applyModalityLut(Int16Array.from([-2048, -1, 0, 2047]), { kind: 'identity' });
    expect(Array.from(out)).toEqual([-2048, -1, 0, 2047]);
  });

  it('rescale with a negative intercept gives Hounsfield units (CT-like, C.11.1.1.2)', () => {
    // Unsigned 12-bit CT: HU = 1 * SV - 1024, so 0 -> -1024 (outside the scan), 1024 -> water.
    const out = applyModalityLut(Uint16Array.from([0, 24, 1024, 2024, 4095]), {
      kind: 'rescale',
      slope: 1,
      intercept: -1024,
    });
    expect(Array.from(out)).toEqual([-1024, -1000, 0, 1000, 3071]);
  });

  it('rescale with a fractional slope on signed values', () => {
    const out = applyModalityLut(Int16Array.from([-4, 0, 6]), { kind: 'rescale', slope: 0.5, intercept: 10 });
    expect(Array.from(out)).toEqual([8, 10, 13]);
  });

  it('rejects a non-finite rescale instead of producing NaN pixels', () => {
    expect(() =>
      applyModalityLut(Uint8Array.from([1]), { kind: 'rescale', slope: Number.NaN, intercept: 0 }),
    ).toThrow(DicomRejectedError);
  });

  it('table lookup clamps below firstMapped to the first entry and above the last (C.11.1.1.1)', () => {
    // 4 entries mapped from stored value 10: 10->100, 11->200, 12->300, 13->400.
    const lut = table(10, [100, 200, 300, 400], 16);
    const out = applyModalityLut(Uint16Array.from([0, 9, 10, 11, 12, 13, 14, 65535]), { kind: 'table', lut });
    expect(Array.from(out)).toEqual([100, 100, 100, 200, 300, 400, 400, 400]);
  });

  it('table lookup with a negative firstMapped for signed stored values', () => {
    const lut = table(-2, [7, 8, 9], 8);
    const out = applyModalityLut(Int16Array.from([-5, -2, -1, 0, 1]), { kind: 'table', lut });
    expect(Array.from(out)).toEqual([7, 7, 8, 9, 9]);
  });

  it('8-bit and 16-bit entries are returned as they are, not rescaled', () => {
    const lut8 = table(0, [0, 128, 255], 8);
    const lut16 = table(0, [0, 32768, 65535], 16);
    const samples = Uint8Array.from([0, 1, 2]);
    expect(Array.from(applyModalityLut(samples, { kind: 'table', lut: lut8 }))).toEqual([0, 128, 255]);
    expect(Array.from(applyModalityLut(samples, { kind: 'table', lut: lut16 }))).toEqual([0, 32768, 65535]);
  });

  it('rejects an empty table', () => {
    expect(() => applyModalityLut(Uint8Array.from([1]), { kind: 'table', lut: table(0, [], 16) })).toThrow(
      DicomRejectedError,
    );
  });

  it('writes into a caller-provided array and refuses one that is too short', () => {
    const into = new Float32Array(3);
    const out = applyModalityLut(
      Uint8Array.from([1, 2, 3]),
      { kind: 'rescale', slope: 2, intercept: 0 },
      into,
    );
    expect(out).toBe(into);
    expect(Array.from(into)).toEqual([2, 4, 6]);
    expect(() =>
      applyModalityLut(Uint8Array.from([1, 2, 3]), { kind: 'identity' }, new Float32Array(2)),
    ).toThrow(RangeError);
  });
});

describe('applyModalityLut per-code table path (8/16-bit frames with at least 2^bits pixels)', () => {
  it('gives the same values as per-pixel arithmetic for signed 16-bit samples', () => {
    const samples = Int16Array.from({ length: 70_000 }, (_, i) => ((i * 7919) % 65536) - 32768);
    const out = applyModalityLut(samples, { kind: 'rescale', slope: 0.25, intercept: -1024 });
    for (const i of [0, 1, 4095, 33_333, 69_999]) {
      expect(out[i]).toBe(Math.fround(samples[i]! * 0.25 - 1024));
    }
  });

  it('clamps table lookups the same way for Int8 samples', () => {
    const samples = Int8Array.from({ length: 512 }, (_, i) => (i % 256) - 128);
    const out = applyModalityLut(samples, { kind: 'table', lut: table(-2, [7, 8, 9], 8) });
    expect(out[0]).toBe(7); // -128, below firstMapped
    expect(out[126]).toBe(7); // -2
    expect(out[127]).toBe(8); // -1
    expect(out[128]).toBe(9); // 0
    expect(out[255]).toBe(9); // 127, above the last entry
  });

  it('returns a view of the requested length when `into` is longer', () => {
    const into = new Float32Array(300);
    const out = applyModalityLut(new Uint8Array(256).fill(4), { kind: 'identity' }, into);
    expect(out.length).toBe(256);
    expect(out.buffer).toBe(into.buffer);
    expect(into[255]).toBe(4);
  });
});
