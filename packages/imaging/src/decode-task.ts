import { performance } from 'node:perf_hooks';

import { applyModalityLut, decodeFrame, renderToDisplay } from '@cxr/dicom';
import type {
  DecodedFrame,
  DicomImageInfo,
  DisplayImage,
  FrameSamples,
  RenderOptions,
  SampleAllocator,
} from '@cxr/dicom';
import type { InputLayout, ManifestAccept, ManifestInput } from '@cxr/model/manifest';

import { checkApplicability } from './applicability.js';
import {
  borrowFrameBuffer,
  borrowSampleCache,
  returnFrameBuffer,
  returnSampleCache,
} from './frame-buffers.js';
import { imageFeatures, imageFeaturesFromStoredMoments, type ImageFeatures } from './image-features.js';
import { thumbnailValues } from './png.js';
import { preprocessForModel } from './preprocess.js';
import type { IntensityUsed } from './preprocess.js';
import { resizeGray } from './resize.js';
import type { ResizeFilter } from './resize.js';

/** A resize to a square model input after rendering to display values. */
export interface ResizeOutput {
  readonly size: number;
  /** Defaults to 'bilinear'. */
  readonly filter?: ResizeFilter;
  readonly display?: RenderOptions;
}

/** A picture for people (a worklist thumbnail): display values reduced to at most size x size, aspect kept. */
export interface ThumbnailOutput {
  /** Longest side in pixels; smaller images keep their size. */
  readonly size: number;
  readonly display?: RenderOptions;
}

/** The model input tensor a bundle's manifest describes (see preprocessForModel). */
export interface ModelOutput {
  readonly model: ManifestInput;
  /**
   * Which images the model applies to (acceptRulesOf(manifest)), checked on the header before any
   * pixel is decoded: others are rejected `not_applicable`. null: no check (benchmarks, tests).
   */
  readonly accept: ManifestAccept | null;
}

/**
 * What a decode task returns:
 * - 'stored': the decoded frame's stored values (no LUT);
 * - 'modality': modality LUT applied (PS3.3 C.11.1), e.g. Hounsfield units for CT;
 * - 'display': modality + VOI LUT + MONOCHROME1 inversion, values in [0,1];
 * - { resize }: display values resized to size x size, values in [0,1];
 * - { model }: the model input tensor for one image, in the manifest's layout (preprocessForModel);
 * - { thumbnail }: display values, longest side at most `size`, aspect ratio and channels kept,
 *   8-bit (thumbnailValues).
 */
export type DecodeOutput =
  | 'stored'
  | 'modality'
  | 'display'
  | { readonly resize: ResizeOutput }
  | ModelOutput
  | { readonly thumbnail: ThumbnailOutput };

/** One decode task: which frame and what to make of it. */
export interface DecodeRequest<O extends DecodeOutput = DecodeOutput> {
  /** Frame index, 0-based; defaults to 0. */
  readonly frame?: number;
  readonly output: O;
  /** Options for the display rendering of `output: 'display'`. */
  readonly display?: RenderOptions;
  /** Rows x Columns above this are rejected (`image_too_large`) before decoding; default @cxr/dicom's. */
  readonly maxImagePixels?: number;
}

/** Milliseconds spent in each stage of one task, measured in the thread that ran it. */
export interface StageTimings {
  /** Parse + decompress + photometric conversion (decodeFrame). */
  readonly decodeMs: number;
  /** Modality LUT, or modality + VOI + inversion for display outputs; 0 for 'stored'. */
  readonly lutMs: number;
  /** 0 unless the output is a resize (for model outputs: crop + resize). */
  readonly resizeMs: number;
  /** Model outputs only: normalization, channel replication and layout. */
  readonly normalizeMs?: number;
}

/**
 * Pixels a task produced: stored samples for 'stored' (Float32Array for floating point Pixel
 * Data), Float32Array for every other output.
 */
export type PixelsFor<O extends DecodeOutput> = O extends 'stored' ? FrameSamples : Float32Array;

