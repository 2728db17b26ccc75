// The display rendering used by `cxr dicom render` and by model preprocessing: the grayscale
// pipeline of PS3.4 Annex N.2.1 (Modality LUT -> VOI LUT -> polarity) producing values in [0, 1].
import type { DecodedFrame, DicomImageInfo, LookupTable, VoiLutFunction, VoiWindow } from '../types.js';
import { hasBitsAbove, maskHighBits } from '../pixels.js';
import { codeValues, codeView, countCodes, mapCodes, scratchTable, type CodeView } from './codes.js';
import { applyModalityLut, outputArray } from './modality.js';
import {
  percentileRange,
  percentilesOfSortedCounts,
  minMaxRange,
  windowFromRange,
  type ValueRange,
} from './statistics.js';
import {
  applyVoiTable,
  applyWindow,
  invertMonochrome1,
  isValidLookupTable,
  isValidWindow,
  selectVoiWindowIndex,
  type OutputRange,
} from './voi.js';

/** Statistical VOI for images without a usable VOI in the file. */
export type StatisticalVoi = 'minmax' | { readonly percentiles: readonly [number, number] };

/**
 * Which VOI to apply: the file's (window, else table, else `fallback`), a statistical window, or
 * an explicit window (LINEAR unless `function` says otherwise).
 */
export type VoiChoice =
  | 'file'
  | StatisticalVoi
  | { readonly center: number; readonly width: number; readonly function?: VoiLutFunction };

export interface RenderOptions {
  /** Default 'file'. */
  readonly voi?: VoiChoice;
  /** Window to prefer when the file has several (see selectVoiWindowIndex). */
  readonly windowIndex?: number;
  readonly windowExplanation?: string;
  /** Used with voi 'file' when the file has no usable VOI; default percentiles 0.5 and 99.5. */
  readonly fallback?: StatisticalVoi;
}

/** Why a statistical window was used. */
export type StatisticalReason = 'requested' | 'no-file-voi' | 'invalid-file-voi';

/** Which VOI transformation produced the result: for `cxr dicom inspect`, logs and reports. */
export type VoiUsed =
  | {
      readonly kind: 'file-window';
      readonly windowIndex: number;
      readonly center: number;
      readonly width: number;
      readonly function: VoiLutFunction;
      readonly explanation?: string;
    }
  | {
      readonly kind: 'file-table';
      readonly tableIndex: number;
      readonly entries: number;
      readonly firstMapped: number;
      readonly bitsPerEntry: number;
      readonly explanation?: string;
      /** Set when the file also had windows but the selected one was invalid. */
      readonly invalidWindowIgnored: boolean;
    }
  | {
      readonly kind: 'explicit-window';
      readonly center: number;
      readonly width: number;
      readonly function: VoiLutFunction;
    }
  | {
      readonly kind: 'minmax';
      readonly low: number;
      readonly high: number;
      readonly reason: StatisticalReason;
    }
  | {
      readonly kind: 'percentiles';
      readonly lowPercentile: number;
      readonly highPercentile: number;
      readonly low: number;
      readonly high: number;
      readonly reason: StatisticalReason;
    }
  /** RGB: no VOI; each sample scaled by 1 / (2^bitsStored - 1). */
  | { readonly kind: 'none' };

export interface DisplayImage {
  /** Row-major values in [0, 1]; interleaved R,G,B when channels is 3. */
  readonly values: Float32Array;
  readonly channels: 1 | 3;
  readonly voiUsed: VoiUsed;
  /** True when MONOCHROME1 polarity was reversed. */
  readonly inverted: boolean;
}

export type RenderInfo = Pick<DicomImageInfo, 'modalityLut' | 'voi'>;

const DISPLAY: OutputRange = { min: 0, max: 1 };
const DEFAULT_FALLBACK: StatisticalVoi = { percentiles: [0.5, 99.5] };

/** What to do after the modality LUT, decided from the file and options before seeing pixels. */
type VoiPlan =
  | {
      readonly kind: 'window';
      readonly window: VoiWindow;
      readonly fn: VoiLutFunction;
      readonly used: VoiUsed;
    }
  | { readonly kind: 'table'; readonly table: LookupTable; readonly used: VoiUsed }
  | { readonly kind: 'statistics'; readonly voi: StatisticalVoi; readonly reason: StatisticalReason };

