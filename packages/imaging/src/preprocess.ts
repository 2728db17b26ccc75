// Model input preprocessing: one decoded DICOM frame -> the input tensor a model bundle's
// manifest describes (ARCHITECTURE.md, "Model bundle"). Every constant comes from the manifest's
// `input` block; nothing about a particular model lives here.
import { performance } from 'node:perf_hooks';

import { maskHighBits, renderMonochromeShrunk, renderToDisplay } from '@cxr/dicom';
import type {
  DecodedFrame,
  DicomImageInfo,
  DisplayImage,
  FrameRegion,
  RenderOptions,
  VoiUsed,
} from '@cxr/dicom';
// Type-only: the manifest module pulls in zod at run time, and @cxr/model's main entry pulls in
// tfjs and onnxruntime, neither of which a decode worker should load.
import type { ManifestInput } from '@cxr/model/manifest';

import { borrowFrameBuffer, returnFrameBuffer } from './frame-buffers.js';
import { resizeBilinearJs, resizeGray } from './resize.js';

/** How step 1 turned stored values into [0,1] intensities: for logs, reports and drift checks. */
export interface IntensityUsed {
  /** The manifest's `input.intensity.method`. */
  readonly method: ManifestInput['intensity']['method'];
  /** The VOI transformation actually applied (a statistical fallback says why); 'none' for RGB. */
  readonly voiUsed: VoiUsed;
  /** True when MONOCHROME1 polarity was reversed, so bright means dense in every tensor. */
  readonly inverted: boolean;
  /**
   * 'monochrome': grey input; 'rgb-to-luma': RGB reduced to BT.601 luma for a 1-channel model;
   * 'rgb': RGB kept as R, G, B for a 3-channel model.
   */
  readonly colour: 'monochrome' | 'rgb-to-luma' | 'rgb';
}

/** Milliseconds per preprocessing step, measured in the calling thread. */
export interface PreprocessTimings {
  /** Modality LUT + VOI/statistical window + MONOCHROME1 inversion (or RGB scaling). */
  readonly intensityMs: number;
  /** Centre crop and, for RGB inputs, luma or plane extraction; ~0 when the crop is a view. */
  readonly cropMs: number;
  readonly resizeMs: number;
  /** Normalization, channel replication and layout, fused in one pass. */
  readonly normalizeMs: number;
}

/** The model input of one image. */
export interface PreprocessedImage {
  /** channels * size * size values in the manifest's layout (NHWC interleaved, NCHW planar). */
  readonly tensor: Float32Array;
  readonly timings: PreprocessTimings;
  readonly intensityUsed: IntensityUsed;
  /**
   * Mean and population standard deviation of every stored value of the frame, when the
   * intensity pass counted them on the way (decodeResolution 'auto', boxes covering the whole
   * frame): the drift features then need no pass of their own (imageFeaturesFromStoredMoments).
   */
  readonly storedMoments?: { readonly mean: number; readonly std: number };
}

/** A square region of a frame, in pixels. */
export interface SquareRegion {
  readonly left: number;
  readonly top: number;
  readonly side: number;
}

/** Values one image occupies in a model input tensor: channels * size * size. */
export function modelInputLength(input: Pick<ManifestInput, 'channels' | 'size'>): number {
  return input.channels * input.size * input.size;
}

/**
 * The central min(width, height) square. When the excess is odd the extra pixel is left on the
 * right (or bottom): left = floor((width - side) / 2). TorchXRayVision's XRayCenterCrop computes
 * width // 2 - side // 2, which is one pixel further right when both width and side are odd.
 */
export function centerSquare(width: number, height: number): SquareRegion {
  const side = Math.min(width, height);
  return { left: Math.floor((width - side) / 2), top: Math.floor((height - side) / 2), side };
}

/**
 * The LINEAR window (PS3.3 C.11.2.1.2.1) that maps the whole stored range of `bitsStored` bits
 * onto [0,1] exactly: 0 -> 0 and 2^bits - 1 -> 1 (signed: -2^(bits-1) -> 0 and 2^(bits-1) - 1 -> 1).
 */
export function storedRangeWindow(frame: Pick<DecodedFrame, 'bitsStored' | 'signed'>): {
  center: number;
  width: number;
} {
  const low = frame.signed ? -(2 ** (frame.bitsStored - 1)) : 0;
  const high = frame.signed ? 2 ** (frame.bitsStored - 1) - 1 : 2 ** frame.bitsStored - 1;
  // center - 0.5 = (low + high) / 2 and width - 1 = high - low: the window's line is
  // (x - low) / (high - low), with no half-code offset.
  return { center: (low + high) / 2 + 0.5, width: high - low + 1 };
}