/** The result of one decode task. */
export interface DecodeResult<O extends DecodeOutput = DecodeOutput> {
  /** Header facts. Carries `patientId` for salted hashing only: never log or print it. */
  readonly info: DicomImageInfo;
  readonly frameIndex: number;
  /**
   * Shape of `pixels`: row-major, interleaved when channels is 3; for model outputs size x size x
   * channels in `model.layout` order (planar for NCHW).
   */
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3;
  /** Photometric interpretation of the decoded frame (before any inversion). */
  readonly photometricInterpretation: DecodedFrame['photometricInterpretation'];
  readonly bitsStored: number;
  readonly signed: boolean;
  readonly pixels: PixelsFor<O>;
  /** For display and resize outputs: which VOI was applied and whether MONOCHROME1 was inverted. */
  readonly display?: Pick<DisplayImage, 'voiUsed' | 'inverted'>;
  /** For model outputs: the tensor's layout and how intensity was turned into [0,1]. */
  readonly model?: { readonly layout: InputLayout; readonly intensityUsed: IntensityUsed };
  /**
   * For 'modality' and model outputs: mean and standard deviation after the Modality LUT, and Bits
   * Stored, for drift monitoring (computed here, in the decode thread, while the frame is at hand).
   */
  readonly features?: ImageFeatures;
  readonly timings: StageTimings;
  /**
   * Set when a JPEG 2000 / HTJ2K frame was decoded at a reduced resolution level for a model
   * input (decodeResolution 'auto'): each side was 1 / 2^level of the stored image's.
   */
  readonly resolutionLevel?: number;
}

/** Runs one decode task in the calling thread; the pool's workers call this, tests and benchmarks may too. */
export async function runDecodeTask<O extends DecodeOutput>(
  bytes: Uint8Array,
  request: DecodeRequest<O>,
): Promise<DecodeResult<O>> {
  // Every output but 'stored' turns the samples into new Float32 values, so the frame can live
  // in this thread's reused buffers (frame-buffers.ts) until the task ends; 'stored' hands the
  // samples themselves to the caller (transferred out of a pool worker), so they must be fresh.
  const buffers = request.output === 'stored' ? undefined : borrowSampleCache();
  try {
    return await decodeAndConvert(bytes, request, buffers);
  } finally {
    if (buffers !== undefined) returnSampleCache(buffers);
  }
}

