/**
 * JPEG 2000 (PS3.5 A.4.4, transfer syntaxes 1.2.840.10008.1.2.4.90 / .91) with the OpenJPEG
 * wasm build. The installed OpenJPEG (2.5) also decodes HTJ2K (ISO/IEC 15444-15) codestreams, so
 * an HTJ2K stream mislabelled as classic JPEG 2000 decodes here too, and decodeHtj2k routes
 * classic streams in HTJ2K syntaxes to this decoder.
 */
import { DicomRejectedError } from '../errors.js';
import type { CodecOutput, EncodedFrameInfo, SampleAllocator } from '../types.js';
import { loadCodec, runWasmDecoder, toCodecOutput } from './wasm.js';

/** Main-header facts of a JPEG 2000 codestream (ISO/IEC 15444-1 Annex A) that decoding depends on. */
export interface J2kMainHeader {
  /** Rsiz capabilities from SIZ. */
  readonly rsiz: number;
  readonly components: number;
  /** COD SGcod multiple component transformation: 1 = RCT/ICT on components 0-2 (Annex G.2). */
  readonly mct: boolean;
  /** Uses Part 15 (HTJ2K) block coding: CAP marker Pcap bit 15, or Rsiz bit 14 (15444-15 A.3). */
  readonly htj2k: boolean;
  /** COD SPcod number of decomposition levels (A.6.1): the reduced resolutions the stream carries. */
  readonly decompositionLevels: number;
  /**
   * A tile-part's Psot (A.4.2) reaches past the end of the data. JPEG 2000 decoders render a
   * truncated stream at lower quality without complaint, which would hide a cut-off transfer.
   */
  readonly truncated: boolean;
}

const SOC = 0xff4f;
const SIZ = 0xff51;
const CAP = 0xff50;
const COD = 0xff52;
const SOT = 0xff90;

/**
 * Reads the main header up to the first tile-part (SOT). Returns undefined when there is no
 * SOC+SIZ within the first bytes (not a codestream; a JP2 wrapper is searched through).
 */
export function readJ2kMainHeader(bytes: Uint8Array): J2kMainHeader | undefined {
  // Some writers wrap the codestream in a JP2 file (PS3.5 A.4.4 forbids it); look past the boxes.
  let start = -1;
  const searchEnd = Math.min(bytes.length - 4, 1 << 16);
  for (let i = 0; i <= searchEnd; i++) {
    if (bytes[i] === 0xff && bytes[i + 1] === 0x4f && bytes[i + 2] === 0xff && bytes[i + 3] === 0x51) {
      start = i;
      break;
    }
  }
  if (start < 0) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let rsiz = 0;
  let components = 0;
  let mct = false;
  let levels = 0;
  let pcap = 0;
  let o = start;
  while (o + 4 <= bytes.length) {
    const marker = view.getUint16(o);
    if (marker === SOC) {
      o += 2;
      continue;
    }
    if (marker === SOT || (marker & 0xff00) !== 0xff00) break;
    const length = view.getUint16(o + 2);
    const body = o + 4;
    if (marker === SIZ && body + 36 <= bytes.length) {
      rsiz = view.getUint16(body);
      components = view.getUint16(body + 34);
    } else if (marker === COD && body + 5 <= bytes.length) {
      // Scod(1) progression(1) layers(2) MCT(1), then SPcod: decomposition levels(1)
      mct = view.getUint8(body + 4) === 1;
      if (body + 6 <= bytes.length) levels = view.getUint8(body + 5);
    } else if (marker === CAP && body + 4 <= bytes.length) {
      pcap = view.getUint32(body);
    }
    o += 2 + length;
  }
  // Walk the tile-parts by their lengths; Psot = 0 means "up to EOC" (only the last may say so).
  let truncated = false;
  while (o + 12 <= bytes.length && view.getUint16(o) === SOT) {
    const psot = view.getUint32(o + 6);
    if (psot === 0) break;
    o += psot;
  }
  if (o > bytes.length || (o + 2 <= bytes.length && view.getUint16(o) === SOT)) truncated = true;
  // Pcap bit i (counted from the MSB, i = 1..32) flags Part i capabilities.
  const htj2k = (pcap & (1 << (32 - 15))) !== 0 || (rsiz & 0x4000) !== 0;
  return { rsiz, components, mct, htj2k, truncated, decompositionLevels: levels };
}

/**
 * Whether a decoder's inverse multiple-component transform produced RGB. PS3.5 8.2.4: with an MCT
 * the photometric is YBR_RCT / YBR_ICT and the decoded components are R, G, B; writers such as
 * gdcm also label MCT streams RGB. A YBR_FULL stream (public file other_jpeg_2000_ybr_color_space)
 * has no MCT, keeps YBR_FULL after gdcm's decode, and is left for the photometric step.
 */
