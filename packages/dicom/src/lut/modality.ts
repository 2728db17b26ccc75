// Modality LUT stage of the grayscale pipeline (PS3.4 Annex N.2.1, PS3.3 C.11.1): stored values
// -> modality output values (e.g. Hounsfield units, or a vendor's "for presentation" scale).
import { DicomRejectedError } from '../errors.js';
import type { FrameSamples, ModalityLut } from '../types.js';
import { codeValues, codeView, mapCodes, scratchTable } from './codes.js';

/**
 * A new array of `length` values, or `into` (a view of its first `length` values when it is
 * longer, so that results always have the input's length). Throws RangeError when it is shorter.
 */
export function outputArray(length: number, into: Float32Array | undefined): Float32Array {
  if (into === undefined) return new Float32Array(length);
  if (into.length < length) {
    throw new RangeError(`output array holds ${into.length} values, ${length} needed`);
  }
  return into.length === length ? into : into.subarray(0, length);
}

/**
 * Applies the Modality LUT (PS3.3 C.11.1) to monochrome stored values: Rescale Slope/Intercept
 * (C.11.1.1.2), a Modality LUT Sequence table, or identity. Writes into `into` when given,
 * otherwise into a new array.
 */
export function applyModalityLut(samples: FrameSamples, lut: ModalityLut, into?: Float32Array): Float32Array {
  const n = samples.length;
  const out = outputArray(n, into);
  // 8/16-bit samples: evaluate once per possible code, then one monomorphic lookup per pixel.
  const view = codeView(samples);
  if (view !== undefined && n >= 1 << view.bits) {
    const table = applyModalityLutPerValue(codeValues(view), lut, scratchTable('modality', view));
    mapCodes(view, table, out);
    return out;
  }
  return applyModalityLutPerValue(samples, lut, out);
}

function applyModalityLutPerValue(
  samples: FrameSamples | Int32Array,
  lut: ModalityLut,
  into?: Float32Array,
): Float32Array {
  const n = samples.length;
  const out = outputArray(n, into);
  switch (lut.kind) {
    case 'identity':
      for (let i = 0; i < n; i++) out[i] = samples[i]!;
      return out;
    case 'rescale': {
      const { slope, intercept } = lut;
      if (!Number.isFinite(slope) || !Number.isFinite(intercept)) {
        // A NaN here would silently blank the whole image downstream.
        throw new DicomRejectedError(
          'unsupported_pixel_module',
          'Rescale Slope (0028,1053) or Rescale Intercept (0028,1052) is not a finite number',
        );
      }
      for (let i = 0; i < n; i++) out[i] = samples[i]! * slope + intercept;
      return out;
    }
    case 'table': {
      const { data, firstMapped } = lut.lut;
      const last = data.length - 1;
      if (last < 0) {
        throw new DicomRejectedError(
          'unsupported_pixel_module',
          'Modality LUT Sequence has an empty LUT Data',
        );
      }
      // PS3.3 C.11.1.1.1: values below the first mapped value take the first entry, values at or
      // above firstMapped + entries - 1 take the last entry.
      for (let i = 0; i < n; i++) {
        let k = samples[i]! - firstMapped;
        if (k < 0) k = 0;
        else if (k > last) k = last;
        out[i] = data[k]!;
      }
      return out;
    }
  }
}
