import { allocateSamples } from './buffers.js';
import { DicomRejectedError } from './errors.js';
import type {
  CodecOutput,
  DecodedFrame,
  LookupTable,
  Palette,
  PixelModule,
  SampleAllocator,
  StoredSamples,
} from './types.js';

/**
 * Pure functions that turn stored pixel bytes (native Pixel Data or a codec's output) into a
 * DecodedFrame: PS3.5 8.1.1 bit layout, PS3.3 C.7.6.3 pixel module rules, colour to RGB.
 * Functions taking an optional `buffers` allocate their output arrays there (see buffers.ts);
 * without it they return fresh arrays.
 */

const HOST_LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** How native Pixel Data of one frame is laid out in memory. */
export interface NativeLayout {
  /** True for Explicit VR Big Endian data sets (PS3.5 A.3). */
  readonly bigEndian: boolean;
  /** VR of the Pixel Data element: OB is never byte-swapped, OW swaps 16-bit words. */
  readonly vr?: string;
}

/**
 * Stored samples per frame. YBR_FULL_422 native data keeps two samples per pixel, because
 * chroma is subsampled horizontally: Y0 Y1 Cb Cr per pixel pair (PS3.3 C.7.6.3.1.2).
 */
export function storedSamplesPerFrame(pixel: PixelModule): number {
  const pixels = pixel.rows * pixel.columns;
  if (pixel.samplesPerPixel === 3 && pixel.photometricInterpretation === 'YBR_FULL_422') return pixels * 2;
  return pixels * pixel.samplesPerPixel;
}

/** Bytes native Pixel Data must hold for all frames (1-bit frames are packed without padding, PS3.5 8.1.1). */
export function nativePixelDataLength(pixel: PixelModule): number {
  return Math.ceil((storedSamplesPerFrame(pixel) * pixel.numberOfFrames * pixel.bitsAllocated) / 8);
}

/**
 * Extracts frame `frameIndex` from native (uncompressed) Pixel Data bytes and converts it to a
 * DecodedFrame. Its samples may be a view over `pixelData` when no conversion was needed.
 */
export function extractNativeFrame(
  pixelData: Uint8Array,
  frameIndex: number,
  pixel: PixelModule,
  layout: NativeLayout,
  buffers?: SampleAllocator,
  deferHighBitCheck = false,
): DecodedFrame {
  const count = storedSamplesPerFrame(pixel);
  const raw = readNativeSamples(pixelData, frameIndex, count, pixel.bitsAllocated, layout, buffers);
  if (deferHighBitCheck && mayDeferHighBitCheck(raw, pixel)) {
    // DecodeFrameOptions.deferHighBitCheck: the samples as stored, for a caller that checks them.
    return { ...monochromeOrPalette(raw, pixel, buffers), highBitsUnchecked: true };
  }
  const subsampled422 = pixel.samplesPerPixel === 3 && pixel.photometricInterpretation === 'YBR_FULL_422';
  // A byte-swapped or unpacked copy is ours, so masking may overwrite it; a view over the
  // caller's Pixel Data must not be written.
  const owned = raw.buffer !== pixelData.buffer;
  return finishFrame(raw, pixel, pixel.planarConfiguration === 1, subsampled422, false, owned, buffers);
}

/**
 * Converts a codec's output (CodecOutput) to a DecodedFrame with the same masking, sign and colour
 * rules as native data. Throws corrupt_stream when the codec returned too few samples.
 */
export function toDecodedFrame(
  codecOutput: CodecOutput,
  storedPixel: PixelModule,
  buffers?: SampleAllocator,
): DecodedFrame {
  const reduced = codecOutput.reduced;
  const pixel =
    reduced === undefined ? storedPixel : { ...storedPixel, rows: reduced.rows, columns: reduced.columns };
  const expected = pixel.rows * pixel.columns * pixel.samplesPerPixel;
  if (codecOutput.samples.length < expected) {
    throw new DicomRejectedError(
      'corrupt_stream',
      `decoder returned ${codecOutput.samples.length} samples, expected ${expected} (${pixel.rows}x${pixel.columns}x${pixel.samplesPerPixel})`,
    );
  }
  const samples =
    codecOutput.samples.length === expected ? codecOutput.samples : codecOutput.samples.subarray(0, expected);
  // A codec returns its chroma upsampled, so YBR_FULL_422 is just YBR_FULL here.
  // The codec's buffer is ours alone, so masking may overwrite it instead of copying.
  const frame = finishFrame(
    samples,
    pixel,
    codecOutput.planar,
    false,
    codecOutput.colorSpace === 'RGB',
    true,
    buffers,
  );
  return reduced === undefined ? frame : { ...frame, resolutionLevel: reduced.level };
}

