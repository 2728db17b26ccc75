import { describe, expect, it } from 'vitest';

import type { LookupTable, VoiLut } from '../types.js';
import {
  applyVoiTable,
  applyWindow,
  invertMonochrome1,
  isValidLookupTable,
  isValidWindow,
  selectVoiWindow,
  selectVoiWindowIndex,
} from './voi.js';

const UNIT = { min: 0, max: 1 };
const BYTE = { min: 0, max: 255 };

function values(...xs: number[]): Float32Array {
  return Float32Array.from(xs);
}

describe('selectVoiWindow', () => {
  const voi: VoiLut = {
    function: 'LINEAR',
    tables: [],
    windows: [
      { center: 40, width: 400, explanation: 'SOFT TISSUE' },
      { center: -600, width: 1500, explanation: 'Lung ' },
      { center: 300, width: 1500 },
    ],
  };

  it('defaults to the first window', () => {
    expect(selectVoiWindowIndex(voi)).toBe(0);
    expect(selectVoiWindow(voi)).toEqual(voi.windows[0]);
  });

  it('an explicit index wins over the explanation', () => {
    expect(selectVoiWindowIndex(voi, { index: 2, explanation: 'lung' })).toBe(2);
  });

  it('matches the explanation case-insensitively and ignoring padding', () => {
    expect(selectVoiWindow(voi, { explanation: 'LUNG' })?.center).toBe(-600);
    expect(selectVoiWindow(voi, { explanation: ' soft tissue' })?.center).toBe(40);
  });

  it('ignores an out-of-range or fractional index and an unknown explanation', () => {
    expect(selectVoiWindowIndex(voi, { index: 3 })).toBe(0);
    expect(selectVoiWindowIndex(voi, { index: -1, explanation: 'lung' })).toBe(1);
    expect(selectVoiWindowIndex(voi, { index: 1.5 })).toBe(0);
    expect(selectVoiWindowIndex(voi, { explanation: 'bone' })).toBe(0);
  });

  it('returns undefined when the file has no window', () => {
    expect(selectVoiWindow({ function: 'LINEAR', tables: [], windows: [] }, { index: 0 })).toBeUndefined();
  });
});

describe('isValidWindow', () => {
  it('LINEAR needs width >= 1 (C.11.2.1.2.1), the others width > 0 (C.11.2.1.3)', () => {
    expect(isValidWindow({ center: 0, width: 1 }, 'LINEAR')).toBe(true);
    expect(isValidWindow({ center: 0, width: 0.5 }, 'LINEAR')).toBe(false);
    expect(isValidWindow({ center: 0, width: 0.5 }, 'LINEAR_EXACT')).toBe(true);
    expect(isValidWindow({ center: 0, width: 0 }, 'LINEAR_EXACT')).toBe(false);
    expect(isValidWindow({ center: 0, width: -3 }, 'SIGMOID')).toBe(false);
    expect(isValidWindow({ center: Number.NaN, width: 10 }, 'SIGMOID')).toBe(false);
  });

  it('applyWindow refuses an invalid window', () => {
    expect(() => applyWindow(values(1), { center: 0, width: 0.5 }, 'LINEAR', UNIT)).toThrow(RangeError);
    expect(() => applyWindow(values(1), { center: 0, width: 0 }, 'SIGMOID', UNIT)).toThrow(RangeError);
  });
});

describe('applyWindow LINEAR (PS3.3 C.11.2.1.2.1)', () => {
  // c = 100, w = 11: lower = c - 0.5 - (w-1)/2 = 94.5, upper = c - 0.5 + (w-1)/2 = 104.5,
  // y = ((x - 99.5) / 10 + 0.5) * 255.
  const window = { center: 100, width: 11 };

  it('maps the exact boundaries to ymin and ymax', () => {
    const out = applyWindow(values(94.5, 104.5), window, 'LINEAR', BYTE);
    expect(Array.from(out)).toEqual([0, 255]);
  });

  it('is linear inside and clamped outside', () => {
    const out = applyWindow(values(-1000, 94, 95, 99.5, 100, 104, 105, 5000), window, 'LINEAR', BYTE);
    // 95 -> (95 - 94.5) / 10 * 255 = 12.75; 99.5 -> 127.5; 100 -> 140.25; 104 -> 242.25.
    expect(Array.from(out)).toEqual([0, 0, 12.75, 127.5, 140.25, 242.25, 255, 255]);
  });

  it('width 1 is a threshold at center - 0.5', () => {
    const out = applyWindow(values(9, 9.5, 9.6, 10), { center: 10, width: 1 }, 'LINEAR', UNIT);
    expect(Array.from(out)).toEqual([0, 0, 1, 1]);
  });

  it('uses any output range and can write in place', () => {
    const data = values(94.5, 99.5, 104.5);
    const out = applyWindow(data, window, 'LINEAR', { min: -1, max: 1 }, data);
    expect(out).toBe(data);
    expect(Array.from(data)).toEqual([-1, 0, 1]);
  });
});

