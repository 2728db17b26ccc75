// Test helpers for the JPEG decoders: dcmtk round trips on top of the shared test support
// (@cxr/dicom/testing: writer, reader, phantoms, tool runner), and small reference T.81
// encoders for what no installed tool writes (restart intervals, non-interleaved scans, odd
// precisions, several Huffman tables, long codes). Test-only: nothing in src imports it.
import { join } from 'node:path';

import {
  decodeFileWithTool,
  encodeWithTool,
  firstFrameCodestream,
  makeExtremesPhantom,
  type NativeImage,
  type ParsedPart10,
  type ScratchDir,
} from '../../testing/index.js';

/** A phantom image (see makeExtremesPhantom) with 8 bits allocated up to 8 bits, else 16. */
export function jpegTestImage(
  width: number,
  height: number,
  bits: number,
  channels: 1 | 3,
  seed: number,
): NativeImage & { readonly samples: Uint16Array } {
  return {
    rows: height,
    columns: width,
    samplesPerPixel: channels,
    bitsAllocated: bits > 8 ? 16 : 8,
    bitsStored: bits,
    pixelRepresentation: 0,
    photometricInterpretation: channels === 3 ? 'RGB' : 'MONOCHROME2',
    samples: makeExtremesPhantom(width, height, bits, channels, seed),
  };
}

/**
 * Writes `image` as native DICOM to `<name>.raw.dcm`, compresses it with dcmcjpeg `options`
 * into `<name>.jpg.dcm` and returns the JPEG stream.
 */
export function dcmcjpegStream(
  dir: string,
  name: string,
  image: NativeImage,
  options: readonly string[],
): Uint8Array {
  return firstFrameCodestream(encodeWithTool(inDir(dir), name, image, 'dcmcjpeg', options, '.jpg.dcm'));
}

/**
 * Decompresses a DICOM file with dcmdjpeg (into `<name>.dec.dcm`) and returns the reference
 * decode. `options` e.g. ['+cg'] to convert colour as libjpeg guesses it from the stream.
 */
export function dcmdjpegDecode(
  dir: string,
  name: string,
  input: string,
  options: readonly string[] = [],
): ParsedPart10 {
  return decodeFileWithTool(inDir(dir), input, name, 'dcmdjpeg', options);
}

/**
 * Offset of the first marker segment (0xFF, marker) for which `wanted` holds, walking the segments
 * of the first JPEG stream in `bytes` (a stream, or a DICOM file holding one) from its SOI.
 */
function findSegment(bytes: Uint8Array, wanted: (marker: number) => boolean): number {
  let pos = -1;
  for (let i = 0; i + 2 < bytes.length; i++) {
    if (bytes[i] === 0xff && bytes[i + 1] === 0xd8 && bytes[i + 2] === 0xff) {
      pos = i + 2;
      break;
    }
  }
  while (pos >= 0 && pos + 4 <= bytes.length && bytes[pos] === 0xff) {
    const marker = bytes[pos + 1]!;
    if (wanted(marker)) return pos;
    if (marker === 0xda) break;
    pos += 2 + ((bytes[pos + 2]! << 8) | bytes[pos + 3]!);
  }
  throw new Error('JPEG marker segment not found');
}

/**
 * A copy of `bytes` (a JPEG stream, or a DICOM file holding one) whose first scan header has the
 * given Ss, Se and Ah/Al byte: what GE archives wrote into sequential streams (T.81 B.2.3 wants
 * 0, 63, 0 there; libjpeg warns and decodes).
 */
export function withScanParameters(bytes: Uint8Array, ss: number, se: number, ahAl: number): Uint8Array {
  const out = bytes.slice();
  const sos = findSegment(out, (m) => m === 0xda);
  const end = sos + 2 + ((out[sos + 2]! << 8) | out[sos + 3]!);
  out[end - 3] = ss;
  out[end - 2] = se;
  out[end - 1] = ahAl;
  return out;
}

/**
 * A copy of `bytes` (a JPEG stream or a DICOM file holding one) with the colour clues libjpeg
 * reads changed: the 3 component ids in the frame and first scan header, the Adobe APP14
 * transform flag, and/or the Adobe identifier spoiled ("Xdobe") so that the marker no longer counts.
 */
export function withColorMarkers(
  bytes: Uint8Array,
  change: {
    readonly componentIds?: readonly [number, number, number];
    readonly adobeTransform?: number;
    readonly hideAdobe?: boolean;
  },
): Uint8Array {
  const out = bytes.slice();
  if (change.componentIds !== undefined) {
    const sof = findSegment(out, (m) => m === 0xc0 || m === 0xc1);
    const sos = findSegment(out, (m) => m === 0xda);
    for (let c = 0; c < 3; c++) {
      out[sof + 10 + 3 * c] = change.componentIds[c]!;
      out[sos + 5 + 2 * c] = change.componentIds[c]!;
    }
  }
  if (change.adobeTransform !== undefined)
    out[findSegment(out, (m) => m === 0xee) + 4 + 11] = change.adobeTransform;
  if (change.hideAdobe === true) out[findSegment(out, (m) => m === 0xee) + 4] = 0x58;
  return out;
}

