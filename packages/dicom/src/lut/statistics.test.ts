import { describe, expect, it } from 'vitest';

import {
  APPROXIMATE_HISTOGRAM_BINS,
  minMaxRange,
  minMaxWindow,
  percentileRange,
  percentilesOfSortedCounts,
  percentileWindow,
  windowFromRange,
} from './statistics.js';
import { mulberry32 } from '../testing/index.js';
import { applyWindow } from './voi.js';

/** numpy.percentile(values, p) with the default 'linear' method, by sorting: the reference. */
function referencePercentile(values: Float32Array, p: number): number {
  const sorted = Float64Array.from(values).sort();
  const h = (p / 100) * (sorted.length - 1);
  const k = Math.floor(h);
  const below = sorted[k]!;
  return h > k ? below + (h - k) * (sorted[k + 1]! - below) : below;
}

function shuffled(values: number[], seed: number): Float32Array {
  const rnd = mulberry32(seed);
  const out = Float32Array.from(values);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('windowFromRange / minMaxWindow', () => {
  it('builds the LINEAR window whose bounds are low and high', () => {
    expect(windowFromRange({ low: -2, high: 7 })).toEqual({ center: 3, width: 10 });
    const out = applyWindow(
      Float32Array.from([-2, 2.5, 7]),
      windowFromRange({ low: -2, high: 7 }),
      'LINEAR',
      {
        min: 0,
        max: 1,
      },
    );
    expect(Array.from(out)).toEqual([0, 0.5, 1]);
  });

  it('min-max ignores NaN and gives undefined when nothing is left', () => {
    const data = Float32Array.from([3, -2, Number.NaN, 7]);
    expect(minMaxRange(data)).toEqual({ low: -2, high: 7 });
    expect(minMaxWindow(data)).toEqual({ center: 3, width: 10 });
    expect(minMaxWindow(Float32Array.from([Number.NaN]))).toBeUndefined();
    expect(minMaxWindow(new Float32Array(0))).toBeUndefined();
  });

  it('a constant image gives a width-1 (threshold) window', () => {
    expect(minMaxWindow(Float32Array.from([5, 5]))).toEqual({ center: 5.5, width: 1 });
  });
});

describe('percentilesOfSortedCounts', () => {
  it('interpolates between neighbouring ranks like numpy', () => {
    // Sorted: 10, 10, 10, 20, 30 -> p50 rank 2 = 10; p75 rank 3 = 20; p90 rank 3.6 = 26.
    const [p50, p75, p90] = percentilesOfSortedCounts([10, 20, 30], [3, 1, 1], [50, 75, 90]);
    expect(p50).toBe(10);
    expect(p75).toBe(20);
    expect(p90).toBeCloseTo(26, 10);
  });
});

describe('percentileRange (histogram, O(n))', () => {
  it('0..999 in random order: p0.5 = 4.995 and p99.5 = 994.005 (hand-computed, numpy linear)', () => {
    const data = shuffled(
      Array.from({ length: 1000 }, (_, i) => i),
      1,
    );
    const range = percentileRange(data, 0.5, 99.5)!;
    expect(range.low).toBeCloseTo(4.995, 9);
    expect(range.high).toBeCloseTo(994.005, 9);
  });

  it('drops outliers: 5 pixels at -5000, 0..989, 5 pixels at 90000 -> p1 = 4.99, p99 = 984.01', () => {
    const values = [...Array<number>(5).fill(-5000), ...Array.from({ length: 990 }, (_, i) => i)];
    values.push(...Array<number>(5).fill(90000));
    const range = percentileRange(shuffled(values, 2), 1, 99)!;
    // Sorted ranks 0-4 are -5000, 5..994 are 0..989: h = 0.01 * 999 = 9.99 -> 4 + 0.99;
    // h = 989.01 -> 984 + 0.01.
    expect(range.low).toBeCloseTo(4.99, 9);
    expect(range.high).toBeCloseTo(984.01, 9);
    expect(percentileWindow(shuffled(values, 2), 1, 99)).toEqual(windowFromRange(range));
  });

  it('is exact for integer data (one bin per value) against a sort', () => {
    const rnd = mulberry32(3);
    const data = Float32Array.from({ length: 20_000 }, () => Math.round(-1024 + rnd() * rnd() * 4000));
    for (const [lo, hi] of [
      [0.5, 99.5],
      [2, 98],
      [0, 100],
      [50, 50],
    ] as const) {
      const range = percentileRange(data, lo, hi)!;
      expect(range.low).toBeCloseTo(referencePercentile(data, lo), 9);
      expect(range.high).toBeCloseTo(referencePercentile(data, hi), 9);
    }
  });

  it('float data (rescaled) is within (max - min) / 65536 of the sort-based value', () => {
    const rnd = mulberry32(4);
    const data = Float32Array.from({ length: 50_000 }, () => rnd() ** 3 * 0.731 - 0.2);
    const range = percentileRange(data, 0.5, 99.5)!;
    const tolerance = 0.731 / APPROXIMATE_HISTOGRAM_BINS;
    expect(Math.abs(range.low - referencePercentile(data, 0.5))).toBeLessThanOrEqual(tolerance);
    expect(Math.abs(range.high - referencePercentile(data, 99.5))).toBeLessThanOrEqual(tolerance);
  });

  it('integer data wider than the exact histogram is approximate within the same bound', () => {
    const rnd = mulberry32(5);
    const data = Float32Array.from({ length: 20_000 }, () => Math.round(rnd() * 3_000_000));
    const range = percentileRange(data, 1, 99)!;
    const full = minMaxRange(data)!;
    const tolerance = (full.high - full.low) / APPROXIMATE_HISTOGRAM_BINS;
    expect(Math.abs(range.low - referencePercentile(data, 1))).toBeLessThanOrEqual(tolerance);
    expect(Math.abs(range.high - referencePercentile(data, 99))).toBeLessThanOrEqual(tolerance);
  });

  it('percentiles 0 and 100 are exactly min and max on the approximate path', () => {
    const data = Float32Array.from([0.1, 0.7, -3.3, 2.9, Number.NaN]);
    expect(percentileRange(data, 0, 100)).toEqual(minMaxRange(data));
  });

  it('handles constant, NaN-only and empty inputs', () => {
    expect(percentileRange(Float32Array.from([7, 7, 7]), 0.5, 99.5)).toEqual({ low: 7, high: 7 });
    expect(percentileRange(Float32Array.from([Number.NaN]), 0.5, 99.5)).toBeUndefined();
    expect(percentileWindow(new Float32Array(0), 0.5, 99.5)).toBeUndefined();
  });

  it('rejects percentiles outside 0..100 or in the wrong order', () => {
    const data = Float32Array.from([1, 2]);
    expect(() => percentileRange(data, -1, 50)).toThrow(RangeError);
    expect(() => percentileRange(data, 60, 50)).toThrow(RangeError);
    expect(() => percentileRange(data, 0, 101)).toThrow(RangeError);
  });
});