function checkStatistical(voi: StatisticalVoi): void {
  if (voi === 'minmax') return;
  const [low, high] = voi.percentiles;
  if (!(low >= 0 && low <= high && high <= 100)) {
    throw new RangeError(`percentiles must satisfy 0 <= low <= high <= 100, got ${low}, ${high}`);
  }
}

/** Resolves options and the file's VOI module into one plan (PS3.3 C.11.2: window or table, not both). */
function planVoi(info: RenderInfo, options: RenderOptions): VoiPlan {
  const choice = options.voi ?? 'file';
  const fallback = options.fallback ?? DEFAULT_FALLBACK;
  checkStatistical(fallback);
  if (choice === 'minmax' || (typeof choice === 'object' && 'percentiles' in choice)) {
    checkStatistical(choice);
    return { kind: 'statistics', voi: choice, reason: 'requested' };
  }
  if (choice !== 'file') {
    const fn = choice.function ?? 'LINEAR';
    const window: VoiWindow = { center: choice.center, width: choice.width };
    // A bad explicit window is a configuration error, not a property of the file: say so loudly.
    if (!isValidWindow(window, fn)) {
      throw new RangeError(
        `explicit VOI window center ${choice.center} width ${choice.width} is invalid for ${fn}`,
      );
    }
    return {
      kind: 'window',
      window,
      fn,
      used: { kind: 'explicit-window', center: window.center, width: window.width, function: fn },
    };
  }

  const { voi } = info;
  const index = selectVoiWindowIndex(voi, {
    index: options.windowIndex,
    explanation: options.windowExplanation,
  });
  const window = index === undefined ? undefined : voi.windows[index];
  if (index !== undefined && window !== undefined && isValidWindow(window, voi.function)) {
    const used: VoiUsed = {
      kind: 'file-window',
      windowIndex: index,
      center: window.center,
      width: window.width,
      function: voi.function,
      ...(window.explanation === undefined ? {} : { explanation: window.explanation }),
    };
    return { kind: 'window', window, fn: voi.function, used };
  }
  // An invalid window (e.g. width 0, which some modalities write for "no window") is skipped in
  // favour of the file's table, else a statistical window; other windows of the file are not
  // tried because they were written for other purposes (bone, lung...).
  const table = voi.tables[0];
  if (table !== undefined && isValidLookupTable(table)) {
    const used: VoiUsed = {
      kind: 'file-table',
      tableIndex: 0,
      entries: table.data.length,
      firstMapped: table.firstMapped,
      bitsPerEntry: table.bitsPerEntry,
      invalidWindowIgnored: window !== undefined,
      ...(table.explanation === undefined ? {} : { explanation: table.explanation }),
    };
    return { kind: 'table', table, used };
  }
  const hadVoi = voi.windows.length > 0 || voi.tables.length > 0;
  return { kind: 'statistics', voi: fallback, reason: hadVoi ? 'invalid-file-voi' : 'no-file-voi' };
}

/** Turns a statistical plan plus the measured range into the LINEAR window and its description. */
function statisticalWindow(
  voi: StatisticalVoi,
  reason: StatisticalReason,
  range: ValueRange | undefined,
): { window: VoiWindow | undefined; used: VoiUsed } {
  const low = range?.low ?? Number.NaN;
  const high = range?.high ?? Number.NaN;
  const used: VoiUsed =
    voi === 'minmax'
      ? { kind: 'minmax', low, high, reason }
      : {
          kind: 'percentiles',
          lowPercentile: voi.percentiles[0],
          highPercentile: voi.percentiles[1],
          low,
          high,
          reason,
        };
  return { window: range === undefined ? undefined : windowFromRange(range), used };
}

