import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DecodePool } from './decode-pool.js';
import { runDecodeTask } from './decode-task.js';
import { thumbnailValues } from './png.js';
import { gradientSamples, writeNativeDicom } from './testing/native-dicom.js';

const WINDOW = { center: 2048, width: 4096 };
const portrait = writeNativeDicom({
  rows: 500,
  columns: 400,
  bitsStored: 12,
  samples: gradientSamples(500, 400, 12),
  window: WINDOW,
});

function mean(values: Float32Array): number {
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

describe('thumbnail decode output', () => {
  it('reduces the display image to the size on its longest side, keeping the aspect ratio', async () => {
    const display = await runDecodeTask(portrait, { output: 'display' });
    const thumb = await runDecodeTask(portrait, { output: { thumbnail: { size: 128 } } });
    expect([thumb.width, thumb.height, thumb.channels]).toEqual([102, 128, 1]);
    expect(thumb.pixels).toHaveLength(102 * 128);
    // 8-bit display values: multiples of 1/255 within [0,1].
    expect(
      thumb.pixels.every((v) => v >= 0 && v <= 1 && Math.abs(v * 255 - Math.round(v * 255)) < 1e-4),
    ).toBe(true);
    // The same picture: the gradient still runs from the top-left corner to the bottom-right one.
    expect(Math.abs(mean(thumb.pixels) - mean(display.pixels))).toBeLessThan(0.01);
    expect(thumb.pixels[0]!).toBeLessThan(thumb.pixels[thumb.pixels.length - 1]!);
    expect(thumb.display).toEqual(display.display);
  });

  it('never enlarges a small image, and inverts MONOCHROME1 like the display rendering', async () => {
    const tiny = writeNativeDicom({
      rows: 40,
      columns: 30,
      bitsStored: 12,
      samples: gradientSamples(40, 30, 12),
      window: WINDOW,
      photometric: 'MONOCHROME1',
    });
    const thumb = await runDecodeTask(tiny, { output: { thumbnail: { size: 256 } } });
    expect([thumb.width, thumb.height]).toEqual([30, 40]);
    expect(thumb.display?.inverted).toBe(true);
    expect(thumb.pixels[0]!).toBeGreaterThan(thumb.pixels[thumb.pixels.length - 1]!);
  });

  it('keeps three channels for colour display values', async () => {
    const rgb = new Float32Array(4 * 2 * 3);
    for (let i = 0; i < 8; i++) rgb.set([1, 0, 0.5], i * 3);
    const out = await thumbnailValues(rgb, { width: 4, height: 2, channels: 3, size: 2 });
    expect([out.width, out.height]).toEqual([2, 1]);
    expect(Array.from(out.values).map((v) => Math.round(v * 255))).toEqual([255, 0, 128, 255, 0, 128]);
  });

  describe('in the decode pool', () => {
    let pool: DecodePool;
    beforeAll(() => {
      pool = new DecodePool({ threads: 1 });
    });
    afterAll(async () => {
      await pool.close({ drain: false });
    });

    it('renders off the calling thread with the same result', async () => {
      const direct = await runDecodeTask(portrait, { output: { thumbnail: { size: 64 } } });
      const pooled = await pool.decode(portrait, { output: { thumbnail: { size: 64 } } });
      expect([pooled.width, pooled.height]).toEqual([direct.width, direct.height]);
      expect(Array.from(pooled.pixels)).toEqual(Array.from(direct.pixels));
    });
  });
});