function finishFrame(
  raw: StoredSamples,
  pixel: PixelModule,
  planar: boolean,
  subsampled422: boolean,
  alreadyRgb: boolean,
  owned: boolean,
  buffers: SampleAllocator | undefined,
): DecodedFrame {
  const stored = normalizeStoredValues(raw, pixel, owned, buffers);
  if (pixel.samplesPerPixel === 1) return monochromeOrPalette(stored, pixel, buffers);
  return colourFrame(stored, pixel, planar, subsampled422, alreadyRgb, buffers);
}

/** Copies `length` bytes of `source` from `offset` (any alignment) to the start of `target`. */
function copyBytes(source: ArrayBufferLike, offset: number, target: ArrayBufferView, length: number): void {
  new Uint8Array(target.buffer, target.byteOffset, length).set(new Uint8Array(source, offset, length));
}

/** A Buffer over the same memory as `view`, for its native byte swaps (swap16, swap32). */
function bytesOf(view: ArrayBufferView): Buffer {
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

function readNativeSamples(
  pixelData: Uint8Array,
  frameIndex: number,
  count: number,
  bitsAllocated: PixelModule['bitsAllocated'],
  layout: NativeLayout,
  buffers: SampleAllocator | undefined,
): StoredSamples {
  // OW in big endian swaps bytes within 16-bit words (PS3.5 A.3); OB is a byte stream.
  const swapWords = layout.bigEndian && layout.vr !== 'OB';
  switch (bitsAllocated) {
    case 1:
      return unpackBits(pixelData, frameIndex * count, count, swapWords, buffers);
    case 8: {
      // A plain Uint8Array view (not a Buffer subclass) over the caller's bytes: no copy.
      const frame = new Uint8Array(pixelData.buffer, pixelData.byteOffset + frameIndex * count, count);
      if (!swapWords) return frame;
      const out = allocateSamples(Uint8Array, count, buffers);
      for (let i = 0; i < count; i++) out[i] = frame[i ^ 1] ?? 0;
      return out;
    }
    case 16: {
      const start = pixelData.byteOffset + frameIndex * count * 2;
      if (!layout.bigEndian && HOST_LITTLE_ENDIAN && start % 2 === 0) {
        return new Uint16Array(pixelData.buffer, start, count);
      }
      const out = allocateSamples(Uint16Array, count, buffers);
      copyBytes(pixelData.buffer, start, out, count * 2);
      // Native code swaps the bytes of each word about 3x faster than a JS loop over 32-bit words.
      if (layout.bigEndian === HOST_LITTLE_ENDIAN) bytesOf(out).swap16();
      return out;
    }
    case 32: {
      const start = pixelData.byteOffset + frameIndex * count * 4;
      if (!layout.bigEndian && HOST_LITTLE_ENDIAN && start % 4 === 0) {
        return new Uint32Array(pixelData.buffer, start, count);
      }
      const out = allocateSamples(Uint32Array, count, buffers);
      copyBytes(pixelData.buffer, start, out, count * 4);
      if (layout.bigEndian === HOST_LITTLE_ENDIAN) bytesOf(out).swap32();
      return out;
    }
    case 64:
      // Only Double Float Pixel Data has 64 bits; it is read by extractFloatFrame.
      throw new DicomRejectedError('unsupported_pixel_module', 'Bits Allocated 64 in integer Pixel Data');
  }
}

/**
 * One frame of Float Pixel Data (OF, 32-bit IEEE) or Double Float Pixel Data (OD, 64-bit) as
 * float32 values, exactly as stored (rounded to float32 for doubles): no masking, no LUT
 * (PS3.3 C.7.6.24). Big endian data sets swap each value's bytes (PS3.5 A.3).
 */
export function extractFloatFrame(
  pixelData: Uint8Array,
  frameIndex: number,
  pixel: PixelModule,
  bigEndian: boolean,
  buffers?: SampleAllocator,
): DecodedFrame {
  const count = pixel.rows * pixel.columns;
  const double = pixel.floatingPoint === 'float64';
  const size = double ? 8 : 4;
  const start = pixelData.byteOffset + frameIndex * count * size;
  let samples: Float32Array;
  if (!double && !bigEndian && start % 4 === 0) {
    samples = new Float32Array(pixelData.buffer, start, count);
  } else {
    const view = new DataView(pixelData.buffer, start, count * size);
    samples = allocateSamples(Float32Array, count, buffers);
    const littleEndian = !bigEndian;
    if (double) for (let i = 0; i < count; i++) samples[i] = view.getFloat64(i * 8, littleEndian);
    else for (let i = 0; i < count; i++) samples[i] = view.getFloat32(i * 4, littleEndian);
  }
  return {
    rows: pixel.rows,
    columns: pixel.columns,
    samplesPerPixel: 1,
    photometricInterpretation:
      pixel.photometricInterpretation === 'MONOCHROME1' ? 'MONOCHROME1' : 'MONOCHROME2',
    samples,
    bitsStored: 32,
    signed: true,
  };
}

/** Unpacks 1-bit samples, least significant bit first within each byte (PS3.5 8.1.1, Figure D-1). */
function unpackBits(
  pixelData: Uint8Array,
  firstBit: number,
  count: number,
  swapWords: boolean,
  buffers: SampleAllocator | undefined,
): Uint8Array {
  const out = allocateSamples(Uint8Array, count, buffers);
  for (let i = 0; i < count; i++) {
    const bit = firstBit + i;
    let byteIndex = bit >>> 3;
    if (swapWords) byteIndex ^= 1;
    out[i] = ((pixelData[byteIndex] ?? 0) >>> (bit & 7)) & 1;
  }
  return out;
}

/**
 * Keeps bits HighBit-BitsStored+1 .. HighBit of each sample, shifted down to bit 0, and
 * sign-extends from BitsStored when PixelRepresentation is 1 (PS3.5 8.1.1, PS3.3 C.7.6.3.1).
 * Returns the input unchanged (no copy) when nothing needs masking; with `inPlace` the result
 * reuses the input's memory (the caller must own it).
 */
export function normalizeStoredValues(
  raw: StoredSamples,
  pixel: PixelModule,
  inPlace = false,
  buffers?: SampleAllocator,
): StoredSamples {
  const { bitsStored, highBit, pixelRepresentation } = pixel;
  const shift = highBit - bitsStored + 1;
  const containerBits = raw.BYTES_PER_ELEMENT * 8;
  const signed = pixelRepresentation === 1;
  if (pixel.bitsAllocated === 1) return raw;

  if (shift === 0 && bitsStored === containerBits) {
    if (signed === isSignedArray(raw)) return raw;
    return reinterpret(raw, signed);
  }

  if (shift === 0 && !signed && raw instanceof Uint16Array && !hasBitsAbove(raw, bitsStored)) {
    // Unsigned values with nothing above Bits Stored (what writers almost always produce):
    // masking would copy the frame to change nothing. A read-only scan is several times cheaper
    // than a masked copy into fresh memory, and the caller's bytes stay a view.
    return raw;
  }

  const count = raw.length;
  const out = inPlace ? reinterpret(raw, signed) : allocate(raw.BYTES_PER_ELEMENT, signed, count, buffers);
  if (out instanceof Uint16Array && raw instanceof Uint16Array && !signed && bitsStored < 16) {
    maskUint16(raw, out, shift, bitsStored);
  } else if (signed) {
    const up = 32 - bitsStored;
    for (let i = 0; i < count; i++) out[i] = ((raw[i]! >>> shift) << up) >> up;
  } else if (bitsStored >= 32) {
    for (let i = 0; i < count; i++) out[i] = raw[i]! >>> shift;
  } else {
    const mask = 2 ** bitsStored - 1;
    for (let i = 0; i < count; i++) out[i] = (raw[i]! >>> shift) & mask;
  }
  return out;
}

/**
 * Whether normalizeStoredValues would only scan these samples (unsigned monochrome 16-bit, High
 * Bit at Bits Stored - 1, Bits Stored below 16), so that a caller may do the scan instead.
 */
function mayDeferHighBitCheck(raw: StoredSamples, pixel: PixelModule): raw is Uint16Array {
  return (
    raw instanceof Uint16Array &&
    pixel.samplesPerPixel === 1 &&
    (pixel.photometricInterpretation === 'MONOCHROME1' ||
      pixel.photometricInterpretation === 'MONOCHROME2') &&
    pixel.pixelRepresentation === 0 &&
    pixel.bitsAllocated === 16 &&
    pixel.bitsStored < 16 &&
    pixel.highBit === pixel.bitsStored - 1
  );
}

/** out[i] = bits shift .. shift + bitsStored - 1 of raw[i]: the common case (12-16 bit unsigned X-ray data), kept monomorphic for speed. */
function maskUint16(raw: Uint16Array, out: Uint16Array, shift: number, bitsStored: number): void {
  const mask = (1 << bitsStored) - 1;
  for (let i = 0; i < raw.length; i++) out[i] = (raw[i]! >>> shift) & mask;
}

/**
 * A frame with DecodedFrame.highBitsUnchecked made ordinary: its samples as they are when no
 * sample has a bit at or above Bits Stored, else masked to Bits Stored in a new array. Other
 * frames are returned unchanged.
 */
export function maskHighBits(frame: DecodedFrame): DecodedFrame {
  if (frame.highBitsUnchecked !== true) return frame;
  const { highBitsUnchecked: _unchecked, ...checked } = frame;
  const samples = frame.samples;
  if (!(samples instanceof Uint16Array))
    throw new TypeError('highBitsUnchecked frame without 16-bit samples');
  if (!hasBitsAbove(samples, frame.bitsStored)) return checked;
  const out = new Uint16Array(samples.length);
  maskUint16(samples, out, 0, frame.bitsStored);
  return { ...checked, samples: out };
}

/**
 * Whether any sample has a bit set at or above `bits`: an OR over the frame, two samples per
 * 32-bit word where the samples are 4-byte aligned (half the loads of a 16-bit scan).
 */
export function hasBitsAbove(samples: Uint16Array, bits: number): boolean {
  const n = samples.length;
  let any = 0;
  let i = 0;
  if (samples.byteOffset % 4 === 0) {
    const words = new Uint32Array(samples.buffer, samples.byteOffset, n >>> 1);
    const m = words.length;
    let j = 0;
    for (; j + 8 <= m; j += 8) {
      any |=
        words[j]! |
        words[j + 1]! |
        words[j + 2]! |
        words[j + 3]! |
        words[j + 4]! |
        words[j + 5]! |
        words[j + 6]! |
        words[j + 7]!;
    }
    for (; j < m; j++) any |= words[j]!;
    // Both halves of each word are samples: fold the high one onto the low one.
    any = (any | (any >>> 16)) & 0xffff;
    i = m * 2;
  }
  for (; i + 8 <= n; i += 8) {
    any |=
      samples[i]! |
      samples[i + 1]! |
      samples[i + 2]! |
      samples[i + 3]! |
      samples[i + 4]! |
      samples[i + 5]! |
      samples[i + 6]! |
      samples[i + 7]!;
  }
  for (; i < n; i++) any |= samples[i]!;
  return any >>> bits !== 0;
}

function isSignedArray(samples: StoredSamples): boolean {
  return samples instanceof Int8Array || samples instanceof Int16Array || samples instanceof Int32Array;
}

function reinterpret(samples: StoredSamples, signed: boolean): StoredSamples {
  const { buffer, byteOffset, length } = samples;
  switch (samples.BYTES_PER_ELEMENT) {
    case 1:
      return signed ? new Int8Array(buffer, byteOffset, length) : new Uint8Array(buffer, byteOffset, length);
    case 2:
      return signed
        ? new Int16Array(buffer, byteOffset, length)
        : new Uint16Array(buffer, byteOffset, length);
    default:
      return signed
        ? new Int32Array(buffer, byteOffset, length)
        : new Uint32Array(buffer, byteOffset, length);
  }
}

function allocate(
  bytesPerElement: number,
  signed: boolean,
  count: number,
  buffers: SampleAllocator | undefined,
): StoredSamples {
  switch (bytesPerElement) {
    case 1:
      return signed
        ? allocateSamples(Int8Array, count, buffers)
        : allocateSamples(Uint8Array, count, buffers);
    case 2:
      return signed
        ? allocateSamples(Int16Array, count, buffers)
        : allocateSamples(Uint16Array, count, buffers);
    default:
      return signed
        ? allocateSamples(Int32Array, count, buffers)
        : allocateSamples(Uint32Array, count, buffers);
  }
}

function monochromeOrPalette(
  samples: StoredSamples,
  pixel: PixelModule,
  buffers: SampleAllocator | undefined,
): DecodedFrame {
  const { rows, columns } = pixel;
  switch (pixel.photometricInterpretation) {
    case 'MONOCHROME1':
    case 'MONOCHROME2':
      return {
        rows,
        columns,
        samplesPerPixel: 1,
        photometricInterpretation: pixel.photometricInterpretation,
        samples,
        bitsStored: pixel.bitsAllocated === 1 ? 1 : pixel.bitsStored,
        signed: pixel.pixelRepresentation === 1,
      };
    case 'PALETTE COLOR': {
      if (pixel.palette === undefined) {
        throw new DicomRejectedError(
          'unsupported_pixel_module',
          'PALETTE COLOR image without (0028,1101-1203) palette descriptors and data',
        );
      }
      return applyPalette(samples, pixel, pixel.palette, buffers);
    }
    default:
      throw new DicomRejectedError(
        'unsupported_photometric',
        `photometric interpretation ${printable(pixel.photometricInterpretation)} with 1 sample per pixel is not supported`,
      );
  }
}

/** Maps palette indices to interleaved RGB (PS3.3 C.7.6.3.1.5); indices outside the table clamp to its ends. */
export function applyPalette(
  indices: StoredSamples,
  pixel: PixelModule,
  palette: Palette,
  buffers?: SampleAllocator,
): DecodedFrame {
  const bits = Math.max(palette.red.bitsPerEntry, palette.green.bitsPerEntry, palette.blue.bitsPerEntry);
  const count = indices.length;
  const out =
    bits > 8
      ? allocateSamples(Uint16Array, count * 3, buffers)
      : allocateSamples(Uint8Array, count * 3, buffers);
  const tables: readonly LookupTable[] = [palette.red, palette.green, palette.blue];
  for (let channel = 0; channel < 3; channel++) {
    const table = tables[channel]!;
    const data = table.data;
    const last = data.length - 1;
    const first = table.firstMapped;
    for (let i = 0; i < count; i++) {
      let index = indices[i]! - first;
      if (index < 0) index = 0;
      else if (index > last) index = last;
      out[i * 3 + channel] = data[index] ?? 0;
    }
  }
  return {
    rows: pixel.rows,
    columns: pixel.columns,
    samplesPerPixel: 3,
    photometricInterpretation: 'RGB',
    samples: out,
    bitsStored: bits,
    signed: false,
  };
}

function colourFrame(
  samples: StoredSamples,
  pixel: PixelModule,
  planar: boolean,
  subsampled422: boolean,
  alreadyRgb: boolean,
  buffers: SampleAllocator | undefined,
): DecodedFrame {
  const photometric = pixel.photometricInterpretation;
  const frame = (rgb: StoredSamples): DecodedFrame => ({
    rows: pixel.rows,
    columns: pixel.columns,
    samplesPerPixel: 3,
    photometricInterpretation: 'RGB',
    samples: rgb,
    bitsStored: pixel.bitsStored,
    signed: pixel.pixelRepresentation === 1,
  });
  const interleaved = planar ? interleavePlanes(samples, buffers) : samples;
  // YBR_ICT / YBR_RCT describe the JPEG 2000 component transform, which every JPEG 2000 decoder
  // inverts itself (PS3.5 A.4.4): the samples it returns are RGB.
  if (alreadyRgb || photometric === 'RGB' || photometric === 'YBR_ICT' || photometric === 'YBR_RCT') {
    return frame(interleaved);
  }
  if (photometric === 'YBR_FULL') return frame(ybrFullToRgb(interleaved, pixel.bitsStored, buffers));
  if (photometric === 'YBR_FULL_422') {
    if (!subsampled422) return frame(ybrFullToRgb(interleaved, pixel.bitsStored, buffers));
    if (planar) {
      throw new DicomRejectedError(
        'unsupported_pixel_module',
        'YBR_FULL_422 requires Planar Configuration 0',
      );
    }
    return frame(ybrFull422ToRgb(samples, pixel.rows, pixel.columns, pixel.bitsStored, buffers));
  }
  throw new DicomRejectedError(
    'unsupported_photometric',
    `photometric interpretation ${printable(photometric)} is not supported for native or codec data`,
  );
}

/** RRR...GGG...BBB... -> RGBRGB... (Planar Configuration 1, PS3.3 C.7.6.3.1.3). */
export function interleavePlanes(samples: StoredSamples, buffers?: SampleAllocator): StoredSamples {
  const pixels = Math.floor(samples.length / 3);
  const out = allocate(samples.BYTES_PER_ELEMENT, isSignedArray(samples), pixels * 3, buffers);
  for (let i = 0, j = 0; i < pixels; i++, j += 3) {
    out[j] = samples[i]!;
    out[j + 1] = samples[i + pixels]!;
    out[j + 2] = samples[i + 2 * pixels]!;
  }
  return out;
}

function clampRound(value: number, max: number): number {
  if (value <= 0) return 0;
  if (value >= max) return max;
  return Math.round(value);
}

/** YCbCr full range to RGB with the equations of PS3.3 C.7.6.3.1.2, offset 2^(BitsStored-1). */
export function ybrFullToRgb(
  ybr: StoredSamples,
  bitsStored: number,
  buffers?: SampleAllocator,
): StoredSamples {
  // A reused buffer is not zeroed: write every element, including a trailing partial pixel.
  const out = allocate(ybr.BYTES_PER_ELEMENT, false, ybr.length, buffers);
  for (let i = ybr.length - (ybr.length % 3); i < ybr.length; i++) out[i] = 0;
  const max = 2 ** bitsStored - 1;
  const half = 2 ** (bitsStored - 1);
  for (let i = 0; i + 2 < ybr.length; i += 3) {
    const y = ybr[i]!;
    const cb = ybr[i + 1]! - half;
    const cr = ybr[i + 2]! - half;
    out[i] = clampRound(y + 1.402 * cr, max);
    out[i + 1] = clampRound(y - 0.344136 * cb - 0.714136 * cr, max);
    out[i + 2] = clampRound(y + 1.772 * cb, max);
  }
  return out;
}

/** Native YBR_FULL_422: Y0 Y1 Cb Cr per horizontal pixel pair, both pixels share the chroma. */
function ybrFull422ToRgb(
  ybr: StoredSamples,
  rows: number,
  columns: number,
  bitsStored: number,
  buffers: SampleAllocator | undefined,
): StoredSamples {
  if (columns % 2 !== 0) {
    throw new DicomRejectedError(
      'unsupported_pixel_module',
      `YBR_FULL_422 with an odd column count (${columns})`,
    );
  }
  const pixels = rows * columns;
  const out = allocate(ybr.BYTES_PER_ELEMENT, false, pixels * 3, buffers);
  const max = 2 ** bitsStored - 1;
  const half = 2 ** (bitsStored - 1);
  for (let pair = 0; pair < pixels / 2; pair++) {
    const i = pair * 4;
    const cb = ybr[i + 2]! - half;
    const cr = ybr[i + 3]! - half;
    const dr = 1.402 * cr;
    const dg = -0.344136 * cb - 0.714136 * cr;
    const db = 1.772 * cb;
    for (let k = 0; k < 2; k++) {
      const y = ybr[i + k]!;
      const o = (pair * 2 + k) * 3;
      out[o] = clampRound(y + dr, max);
      out[o + 1] = clampRound(y + dg, max);
      out[o + 2] = clampRound(y + db, max);
    }
  }
  return out;
}

/** Attribute values in messages are limited to a short printable code string. */
function printable(value: string): string {
  return JSON.stringify(value.replace(/[^A-Z0-9_ ]/gi, '?').slice(0, 32));
}