describe('applyWindow LINEAR_EXACT (PS3.3 C.11.2.1.3.2)', () => {
  // c = 100, w = 10: lower = c - w/2 = 95, upper = c + w/2 = 105, y = ((x - 100)/10 + 0.5) * 255.
  const window = { center: 100, width: 10 };

  it('maps the exact boundaries to ymin and ymax', () => {
    expect(Array.from(applyWindow(values(95, 105), window, 'LINEAR_EXACT', BYTE))).toEqual([0, 255]);
  });

  it('is linear inside and differs from LINEAR for the same window', () => {
    const exact = applyWindow(values(94, 96, 100, 104, 106), window, 'LINEAR_EXACT', BYTE);
    expect(Array.from(exact)).toEqual([0, 25.5, 127.5, 229.5, 255]);
    // LINEAR with the same c/w: lower 95, upper 104, slope 255/9; 100 -> 5 * 255 / 9.
    const linear = applyWindow(values(100), window, 'LINEAR', BYTE);
    expect(linear[0]).toBeCloseTo((5 * 255) / 9, 4);
  });

  it('accepts a width below 1', () => {
    // Binary fractions so that float32 inputs are exact: lower 0, upper 0.5.
    const out = applyWindow(values(0, 0.125, 0.5, 0.625), { center: 0.25, width: 0.5 }, 'LINEAR_EXACT', UNIT);
    expect(Array.from(out)).toEqual([0, 0.25, 1, 1]);
  });
});

describe('applyWindow SIGMOID (PS3.3 C.11.2.1.3.1)', () => {
  it('gives the middle of the output range at the center', () => {
    const out = applyWindow(values(40), { center: 40, width: 400 }, 'SIGMOID', BYTE);
    expect(out[0]).toBe(127.5);
  });

  it('matches 1 / (1 + exp(-4 (x - c) / w)) at a computed point', () => {
    // x - c = w / 4 -> exponent -1: y = 255 / (1 + e^-1) = 255 * 0.7310586 = 186.4199...
    const out = applyWindow(values(140, -60), { center: 40, width: 400 }, 'SIGMOID', BYTE);
    expect(out[0]).toBeCloseTo(255 / (1 + Math.exp(-1)), 3);
    expect(out[0]).toBeCloseTo(186.4199, 3);
    // Symmetric point x - c = -w/4 -> exponent +1.
    expect(out[1]).toBeCloseTo(255 / (1 + Math.E), 3);
  });

  it('approaches but never passes the ends of the output range', () => {
    const out = applyWindow(values(-1e6, 1e6), { center: 0, width: 10 }, 'SIGMOID', UNIT);
    expect(Array.from(out)).toEqual([0, 1]);
  });
});

describe('applyVoiTable (PS3.3 C.11.2.1.1)', () => {
  // 5 entries mapped from 100; 12-bit entries scale by 1/4095.
  const table: LookupTable = {
    firstMapped: 100,
    bitsPerEntry: 12,
    data: Uint16Array.from([0, 1000, 2000, 3000, 4095]),
  };

  it('maps value - firstMapped to an entry scaled from [0, 2^bits - 1], clamping both sides', () => {
    const out = applyVoiTable(values(0, 99, 100, 101, 102, 104, 105, 1e6), table, { min: 0, max: 4095 });
    expect(Array.from(out)).toEqual([0, 0, 0, 1000, 2000, 4095, 4095, 4095]);
  });

  it('scales 16-bit and 8-bit entries to the output range', () => {
    const t16: LookupTable = { firstMapped: 0, bitsPerEntry: 16, data: Uint16Array.from([0, 65535, 13107]) };
    expect(Array.from(applyVoiTable(values(0, 1, 2), t16, UNIT))).toEqual([0, 1, Math.fround(0.2)]);
    const t8: LookupTable = { firstMapped: 0, bitsPerEntry: 8, data: Uint16Array.from([0, 51, 255]) };
    expect(Array.from(applyVoiTable(values(0, 1, 2), t8, BYTE))).toEqual([0, 51, 255]);
  });

  it('rounds non-integer inputs to the nearest entry and sends NaN to the first entry', () => {
    const out = applyVoiTable(values(100.4, 100.5, 102.6, Number.NaN), table, { min: 0, max: 4095 });
    expect(Array.from(out)).toEqual([0, 1000, 3000, 0]);
  });

  it('refuses empty tables and impossible bit depths', () => {
    expect(isValidLookupTable({ firstMapped: 0, bitsPerEntry: 16, data: new Uint16Array(0) })).toBe(false);
    expect(isValidLookupTable({ firstMapped: 0, bitsPerEntry: 17, data: new Uint16Array(2) })).toBe(false);
    expect(() =>
      applyVoiTable(values(1), { firstMapped: 0, bitsPerEntry: 0, data: new Uint16Array(2) }, UNIT),
    ).toThrow(RangeError);
  });
});

describe('invertMonochrome1 (PS3.4 N.2.1)', () => {
  it('reflects values within the output range', () => {
    expect(Array.from(invertMonochrome1(values(0, 0.25, 1), UNIT))).toEqual([1, 0.75, 0]);
    expect(Array.from(invertMonochrome1(values(0, 55, 255), BYTE))).toEqual([255, 200, 0]);
    expect(Array.from(invertMonochrome1(values(10, 12), { min: 10, max: 20 }))).toEqual([20, 18]);
  });

  it('returns a new array unless told to work in place', () => {
    const data = values(0.25);
    expect(invertMonochrome1(data, UNIT)).not.toBe(data);
    expect(data[0]).toBe(0.25);
    invertMonochrome1(data, UNIT, data);
    expect(data[0]).toBe(0.75);
  });
});