/** Applies a resolved VOI in place on modality output values; returns the description. */
function applyPlanInPlace(values: Float32Array, plan: VoiPlan, range: ValueRange | undefined): VoiUsed {
  switch (plan.kind) {
    case 'window':
      applyWindow(values, plan.window, plan.fn, DISPLAY, values);
      return plan.used;
    case 'table':
      applyVoiTable(values, plan.table, DISPLAY, values);
      return plan.used;
    case 'statistics': {
      const { window, used } = statisticalWindow(plan.voi, plan.reason, range);
      if (window === undefined) values.fill(0);
      else applyWindow(values, window, 'LINEAR', DISPLAY, values);
      return used;
    }
  }
}

/**
 * Monochrome pipeline evaluated per pixel: modality LUT into a Float32Array, statistics over it
 * (approximate histogram for non-integer values, see percentileRange), VOI and inversion in place.
 * Works for any input; exported for tests and benchmarks, renderToDisplay prefers the LUT path.
 */
export function renderMonochromePerPixel(
  frame: DecodedFrame,
  info: RenderInfo,
  options: RenderOptions,
  into?: Float32Array,
): DisplayImage {
  const plan = planVoi(info, options);
  const values = applyModalityLut(frame.samples, info.modalityLut, into);
  let range: ValueRange | undefined;
  if (plan.kind === 'statistics') {
    range =
      plan.voi === 'minmax'
        ? minMaxRange(values)
        : percentileRange(values, plan.voi.percentiles[0], plan.voi.percentiles[1]);
  }
  const voiUsed = applyPlanInPlace(values, plan, range);
  const inverted = frame.photometricInterpretation === 'MONOCHROME1';
  if (inverted) invertMonochrome1(values, DISPLAY, values);
  return { values, channels: 1, voiUsed, inverted };
}

/** The display value of every stored code (see renderMonochromeViaStoredValueLut). */
interface StoredValueTable {
  readonly view: CodeView;
  /** One display value per code; a reused scratch table, valid until the next call. */
  readonly table: Float32Array;
  readonly voiUsed: VoiUsed;
  readonly inverted: boolean;
  /**
   * The histogram of every code of the frame, when a statistical VOI needed it (a reused scratch
   * array, valid until the next countCodes call).
   */
  readonly counts?: Uint32Array;
}

function storedValueTable(
  frame: DecodedFrame,
  info: RenderInfo,
  options: RenderOptions,
): StoredValueTable | undefined {
  const view = codeView(frame.samples);
  const n = frame.samples.length;
  if (view === undefined || n < 1 << view.bits) return undefined;
  const plan = planVoi(info, options);
  const table = applyModalityLut(codeValues(view), info.modalityLut, scratchTable('render', view));

  let range: ValueRange | undefined;
  let counts: Uint32Array | undefined;
  if (plan.kind === 'statistics') {
    const histogram = countCodes(view);
    counts = histogram;
    // Occupied codes ordered by modality output: signed codes, a negative slope or a
    // non-monotonic Modality LUT table all break the code order. (An already sorted array costs
    // one linear pass in V8's TimSort.)
    const occupied: number[] = [];
    for (let code = 0; code < histogram.length; code++) if (histogram[code]! > 0) occupied.push(code);
    occupied.sort((a, b) => table[a]! - table[b]!);
    const values = occupied.map((code) => table[code]!);
    const weights = occupied.map((code) => histogram[code]!);
    if (plan.voi === 'minmax') {
      range = { low: values[0]!, high: values[values.length - 1]! };
    } else {
      const [low, high] = percentilesOfSortedCounts(values, weights, plan.voi.percentiles);
      range = { low: low!, high: high! };
    }
  }
  const voiUsed = applyPlanInPlace(table, plan, range);
  const inverted = frame.photometricInterpretation === 'MONOCHROME1';
  if (inverted) invertMonochrome1(table, DISPLAY, table);
  return { view, table, voiUsed, inverted, ...(counts === undefined ? {} : { counts }) };
}

/**
 * Monochrome pipeline evaluated once per possible stored value: every step is a function of the
 * stored value, so for 8/16-bit samples it runs over all 2^8 or 2^16 codes and pixels are mapped
 * through the resulting table in one pass. Statistics come from an exact histogram of codes.
 * Returns undefined for 32-bit samples, or when the image has fewer pixels than codes.
 */