export function j2kColorSpace(info: EncodedFrameInfo, mctApplied: boolean): CodecOutput['colorSpace'] {
  if (info.samplesPerPixel !== 3 || !mctApplied) return 'as-stored';
  switch (info.photometricInterpretation) {
    case 'YBR_RCT':
    case 'YBR_ICT':
    case 'RGB':
      return 'RGB';
    default:
      // e.g. an MCT applied on top of YBR_FULL data: the inverse MCT gives back YBR_FULL.
      return 'as-stored';
  }
}

/** Throws corrupt_stream when the tile-part lengths say the codestream was cut short. */
export function rejectTruncated(header: J2kMainHeader | undefined, label: string): void {
  if (header?.truncated) {
    throw new DicomRejectedError(
      'corrupt_stream',
      `${label}: codestream truncated (a tile-part runs past its end)`,
    );
  }
}

/**
 * The deepest resolution level to decode for `info.minSize`: the largest r <= the stream's
 * decomposition levels with ceil(side / 2^r) >= the minimum on both sides (ISO/IEC 15444-1
 * B.5 with the image at the origin, as DICOM writes it); 0 (full resolution) without minSize.
 */
export function reducedLevel(info: EncodedFrameInfo, decompositionLevels: number): number {
  const min = info.minSize;
  if (min === undefined || info.bitsAllocated === 1) return 0;
  let level = 0;
  while (
    level < decompositionLevels &&
    Math.ceil(info.columns / 2 ** (level + 1)) >= min.columns &&
    Math.ceil(info.rows / 2 ** (level + 1)) >= min.rows
  ) {
    level++;
  }
  return level;
}

/**
 * Decodes at resolution `level` through `decode` and checks the size against the expected
 * reduced one; any failure (a tile-part COD with fewer levels, an offset image) falls back to
 * the full-resolution decode, which reports its own errors.
 */
export async function decodeReduced(
  level: number,
  info: EncodedFrameInfo,
  decode: (level: number, info: EncodedFrameInfo) => Promise<CodecOutput>,
): Promise<CodecOutput> {
  if (level > 0) {
    const columns = Math.ceil(info.columns / 2 ** level);
    const rows = Math.ceil(info.rows / 2 ** level);
    try {
      const output = await decode(level, { ...info, columns, rows });
      return { ...output, reduced: { level, columns, rows } };
    } catch {
      // fall through to the full decode
    }
  }
  return decode(0, info);
}

/** Decodes one JPEG 2000 (or HTJ2K) codestream with OpenJPEG; output interleaved. */
export async function decodeWithOpenJpeg(
  encoded: Uint8Array,
  info: EncodedFrameInfo,
  label = 'JPEG 2000',
  buffers?: SampleAllocator,
): Promise<CodecOutput> {
  const header = readJ2kMainHeader(encoded);
  rejectTruncated(header, label);
  return decodeReduced(reducedLevel(info, header?.decompositionLevels ?? 0), info, (level, levelInfo) =>
    decodeWithOpenJpegAt(encoded, levelInfo, label, buffers, header, level),
  );
}

async function decodeWithOpenJpegAt(
  encoded: Uint8Array,
  info: EncodedFrameInfo,
  label: string,
  buffers: SampleAllocator | undefined,
  header: J2kMainHeader | undefined,
  level: number,
): Promise<CodecOutput> {
  const codec = await loadCodec('openjpeg');
  // OpenJPEG reports most failures on stderr and returns an empty frame rather than throwing;
  // toCodecOutput rejects empty and short output, so the message comes from the diagnostics.
  const decoded = runWasmDecoder(codec, 'J2KDecoder', label, encoded, undefined, buffers, level);
  if (decoded.bytes.length === 0) {
    const reason = codec.messages.filter((m) => m.startsWith('[ERROR]')).pop();
    return toCodecOutput(
      reason ? `${label}: ${reason.replace('[ERROR] ', '').trim()}` : label,
      decoded,
      info,
      'as-stored',
    );
  }
  return toCodecOutput(label, decoded, info, j2kColorSpace(info, header?.mct ?? false), buffers);
}

/** Decodes a JPEG 2000 frame (.90 lossless, .91 lossy) to interleaved samples. */
export function decodeJpeg2000(
  encoded: Uint8Array,
  info: EncodedFrameInfo,
  buffers?: SampleAllocator,
): Promise<CodecOutput> {
  return decodeWithOpenJpeg(encoded, info, 'JPEG 2000', buffers);
}
