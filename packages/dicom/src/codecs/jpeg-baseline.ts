/**
 * JPEG baseline 8-bit (PS3.5 A.4.1, transfer syntax 1.2.840.10008.1.2.4.50; ISO/IEC 10918-1
 * process 1) with the libjpeg-turbo wasm build.
 */
import type { CodecOutput, EncodedFrameInfo, SampleAllocator } from '../types.js';
import { loadCodec, runWasmDecoder, toCodecOutput } from './wasm.js';

const LABEL = 'JPEG baseline';

/**
 * Whether libjpeg(-turbo) will treat a 3-component stream as YCbCr, and so convert it to RGB on
 * output (the TurboJPEG wrapper asks for RGB pixels). Mirrors libjpeg's
 * default_decompress_parms(): a JFIF APP0 means YCbCr; else an Adobe APP14 transform flag
 * decides (0 = RGB, otherwise YCbCr); else component ids 'R','G','B' mean RGB, anything else
 * (DICOM's usual 1,2,3) YCbCr. Only markers before the first SOS are read.
 */
export function jpegStreamIsYcbcr(bytes: Uint8Array): boolean {
  let jfif = false;
  let adobeTransform: number | undefined;
  let componentIds: number[] = [];
  let o = 2; // after SOI
  while (o + 4 <= bytes.length) {
    if (bytes[o] !== 0xff) break;
    const marker = bytes[o + 1]!;
    if (marker === 0xff) {
      o += 1; // fill byte
      continue;
    }
    const length = (bytes[o + 2]! << 8) | bytes[o + 3]!;
    const body = o + 4;
    if (marker === 0xe0 && String.fromCharCode(...bytes.subarray(body, body + 4)) === 'JFIF') jfif = true;
    if (
      marker === 0xee &&
      String.fromCharCode(...bytes.subarray(body, body + 5)) === 'Adobe' &&
      body + 11 < bytes.length
    ) {
      adobeTransform = bytes[body + 11];
    }
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      // SOFn: P(1) Y(2) X(2) Nf(1), then Nf x (C, H/V, Tq)
      const nf = bytes[body + 5] ?? 0;
      componentIds = [];
      for (let i = 0; i < nf; i++) componentIds.push(bytes[body + 6 + i * 3] ?? 0);
    }
    if (marker === 0xda) break; // SOS: entropy-coded data follows
    o += 2 + length;
  }
  if (componentIds.length !== 3) return false;
  if (jfif) return true;
  if (adobeTransform !== undefined) return adobeTransform !== 0;
  const [a, b, c] = componentIds;
  return !(a === 0x52 && b === 0x47 && c === 0x42);
}

/** Decodes a JPEG baseline frame to 8-bit interleaved samples (YCbCr converted to RGB, as libjpeg does). */
export async function decodeJpegBaseline(
  encoded: Uint8Array,
  info: EncodedFrameInfo,
  buffers?: SampleAllocator,
): Promise<CodecOutput> {
  const codec = await loadCodec('libjpegTurbo');
  const decoded = runWasmDecoder(codec, 'JPEGDecoder', LABEL, encoded, undefined, buffers);
  // PS3.5 8.2.1: YBR_FULL_422 / YBR_FULL frames come out of libjpeg as RGB, and the caller must
  // not convert them again.
  const colorSpace = info.samplesPerPixel === 3 && jpegStreamIsYcbcr(encoded) ? 'RGB' : 'as-stored';
  return toCodecOutput(LABEL, decoded, info, colorSpace, buffers);
}