export function renderMonochromeViaStoredValueLut(
  unchecked: DecodedFrame,
  info: RenderInfo,
  options: RenderOptions,
  into?: Float32Array,
): DisplayImage | undefined {
  const frame = maskHighBits(unchecked);
  const lut = storedValueTable(frame, info, options);
  if (lut === undefined) return undefined;
  const values = outputArray(frame.samples.length, into);
  mapCodes(lut.view, lut.table, values);
  return { values, channels: 1, voiUsed: lut.voiUsed, inverted: lut.inverted };
}

/** A rectangle of a frame, in pixels. */
export interface FrameRegion {
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
}

/** Display values reduced by a box average: `width` x `height` values, row-major. */
export interface ShrunkDisplayImage extends DisplayImage {
  readonly width: number;
  readonly height: number;
  /**
   * With `storedMoments` asked for: mean and population standard deviation of the stored values
   * of every pixel of the frame: from the histogram a statistical VOI counted, else, for unsigned
   * samples whose boxes cover the whole frame with no pixel left over, from sums of the box pass.
   */
  readonly storedMoments?: { readonly mean: number; readonly std: number };
}

// The box loops below read each box's kx x ky codes and write its output once (a row-by-row
// accumulation into the output costs twice as much); one function per code array kind keeps
// V8's element access monomorphic, and the 2x2 case (a CR to 512) is unrolled.

function shrink8(
  codes: Uint8Array,
  table: Float32Array,
  sums: Float64Array | undefined,
  stride: number,
  left: number,
  top: number,
  kx: number,
  ky: number,
  out: Float32Array,
  width: number,
  height: number,
): void {
  if (kx === 2 && ky === 2) {
    if (sums === undefined) shrink8By2(codes, table, stride, left, top, out, width, height);
    else shrink8By2Summing(codes, table, sums, stride, left, top, out, width, height);
    return;
  }
  if (kx === 4) {
    if (sums === undefined) shrink8By4(codes, table, stride, left, top, ky, out, width, height);
    else shrink8By4Summing(codes, table, sums, stride, left, top, ky, out, width, height);
    return;
  }
  const scale = 1 / (kx * ky);
  for (let oy = 0; oy < height; oy++) {
    const o = oy * width;
    const base = (top + oy * ky) * stride + left;
    if (sums === undefined) {
      for (let ox = 0; ox < width; ox++) {
        let sum = 0;
        let s = base + ox * kx;
        for (let dy = 0; dy < ky; dy++, s += stride) {
          for (let dx = 0; dx < kx; dx++) sum += table[codes[s + dx]!]!;
        }
        out[o + ox] = sum * scale;
      }
    } else {
      let rowSum = 0;
      let rowSquares = 0;
      for (let ox = 0; ox < width; ox++) {
        let sum = 0;
        let s = base + ox * kx;
        for (let dy = 0; dy < ky; dy++, s += stride) {
          for (let dx = 0; dx < kx; dx++) {
            const code = codes[s + dx]!;
            rowSum += code;
            rowSquares += code * code;
            sum += table[code]!;
          }
        }
        out[o + ox] = sum * scale;
      }
      sums[0]! += rowSum;
      sums[1]! += rowSquares;
    }
  }
}

function shrink8By2(
  codes: Uint8Array,
  table: Float32Array,
  stride: number,
  left: number,
  top: number,
  out: Float32Array,
  width: number,
  height: number,
): void {
  for (let oy = 0; oy < height; oy++) {
    const o = oy * width;
    let s0 = (top + oy * 2) * stride + left;
    let s1 = s0 + stride;
    for (let ox = 0; ox < width; ox++, s0 += 2, s1 += 2) {
      out[o + ox] =
        (table[codes[s0]!]! + table[codes[s0 + 1]!]! + table[codes[s1]!]! + table[codes[s1 + 1]!]!) * 0.25;
    }
  }
}

