import { deflateRawSync } from 'node:zlib';
import { TransferSyntax } from '../uids.js';

/**
 * A minimal DICOM Part 10 writer for tests: builds small files with exactly the elements a test
 * needs, in any of the native encodings, with or without preamble and file meta. It writes what
 * it is told (no validation), so tests can also build broken files on purpose.
 */

/** Encapsulated Pixel Data (PS3.5 A.4): a Basic Offset Table item then one item per fragment. */
export interface EncapsulatedValue {
  readonly fragments: readonly Uint8Array[];
  /** Basic Offset Table entries; empty table when omitted. */
  readonly basicOffsetTable?: readonly number[];
}

export type WriterValue =
  | string
  | readonly number[]
  | Uint8Array
  | Uint16Array
  | readonly (readonly WriterElement[])[]
  | EncapsulatedValue;

export interface WriterElement {
  /** Tag as 0xGGGGEEEE. */
  readonly tag: number;
  readonly vr: string;
  /**
   * Strings for text VRs (backslash separates values), numbers for US/SS/UL/SL/FL/FD, bytes for
   * OB/UN/OV (written as given), Uint16Array for OW (written in the data set's byte order) or
   * Uint8Array for OW (written as given), arrays of items for SQ, EncapsulatedValue for pixel data.
   */
  readonly value: WriterValue;
}

export interface WriteDicomOptions {
  /** Transfer syntax; its encoding (implicit/explicit, endianness, deflate) is used for the data set. */
  readonly transferSyntaxUid?: string;
  /** Write the 128-byte preamble and "DICM" (default true). */
  readonly preamble?: boolean;
  /** Write File Meta Information (default true). */
  readonly meta?: boolean;
  /** Force the data set encoding, e.g. implicit VR while the meta says something else. */
  readonly encoding?: { readonly explicitVr: boolean; readonly bigEndian: boolean };
  readonly elements: readonly WriterElement[];
}

const LONG_LENGTH_VRS = new Set([
  'OB',
  'OD',
  'OF',
  'OL',
  'OV',
  'OW',
  'SQ',
  'SV',
  'UC',
  'UN',
  'UR',
  'UT',
  'UV',
]);

class ByteWriter {
  private chunks: Uint8Array[] = [];
  constructor(private readonly littleEndian: boolean) {}

