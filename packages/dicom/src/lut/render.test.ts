import { describe, expect, it } from 'vitest';

import { maxAbsDiff, mulberry32 } from '../testing/index.js';
import type { DecodedFrame, LookupTable, ModalityLut, StoredSamples, VoiLut } from '../types.js';
import {
  renderMonochromePerPixel,
  renderMonochromeViaStoredValueLut,
  renderToDisplay,
  type RenderInfo,
  type RenderOptions,
} from './render.js';

const NO_VOI: VoiLut = { windows: [], tables: [], function: 'LINEAR' };
const IDENTITY: ModalityLut = { kind: 'identity' };

function mono(
  samples: StoredSamples,
  rows: number,
  columns: number,
  photometricInterpretation: 'MONOCHROME1' | 'MONOCHROME2' = 'MONOCHROME2',
  bitsStored = 12,
): DecodedFrame {
  return {
    rows,
    columns,
    samplesPerPixel: 1,
    photometricInterpretation,
    samples,
    bitsStored,
    signed: samples instanceof Int16Array || samples instanceof Int8Array || samples instanceof Int32Array,
  };
}

function asMonochrome1(frame: DecodedFrame): DecodedFrame {
  return { ...frame, photometricInterpretation: 'MONOCHROME1' };
}

describe('renderToDisplay: monochrome, hand-computed', () => {
  // CT-like: HU = SV - 1024. Stored 0, 1024, 1064, 2024 -> HU -1024, 0, 40, 1000.
  // Window c = 40, w = 400 LINEAR: lower = -160, upper = 239, y = (x + 160) / 399.
  const frame = mono(Uint16Array.from([0, 1024, 1064, 2024]), 2, 2);
  const info: RenderInfo = {
    modalityLut: { kind: 'rescale', slope: 1, intercept: -1024 },
    voi: { windows: [{ center: 40, width: 400, explanation: 'SOFT' }], tables: [], function: 'LINEAR' },
  };

  it('applies rescale then the file window', () => {
    const result = renderToDisplay(frame, info);
    expect(result.channels).toBe(1);
    expect(result.inverted).toBe(false);
    expect(result.values[0]).toBe(0);
    expect(result.values[1]).toBeCloseTo(160 / 399, 6);
    expect(result.values[2]).toBeCloseTo(200 / 399, 6);
    expect(result.values[3]).toBe(1);
    expect(result.voiUsed).toEqual({
      kind: 'file-window',
      windowIndex: 0,
      center: 40,
      width: 400,
      function: 'LINEAR',
      explanation: 'SOFT',
    });
  });

  it('MONOCHROME1 gives exactly 1 - the MONOCHROME2 result', () => {
    const two = renderToDisplay(frame, info);
    const one = renderToDisplay(asMonochrome1(frame), info);
    expect(one.inverted).toBe(true);
    expect(Array.from(one.values)).toEqual(Array.from(two.values).map((v) => Math.fround(1 - v)));
  });

  it('uses the window chosen by index or explanation', () => {
    const two: RenderInfo = {
      ...info,
      voi: {
        ...info.voi,
        windows: [
          { center: 40, width: 400, explanation: 'SOFT' },
          { center: 1000.5, width: 2, explanation: 'THRESHOLD' },
        ],
      },
    };
    // c = 1000.5, w = 2: lower 999.5, upper 1000.5; HU 1000 -> 0.5, the others 0.
    const byIndex = renderToDisplay(frame, two, { windowIndex: 1 });
    expect(Array.from(byIndex.values)).toEqual([0, 0, 0, 0.5]);
    expect(byIndex.voiUsed).toMatchObject({ kind: 'file-window', windowIndex: 1 });
    const byName = renderToDisplay(frame, two, { windowExplanation: 'threshold' });
    expect(byName.voiUsed).toMatchObject({ kind: 'file-window', windowIndex: 1 });
  });

  it('an explicit window replaces the file window', () => {
    const result = renderToDisplay(frame, info, {
      voi: { center: 0, width: 2048, function: 'LINEAR_EXACT' },
    });
    // LINEAR_EXACT: lower -1024, upper 1024: y = (x + 1024) / 2048.
    expect(Array.from(result.values)).toEqual([0, 0.5, 1064 / 2048, 2024 / 2048].map((v) => Math.fround(v)));
    expect(result.voiUsed).toEqual({
      kind: 'explicit-window',
      center: 0,
      width: 2048,
      function: 'LINEAR_EXACT',
    });
  });

  it('an invalid explicit window or percentile pair is a configuration error', () => {
    expect(() => renderToDisplay(frame, info, { voi: { center: 0, width: 0.5 } })).toThrow(RangeError);
    expect(() => renderToDisplay(frame, info, { voi: { percentiles: [90, 10] } })).toThrow(RangeError);
  });

  it('requested min-max maps the smallest HU to 0 and the largest to 1', () => {
    const result = renderToDisplay(frame, info, { voi: 'minmax' });
    // Range -1024..1000: y = (x + 1024) / 2024.
    expect(result.values[0]).toBe(0);
    expect(result.values[1]).toBeCloseTo(1024 / 2024, 6);
    expect(result.values[3]).toBe(1);
    expect(result.voiUsed).toEqual({ kind: 'minmax', low: -1024, high: 1000, reason: 'requested' });
  });
});