function shrink8By2Summing(
  codes: Uint8Array,
  table: Float32Array,
  sums: Float64Array,
  stride: number,
  left: number,
  top: number,
  out: Float32Array,
  width: number,
  height: number,
): void {
  for (let oy = 0; oy < height; oy++) {
    const o = oy * width;
    let s0 = (top + oy * 2) * stride + left;
    let s1 = s0 + stride;
    let rowSum = 0;
    let rowSquares = 0;
    for (let ox = 0; ox < width; ox++, s0 += 2, s1 += 2) {
      const a = codes[s0]!;
      const b = codes[s0 + 1]!;
      const c = codes[s1]!;
      const d = codes[s1 + 1]!;
      rowSum += a + b + c + d;
      rowSquares += a * a + b * b + c * c + d * d;
      out[o + ox] = (table[a]! + table[b]! + table[c]! + table[d]!) * 0.25;
    }
    sums[0]! += rowSum;
    sums[1]! += rowSquares;
  }
}

function shrink8By4(
  codes: Uint8Array,
  table: Float32Array,
  stride: number,
  left: number,
  top: number,
  ky: number,
  out: Float32Array,
  width: number,
  height: number,
): void {
  const scale = 1 / (4 * ky);
  for (let oy = 0; oy < height; oy++) {
    const o = oy * width;
    const base = (top + oy * ky) * stride + left;
    for (let ox = 0; ox < width; ox++) {
      let sum = 0;
      let s = base + ox * 4;
      for (let dy = 0; dy < ky; dy++, s += stride) {
        sum += table[codes[s]!]! + table[codes[s + 1]!]! + table[codes[s + 2]!]! + table[codes[s + 3]!]!;
      }
      out[o + ox] = sum * scale;
    }
  }
}

function shrink8By4Summing(
  codes: Uint8Array,
  table: Float32Array,
  sums: Float64Array,
  stride: number,
  left: number,
  top: number,
  ky: number,
  out: Float32Array,
  width: number,
  height: number,
): void {
  const scale = 1 / (4 * ky);
  for (let oy = 0; oy < height; oy++) {
    const o = oy * width;
    const base = (top + oy * ky) * stride + left;
    let rowSum = 0;
    let rowSquares = 0;
    for (let ox = 0; ox < width; ox++) {
      let sum = 0;
      let s = base + ox * 4;
      for (let dy = 0; dy < ky; dy++, s += stride) {
        const a = codes[s]!;
        const b = codes[s + 1]!;
        const c = codes[s + 2]!;
        const d = codes[s + 3]!;
        rowSum += a + b + c + d;
        rowSquares += a * a + b * b + c * c + d * d;
        sum += table[a]! + table[b]! + table[c]! + table[d]!;
      }
      out[o + ox] = sum * scale;
    }
    sums[0]! += rowSum;
    sums[1]! += rowSquares;
  }
}

function shrink16(
  codes: Uint16Array,
  table: Float32Array,
  sums: Float64Array | undefined,
  stride: number,
  left: number,
  top: number,
  kx: number,
  ky: number,
  out: Float32Array,
  width: number,
  height: number,
): void {
  if (kx === 2 && ky === 2) {
    if (sums === undefined) shrink16By2(codes, table, stride, left, top, out, width, height);
    else shrink16By2Summing(codes, table, sums, stride, left, top, out, width, height);
    return;
  }
  if (kx === 4) {
    if (sums === undefined) shrink16By4(codes, table, stride, left, top, ky, out, width, height);
    else shrink16By4Summing(codes, table, sums, stride, left, top, ky, out, width, height);
    return;
  }
  const scale = 1 / (kx * ky);
  for (let oy = 0; oy < height; oy++) {
    const o = oy * width;
    const base = (top + oy * ky) * stride + left;
    if (sums === undefined) {
      for (let ox = 0; ox < width; ox++) {
        let sum = 0;
        let s = base + ox * kx;
        for (let dy = 0; dy < ky; dy++, s += stride) {
          for (let dx = 0; dx < kx; dx++) sum += table[codes[s + dx]!]!;
        }
        out[o + ox] = sum * scale;
      }
    } else {
      let rowSum = 0;
      let rowSquares = 0;
      let rowBits = 0;
      for (let ox = 0; ox < width; ox++) {
        let sum = 0;
        let s = base + ox * kx;
        for (let dy = 0; dy < ky; dy++, s += stride) {
          for (let dx = 0; dx < kx; dx++) {
            const code = codes[s + dx]!;
            rowSum += code;
            rowSquares += code * code;
            rowBits |= code;
            sum += table[code]!;
          }
        }
        out[o + ox] = sum * scale;
      }
      sums[0]! += rowSum;
      sums[1]! += rowSquares;
      sums[2] = sums[2]! | rowBits;
    }
  }
}