  bytes(data: Uint8Array): void {
    this.chunks.push(data);
  }
  u16(value: number): void {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, value, this.littleEndian);
    this.chunks.push(b);
  }
  u32(value: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value >>> 0, this.littleEndian);
    this.chunks.push(b);
  }
  tag(tag: number): void {
    this.u16(tag >>> 16);
    this.u16(tag & 0xffff);
  }
  ascii(text: string): void {
    this.chunks.push(Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff));
  }
  finish(): Uint8Array {
    const total = this.chunks.reduce((sum, c) => sum + c.length, 0);
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

interface Encoding {
  readonly explicitVr: boolean;
  readonly bigEndian: boolean;
}

function isEncapsulated(value: WriterValue): value is EncapsulatedValue {
  return typeof value === 'object' && 'fragments' in value;
}

function encodeValue(vr: string, value: WriterValue, encoding: Encoding): Uint8Array {
  const w = new ByteWriter(!encoding.bigEndian);
  if (typeof value === 'string') {
    w.ascii(value);
    if (value.length % 2 === 1) w.ascii(vr === 'UI' ? '\0' : ' ');
    return w.finish();
  }
  if (value instanceof Uint16Array) {
    const out = new Uint8Array(value.length * 2);
    const view = new DataView(out.buffer);
    value.forEach((v, i) => {
      view.setUint16(i * 2, v, !encoding.bigEndian);
    });
    return out;
  }
  if (value instanceof Uint8Array) {
    w.bytes(value);
    if (value.length % 2 === 1) w.bytes(new Uint8Array(1));
    return w.finish();
  }
  if (vr === 'SQ') {
    for (const item of value as readonly (readonly WriterElement[])[]) {
      const body = encodeDataSet(item, encoding);
      w.tag(0xfffee000);
      w.u32(body.length);
      w.bytes(body);
    }
    return w.finish();
  }
  const numbers = value as readonly number[];
  const view = (size: number, set: (d: DataView, v: number) => void): Uint8Array => {
    const out = new Uint8Array(numbers.length * size);
    const d = new DataView(out.buffer);
    numbers.forEach((v, i) => {
      set(new DataView(d.buffer, i * size, size), v);
    });
    return out;
  };
  const le = !encoding.bigEndian;
  switch (vr) {
    case 'US':
      return view(2, (d, v) => {
        d.setUint16(0, v, le);
      });
    case 'SS':
      return view(2, (d, v) => {
        d.setInt16(0, v, le);
      });
    case 'UL':
      return view(4, (d, v) => {
        d.setUint32(0, v, le);
      });
    case 'SL':
      return view(4, (d, v) => {
        d.setInt32(0, v, le);
      });
    case 'FL':
      return view(4, (d, v) => {
        d.setFloat32(0, v, le);
      });
    case 'FD':
      return view(8, (d, v) => {
        d.setFloat64(0, v, le);
      });
    default:
      throw new Error(`write-dicom: numbers given for VR ${vr}`);
  }
}

function writeHeader(w: ByteWriter, tag: number, vr: string, length: number, encoding: Encoding): void {
  w.tag(tag);
  if (!encoding.explicitVr) {
    w.u32(length);
    return;
  }
  w.ascii(vr);
  if (LONG_LENGTH_VRS.has(vr)) {
    w.u16(0);
    w.u32(length);
  } else {
    w.u16(length);
  }
}

/** Encodes elements (sorted by tag) as a data set in the given encoding. */
export function encodeDataSet(elements: readonly WriterElement[], encoding: Encoding): Uint8Array {
  const w = new ByteWriter(!encoding.bigEndian);
  const sorted = [...elements].sort((a, b) => a.tag - b.tag);
  for (const element of sorted) {
    if (isEncapsulated(element.value)) {
      writeHeader(w, element.tag, element.vr, 0xffffffff, encoding);
      const table = element.value.basicOffsetTable ?? [];
      // Item tags and lengths in encapsulated data are always little endian (PS3.5 A.4).
      const items = new ByteWriter(true);
      items.tag(0xfffee000);
      items.u32(table.length * 4);
      for (const offset of table) items.u32(offset);
      for (const fragment of element.value.fragments) {
        items.tag(0xfffee000);
        items.u32(fragment.length);
        items.bytes(fragment);
      }
      items.tag(0xfffee0dd);
      items.u32(0);
      w.bytes(items.finish());
      continue;
    }
    const body = encodeValue(element.vr, element.value, encoding);
    writeHeader(w, element.tag, element.vr, body.length, encoding);
    w.bytes(body);
  }
  return w.finish();
}

function encodingOf(uid: string): Encoding {
  if (uid === TransferSyntax.ImplicitVRLittleEndian) return { explicitVr: false, bigEndian: false };
  if (uid === TransferSyntax.ExplicitVRBigEndian) return { explicitVr: true, bigEndian: true };
  return { explicitVr: true, bigEndian: false };
}

/** Builds a DICOM file (or bare data set) from elements; see WriteDicomOptions. */
export function writeDicom(options: WriteDicomOptions): Uint8Array {
  const uid = options.transferSyntaxUid ?? TransferSyntax.ExplicitVRLittleEndian;
  const encoding = options.encoding ?? encodingOf(uid);
  let dataSet = encodeDataSet(options.elements, encoding);
  if (uid === TransferSyntax.DeflatedExplicitVRLittleEndian) dataSet = deflateRawSync(dataSet);

  const out = new ByteWriter(true);
  if (options.preamble ?? true) {
    out.bytes(new Uint8Array(128));
    out.ascii('DICM');
  }
  if (options.meta ?? true) {
    const metaEncoding = { explicitVr: true, bigEndian: false };
    const meta = encodeDataSet(
      [
        { tag: 0x00020001, vr: 'OB', value: Uint8Array.of(0, 1) },
        { tag: 0x00020010, vr: 'UI', value: uid },
      ],
      metaEncoding,
    );
    out.bytes(encodeDataSet([{ tag: 0x00020000, vr: 'UL', value: [meta.length] }], metaEncoding));
    out.bytes(meta);
  }
  out.bytes(dataSet);
  return out.finish();
}

/** Image Pixel module elements for tests; override any attribute through `extra`. */
export function imagePixelElements(pixel: {
  rows: number;
  columns: number;
  bitsAllocated: number;
  bitsStored?: number;
  highBit?: number;
  pixelRepresentation?: number;
  samplesPerPixel?: number;
  photometricInterpretation?: string;
  planarConfiguration?: number;
  numberOfFrames?: number;
}): WriterElement[] {
  const bitsStored = pixel.bitsStored ?? pixel.bitsAllocated;
  const samplesPerPixel = pixel.samplesPerPixel ?? 1;
  const elements: WriterElement[] = [
    { tag: 0x00080016, vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.1.1' },
    { tag: 0x00080060, vr: 'CS', value: 'DX' },
    { tag: 0x00280002, vr: 'US', value: [samplesPerPixel] },
    {
      tag: 0x00280004,
      vr: 'CS',
      value: pixel.photometricInterpretation ?? (samplesPerPixel === 3 ? 'RGB' : 'MONOCHROME2'),
    },
    { tag: 0x00280010, vr: 'US', value: [pixel.rows] },
    { tag: 0x00280011, vr: 'US', value: [pixel.columns] },
    { tag: 0x00280100, vr: 'US', value: [pixel.bitsAllocated] },
    { tag: 0x00280101, vr: 'US', value: [bitsStored] },
    { tag: 0x00280102, vr: 'US', value: [pixel.highBit ?? bitsStored - 1] },
    { tag: 0x00280103, vr: 'US', value: [pixel.pixelRepresentation ?? 0] },
  ];
  if (samplesPerPixel === 3) {
    elements.push({ tag: 0x00280006, vr: 'US', value: [pixel.planarConfiguration ?? 0] });
  }
  if (pixel.numberOfFrames !== undefined) {
    elements.push({ tag: 0x00280008, vr: 'IS', value: String(pixel.numberOfFrames) });
  }
  return elements;
}

/** PackBits-encodes bytes as literal runs only, with one replicate run where values repeat (PS3.5 G.3.1). */
export function packBits(bytes: Uint8Array): Uint8Array {
  const out: number[] = [];
  let i = 0;
  while (i < bytes.length) {
    let run = 1;
    while (i + run < bytes.length && run < 128 && bytes[i + run] === bytes[i]) run++;
    if (run >= 3) {
      out.push(257 - run, bytes[i]!);
      i += run;
      continue;
    }
    const start = i;
    while (i < bytes.length && i - start < 128) {
      if (i + 2 < bytes.length && bytes[i] === bytes[i + 1] && bytes[i] === bytes[i + 2]) break;
      i++;
    }
    out.push(i - start - 1, ...bytes.subarray(start, i));
  }
  if (out.length % 2 === 1) out.push(128); // no-op byte pads the segment to even length
  return Uint8Array.from(out);
}

/** Builds one RLE Lossless frame (PS3.5 Annex G) from already split byte segments. */
export function rleFrame(segments: readonly Uint8Array[]): Uint8Array {
  const encoded = segments.map(packBits);
  const header = new Uint8Array(64);
  const view = new DataView(header.buffer);
  view.setUint32(0, segments.length, true);
  let offset = 64;
  encoded.forEach((segment, s) => {
    view.setUint32(4 + s * 4, offset, true);
    offset += segment.length;
  });
  const out = new Uint8Array(offset);
  out.set(header);
  let at = 64;
  for (const segment of encoded) {
    out.set(segment, at);
    at += segment.length;
  }
  return out;
}
