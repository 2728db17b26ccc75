import { describe, expect, it } from 'vitest';

import { RESIZE_FILTERS, resizeGray } from './resize.js';

function checkerboard(n: number): Float32Array {
  const out = new Float32Array(n * n);
  for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) out[y * n + x] = (x + y) % 2;
  return out;
}

describe('resizeGray', () => {
  it.each(RESIZE_FILTERS)('keeps a constant image constant (%s)', async (filter) => {
    const out = await resizeGray(new Float32Array(40 * 30).fill(0.3), 40, 30, 7, filter);
    expect(out).toHaveLength(49);
    for (const v of out) expect(v).toBeCloseTo(0.3, 4);
  });

  it('averages a checkerboard to 0.5 on a 2x bilinear downscale (away from the border)', async () => {
    const n = 16;
    const out = await resizeGray(checkerboard(n), n, n, n / 2, 'bilinear');
    const m = n / 2;
    for (let y = 1; y < m - 1; y++) {
      for (let x = 1; x < m - 1; x++) expect(out[y * m + x]).toBeCloseTo(0.5, 4);
    }
  });

  it('picks source pixels with nearest (a 2x downscale of a checkerboard is uniform)', async () => {
    const out = await resizeGray(checkerboard(8), 8, 8, 4, 'nearest');
    const first = out[0]!;
    expect(first === 0 || first === 1).toBe(true);
    for (const v of out) expect(v).toBe(first);
  });

  it('keeps orientation: a left-dark/right-bright image stays so after resizing', async () => {
    const w = 64;
    const h = 48;
    const input = new Float32Array(w * h);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) input[y * w + x] = x / (w - 1);
    const out = await resizeGray(input, w, h, 16, 'bilinear');
    for (let y = 0; y < 16; y++) {
      const row = out.subarray(y * 16, y * 16 + 16);
      expect(row[0]!).toBeLessThan(0.05);
      expect(row[15]!).toBeGreaterThan(0.95);
      for (let x = 1; x < 16; x++) expect(row[x]!).toBeGreaterThanOrEqual(row[x - 1]!);
    }
  });

  it('clamps the overshoot of lanczos3 at a hard edge to [0,1]', async () => {
    const w = 32;
    const input = new Float32Array(w * w);
    for (let y = 0; y < w; y++) for (let x = 0; x < w; x++) input[y * w + x] = x < w / 2 ? 0 : 1;
    const out = await resizeGray(input, w, w, 12, 'lanczos3');
    expect(Math.min(...out)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...out)).toBeLessThanOrEqual(1);
    expect(out[0]).toBe(0);
    expect(out[11]).toBe(1);
  });

  it('downscales centre-aligned: output pixel i covers input pixels 4i..4i+3', async () => {
    // A horizontal ramp value = x / 64; a 4x bilinear reduction of pixels 4i..4i+3 has mean 4i + 1.5.
    const n = 64;
    const input = new Float32Array(n * n);
    for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) input[y * n + x] = x / n;
    const out = await resizeGray(input, n, n, 16, 'bilinear');
    // Column 0 is pulled up by edge extension; the interior is exact.
    for (let i = 1; i < 15; i++) expect(out[8 * 16 + i]! * n).toBeCloseTo(4 * i + 1.5, 1);
  });

  it('upsamples monotonically within the input range', async () => {
    // libvips' upsampling is not centre-aligned (a 2->4 ramp gives 0, 0, 0.5, 1, i.e. shifted by
    // half an output pixel), so this pins only what holds for any alignment.
    const out = await resizeGray(new Float32Array([0, 1, 0, 1]), 2, 2, 4, 'bilinear');
    for (let y = 0; y < 4; y++) {
      expect(out[y * 4]).toBe(0);
      expect(out[y * 4 + 3]).toBe(1);
      for (let x = 1; x < 4; x++) expect(out[y * 4 + x]!).toBeGreaterThanOrEqual(out[y * 4 + x - 1]!);
    }
  });

  it('rejects a size that does not match the values', async () => {
    await expect(resizeGray(new Float32Array(10), 4, 4, 2, 'bilinear')).rejects.toThrow(RangeError);
  });
});

describe('resizeGray input outside [0,1]', () => {
  it('clamps the result, not wraps it', async () => {
    const input = new Float32Array(16 * 16);
    for (let i = 0; i < input.length; i++) input[i] = i < 128 ? -0.5 : 1.5;
    const out = await resizeGray(input, 16, 16, 4, 'bilinear');
    expect(out[0]).toBe(0);
    expect(out[15]).toBe(1);
    for (const v of out) expect(v >= 0 && v <= 1).toBe(true);
  });
});
