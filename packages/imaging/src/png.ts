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