describe('renderToDisplay: VOI fallbacks', () => {
  const table: LookupTable = {
    firstMapped: 0,
    bitsPerEntry: 8,
    data: Uint16Array.from([255, 0, 51, 102]),
    explanation: 'INVERTED',
  };
  const frame = mono(Uint16Array.from([0, 1, 2, 3]), 2, 2, 'MONOCHROME2', 2);

  it('uses the VOI LUT table when there is no window', () => {
    const result = renderToDisplay(frame, { modalityLut: IDENTITY, voi: { ...NO_VOI, tables: [table] } });
    expect(Array.from(result.values)).toEqual([1, 0, 0.2, 0.4].map((v) => Math.fround(v)));
    expect(result.voiUsed).toEqual({
      kind: 'file-table',
      tableIndex: 0,
      entries: 4,
      firstMapped: 0,
      bitsPerEntry: 8,
      explanation: 'INVERTED',
      invalidWindowIgnored: false,
    });
  });

  it('skips an invalid window (width < 1 for LINEAR) in favour of the table', () => {
    const voi: VoiLut = { windows: [{ center: 2, width: 0 }], tables: [table], function: 'LINEAR' };
    const result = renderToDisplay(frame, { modalityLut: IDENTITY, voi });
    expect(result.voiUsed).toMatchObject({ kind: 'file-table', invalidWindowIgnored: true });
  });

  it('falls back to the 0.5-99.5 percentiles when the file has no VOI, or an unusable one', () => {
    const none = renderToDisplay(frame, { modalityLut: IDENTITY, voi: NO_VOI });
    // Values 0..3: p0.5 = 0.015, p99.5 = 2.985 (numpy linear, n = 4).
    expect(none.voiUsed).toMatchObject({ kind: 'percentiles', lowPercentile: 0.5, highPercentile: 99.5 });
    expect(none.voiUsed).toMatchObject({ reason: 'no-file-voi' });
    if (none.voiUsed.kind !== 'percentiles') throw new Error('unreachable');
    expect(none.voiUsed.low).toBeCloseTo(0.015, 9);
    expect(none.voiUsed.high).toBeCloseTo(2.985, 9);
    expect(none.values[0]).toBe(0);
    expect(none.values[1]).toBeCloseTo(0.985 / 2.97, 6);
    expect(none.values[3]).toBe(1);

    const badWindow: VoiLut = { windows: [{ center: 2, width: -5 }], tables: [], function: 'SIGMOID' };
    const bad = renderToDisplay(frame, { modalityLut: IDENTITY, voi: badWindow });
    expect(bad.voiUsed).toMatchObject({ kind: 'percentiles', reason: 'invalid-file-voi' });
  });

  it('uses the fallback the caller chose', () => {
    const result = renderToDisplay(frame, { modalityLut: IDENTITY, voi: NO_VOI }, { fallback: 'minmax' });
    expect(Array.from(result.values)).toEqual([0, 1 / 3, 2 / 3, 1].map((v) => Math.fround(v)));
    expect(result.voiUsed).toEqual({ kind: 'minmax', low: 0, high: 3, reason: 'no-file-voi' });
  });

  it('a constant image renders black (white for MONOCHROME1) instead of NaN', () => {
    const flat = mono(Uint16Array.from([9, 9, 9, 9]), 2, 2);
    expect(Array.from(renderToDisplay(flat, { modalityLut: IDENTITY, voi: NO_VOI }).values)).toEqual([
      0, 0, 0, 0,
    ]);
    const flat1 = asMonochrome1(flat);
    expect(Array.from(renderToDisplay(flat1, { modalityLut: IDENTITY, voi: NO_VOI }).values)).toEqual([
      1, 1, 1, 1,
    ]);
  });
});

