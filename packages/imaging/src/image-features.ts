/**
 * Input features of one image for drift monitoring (the `image_mean`, `image_std` and
 * `bits_stored` features of the bundle's drift reference): statistics of the frame's values after
 * the Modality LUT (PS3.3 C.11.1), so a change of scanner calibration, dose or processing shows up
 * as a shift of the input distribution before it shows up in the scores. Numbers only, no pixels.
 */
import { maskHighBits } from '@cxr/dicom';
import type { DecodedFrame, FrameSamples, ModalityLut } from '@cxr/dicom';

/** The per-image input features the result message carries. */
export interface ImageFeatures {
  /** Mean of the modality-LUT output values (RGB: of the stored R, G, B samples). */
  readonly imageMean: number;
  /** Population standard deviation (divides by n) of the same values. */
  readonly imageStd: number;
  /** Bits Stored (0028,0101) of the decoded frame. */
  readonly bitsStored: number;
}

interface Moments {
  readonly mean: number;
  readonly std: number;
}

/**
 * Mean and population standard deviation of the first `n` values in one pass, in float64. Sums of
 * v - K with K the first value (the "shifted data" algorithm): as cheap as sum / sum of squares,
 * without their cancellation when the mean is large against the spread (a 16-bit image with
 * values around 30,000 +- 50). Welford's update is equally stable but divides once per pixel.
 */
function moments(values: ArrayLike<number>, n: number): Moments {
  const k = values[0]!;
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < n; i++) {
    const d = values[i]! - k;
    sum += d;
    sumSq += d * d;
  }
  const meanShift = sum / n;
  // Rounding can leave a hair below 0 for a constant image.
  const variance = Math.max(0, sumSq / n - meanShift * meanShift);
  return { mean: k + meanShift, std: Math.sqrt(variance) };
}

/** The same moments of a Modality LUT table's output, read through the table per pixel. */
function tableMoments(samples: FrameSamples, n: number, data: Uint16Array, firstMapped: number): Moments {
  const last = data.length - 1;
  // PS3.3 C.11.1.1.1: values below the first mapped value take the first entry, values beyond
  // the table the last one (the same clamping as applyModalityLut).
  const lookup = (v: number): number => data[Math.min(last, Math.max(0, v - firstMapped))]!;
  const k = lookup(samples[0]!);
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < n; i++) {
    const d = lookup(samples[i]!) - k;
    sum += d;
    sumSq += d * d;
  }
  const meanShift = sum / n;
  return { mean: k + meanShift, std: Math.sqrt(Math.max(0, sumSq / n - meanShift * meanShift)) };
}

/**
 * The drift features of a decoded frame. Monochrome: moments of the Modality LUT output, computed
 * from the stored samples without materialising it (Rescale Slope m and Intercept b map the
 * moments exactly: mean' = m mean + b, std' = |m| std). RGB (no Modality LUT applies, PS3.3
 * C.11.1): moments of all stored R, G, B samples. Throws RangeError for an empty frame or a
 * non-finite rescale (the decode path rejects such a file before this runs).
 */
export function imageFeatures(unchecked: DecodedFrame, modalityLut: ModalityLut): ImageFeatures {
  // A frame decoded with deferHighBitCheck is checked (and masked if need be) before any use.
  const frame = maskHighBits(unchecked);
  const n = Math.min(frame.samples.length, frame.rows * frame.columns * frame.samplesPerPixel);
  if (n === 0) throw new RangeError('imageFeatures: empty frame');
  let m: Moments;
  if (frame.samplesPerPixel === 3) {
    m = moments(frame.samples, n);
  } else {
    switch (modalityLut.kind) {
      case 'identity':
        m = moments(frame.samples, n);
        break;
      case 'rescale': {
        const { slope, intercept } = modalityLut;
        if (!Number.isFinite(slope) || !Number.isFinite(intercept)) {
          throw new RangeError('imageFeatures: Rescale Slope or Intercept is not finite');
        }
        const raw = moments(frame.samples, n);
        m = { mean: slope * raw.mean + intercept, std: Math.abs(slope) * raw.std };
        break;
      }
      case 'table':
        if (modalityLut.lut.data.length === 0) throw new RangeError('imageFeatures: empty Modality LUT');
        m = tableMoments(frame.samples, n, modalityLut.lut.data, modalityLut.lut.firstMapped);
        break;
    }
  }
  return { imageMean: m.mean, imageStd: m.std, bitsStored: frame.bitsStored };
}

/**
 * The drift features from the stored values' moments (PreprocessedImage.storedMoments): exact
 * for an identity or rescale Modality LUT (mean' = m mean + b, std' = |m| std); undefined for a
 * Modality LUT table or colour, which imageFeatures handles.
 */
export function imageFeaturesFromStoredMoments(
  moments: { readonly mean: number; readonly std: number },
  frame: Pick<DecodedFrame, 'samplesPerPixel' | 'bitsStored'>,
  modalityLut: ModalityLut,
): ImageFeatures | undefined {
  if (frame.samplesPerPixel !== 1) return undefined;
  switch (modalityLut.kind) {
    case 'identity':
      return { imageMean: moments.mean, imageStd: moments.std, bitsStored: frame.bitsStored };
    case 'rescale': {
      const { slope, intercept } = modalityLut;
      if (!Number.isFinite(slope) || !Number.isFinite(intercept)) return undefined;
      return {
        imageMean: slope * moments.mean + intercept,
        imageStd: Math.abs(slope) * moments.std,
        bitsStored: frame.bitsStored,
      };
    }
    case 'table':
      return undefined;
  }
}
