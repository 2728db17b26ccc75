import { describe, expect, it } from 'vitest';

import { codeValues, codeView, countCodes, mapCodes } from './codes.js';

describe('codeView / codeValues', () => {
  it('reads signed samples as unsigned codes over the same memory, subarrays included', () => {
    const backing = Int16Array.from([7, -1, -32768, 32767, 5]);
    const samples = backing.subarray(1, 4);
    const view = codeView(samples)!;
    expect(view.bits).toBe(16);
    expect(view.signed).toBe(true);
    expect(Array.from(view.codes)).toEqual([65535, 32768, 32767]);
    const values = codeValues(view);
    expect(Array.from(view.codes, (code) => values[code])).toEqual([-1, -32768, 32767]);
  });

  it('handles Int8 and leaves unsigned arrays as they are', () => {
    const view = codeView(Int8Array.from([-128, -1, 0, 127]))!;
    expect(view.bits).toBe(8);
    expect(Array.from(view.codes, (code) => codeValues(view)[code])).toEqual([-128, -1, 0, 127]);
    const u8 = Uint8Array.from([1, 2]);
    expect(codeView(u8)?.codes).toBe(u8);
    expect(codeValues(codeView(u8)!)[200]).toBe(200);
  });

  it('declines 32-bit samples', () => {
    expect(codeView(new Int32Array(4))).toBeUndefined();
    expect(codeView(new Uint32Array(4))).toBeUndefined();
  });
});

describe('mapCodes / countCodes', () => {
  it('maps each pixel through the per-code table and counts codes', () => {
    const view = codeView(Uint8Array.from([3, 0, 3, 255]))!;
    const table = Float32Array.from({ length: 256 }, (_, code) => code / 2);
    const into = new Float32Array(4);
    mapCodes(view, table, into);
    expect(Array.from(into)).toEqual([1.5, 0, 1.5, 127.5]);
    const counts = countCodes(view);
    expect([counts[0], counts[3], counts[255], counts[1]]).toEqual([1, 2, 1, 0]);
    // The histogram buffer is reused: a second call must start from zero.
    const again = countCodes(codeView(Uint8Array.from([1]))!);
    expect([again[0], again[1], again[3]]).toEqual([0, 1, 0]);
  });
});