describe('renderToDisplay: RGB', () => {
  it('scales 8-bit samples by 1/255 and ignores modality and VOI', () => {
    const frame: DecodedFrame = {
      rows: 1,
      columns: 2,
      samplesPerPixel: 3,
      photometricInterpretation: 'RGB',
      samples: Uint8Array.from([0, 255, 51, 102, 204, 255]),
      bitsStored: 8,
      signed: false,
    };
    const info: RenderInfo = {
      modalityLut: { kind: 'rescale', slope: 2, intercept: -100 },
      voi: { windows: [{ center: 10, width: 5 }], tables: [], function: 'LINEAR' },
    };
    const result = renderToDisplay(frame, info);
    expect(result.channels).toBe(3);
    expect(result.voiUsed).toEqual({ kind: 'none' });
    expect(Array.from(result.values)).toEqual([0, 1, 0.2, 0.4, 0.8, 1].map((v) => Math.fround(v)));
  });

  it('scales 16-bit samples by 2^bitsStored - 1', () => {
    const frame: DecodedFrame = {
      rows: 1,
      columns: 1,
      samplesPerPixel: 3,
      photometricInterpretation: 'RGB',
      samples: Uint16Array.from([0, 4095, 819]),
      bitsStored: 12,
      signed: false,
    };
    const result = renderToDisplay(frame, { modalityLut: IDENTITY, voi: NO_VOI });
    expect(Array.from(result.values)).toEqual([0, 1, Math.fround(0.2)]);
  });

  it('refuses a frame whose sample count does not match its size', () => {
    expect(() =>
      renderToDisplay(mono(new Uint16Array(3), 2, 2), { modalityLut: IDENTITY, voi: NO_VOI }),
    ).toThrow(RangeError);
  });
});

describe('stored-value LUT path agrees with the per-pixel path', () => {
  // 65,536 pixels: the smallest 16-bit frame the stored-value LUT path accepts.
  const rows = 256;
  const columns = 256;
  const rnd = mulberry32(7);
  // A CR-like 12-bit frame: most values mid-range, a few outliers at both ends.
  const stored = Uint16Array.from({ length: rows * columns }, () => {
    const r = rnd();
    return r < 0.01 ? 0 : r > 0.99 ? 4095 : Math.round(1000 + rnd() * rnd() * 2000);
  });
  const signedStored = Int16Array.from(stored, (v) => v - 2048);
  // A non-monotonic modality table: forces the sort in the LUT path's histogram.
  const zigzag: LookupTable = {
    firstMapped: 100,
    bitsPerEntry: 16,
    data: Uint16Array.from({ length: 3000 }, (_, i) => (i % 700) * 50 + Math.floor(i / 700)),
  };
  const voiTable: LookupTable = {
    firstMapped: 500,
    bitsPerEntry: 12,
    data: Uint16Array.from({ length: 2500 }, (_, i) => Math.min(4095, Math.round((i / 2499) ** 0.7 * 4095))),
  };
  const modalities: [string, ModalityLut, number][] = [
    ['identity', IDENTITY, 0],
    ['rescale, negative slope, fractional', { kind: 'rescale', slope: -0.37, intercept: 900.25 }, 2e-4],
    ['table, non-monotonic', { kind: 'table', lut: zigzag }, 0],
  ];
  const vois: [string, VoiLut, RenderOptions][] = [
    ['LINEAR window', { ...NO_VOI, windows: [{ center: 1500, width: 1200 }] }, {}],
    [
      'LINEAR_EXACT window',
      { ...NO_VOI, function: 'LINEAR_EXACT', windows: [{ center: 300, width: 900 }] },
      {},
    ],
    ['SIGMOID window', { ...NO_VOI, function: 'SIGMOID', windows: [{ center: 1200, width: 800 }] }, {}],
    ['VOI table', { ...NO_VOI, tables: [voiTable] }, {}],
    ['percentile fallback', NO_VOI, {}],
    ['min-max', NO_VOI, { voi: 'minmax' }],
    ['2-98 percentiles', NO_VOI, { voi: { percentiles: [2, 98] } }],
  ];

  for (const [modalityName, modalityLut, tolerance] of modalities) {
    for (const [voiName, voi, options] of vois) {
      for (const samples of [stored, signedStored]) {
        for (const photometric of ['MONOCHROME1', 'MONOCHROME2'] as const) {
          const label = `${modalityName} + ${voiName}, ${samples.constructor.name}, ${photometric}`;
          it(label, () => {
            const frame = mono(samples, rows, columns, photometric);
            const info = { modalityLut, voi };
            const viaLut = renderMonochromeViaStoredValueLut(frame, info, options);
            expect(viaLut).toBeDefined();
            const perPixel = renderMonochromePerPixel(frame, info, options);
            expect(viaLut!.voiUsed.kind).toBe(perPixel.voiUsed.kind);
            // Exact statistics on both paths unless the rescale makes values non-integer, where
            // the per-pixel histogram is approximate (see percentileRange).
            expect(maxAbsDiff(viaLut!.values, perPixel.values)).toBeLessThanOrEqual(tolerance + 1e-6);
          });
        }
      }
    }
  }

  it('declines 32-bit samples; renderToDisplay renders them per pixel', () => {
    const wide = Int32Array.from({ length: 70_000 }, (_, i) => i * 3);
    const frame = mono(wide, 700, 100, 'MONOCHROME2', 18);
    const info = { modalityLut: IDENTITY, voi: NO_VOI };
    expect(renderMonochromeViaStoredValueLut(frame, info, { voi: 'minmax' })).toBeUndefined();
    const result = renderToDisplay(frame, info, { voi: 'minmax' });
    expect(result.values[0]).toBe(0);
    expect(result.values[69_999]).toBe(1);
    expect(result.values[35_000]).toBeCloseTo(105_000 / 209_997, 6);
  });
});

