/**
 * A display image with a text banner below it, as 8-bit pixels: the picture of a findings summary
 * (a DICOM Secondary Capture for PACS viewers that do not display SR). The banner is appended
 * under the image, never drawn over it, and holds only the text it is given.
 */
import sharp from 'sharp';
import { toDisplayBytes, type DisplayImageShape } from './png.js';

/** The banner's text: heading lines across the full width, then items laid out in columns. */
export interface BannerText {
  readonly heading: readonly string[];
  readonly items: readonly string[];
}

/** 8-bit pixels, row-major, interleaved RGB when channels is 3. */
export interface BannerImage {
  readonly pixels: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3;
}

// DejaVu Sans (Debian fonts-dejavu-core) is what fontconfig finds on the images we build; an
// average glyph is about 0.6 em wide, which sizes the text so that the longest line fits.
const FONT_FAMILY = 'DejaVu Sans';
const GLYPH_WIDTH_EM = 0.6;
const LINE_HEIGHT_EM = 1.35;
const ITEMS_PER_COLUMN = 6;
const MAX_COLUMNS = 3;

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The banner as an SVG of the image's width, and its height. */
function bannerSvg(text: BannerText, width: number): { svg: string; height: number } {
  const columns = Math.min(MAX_COLUMNS, Math.max(1, Math.ceil(text.items.length / ITEMS_PER_COLUMN)));
  const perColumn = Math.ceil(text.items.length / columns);
  const margin = Math.max(4, Math.round(width / 100));
  const columnWidth = (width - 2 * margin) / columns;
  const widest = (lines: readonly string[], room: number): number =>
    Math.min(...lines.map((line) => room / (GLYPH_WIDTH_EM * Math.max(line.length, 1))));
  // Readable at a glance (1/40 of the width), smaller only to fit the longest line, never under 9 px.
  const fontSize = Math.max(
    9,
    Math.floor(
      Math.min(
        width / 40,
        widest(text.heading, width - 2 * margin),
        widest(text.items, columnWidth - margin),
      ),
    ),
  );
  const lineHeight = Math.round(fontSize * LINE_HEIGHT_EM);
  const rows = text.heading.length + perColumn;
  const height = rows * lineHeight + 2 * margin;
  const baseline = (row: number): number => margin + row * lineHeight + fontSize;
  const lines = [
    ...text.heading.map((line, row) => ({ x: margin, y: baseline(row), line })),
    ...text.items.map((line, i) => ({
      x: Math.round(margin + Math.floor(i / perColumn) * columnWidth),
      y: baseline(text.heading.length + (i % perColumn)),
      line,
    })),
  ];
  const body = lines.map(({ x, y, line }) => `<text x="${x}" y="${y}">${escapeXml(line)}</text>`).join('');
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
    `<rect width="100%" height="100%" fill="black"/>` +
    `<g font-family="${FONT_FAMILY}" font-size="${fontSize}" fill="white">${body}</g></svg>`;
  return { svg, height };
}

/**
 * Display values in [0,1] (see renderToDisplay) resized so the longest side is `shape.size`, with
 * the banner appended below: grey stays one channel, RGB three.
 */
export async function renderImageWithBanner(
  values: Float32Array,
  shape: DisplayImageShape,
  text: BannerText,
): Promise<BannerImage> {
  const { width, height, channels, size } = shape;
  const scale = size / Math.max(width, height);
  const outWidth = Math.max(1, Math.round(width * scale));
  const outHeight = Math.max(1, Math.round(height * scale));
  const banner = bannerSvg(text, outWidth);
  // sharp extends after resizing and composites last, whatever the call order.
  const { data, info } = await sharp(toDisplayBytes(values, shape), { raw: { width, height, channels } })
    .resize(outWidth, outHeight, { kernel: 'lanczos3' })
    .extend({ bottom: banner.height, background: { r: 0, g: 0, b: 0 } })
    .composite([{ input: Buffer.from(banner.svg), top: outHeight, left: 0 }])
    .toColourspace(channels === 1 ? 'b-w' : 'srgb')
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== channels || info.width !== outWidth || info.height !== outHeight + banner.height) {
    throw new Error(
      `banner image came out ${info.width}x${info.height}x${info.channels}, expected ${channels} channel(s)`,
    );
  }
  const pixels = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  // librsvg draws no text when fontconfig finds no font at all: a summary whose banner lost its
  // findings must not be sent, so a banner without a single bright pixel is an error.
  if (!pixels.subarray(outWidth * outHeight * channels).some((v) => v > 127)) {
    throw new Error('the banner text did not render: no font found (install fonts-dejavu-core)');
  }
  return {
    pixels,
    width: info.width,
    height: info.height,
    channels,
  };
}
