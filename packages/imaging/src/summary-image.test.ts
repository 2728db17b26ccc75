import { describe, expect, it } from 'vitest';
import { renderImageWithBanner } from './summary-image.js';

describe('renderImageWithBanner', () => {
  const grey = new Float32Array(40 * 20).fill(0.5);

  it('resizes to the longest side and appends a black banner with white text below, one channel', async () => {
    const out = await renderImageWithBanner(
      grey,
      { width: 40, height: 20, channels: 1, size: 400 },
      { heading: ['AI screening, not a diagnosis'], items: ['a 0.1', 'b 0.9 POSITIVE'] },
    );
    expect(out.channels).toBe(1);
    expect(out.width).toBe(400);
    expect(out.height).toBeGreaterThan(200);
    expect(out.pixels.length).toBe(out.width * out.height);
    // The image keeps its grey (0.5 -> 128); the banner is black with some white text.
    expect(out.pixels[100 * 400 + 200]).toBe(128);
    const banner = out.pixels.subarray(200 * 400);
    expect(banner.filter((v) => v > 200).length).toBeGreaterThan(50);
    expect(banner.filter((v) => v < 30).length).toBeGreaterThan(banner.length / 2);
  });

  it('keeps RGB as three channels and escapes markup in the text', async () => {
    const rgb = new Float32Array(20 * 20 * 3).fill(0.25);
    const out = await renderImageWithBanner(
      rgb,
      { width: 20, height: 20, channels: 3, size: 200 },
      { heading: ['<b>&"\'</b>'], items: Array.from({ length: 14 }, (_, i) => `label_${i} 0.5`) },
    );
    expect(out.channels).toBe(3);
    expect(out.pixels.length).toBe(out.width * out.height * 3);
    expect(out.pixels[0]).toBe(64);
  });

  it('refuses a banner in which no text rendered (a summary must not lose its findings)', async () => {
    await expect(
      renderImageWithBanner(
        grey,
        { width: 40, height: 20, channels: 1, size: 100 },
        { heading: [], items: [] },
      ),
    ).rejects.toThrow('the banner text did not render');
  });
});
