// VOI LUT stage (PS3.4 Annex N.2.1, PS3.3 C.11.2) and the MONOCHROME1 polarity step: modality
// output values -> values in a display output range.
import type { LookupTable, VoiLut, VoiLutFunction, VoiWindow } from '../types.js';
import { outputArray } from './modality.js';

/** The output range [min, max] of a VOI transformation (ymin and ymax in PS3.3 C.11.2.1.2.1). */
export interface OutputRange {
  readonly min: number;
  readonly max: number;
}

/** How a caller prefers to choose among several windows (Window Center/Width are multi-valued). */
export interface WindowPreference {
  readonly index?: number;
  readonly explanation?: string;
}

/**
 * Index of the window to use among `voi.windows`, or undefined when there is none. Deterministic:
 * 1. `preference.index` when it is an integer within range (an out-of-range index is ignored);
 * 2. else the first window whose Window Center & Width Explanation (0028,1055) equals
 *    `preference.explanation`, compared case-insensitively after trimming;
 * 3. else the first window, which PS3.3 C.11.2.1.2 does not rank but which writers use for the
 *    default presentation.
 */
export function selectVoiWindowIndex(voi: VoiLut, preference?: WindowPreference): number | undefined {
  const count = voi.windows.length;
  if (count === 0) return undefined;
  const index = preference?.index;
  if (index !== undefined && Number.isInteger(index) && index >= 0 && index < count) return index;
  const wanted = preference?.explanation?.trim().toLowerCase();
  if (wanted !== undefined && wanted !== '') {
    const found = voi.windows.findIndex((w) => w.explanation?.trim().toLowerCase() === wanted);
    if (found >= 0) return found;
  }
  return 0;
}

/** The window chosen by `selectVoiWindowIndex` (explicit index, else explanation, else the first). */
export function selectVoiWindow(voi: VoiLut, preference?: WindowPreference): VoiWindow | undefined {
  const index = selectVoiWindowIndex(voi, preference);
  return index === undefined ? undefined : voi.windows[index];
}

/**
 * Whether a window is usable with a VOI LUT Function: PS3.3 C.11.2.1.2.1 requires Window Width
 * >= 1 for LINEAR; C.11.2.1.3 requires > 0 for LINEAR_EXACT and SIGMOID; both values must be finite.
 */
export function isValidWindow(window: VoiWindow, fn: VoiLutFunction): boolean {
  if (!Number.isFinite(window.center) || !Number.isFinite(window.width)) return false;
  return fn === 'LINEAR' ? window.width >= 1 : window.width > 0;
}

/**
 * result[i] = ymin + (x - lower) * slope clamped to the output range: the same values as the
 * standard's three-branch definition (at x = lower the product is 0, beyond upper it passes ymax),
 * without branches that mispredict on every other pixel of a real image.
 */
function clampedLinear(
  values: Float32Array,
  lower: number,
  slope: number,
  yMin: number,
  yMax: number,
  result: Float32Array,
): void {
  const low = Math.min(yMin, yMax);
  const high = Math.max(yMin, yMax);
  for (let i = 0; i < values.length; i++) {
    result[i] = Math.min(high, Math.max(low, yMin + (values[i]! - lower) * slope));
  }
}

/**
 * Applies a VOI window (PS3.3 C.11.2.1.2.1 LINEAR, C.11.2.1.3.2 LINEAR_EXACT, C.11.2.1.3.1 SIGMOID)
 * mapping into [out.min, out.max]. Throws RangeError for a window `isValidWindow` rejects: the
 * caller decides the fallback (renderToDisplay uses the VOI LUT table or a statistical window).
 * `into` may be `values` itself for an in-place update.
 */