describe('renderToDisplay on full-size frames (stored-value LUT path)', () => {
  const rows = 256;
  const columns = 300;
  const rnd = mulberry32(11);
  const samples = Uint16Array.from({ length: rows * columns }, () => Math.round(rnd() * 1023));
  const info: RenderInfo = {
    modalityLut: { kind: 'rescale', slope: 2, intercept: -7 },
    voi: { windows: [{ center: 900, width: 700 }], tables: [], function: 'LINEAR' },
  };

  it('MONOCHROME1 equals 1 - MONOCHROME2', () => {
    const two = renderToDisplay(mono(samples, rows, columns, 'MONOCHROME2', 10), info);
    const one = renderToDisplay(mono(samples, rows, columns, 'MONOCHROME1', 10), info);
    expect(
      maxAbsDiff(
        one.values,
        two.values.map((v) => 1 - v),
      ),
    ).toBeLessThanOrEqual(1e-7);
    // Spot-check one pixel by hand: LINEAR lower = 900 - 0.5 - 349.5 = 550, y = (x - 550) / 699.
    const i = samples.findIndex((v) => v * 2 - 7 > 560 && v * 2 - 7 < 1240);
    expect(two.values[i]).toBeCloseTo((samples[i]! * 2 - 7 - 550) / 699, 6);
  });

  it('writes into a reused buffer and returns a view of the frame length', () => {
    const buffer = new Float32Array(rows * columns + 10);
    const result = renderToDisplay(mono(samples, rows, columns, 'MONOCHROME2', 10), info, {}, buffer);
    expect(result.values.buffer).toBe(buffer.buffer);
    expect(result.values.length).toBe(rows * columns);
    const fresh = renderToDisplay(mono(samples, rows, columns, 'MONOCHROME2', 10), info);
    expect(maxAbsDiff(result.values, fresh.values)).toBe(0);
  });

  it('RGB through the per-code table equals division by 2^bitsStored - 1', () => {
    const rgb = Uint16Array.from({ length: 256 * 256 * 3 }, (_, i) => (i * 37) % 4096);
    const frame: DecodedFrame = {
      rows: 256,
      columns: 256,
      samplesPerPixel: 3,
      photometricInterpretation: 'RGB',
      samples: rgb,
      bitsStored: 12,
      signed: false,
    };
    const result = renderToDisplay(frame, { modalityLut: IDENTITY, voi: NO_VOI });
    expect(result.channels).toBe(3);
    for (const i of [0, 1, 2, 1000, rgb.length - 1])
      expect(result.values[i]).toBe(Math.fround(rgb[i]! / 4095));
  });
});