/** Step 1's render options for each intensity method (see preprocessForModel). */
function renderOptionsFor(
  intensity: ManifestInput['intensity'],
  frame: Pick<DecodedFrame, 'bitsStored' | 'signed'>,
): RenderOptions {
  switch (intensity.method) {
    // The file's VOI (PS3.3 C.11.2 window, else VOI LUT table); without a usable one,
    // renderToDisplay's default fallback, the 0.5-99.5 percentile range.
    case 'dicom-window':
      return { voi: 'file' };
    case 'min-max':
      return { voi: 'minmax' };
    case 'percentiles':
      return { voi: { percentiles: [intensity.low, intensity.high] } };
    // Applied to the stored values: renderInfoFor drops the Modality LUT for this method.
    case 'bits-stored':
      return { voi: storedRangeWindow(frame) };
  }
}

/**
 * The LUT attributes step 1 applies: the file's, except for 'bits-stored', which scales the stored
 * values themselves as TorchXRayVision's read_xray_dcm does (it reads pixel_array, ignoring
 * Rescale Slope/Intercept and any Modality LUT table).
 */
function renderInfoFor(
  intensity: ManifestInput['intensity'],
  info: Pick<DicomImageInfo, 'modalityLut' | 'voi'>,
): Pick<DicomImageInfo, 'modalityLut' | 'voi'> {
  return intensity.method === 'bits-stored' ? { ...info, modalityLut: { kind: 'identity' } } : info;
}

/** Throws RangeError for an input block the pipeline cannot honour (a manifest that skipped validation). */
function checkInput(input: ManifestInput): void {
  if (!Number.isInteger(input.size) || input.size < 1) {
    throw new RangeError(`model input size must be a positive integer, got ${input.size}`);
  }
  const n = input.normalization;
  if (n.method === 'imagenet' && (n.mean.length !== input.channels || n.std.length !== input.channels)) {
    throw new RangeError(
      `imagenet normalization needs ${input.channels} mean and std value(s), got ${n.mean.length} and ${n.std.length}`,
    );
  }
}

/**
 * Copies (or, when possible, views) the region of interleaved [0,1] values as one or three
 * row-major planes: grey as is, RGB reduced to luma, or RGB split into R, G, B planes.
 */
function extractPlanes(
  values: Float32Array,
  width: number,
  region: { left: number; top: number; width: number; height: number },
  colour: IntensityUsed['colour'],
): Float32Array[] {
  const { left, top, width: w, height: h } = region;
  if (colour === 'monochrome') {
    // Whole rows (the full frame, or a square cut from a portrait frame) are contiguous: a view,
    // no copy of a frame that can be 20 MB.
    if (left === 0 && w === width) return [values.subarray(top * width, (top + h) * width)];
    const out = new Float32Array(w * h);
    for (let y = 0; y < h; y++) {
      const start = (top + y) * width + left;
      out.set(values.subarray(start, start + w), y * w);
    }
    return [out];
  }
  if (colour === 'rgb-to-luma') {
    // ITU-R BT.601 luma weights, as DICOM's YBR_FULL definition uses (PS3.3 C.7.6.3.1.2), the
    // same reduction as PIL's convert('L').
    const out = new Float32Array(w * h);
    for (let y = 0; y < h; y++) {
      let j = ((top + y) * width + left) * 3;
      for (let x = 0, i = y * w; x < w; x++, i++, j += 3) {
        out[i] = 0.299 * values[j]! + 0.587 * values[j + 1]! + 0.114 * values[j + 2]!;
      }
    }
    return [out];
  }
  const r = new Float32Array(w * h);
  const g = new Float32Array(w * h);
  const b = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    let j = ((top + y) * width + left) * 3;
    for (let x = 0, i = y * w; x < w; x++, i++, j += 3) {
      r[i] = values[j]!;
      g[i] = values[j + 1]!;
      b[i] = values[j + 2]!;
    }
  }
  return [r, g, b];
}

/**
 * Writes resized [0,1] planes into the model tensor: normalization per output channel, one grey
 * plane replicated to every channel when the model takes 3, in NHWC or NCHW order.
 */