function shrink16By2(
  codes: Uint16Array,
  table: Float32Array,
  stride: number,
  left: number,
  top: number,
  out: Float32Array,
  width: number,
  height: number,
): void {
  for (let oy = 0; oy < height; oy++) {
    const o = oy * width;
    let s0 = (top + oy * 2) * stride + left;
    let s1 = s0 + stride;
    for (let ox = 0; ox < width; ox++, s0 += 2, s1 += 2) {
      out[o + ox] =
        (table[codes[s0]!]! + table[codes[s0 + 1]!]! + table[codes[s1]!]! + table[codes[s1 + 1]!]!) * 0.25;
    }
  }
}

function shrink16By4(
  codes: Uint16Array,
  table: Float32Array,
  stride: number,
  left: number,
  top: number,
  ky: number,
  out: Float32Array,
  width: number,
  height: number,
): void {
  const scale = 1 / (4 * ky);
  for (let oy = 0; oy < height; oy++) {
    const o = oy * width;
    const base = (top + oy * ky) * stride + left;
    for (let ox = 0; ox < width; ox++) {
      let sum = 0;
      let s = base + ox * 4;
      for (let dy = 0; dy < ky; dy++, s += stride) {
        sum += table[codes[s]!]! + table[codes[s + 1]!]! + table[codes[s + 2]!]! + table[codes[s + 3]!]!;
      }
      out[o + ox] = sum * scale;
    }
  }
}

function shrink16By4Summing(
  codes: Uint16Array,
  table: Float32Array,
  sums: Float64Array,
  stride: number,
  left: number,
  top: number,
  ky: number,
  out: Float32Array,
  width: number,
  height: number,
): void {
  const scale = 1 / (4 * ky);
  for (let oy = 0; oy < height; oy++) {
    const o = oy * width;
    const base = (top + oy * ky) * stride + left;
    let rowSum = 0;
    let rowSquares = 0;
    let rowBits = 0;
    for (let ox = 0; ox < width; ox++) {
      let sum = 0;
      let s = base + ox * 4;
      for (let dy = 0; dy < ky; dy++, s += stride) {
        const a = codes[s]!;
        const b = codes[s + 1]!;
        const c = codes[s + 2]!;
        const d = codes[s + 3]!;
        rowSum += a + b + c + d;
        rowBits |= a | b | c | d;
        rowSquares += a * a + b * b + c * c + d * d;
        sum += table[a]! + table[b]! + table[c]! + table[d]!;
      }
      out[o + ox] = sum * scale;
    }
    sums[0]! += rowSum;
    sums[1]! += rowSquares;
    sums[2] = sums[2]! | rowBits;
  }
}

function shrink16By2Summing(
  codes: Uint16Array,
  table: Float32Array,
  sums: Float64Array,
  stride: number,
  left: number,
  top: number,
  out: Float32Array,
  width: number,
  height: number,
): void {
  for (let oy = 0; oy < height; oy++) {
    const o = oy * width;
    let s0 = (top + oy * 2) * stride + left;
    let s1 = s0 + stride;
    let rowSum = 0;
    let rowSquares = 0;
    let rowBits = 0;
    for (let ox = 0; ox < width; ox++, s0 += 2, s1 += 2) {
      const a = codes[s0]!;
      const b = codes[s0 + 1]!;
      const c = codes[s1]!;
      const d = codes[s1 + 1]!;
      rowSum += a + b + c + d;
      rowBits |= a | b | c | d;
      rowSquares += a * a + b * b + c * c + d * d;
      out[o + ox] = (table[a]! + table[b]! + table[c]! + table[d]!) * 0.25;
    }
    sums[0]! += rowSum;
    sums[1]! += rowSquares;
    sums[2] = sums[2]! | rowBits;
  }
}

