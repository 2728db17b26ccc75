import sharp from 'sharp';

export interface DisplayImageShape {
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3;
  /** Longest side of the output; the aspect ratio is kept. */
  readonly size: number;
}

/** Display values in [0,1] (row-major, interleaved for RGB) as 8-bit samples, clamped. */
export function toDisplayBytes(values: Float32Array, shape: Omit<DisplayImageShape, 'size'>): Uint8Array {
  const { width, height, channels } = shape;
  if (values.length !== width * height * channels) {
    throw new RangeError(`expected ${width * height * channels} values, got ${values.length}`);
  }
  const bytes = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    bytes[i] = v <= 0 ? 0 : v >= 1 ? 255 : Math.round(v * 255);
  }
  return bytes;
}

/** Encodes display values in [0,1] (row-major, interleaved for RGB) as an 8-bit PNG for people to look at. */
export async function encodeDisplayPng(values: Float32Array, shape: DisplayImageShape): Promise<Buffer> {
  const { width, height, channels, size } = shape;
  const bytes = toDisplayBytes(values, shape);
  const scale = size / Math.max(width, height);
  return sharp(bytes, { raw: { width, height, channels } })
    .resize(Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale)), {
      kernel: 'lanczos3',
    })
    .png()
    .toBuffer();
}

/** A thumbnail's display values and size (see thumbnailValues). */
export interface ThumbnailValues {
  /** Values in [0,1] (multiples of 1/255), row-major, interleaved for RGB. */
  readonly values: Float32Array;
  readonly width: number;
  readonly height: number;
}

/**
 * Display values in [0,1] reduced so that the longest side is at most `size` pixels: aspect
 * ratio and channels kept, never enlarged, 8-bit (what a screen shows). Nothing is drawn on it.
 */
export async function thumbnailValues(
  values: Float32Array,
  shape: DisplayImageShape,
): Promise<ThumbnailValues> {
  const { width, height, channels, size } = shape;
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`thumbnail size must be a positive integer, got ${size}`);
  const scale = Math.min(1, size / Math.max(width, height));
  const outWidth = Math.max(1, Math.round(width * scale));
  const outHeight = Math.max(1, Math.round(height * scale));
  const { data, info } = await sharp(toDisplayBytes(values, shape), { raw: { width, height, channels } })
    .resize(outWidth, outHeight, { fit: 'fill', kernel: 'lanczos3' })
    // sharp makes one band three (sRGB) unless told otherwise.
    .toColourspace(channels === 1 ? 'b-w' : 'srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.width !== outWidth || info.height !== outHeight || info.channels !== channels) {
    throw new Error(
      `thumbnail came out ${info.width}x${info.height}x${info.channels}, expected ${outWidth}x${outHeight}x${channels}`,
    );
  }
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i]! / 255;
  return { values: out, width: outWidth, height: outHeight };
}

/** Encodes thumbnail values (thumbnailValues) as they are: a grey PNG stays one channel. */
export async function encodeThumbnailPng(
  values: Float32Array,
  shape: Omit<DisplayImageShape, 'size'>,
): Promise<Buffer> {
  const { width, height, channels } = shape;
  return sharp(toDisplayBytes(values, shape), { raw: { width, height, channels } })
    .toColourspace(channels === 1 ? 'b-w' : 'srgb')
    .png()
    .toBuffer();
}