async function decodeAndConvert<O extends DecodeOutput>(
  bytes: Uint8Array,
  request: DecodeRequest<O>,
  buffers: SampleAllocator | undefined,
): Promise<DecodeResult<O>> {
  const t0 = performance.now();
  const requested: DecodeOutput = request.output;
  const model = typeof requested === 'object' && 'model' in requested ? requested : undefined;
  const accept = model === undefined ? null : model.accept;
  // decodeResolution 'auto': JPEG 2000 / HTJ2K / JPEG DCT may skip resolution levels the model
  // input cannot use, never going below the input size on either side (the final resize then
  // only shrinks).
  const minSize =
    model === undefined || (model.model.decodeResolution ?? 'auto') === 'full'
      ? undefined
      : { columns: model.model.size, rows: model.model.size };
  const { info, frame, frameIndex } = await decodeFrame(bytes, {
    // With 'auto', preprocessForModel's fused box pass checks for bits above Bits Stored on its
    // way through the samples (it masks the frame itself when it cannot): no separate scan.
    ...(minSize === undefined ? {} : { minSize, deferHighBitCheck: true }),
    ...(request.frame === undefined ? {} : { frame: request.frame }),
    ...(buffers === undefined ? {} : { buffers }),
    ...(accept === null
      ? {}
      : {
          checkHeader: (header: DicomImageInfo) => {
            checkApplicability(header, accept);
          },
        }),
    ...(request.maxImagePixels === undefined ? {} : { maxImagePixels: request.maxImagePixels }),
  });
  const t1 = performance.now();
  const base = {
    info,
    frameIndex,
    width: frame.columns,
    height: frame.rows,
    photometricInterpretation: frame.photometricInterpretation,
    bitsStored: frame.bitsStored,
    signed: frame.signed,
    ...(frame.resolutionLevel === undefined ? {} : { resolutionLevel: frame.resolutionLevel }),
  };
  const output: DecodeOutput = request.output;
  if (output === 'stored') {
    return {
      ...base,
      channels: frame.samplesPerPixel,
      pixels: frame.samples as PixelsFor<O>,
      timings: { decodeMs: t1 - t0, lutMs: 0, resizeMs: 0 },
    };
  }
  if (output === 'modality') {
    const pixels = applyModalityLut(frame.samples, info.modalityLut);
    return {
      ...base,
      channels: frame.samplesPerPixel,
      features: imageFeatures(frame, info.modalityLut),
      pixels,
      timings: { decodeMs: t1 - t0, lutMs: performance.now() - t1, resizeMs: 0 },
    };
  }
  if (typeof output === 'object' && 'model' in output) {
    const input = output.model;
    const { tensor, timings, intensityUsed, storedMoments } = await preprocessForModel(frame, info, input);
    // After preprocessing, which has already refused a frame the features could not describe (a
    // non-finite rescale); the stored samples are untouched by it and still this thread's.
    const tf = performance.now();
    const features =
      (storedMoments === undefined
        ? undefined
        : imageFeaturesFromStoredMoments(storedMoments, frame, info.modalityLut)) ??
      imageFeatures(frame, info.modalityLut);
    const featuresMs = performance.now() - tf;
    return {
      ...base,
      width: input.size,
      height: input.size,
      channels: input.channels,
      display: { voiUsed: intensityUsed.voiUsed, inverted: intensityUsed.inverted },
      model: { layout: input.layout, intensityUsed },
      features,
      pixels: tensor,
      timings: {
        decodeMs: t1 - t0,
        // The feature pass reads the frame once more; it is counted with the intensity step.
        lutMs: timings.intensityMs + featuresMs,
        resizeMs: timings.cropMs + timings.resizeMs,
        normalizeMs: timings.normalizeMs,
      },
    };
  }
  if (output === 'display') {
    // The display values are the result, so they get a fresh array.
    const rendered = renderToDisplay(frame, info, request.display);
    return {
      ...base,
      display: { voiUsed: rendered.voiUsed, inverted: rendered.inverted },
      channels: rendered.channels,
      pixels: rendered.values,
      timings: { decodeMs: t1 - t0, lutMs: performance.now() - t1, resizeMs: 0 },
    };
  }
  if ('thumbnail' in output) {
    // Rendered into this thread's reused full-frame buffer, like the resize below: only the
    // small thumbnail crosses back to the caller.
    const scratch = borrowFrameBuffer(frame.rows * frame.columns * frame.samplesPerPixel);
    try {
      const rendered = renderToDisplay(frame, info, output.thumbnail.display, scratch);
      const t2 = performance.now();
      const thumbnail = await thumbnailValues(rendered.values, {
        width: frame.columns,
        height: frame.rows,
        channels: rendered.channels,
        size: output.thumbnail.size,
      });
      return {
        ...base,
        width: thumbnail.width,
        height: thumbnail.height,
        channels: rendered.channels,
        display: { voiUsed: rendered.voiUsed, inverted: rendered.inverted },
        pixels: thumbnail.values,
        timings: { decodeMs: t1 - t0, lutMs: t2 - t1, resizeMs: performance.now() - t2 },
      };
    } finally {
      returnFrameBuffer(scratch);
    }
  }
  // Display values feed only the resize: render into this thread's reused full-frame buffer,
  // lent until sharp (which reads its input asynchronously) has finished.
  const scratch = borrowFrameBuffer(frame.rows * frame.columns * frame.samplesPerPixel);
  let rendered: DisplayImage;
  let resized: Float32Array;
  let t2: number;
  const { size, filter = 'bilinear' } = output.resize;
  try {
    rendered = renderToDisplay(frame, info, output.resize.display, scratch);
    t2 = performance.now();
    // Chest X-ray models are grey-scale; an RGB secondary capture is reduced to luma first
    // (ITU-R BT.601 weights, as DICOM's YBR_FULL definition in PS3.3 C.7.6.3.1.2 uses).
    const gray = rendered.channels === 3 ? rgbToLumaInPlace(rendered.values) : rendered.values;
    resized = await resizeGray(gray, frame.columns, frame.rows, size, filter);
  } finally {
    returnFrameBuffer(scratch);
  }
  const display = { voiUsed: rendered.voiUsed, inverted: rendered.inverted };
  return {
    ...base,
    width: size,
    height: size,
    channels: 1,
    display,
    pixels: resized,
    timings: { decodeMs: t1 - t0, lutMs: t2 - t1, resizeMs: performance.now() - t2 },
  };
}

/**
 * Interleaved RGB values in [0,1] to one luma value per pixel, written over the first third of
 * `rgb` (pixel i's luma lands at i <= 3i, after its R, G, B have been read); returns that view.
 */
function rgbToLumaInPlace(rgb: Float32Array): Float32Array {
  const pixels = Math.floor(rgb.length / 3);
  for (let i = 0, j = 0; i < pixels; i++, j += 3) {
    rgb[i] = 0.299 * rgb[j]! + 0.587 * rgb[j + 1]! + 0.114 * rgb[j + 2]!;
  }
  return rgb.subarray(0, pixels);
}
