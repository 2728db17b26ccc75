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

/** Per output index: the first input index and the normalised weights of its taps. */
interface Taps {
  readonly start: Int32Array;
  readonly count: Int32Array;
  /** `maxTaps` weights per output index. */
  readonly weights: Float32Array;
  readonly maxTaps: number;
}

/**
 * Triangle (bilinear) filter taps from `from` samples to `to`, centre-aligned, the support
 * widened by the reduction factor so that every input sample contributes (PIL's and libvips'
 * antialiased bilinear reduction); taps past the edges are dropped and the rest renormalised.
 */
function triangleTaps(from: number, to: number): Taps {
  const scale = from / to;
  const support = Math.max(1, scale);
  const maxTaps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(to);
  const count = new Int32Array(to);
  const weights = new Float32Array(to * maxTaps);
  for (let i = 0; i < to; i++) {
    const centre = (i + 0.5) * scale;
    const lo = Math.max(0, Math.floor(centre - support));
    const hi = Math.min(from, Math.ceil(centre + support));
    let total = 0;
    let n = 0;
    for (let j = lo; j < hi && n < maxTaps; j++, n++) {
      const w = Math.max(0, 1 - Math.abs((j + 0.5 - centre) / support));
      weights[i * maxTaps + n] = w;
      total += w;
    }
    for (let k = 0; k < n; k++) weights[i * maxTaps + k] = weights[i * maxTaps + k]! / total;
    start[i] = lo;
    count[i] = n;
  }
  return { start, count, weights, maxTaps };
}

/**
 * Bilinear resize of one channel to size x size in JavaScript, separable (rows, then columns):
 * the same centre-aligned triangle filter as libvips' and PIL's bilinear reduction, for the
 * small images the fused box step leaves (about 1024 x 1250 for a CR to 512), where sharp's
 * fixed cost per call would dominate. Values are not quantised; inputs in [0,1] stay in [0,1].
 */
export function resizeBilinearJs(
  values: Float32Array,
  width: number,
  height: number,
  size: number,
): Float32Array {
  if (values.length !== width * height) {
    throw new RangeError(
      `resizeBilinearJs: expected ${width * height} values for ${width}x${height}, got ${values.length}`,
    );
  }
  const h = triangleTaps(width, size);
  const v = triangleTaps(height, size);
  // Rows first: height x size intermediate values (the input itself when the width is kept).
  const mid = width === size ? values : new Float32Array(height * size);
  for (let y = 0; y < height && mid !== values; y++) {
    const row = y * width;
    const o = y * size;
    for (let x = 0; x < size; x++) {
      const s = row + h.start[x]!;
      const wBase = x * h.maxTaps;
      const n = h.count[x]!;
      let acc = 0;
      for (let k = 0; k < n; k++) acc += values[s + k]! * h.weights[wBase + k]!;
      mid[o + x] = acc;
    }
  }
  if (height === size) return mid === values ? values.slice() : mid;
  const out = new Float32Array(size * size);
  for (let y = 0; y < size; y++) {
    const s0 = v.start[y]!;
    const n = v.count[y]!;
    const wBase = y * v.maxTaps;
    const o = y * size;
    for (let k = 0; k < n; k++) {
      const w = v.weights[wBase + k]!;
      const src = (s0 + k) * size;
      for (let x = 0; x < size; x++) out[o + x] = out[o + x]! + mid[src + x]! * w;
    }
  }
  return out;
}