export function applyWindow(
  values: Float32Array,
  window: VoiWindow,
  fn: VoiLutFunction,
  out: OutputRange,
  into?: Float32Array,
): Float32Array {
  if (!isValidWindow(window, fn)) {
    throw new RangeError(`VOI window width ${window.width} / center ${window.center} is invalid for ${fn}`);
  }
  const n = values.length;
  const result = outputArray(n, into);
  const { center: c, width: w } = window;
  const yMin = out.min;
  const yMax = out.max;
  const span = yMax - yMin;
  switch (fn) {
    case 'LINEAR': {
      // C.11.2.1.2.1: x <= c - 0.5 - (w-1)/2 -> ymin; x > c - 0.5 + (w-1)/2 -> ymax; else
      // y = ((x - (c - 0.5)) / (w-1) + 0.5) * (ymax - ymin) + ymin, which equals
      // ymin + (x - lower) * (ymax - ymin) / (w-1).
      const lower = c - 0.5 - (w - 1) / 2;
      if (w === 1) {
        // A threshold at c - 0.5: the linear segment is empty.
        for (let i = 0; i < n; i++) result[i] = values[i]! <= lower ? yMin : yMax;
        return result;
      }
      clampedLinear(values, lower, span / (w - 1), yMin, yMax, result);
      return result;
    }
    case 'LINEAR_EXACT':
      // C.11.2.1.3.2: x <= c - w/2 -> ymin; x > c + w/2 -> ymax; else ((x - c)/w + 0.5) * span + ymin,
      // i.e. ymin + (x - (c - w/2)) * span / w.
      clampedLinear(values, c - w / 2, span / w, yMin, yMax, result);
      return result;
    case 'SIGMOID': {
      // C.11.2.1.3.1: y = (ymax - ymin) / (1 + exp(-4 (x - c) / w)) + ymin.
      const k = -4 / w;
      for (let i = 0; i < n; i++) {
        result[i] = span / (1 + Math.exp(k * (values[i]! - c))) + yMin;
      }
      return result;
    }
  }
}

/**
 * Whether a LUT can be applied: at least one entry and 1..16 bits per entry (PS3.3 C.11.2.1.1
 * allows 8..16 for VOI LUTs; fewer bits are accepted because they scale the same way).
 */
export function isValidLookupTable(table: LookupTable): boolean {
  const bits = table.bitsPerEntry;
  return (
    table.data.length > 0 &&
    Number.isInteger(bits) &&
    bits >= 1 &&
    bits <= 16 &&
    Number.isFinite(table.firstMapped)
  );
}

/**
 * Applies a VOI LUT Sequence table (PS3.3 C.11.2.1.1): entry index = round(x) - firstMapped,
 * clamped to the first and last entry; the entry, in [0, 2^bitsPerEntry - 1], is scaled linearly to
 * [out.min, out.max]. Non-integer inputs (after a rescale) use the nearest entry. Throws RangeError
 * for a table `isValidLookupTable` rejects. `into` may be `values` itself.
 */
export function applyVoiTable(
  values: Float32Array,
  table: LookupTable,
  out: OutputRange,
  into?: Float32Array,
): Float32Array {
  if (!isValidLookupTable(table)) {
    throw new RangeError(
      `VOI LUT with ${table.data.length} entries of ${table.bitsPerEntry} bits is invalid`,
    );
  }
  const n = values.length;
  const result = outputArray(n, into);
  const { data, firstMapped } = table;
  const last = data.length - 1;
  const scale = (out.max - out.min) / (2 ** table.bitsPerEntry - 1);
  const yMin = out.min;
  // Adding 0.5 before floor rounds half up; folding firstMapped in saves one subtraction per pixel.
  const offset = 0.5 - firstMapped;
  for (let i = 0; i < n; i++) {
    let k = Math.floor(values[i]! + offset);
    // `!(k > 0)` also sends NaN to the first entry instead of reading data[NaN].
    if (!(k > 0)) k = 0;
    else if (k > last) k = last;
    result[i] = yMin + data[k]! * scale;
  }
  return result;
}

/**
 * Inverts values within [out.min, out.max] (y' = out.max + out.min - y): MONOCHROME1 shows its
 * minimum as white, so after the VOI LUT the polarity is reversed before display (PS3.4 N.2.1,
 * the INVERSE Presentation LUT Shape of PS3.3 C.11.6.1). `into` may be `values` itself.
 */
export function invertMonochrome1(values: Float32Array, out: OutputRange, into?: Float32Array): Float32Array {
  const n = values.length;
  const result = outputArray(n, into);
  const sum = out.max + out.min;
  for (let i = 0; i < n; i++) result[i] = sum - values[i]!;
  return result;
}