/** Mean and population standard deviation of stored values from their histogram (float64 sums). */
function momentsOfCounts(counts: Uint32Array, values: Int32Array): { mean: number; std: number } {
  let n = 0;
  let sum = 0;
  for (let code = 0; code < counts.length; code++) {
    const c = counts[code]!;
    if (c !== 0) {
      n += c;
      sum += c * values[code]!;
    }
  }
  const mean = sum / n;
  let sq = 0;
  for (let code = 0; code < counts.length; code++) {
    const c = counts[code]!;
    if (c !== 0) {
      const d = values[code]! - mean;
      sq += c * d * d;
    }
  }
  return { mean, std: Math.sqrt(sq / n) };
}

/**
 * Filled by the box pass: the sum of the codes, the sum of their squares, and (16-bit codes) the
 * OR of all of them. One per thread: calls are synchronous.
 */
const shrinkSums = new Float64Array(3);

/** Mean and population standard deviation of n values from their sum and sum of squares. */
function momentsOfSums(sum: number, squares: number, n: number): { mean: number; std: number } {
  const mean = sum / n;
  return { mean, std: Math.sqrt(Math.max(0, squares / n - mean * mean)) };
}

/**
 * The monochrome display rendering of `region`, averaged over kx x ky boxes in the same pass
 * (the full-size display values are never written): floor(width / kx) x floor(height / ky)
 * values, the few pixels left over by the division dropped evenly from both sides. The LUT,
 * VOI and inversion are exactly renderToDisplay's (statistics over the whole frame). Returns
 * undefined where renderMonochromeViaStoredValueLut would (32-bit or tiny frames) and for
 * colour frames: callers fall back to renderToDisplay; also for a frame decoded with
 * deferHighBitCheck (highBitsUnchecked) that has bits above Bits Stored, which callers mask
 * (maskHighBits) first. `storedMoments`: also return the stored values' moments (see
 * ShrunkDisplayImage) when they come at no extra pass.
 */
export function renderMonochromeShrunk(
  frame: DecodedFrame,
  info: RenderInfo,
  options: RenderOptions,
  region: FrameRegion,
  kx: number,
  ky: number,
  into?: Float32Array,
  storedMoments = false,
): ShrunkDisplayImage | undefined {
  if (
    frame.photometricInterpretation !== 'MONOCHROME1' &&
    frame.photometricInterpretation !== 'MONOCHROME2'
  ) {
    return undefined;
  }
  if (!Number.isInteger(kx) || !Number.isInteger(ky) || kx < 1 || ky < 1) {
    throw new RangeError(`box factors must be positive integers, got ${kx} x ${ky}`);
  }
  const { left, top, width, height } = region;
  if (
    left < 0 ||
    top < 0 ||
    width < kx ||
    height < ky ||
    left + width > frame.columns ||
    top + height > frame.rows
  ) {
    throw new RangeError(
      `region ${width}x${height}+${left}+${top} does not fit a ${frame.columns}x${frame.rows} frame with ${kx}x${ky} boxes`,
    );
  }
  const expected = frame.rows * frame.columns;
  if (frame.samples.length !== expected) {
    throw new RangeError(`decoded frame has ${frame.samples.length} samples, expected ${expected}`);
  }
  const unchecked = frame.highBitsUnchecked === true;
  const lut = storedValueTable(frame, info, options);
  if (lut === undefined) return undefined;
  const outWidth = Math.floor(width / kx);
  const outHeight = Math.floor(height / ky);
  const x0 = left + ((width - outWidth * kx) >> 1);
  const y0 = top + ((height - outHeight * ky) >> 1);
  const values = outputArray(outWidth * outHeight, into);
  const whole = outWidth * kx === frame.columns && outHeight * ky === frame.rows;
  // A statistical VOI has already counted every code of the frame: the moments come from that
  // histogram. Otherwise the box pass sums the unsigned codes and their squares, which costs far
  // less than counting a histogram per pixel. The sums are exact integers in float64 below 2^53
  // (any 12-bit frame of up to 500 million pixels); past that they round at 1e-16 relative.
  const sums =
    (storedMoments || unchecked) && whole && lut.counts === undefined && !lut.view.signed
      ? shrinkSums
      : undefined;
  sums?.fill(0);
  // A frame decoded with deferHighBitCheck is checked here: from the histogram or the OR of the
  // box pass when either sees every sample, else by a scan first. With any bit at or above Bits
  // Stored, the values computed are not the image's: undefined, and the caller masks the frame.
  if (
    unchecked &&
    sums === undefined &&
    lut.counts === undefined &&
    hasBitsAbove(frame.samples as Uint16Array, frame.bitsStored)
  ) {
    return undefined;
  }
  if (lut.view.bits === 8) {
    shrink8(lut.view.codes, lut.table, sums, frame.columns, x0, y0, kx, ky, values, outWidth, outHeight);
  } else {
    shrink16(lut.view.codes, lut.table, sums, frame.columns, x0, y0, kx, ky, values, outWidth, outHeight);
  }
  if (unchecked) {
    const found =
      lut.counts !== undefined
        ? lut.counts.subarray(1 << frame.bitsStored).some((count) => count !== 0)
        : sums !== undefined && sums[2]! >>> frame.bitsStored !== 0;
    if (found) return undefined;
  }
  const moments = !storedMoments
    ? undefined
    : sums !== undefined
      ? momentsOfSums(sums[0]!, sums[1]!, frame.rows * frame.columns)
      : lut.counts !== undefined
        ? momentsOfCounts(lut.counts, codeValues(lut.view))
        : undefined;
  return {
    values,
    channels: 1,
    voiUsed: lut.voiUsed,
    inverted: lut.inverted,
    width: outWidth,
    height: outHeight,
    ...(moments === undefined ? {} : { storedMoments: moments }),
  };
}