function inDir(dir: string): Pick<ScratchDir, 'path'> {
  return { path: (name) => join(dir, name) };
}

// ---------------------------------------------------------------------------------------------
// Reference JPEG lossless encoder (T.81 Annex H), written from the standard for test inputs.

export interface LosslessEncodeOptions {
  readonly width: number;
  readonly height: number;
  readonly precision: number;
  readonly components: 1 | 3;
  readonly predictor: number;
  readonly pointTransform?: number;
  /** Restart interval in rows (0 = none); written as DRI in MCUs. */
  readonly restartRows?: number;
  /** Three components in one scan (default) or one scan per component. */
  readonly interleaved?: boolean;
  /** 'typical' lengths 2..15, or 'skewed': small categories get 10..16-bit codes. */
  readonly table?: 'typical' | 'skewed';
  /** One Huffman table per component (Td = component index) instead of a shared one. */
  readonly tablePerComponent?: boolean;
}

const TYPICAL_LENGTHS = [3, 2, 2, 3, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
const SKEWED_LENGTHS = [16, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 2];

interface Code {
  readonly code: number;
  readonly length: number;
}

function canonicalTable(lengths: readonly number[]): { dht: Uint8Array; codes: Code[] } {
  const symbols = lengths
    .map((length, symbol) => ({ length, symbol }))
    .sort((a, b) => a.length - b.length || a.symbol - b.symbol);
  const bits = new Uint8Array(16);
  for (const s of symbols) bits[s.length - 1]!++;
  const codes: Code[] = [];
  let code = 0;
  let length = symbols[0]!.length;
  for (const s of symbols) {
    code <<= s.length - length;
    length = s.length;
    codes[s.symbol] = { code, length };
    code++;
  }
  return { dht: new Uint8Array(Buffer.concat([bits, new Uint8Array(symbols.map((s) => s.symbol))])), codes };
}

class BitWriter {
  private readonly bytes: number[] = [];
  private acc = 0;
  private count = 0;

  write(value: number, length: number): void {
    for (let i = length - 1; i >= 0; i--) {
      this.acc = (this.acc << 1) | ((value >> i) & 1);
      if (++this.count === 8) this.flushByte();
    }
  }

  private flushByte(): void {
    this.bytes.push(this.acc);
    if (this.acc === 0xff) this.bytes.push(0); // B.1.1.5 byte stuffing
    this.acc = 0;
    this.count = 0;
  }

  /** Pads the last byte with 1-bits (F.1.2.3). */
  align(): void {
    while (this.count !== 0) this.write(1, 1);
  }

  marker(code: number): void {
    this.align();
    this.bytes.push(0xff, code);
  }

  result(): number[] {
    this.align();
    return this.bytes;
  }
}

function segment(marker: number, body: readonly number[] | Uint8Array): number[] {
  const length = body.length + 2;
  return [0xff, marker, length >> 8, length & 0xff, ...body];
}

/** Encodes interleaved samples (before the point transform) as a JPEG lossless SOF3 stream. */
export function encodeLossless(samples: Uint16Array, o: LosslessEncodeOptions): Uint8Array {
  const pt = o.pointTransform ?? 0;
  const nc = o.components;
  const restartRows = o.restartRows ?? 0;
  const tablePerComponent = o.tablePerComponent ?? false;
  const { dht, codes } = canonicalTable(o.table === 'skewed' ? SKEWED_LENGTHS : TYPICAL_LENGTHS);
  const shifted = samples.map((v) => v >> pt);
  const out: number[] = [0xff, 0xd8];
  const tableCount = tablePerComponent ? nc : 1;
  for (let t = 0; t < tableCount; t++) out.push(...segment(0xc4, [t, ...dht]));
  const sof = [o.precision, o.height >> 8, o.height & 0xff, o.width >> 8, o.width & 0xff, nc];
  for (let c = 0; c < nc; c++) sof.push(c + 1, 0x11, 0);
  out.push(...segment(0xc3, sof));
  const scans =
    nc === 3 && o.interleaved === false ? [[0], [1], [2]] : [Array.from({ length: nc }, (_, c) => c)];
  if (restartRows > 0) {
    const interval = restartRows * o.width;
    out.push(...segment(0xdd, [interval >> 8, interval & 0xff]));
  }
  const initial = 1 << (o.precision - pt - 1);
  const rowStride = o.width * nc;
  for (const scan of scans) {
    const sos = [scan.length];
    for (const c of scan) sos.push(c + 1, (tablePerComponent ? c : 0) << 4);
    sos.push(o.predictor, 0, pt);
    out.push(...segment(0xda, sos));
    const writer = new BitWriter();
    let restarts = 0;
    for (let y = 0; y < o.height; y++) {
      let first = y === 0;
      if (restartRows > 0 && y > 0 && y % restartRows === 0) {
        writer.marker(0xd0 + (restarts++ % 8));
        first = true;
      }
      for (let x = 0; x < o.width; x++) {
        for (const c of scan) {
          const i = y * rowStride + x * nc + c;
          const ra = x > 0 ? shifted[i - nc]! : 0;
          const rb = y > 0 ? shifted[i - rowStride]! : 0;
          const rc = x > 0 && y > 0 ? shifted[i - rowStride - nc]! : 0;
          let px: number;
          if (first) px = x === 0 ? initial : ra;
          else if (x === 0) px = rb;
          else {
            px = [0, ra, rb, rc, ra + rb - rc, ra + ((rb - rc) >> 1), rb + ((ra - rc) >> 1), (ra + rb) >> 1][
              o.predictor
            ]!;
          }
          let diff = (shifted[i]! - px) & 0xffff;
          if (diff > 32768) diff -= 65536;
          const magnitude = Math.abs(diff);
          const size = diff === 32768 ? 16 : 32 - Math.clz32(magnitude);
          const code = codes[size]!;
          writer.write(code.code, code.length);
          if (size > 0 && size < 16) writer.write(diff > 0 ? diff : diff + (1 << size) - 1, size);
        }
      }
    }
    for (const byte of writer.result()) out.push(byte);
  }
  out.push(0xff, 0xd9);
  return new Uint8Array(out);
}

// ---------------------------------------------------------------------------------------------
// Reference DCT encoder for DC-only blocks (T.81 Annex F), to test restart intervals, which
// dcmcjpeg cannot write. A DC-only block decodes to a flat 8x8 patch whose value follows from the
// IDCT's DC path: floor((DC * Q + 4) / 8) + 2^(P-1), clamped (jidctint.c).

export interface DcOnlyOptions {
  readonly precision: 8 | 12;
  /** Blocks per row / column (the image is 8 * that in size). */
  readonly blocksWide: number;
  readonly blocksHigh: number;
  readonly quant: number;
  /** Restart interval in MCUs (blocks); 0 = none. */
  readonly restartInterval: number;
}

/** Encodes a grayscale SOF1 image whose blocks carry only the given DC values (row-major). */
export function encodeDcOnly(dc: Int32Array, o: DcOnlyOptions): Uint8Array {
  const dcTable = canonicalTable(TYPICAL_LENGTHS.slice(0, 16));
  const out: number[] = [0xff, 0xd8];
  out.push(...segment(0xdb, [0, ...new Array<number>(64).fill(o.quant)]));
  out.push(...segment(0xc4, [0x00, ...dcTable.dht]));
  // AC table with the single symbol EOB (0x00) coded as '0'.
  out.push(...segment(0xc4, [0x10, 1, ...new Array<number>(15).fill(0), 0x00]));
  const width = o.blocksWide * 8;
  const height = o.blocksHigh * 8;
  out.push(
    ...segment(0xc1, [o.precision, height >> 8, height & 0xff, width >> 8, width & 0xff, 1, 1, 0x11, 0]),
  );
  if (o.restartInterval > 0) out.push(...segment(0xdd, [o.restartInterval >> 8, o.restartInterval & 0xff]));
  out.push(...segment(0xda, [1, 1, 0x00, 0, 63, 0]));
  const writer = new BitWriter();
  let prediction = 0;
  let restarts = 0;
  for (let i = 0; i < dc.length; i++) {
    if (o.restartInterval > 0 && i > 0 && i % o.restartInterval === 0) {
      writer.marker(0xd0 + (restarts++ % 8));
      prediction = 0;
    }
    const diff = dc[i]! - prediction;
    prediction = dc[i]!;
    const size = diff === 0 ? 0 : 32 - Math.clz32(Math.abs(diff));
    const code = dcTable.codes[size]!;
    writer.write(code.code, code.length);
    if (size > 0) writer.write(diff > 0 ? diff : diff + (1 << size) - 1, size);
    writer.write(0, 1); // EOB
  }
  for (const byte of writer.result()) out.push(byte);
  out.push(0xff, 0xd9);
  return new Uint8Array(out);
}

/**
 * A copy of a JPEG stream whose entropy-coded data after the first SOS is overwritten with
 * stuffed all-ones bytes (FF 00): the reserved all-ones Huffman code, which no table defines.
 */
export function withInvalidHuffmanCodes(stream: Uint8Array): Uint8Array {
  const bad = stream.slice();
  const sos = bad.findIndex((b, i) => b === 0xff && bad[i + 1] === 0xda);
  const start = sos + 2 + ((bad[sos + 2]! << 8) | bad[sos + 3]!);
  for (let i = start; i + 1 < bad.length - 2; i += 2) {
    bad[i] = 0xff;
    bad[i + 1] = 0x00;
  }
  return bad;
}