function writeTensor(planes: readonly Float32Array[], input: ManifestInput): Float32Array {
  const { channels, layout, normalization } = input;
  const pixels = input.size * input.size;
  const tensor = new Float32Array(channels * pixels);
  // Channel c of pixel i sits at i * stepPixel + c * stepChannel.
  const stepPixel = layout === 'NHWC' ? channels : 1;
  const stepChannel = layout === 'NHWC' ? 1 : pixels;
  for (let c = 0; c < channels; c++) {
    const plane = planes.length === 1 ? planes[0]! : planes[c]!;
    let k = c * stepChannel;
    switch (normalization.method) {
      case 'unit':
        for (let i = 0; i < pixels; i++, k += stepPixel) tensor[k] = plane[i]!;
        break;
      case 'imagenet': {
        // Written as (v - mean) / std rather than v * (1/std) - mean/std so the result is
        // exactly what torchvision's Normalize computes from the same [0,1] value.
        const mean = normalization.mean[c]!;
        const std = normalization.std[c]!;
        for (let i = 0; i < pixels; i++, k += stepPixel) tensor[k] = (plane[i]! - mean) / std;
        break;
      }
      case 'xrv':
        // TorchXRayVision's datasets.normalize(img, maxval) computes (2 * img / maxval - 1) * 1024,
        // mapping [0, maxval] to [-1024, 1024]; with maxval 1 that is v * 2048 - 1024.
        for (let i = 0; i < pixels; i++, k += stepPixel) tensor[k] = plane[i]! * 2048 - 1024;
        break;
    }
  }
  return tensor;
}

/**
 * Turns a decoded frame into one model input tensor, from the manifest's `input` block alone.
 * Steps, in order:
 * 1. Intensity to [0,1], bright = dense. 'dicom-window': renderToDisplay with the file's VOI
 *    (modality LUT, then the VOI window or VOI LUT table of PS3.3 C.11.2, else the 0.5-99.5
 *    percentile range), then MONOCHROME1 inversion (PS3.4 N.2.1). 'min-max' and 'percentiles':
 *    modality LUT, then a LINEAR window over that range of the whole frame, then MONOCHROME1
 *    inversion. 'bits-stored': no Modality LUT, the stored values over their whole range,
 *    v / (2^bitsStored - 1), then MONOCHROME1 inversion (TorchXRayVision's read_xray_dcm).
 *    RGB frames get no LUT: samples / (2^bitsStored - 1); a 1-channel model gets
 *    BT.601 luma, a 3-channel model keeps R, G, B.
 * 2. Crop: 'center-square' keeps the central min(w,h) square (see centerSquare); 'none' keeps the
 *    whole frame, which step 3 then stretches to a square: the aspect ratio is NOT preserved,
 *    exactly as torchvision's Resize((s, s)) does.
 * 3. Resize to size x size with the manifest's filter (resizeGray: values stay in [0,1]).
 * 4. Normalization: 'unit' keeps [0,1]; 'imagenet' (v - mean[c]) / std[c] per channel; 'xrv'
 *    v * 2048 - 1024, TorchXRayVision's [-1024, 1024] scale.
 * 5. Channels: 1, or the grey plane replicated to 3 (normalized per channel, since ImageNet's
 *    statistics differ per channel).
 * 6. Layout: NHWC (channels interleaved per pixel) or NCHW (one plane per channel).
 */
export async function preprocessForModel(
  decoded: DecodedFrame,
  info: Pick<DicomImageInfo, 'modalityLut' | 'voi'>,
  input: ManifestInput,
): Promise<PreprocessedImage> {
  let frame = decoded;
  checkInput(input);
  const t0 = performance.now();
  // Step 1's full-frame values (20 MB for 2048x2500) go to a reused buffer (frame-buffers.ts);
  // sharp reads its input asynchronously, so it is lent until every resize has finished.
  const scratch = borrowFrameBuffer(frame.rows * frame.columns * frame.samplesPerPixel);
  let rendered: DisplayImage;
  let colour: IntensityUsed['colour'];
  let resized: Float32Array[];
  let t1: number;
  let t2: number;
  try {
    // A frame decoded with deferHighBitCheck is checked by the fused pass. When that pass does not
    // apply, or finds bits above Bits Stored, the frame is checked and masked here, and the same
    // path runs again on the masked samples, before anything else reads them.
    let fast = await shrinkThenResize(frame, info, input, scratch, t0);
    if (fast === undefined && frame.highBitsUnchecked === true) {
      frame = maskHighBits(frame);
      fast = await shrinkThenResize(frame, info, input, scratch, t0);
    }
    if (fast !== undefined) return fast;
    rendered = renderToDisplay(
      frame,
      renderInfoFor(input.intensity, info),
      renderOptionsFor(input.intensity, frame),
      scratch,
    );
    colour = rendered.channels === 1 ? 'monochrome' : input.channels === 1 ? 'rgb-to-luma' : 'rgb';
    t1 = performance.now();

    const { columns: width, rows: height } = frame;
    const square = input.crop === 'center-square' ? centerSquare(width, height) : undefined;
    const region =
      square === undefined
        ? { left: 0, top: 0, width, height }
        : { left: square.left, top: square.top, width: square.side, height: square.side };
    const planes = extractPlanes(rendered.values, width, region, colour);
    t2 = performance.now();

    resized = await Promise.all(
      planes.map((plane) => resizeGray(plane, region.width, region.height, input.size, input.resize)),
    );
  } finally {
    returnFrameBuffer(scratch);
  }
  const t3 = performance.now();

  const tensor = writeTensor(resized, input);
  const t4 = performance.now();
  return {
    tensor,
    timings: { intensityMs: t1 - t0, cropMs: t2 - t1, resizeMs: t3 - t2, normalizeMs: t4 - t3 },
    intensityUsed: {
      method: input.intensity.method,
      voiUsed: rendered.voiUsed,
      inverted: rendered.inverted,
      colour,
    },
  };
}