/**
 * Renders a decoded frame to display values in [0, 1]. Monochrome: Modality LUT -> VOI (the
 * file's window, else its VOI LUT table, else `options.fallback`, default the 0.5-99.5 percentile
 * range; or what `options.voi` asks for) -> MONOCHROME1 inversion (PS3.4 N.2.1). RGB: each sample
 * divided by 2^bitsStored - 1, no LUT (the Modality and VOI LUTs apply to grayscale only).
 * Writes into `into` when given (a buffer a decode worker reuses across frames: on this machine
 * allocating and first touching a fresh 20 MB array costs more than the whole pipeline); the
 * returned `values` is then `into` (or a view of its first pixels when it is longer).
 */
export function renderToDisplay(
  unchecked: DecodedFrame,
  info: RenderInfo,
  options: RenderOptions = {},
  into?: Float32Array,
): DisplayImage {
  // A frame decoded with deferHighBitCheck is checked (and masked if need be) before any use.
  const frame = maskHighBits(unchecked);
  const expected = frame.rows * frame.columns * frame.samplesPerPixel;
  if (frame.samples.length !== expected) {
    throw new RangeError(`decoded frame has ${frame.samples.length} samples, expected ${expected}`);
  }
  switch (frame.photometricInterpretation) {
    case 'RGB': {
      const samples = frame.samples;
      const n = samples.length;
      const scale = 1 / (2 ** frame.bitsStored - 1);
      const values = outputArray(n, into);
      const view = codeView(samples);
      if (view !== undefined && n >= 1 << view.bits) {
        const codes = codeValues(view);
        const table = scratchTable('rgb', view);
        for (let code = 0; code < codes.length; code++) table[code] = codes[code]! * scale;
        mapCodes(view, table, values);
      } else {
        for (let i = 0; i < n; i++) values[i] = samples[i]! * scale;
      }
      return { values, channels: 3, voiUsed: { kind: 'none' }, inverted: false };
    }
    case 'MONOCHROME1':
    case 'MONOCHROME2':
      return (
        renderMonochromeViaStoredValueLut(frame, info, options, into) ??
        renderMonochromePerPixel(frame, info, options, into)
      );
  }
}
