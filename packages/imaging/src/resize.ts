import sharp from 'sharp';

/** Interpolation filters the pipeline offers; model manifests name one of these. */
export const RESIZE_FILTERS = ['nearest', 'bilinear', 'cubic', 'lanczos3'] as const;

export type ResizeFilter = (typeof RESIZE_FILTERS)[number];

// Our names are the ones model papers use; sharp calls bilinear "linear".
const SHARP_KERNEL: Record<ResizeFilter, 'nearest' | 'linear' | 'cubic' | 'lanczos3'> = {
  nearest: 'nearest',
  bilinear: 'linear',
  cubic: 'cubic',
  lanczos3: 'lanczos3',
};

// libvips tags 1-band float input as grey16 and casts the result to ushort on output (fractions
// truncated, out-of-range values clamped), so the resampled values are scaled to [0, 65535] by
// `linear` inside the pipeline, with +0.5 to turn the truncation into rounding. Resampling itself
// stays in float; ushort input would take libvips' fixed-point path (a constant image came back
// +-12 counts off). Scaling in libvips instead of a JS pass over the input: 110 -> 24 ms for
// 2048x2500 -> 512. 1/65535 is far below any model's input noise.
const SCALE = 65535;

/**
 * Limits libvips (sharp's resize) to `threads` threads in this thread's process, e.g. 1 to
 * measure one core's worth of work; the decode pool's workers set it from `vipsConcurrency`.
 */
export function setResizeConcurrency(threads: number): void {
  sharp.concurrency(threads);
}

/** Whether a string names a supported resize filter. */
export function isResizeFilter(value: string): value is ResizeFilter {
  return (RESIZE_FILTERS as readonly string[]).includes(value);
}

/**
 * Resizes a one-channel image of values in [0,1] (row-major, width x height) to size x size
 * with sharp, stretching to fill (no aspect-preserving crop or pad; that is the model manifest's
 * job). Returns size * size values clamped to [0,1]; lanczos3 and cubic ring at edges.
 * Values are quantised to 1/65535. Downscaling is centre-aligned; libvips' upsampling is shifted
 * by half an output pixel. A NaN input zeroes the outputs whose kernel covers it.
 */
export async function resizeGray(
  values: Float32Array,
  width: number,
  height: number,
  size: number,
  filter: ResizeFilter,
): Promise<Float32Array> {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`resizeGray: width and height must be positive integers, got ${width}x${height}`);
  }
  if (!Number.isInteger(size) || size < 1) {
    throw new RangeError(`resizeGray: size must be a positive integer, got ${size}`);
  }
  if (values.length !== width * height) {
    throw new RangeError(
      `resizeGray: expected ${width * height} values for ${width}x${height}, got ${values.length}`,
    );
  }
  const out = await sharp(values, { raw: { width, height, channels: 1 } })
    .resize(size, size, { fit: 'fill', kernel: SHARP_KERNEL[filter] })
    .linear(SCALE, 0.5)
    .toColourspace('grey16')
    .raw({ depth: 'ushort' })
    .toBuffer({ resolveWithObject: true });
  if (out.info.width !== size || out.info.height !== size || out.info.channels !== 1) {
    throw new Error(
      `resizeGray: sharp returned ${out.info.width}x${out.info.height}x${out.info.channels}, expected ${size}x${size}x1`,
    );
  }
  // sharp's Buffer may sit at an odd offset in a pooled slab; copy into an aligned view.
  const counts = new Uint16Array(size * size);
  new Uint8Array(counts.buffer).set(out.data.subarray(0, counts.byteLength));
  const result = new Float32Array(counts.length);
  for (let i = 0; i < counts.length; i++) result[i] = counts[i]! / SCALE;
  return result;
}