/**
 * The integer box factor applied before the final resize of a `from`-pixel side to `to` pixels:
 * floor(from / to), at least 1, so the box average (an area resize by an integer factor) does
 * most of a large reduction and the manifest's filter only the remaining factor, below 2.
 * 1 means no box step.
 */
export function boxShrinkFactor(from: number, to: number): number {
  return Math.max(1, Math.floor(from / to));
}

/**
 * decodeResolution 'auto' for monochrome frames: intensity and the box step of a large
 * reduction fused in one pass over the stored samples (renderMonochromeShrunk), so the
 * full-size display values are never written, then the manifest's filter over the remaining
 * factor. Returns undefined when this path does not apply (decodeResolution 'full', nearest,
 * colour, 32-bit or float samples, a reduction below 2x the box on both axes).
 */
async function shrinkThenResize(
  frame: DecodedFrame,
  info: Pick<DicomImageInfo, 'modalityLut' | 'voi'>,
  input: ManifestInput,
  scratch: Float32Array,
  t0: number,
): Promise<PreprocessedImage | undefined> {
  if ((input.decodeResolution ?? 'auto') === 'full' || input.resize === 'nearest') return undefined;
  if (frame.samplesPerPixel !== 1) return undefined;
  const { columns: width, rows: height } = frame;
  const square = input.crop === 'center-square' ? centerSquare(width, height) : undefined;
  const region: FrameRegion =
    square === undefined
      ? { left: 0, top: 0, width, height }
      : { left: square.left, top: square.top, width: square.side, height: square.side };
  const kx = boxShrinkFactor(region.width, input.size);
  const ky = boxShrinkFactor(region.height, input.size);
  if (kx === 1 && ky === 1) return undefined;
  const shrunk = renderMonochromeShrunk(
    frame,
    renderInfoFor(input.intensity, info),
    renderOptionsFor(input.intensity, frame),
    region,
    kx,
    ky,
    scratch,
    true,
  );
  if (shrunk === undefined) return undefined;
  const t1 = performance.now();
  // Bilinear in JavaScript (sharp's fixed cost per call is most of the work at this size);
  // the other filters through sharp.
  const resized =
    input.resize === 'bilinear'
      ? resizeBilinearJs(shrunk.values, shrunk.width, shrunk.height, input.size)
      : await resizeGray(shrunk.values, shrunk.width, shrunk.height, input.size, input.resize);
  const t2 = performance.now();
  const tensor = writeTensor([resized], input);
  const t3 = performance.now();
  return {
    tensor,
    timings: { intensityMs: t1 - t0, cropMs: 0, resizeMs: t2 - t1, normalizeMs: t3 - t2 },
    intensityUsed: {
      method: input.intensity.method,
      voiUsed: shrunk.voiUsed,
      inverted: shrunk.inverted,
      colour: 'monochrome',
    },
    ...(shrunk.storedMoments === undefined ? {} : { storedMoments: shrunk.storedMoments }),
  };
}

/**
 * Concatenates single-image tensors into one batch tensor. NHWC and NCHW are both batch-major
 * (image n occupies [n * len, (n + 1) * len)), so a batch is the images one after another.
 * Throws RangeError for an empty list or a tensor that is not channels * size * size long.
 */
export function packBatch(tensors: readonly Float32Array[], input: ManifestInput): Float32Array {
  if (tensors.length === 0) throw new RangeError('packBatch: a batch needs at least one image');
  const length = modelInputLength(input);
  tensors.forEach((tensor, i) => {
    if (tensor.length !== length) {
      throw new RangeError(
        `packBatch: image ${i} has ${tensor.length} values, expected ${length} (${input.channels} x ${input.size} x ${input.size})`,
      );
    }
  });
  const batch = new Float32Array(tensors.length * length);
  tensors.forEach((tensor, i) => {
    batch.set(tensor, i * length);
  });
  return batch;
}
