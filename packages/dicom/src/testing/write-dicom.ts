/**
 * The one DICOM Part 10 writer for tests, fixtures and benchmarks (PS3.10 Section 7, PS3.5
 * Section 7). It writes exactly what it is given, in tag order, in any native encoding, so tests
 * can build both valid files and deliberately odd ones (no preamble, no file meta, short pixel
 * data, a data set encoded differently from what the meta says). Test-only: production code
 * never imports from testing/.
 */
import { createHash } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { TransferSyntax } from '../uids.js';

/** Value representations (PS3.5 Table 6.2-1). */
export type Vr =
  | 'AE'
  | 'AS'
  | 'AT'
  | 'CS'
  | 'DA'
  | 'DS'
  | 'DT'
  | 'FD'
  | 'FL'
  | 'IS'
  | 'LO'
  | 'LT'
  | 'OB'
  | 'OD'
  | 'OF'
  | 'OL'
  | 'OV'
  | 'OW'
  | 'PN'
  | 'SH'
  | 'SL'
  | 'SQ'
  | 'SS'
  | 'ST'
  | 'SV'
  | 'TM'
  | 'UC'
  | 'UI'
  | 'UL'
  | 'UN'
  | 'UR'
  | 'US'
  | 'UT'
  | 'UV';

/** Encapsulated Pixel Data (PS3.5 A.4): one entry per frame, each a list of fragments. */
export interface EncapsulatedValue {
  readonly kind: 'encapsulated';
  readonly frames: readonly (readonly Uint8Array[])[];
  /**
   * Basic Offset Table: computed from `frames` (default, or true), empty (false), or exactly
   * these entries (to build wrong tables on purpose).
   */
  readonly offsetTable?: boolean | readonly number[];
}

/**
 * Strings for text VRs (a string array is joined with backslashes), numbers for
 * US/SS/UL/SL/FL/FD, bytes for OB/OV/UN/OW (OW bytes are little endian and swapped for a
 * big-endian data set), Uint16Array words for OW (written in the data set's byte order), an
 * array of items for SQ, or an EncapsulatedValue for Pixel Data.
 */
export type ElementValue =
  | string
  | readonly string[]
  | readonly number[]
  | Uint8Array
  | Uint16Array
  | readonly DataSet[]
  | EncapsulatedValue;

/** One data element to write. */
export interface DataElement {
  /** (group << 16) | element. */
  readonly tag: number;
  readonly vr: Vr;
  readonly value: ElementValue;
}

/** A data set (or sequence item) as a list of elements; the writer sorts them by tag. */
export type DataSet = readonly DataElement[];

/** Data set encoding: VR explicit or implicit, byte order. */
export interface Encoding {
  readonly explicitVr: boolean;
  readonly bigEndian: boolean;
}

export interface WriteOptions {
  /** Transfer syntax: selects the data set encoding and goes into the file meta. Default explicit VR LE. */
  readonly transferSyntaxUid?: string;
  /** Write the 128-byte preamble and "DICM" (PS3.10 7.1). Default true. */
  readonly preamble?: boolean;
  /** Write the File Meta Information group 0002 (PS3.10 7.1). Default true. */
  readonly fileMeta?: boolean;
  /** Force the data set encoding, e.g. implicit VR while the meta says explicit. */
  readonly encoding?: Encoding;
}

/** Builds a tag number from group and element. */
export function tag(group: number, element: number): number {
  return ((group << 16) | element) >>> 0;
}

/** Tags the fixture and test data sets use, as 0xGGGGEEEE numbers. */
export const Tag = {
  FileMetaGroupLength: tag(0x0002, 0x0000),
  SopClassUid: tag(0x0008, 0x0016),
  SopInstanceUid: tag(0x0008, 0x0018),
  StudyDate: tag(0x0008, 0x0020),
  Modality: tag(0x0008, 0x0060),
  Manufacturer: tag(0x0008, 0x0070),
  InstitutionName: tag(0x0008, 0x0080),
  ManufacturerModelName: tag(0x0008, 0x1090),
  ImageType: tag(0x0008, 0x0008),
  PatientName: tag(0x0010, 0x0010),
  PatientId: tag(0x0010, 0x0020),
  PatientBirthDate: tag(0x0010, 0x0030),
  PatientSex: tag(0x0010, 0x0040),
  BodyPartExamined: tag(0x0018, 0x0015),
  ViewPosition: tag(0x0018, 0x5101),
  StudyInstanceUid: tag(0x0020, 0x000d),
  SeriesInstanceUid: tag(0x0020, 0x000e),
  InstanceNumber: tag(0x0020, 0x0013),
  SamplesPerPixel: tag(0x0028, 0x0002),
  PhotometricInterpretation: tag(0x0028, 0x0004),
  PlanarConfiguration: tag(0x0028, 0x0006),
  NumberOfFrames: tag(0x0028, 0x0008),
  Rows: tag(0x0028, 0x0010),
  Columns: tag(0x0028, 0x0011),
  BitsAllocated: tag(0x0028, 0x0100),
  BitsStored: tag(0x0028, 0x0101),
  HighBit: tag(0x0028, 0x0102),
  PixelRepresentation: tag(0x0028, 0x0103),
  WindowCenter: tag(0x0028, 0x1050),
  WindowWidth: tag(0x0028, 0x1051),
  RescaleIntercept: tag(0x0028, 0x1052),
  RescaleSlope: tag(0x0028, 0x1053),
  RescaleType: tag(0x0028, 0x1054),
  VoiLutFunction: tag(0x0028, 0x1056),
  ModalityLutSequence: tag(0x0028, 0x3000),
  LutDescriptor: tag(0x0028, 0x3002),
  LutExplanation: tag(0x0028, 0x3003),
  ModalityLutType: tag(0x0028, 0x3004),
  LutData: tag(0x0028, 0x3006),
  ContentSequence: tag(0x0040, 0xa730),
  ValueType: tag(0x0040, 0xa040),
  TextValue: tag(0x0040, 0xa160),
  PixelData: tag(0x7fe0, 0x0010),
} as const;

/** SOP Class UIDs (PS3.4 Annex B) the test images use. */
export const SopClass = {
  ComputedRadiography: '1.2.840.10008.5.1.4.1.1.1',
  DigitalXRayForPresentation: '1.2.840.10008.5.1.4.1.1.1.1',
  SecondaryCapture: '1.2.840.10008.5.1.4.1.1.7',
  MultiframeGrayscaleWordSecondaryCapture: '1.2.840.10008.5.1.4.1.1.7.3',
  BasicTextSr: '1.2.840.10008.5.1.4.1.1.88.11',
} as const;

const IMPLEMENTATION_CLASS_UID = '2.25.200301190736451254512397441612953472401';
const IMPLEMENTATION_VERSION = 'CXR_FIXTURES_1';

/** VRs with a 2-byte reserved field and 4-byte length in explicit VR (PS3.5 7.1.2, Table 7.1-1). */
const LONG_VRS: ReadonlySet<Vr> = new Set<Vr>([
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

/** Byte sink with endian-aware integer writers. */
class ByteWriter {
  private readonly chunks: Uint8Array[] = [];
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
  ascii(text: string): void {
    this.chunks.push(Buffer.from(text, 'latin1'));
  }
  result(): Uint8Array {
    return new Uint8Array(Buffer.concat(this.chunks));
  }
}

function isEncapsulatedValue(value: ElementValue): value is EncapsulatedValue {
  return typeof value === 'object' && 'kind' in value;
}

function isNumberArray(value: ElementValue): value is readonly number[] {
  return Array.isArray(value) && (value.length === 0 || typeof value[0] === 'number');
}

function isStringArray(value: ElementValue): value is readonly string[] {
  return Array.isArray(value) && (value.length === 0 || typeof value[0] === 'string');
}

function isDataSetArray(value: ElementValue): value is readonly DataSet[] {
  return Array.isArray(value) && value.length > 0 && Array.isArray(value[0]);
}

/** Text VRs are padded to even length with a space; UI with NUL (PS3.5 6.2). */
function encodeString(vr: Vr, value: string | readonly string[]): Uint8Array {
  const text = typeof value === 'string' ? value : value.join('\\');
  const bytes = Buffer.from(text, 'latin1');
  if (bytes.length % 2 === 0) return bytes;
  const padded = new Uint8Array(bytes.length + 1);
  padded.set(bytes);
  padded[bytes.length] = vr === 'UI' ? 0 : 0x20;
  return padded;
}

function encodeNumbers(vr: Vr, values: readonly number[], littleEndian: boolean): Uint8Array {
  const size = vr === 'US' || vr === 'SS' ? 2 : vr === 'FD' ? 8 : 4;
  const out = new Uint8Array(values.length * size);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => {
    const at = i * size;
    switch (vr) {
      case 'US':
        view.setUint16(at, v, littleEndian);
        break;
      case 'SS':
        view.setInt16(at, v, littleEndian);
        break;
      case 'UL':
        view.setUint32(at, v, littleEndian);
        break;
      case 'SL':
        view.setInt32(at, v, littleEndian);
        break;
      case 'FL':
        view.setFloat32(at, v, littleEndian);
        break;
      case 'FD':
        view.setFloat64(at, v, littleEndian);
        break;
      default:
        throw new Error(`numeric value given for VR ${vr}`);
    }
  });
  return out;
}

/** 16-bit words in the data set's byte order (OW, PS3.5 7.3). */
function encodeWords(words: Uint16Array, littleEndian: boolean): Uint8Array {
  const out = new Uint8Array(words.length * 2);
  const view = new DataView(out.buffer);
  words.forEach((v, i) => {
    view.setUint16(i * 2, v, littleEndian);
  });
  return out;
}

/**
 * Bytes are given little endian. OW is a stream of 16-bit words, so big endian swaps each pair
 * (PS3.5 7.3); OB, OV and UN are written as given. Odd lengths get a zero pad byte.
 */
function encodeBinary(vr: Vr, value: Uint8Array, littleEndian: boolean): Uint8Array {
  const out = new Uint8Array(value.length + (value.length % 2));
  out.set(value);
  if (!littleEndian && vr === 'OW') {
    for (let i = 0; i + 1 < out.length; i += 2) {
      const a = out[i]!;
      out[i] = out[i + 1]!;
      out[i + 1] = a;
    }
  }
  return out;
}

function writeHeader(w: ByteWriter, t: number, vr: Vr, length: number, enc: Encoding): void {
  w.u16(t >>> 16);
  w.u16(t & 0xffff);
  if (!enc.explicitVr) {
    w.u32(length);
    return;
  }
  w.ascii(vr);
  if (LONG_VRS.has(vr)) {
    w.u16(0);
    w.u32(length);
  } else {
    if (length > 0xffff) throw new Error(`value too long for VR ${vr}`);
    w.u16(length);
  }
}

/** Item and delimitation tags: (FFFE,eeee) and a 32-bit length (PS3.5 7.5). */
function writeItemTag(w: ByteWriter, element: number, length: number): void {
  w.u16(0xfffe);
  w.u16(element);
  w.u32(length);
}

/** Encodes elements (sorted by tag) as a data set in the given encoding. */
export function encodeDataSet(dataSet: DataSet, enc: Encoding): Uint8Array {
  const w = new ByteWriter(!enc.bigEndian);
  const sorted = [...dataSet].sort((a, b) => a.tag - b.tag);
  for (const el of sorted) writeElement(w, el, enc);
  return w.result();
}

function writeElement(w: ByteWriter, el: DataElement, enc: Encoding): void {
  const { tag: t, vr, value } = el;
  const littleEndian = !enc.bigEndian;
  if (isEncapsulatedValue(value)) {
    writeHeader(w, t, vr, 0xffffffff, enc);
    w.bytes(encodeEncapsulated(value));
    return;
  }
  if (vr === 'SQ') {
    // Defined-length items and sequence (PS3.5 7.5.1); lengths computed from the encoded items.
    const items = isDataSetArray(value) ? value : [];
    const encoded = items.map((item) => encodeDataSet(item, enc));
    const total = encoded.reduce((sum, e) => sum + 8 + e.length, 0);
    writeHeader(w, t, vr, total, enc);
    for (const e of encoded) {
      writeItemTag(w, 0xe000, e.length);
      w.bytes(e);
    }
    return;
  }
  let bytes: Uint8Array;
  if (value instanceof Uint8Array) bytes = encodeBinary(vr, value, littleEndian);
  else if (value instanceof Uint16Array) bytes = encodeWords(value, littleEndian);
  else if (typeof value === 'string') bytes = encodeString(vr, value);
  else if (isNumberArray(value)) bytes = encodeNumbers(vr, value, littleEndian);
  else if (isStringArray(value)) bytes = encodeString(vr, value);
  else throw new Error(`unsupported value for tag ${t.toString(16)}`);
  writeHeader(w, t, vr, bytes.length, enc);
  w.bytes(bytes);
}

/**
 * The items of encapsulated Pixel Data (PS3.5 A.4), always little endian: a Basic Offset Table
 * item whose uint32 entries are the byte offset of each frame's first fragment item measured
 * from the first byte of the first fragment item, then the fragments (each padded to even
 * length), then a Sequence Delimitation Item.
 */
function encodeEncapsulated(value: EncapsulatedValue): Uint8Array {
  const w = new ByteWriter(true);
  const offsets: number[] = [];
  let position = 0;
  for (const fragments of value.frames) {
    offsets.push(position);
    for (const f of fragments) position += 8 + f.length + (f.length % 2);
  }
  const given = value.offsetTable;
  const table: readonly number[] = given === false ? [] : typeof given === 'object' ? given : offsets;
  writeItemTag(w, 0xe000, table.length * 4);
  for (const o of table) w.u32(o);
  for (const fragments of value.frames) {
    for (const f of fragments) {
      writeItemTag(w, 0xe000, f.length + (f.length % 2));
      w.bytes(f);
      if (f.length % 2 === 1) w.bytes(new Uint8Array(1));
    }
  }
  writeItemTag(w, 0xe0dd, 0);
  return w.result();
}

function encodingFor(transferSyntaxUid: string): Encoding {
  if (transferSyntaxUid === TransferSyntax.ImplicitVRLittleEndian)
    return { explicitVr: false, bigEndian: false };
  if (transferSyntaxUid === TransferSyntax.ExplicitVRBigEndian) return { explicitVr: true, bigEndian: true };
  return { explicitVr: true, bigEndian: false };
}

/**
 * File Meta Information: always explicit VR little endian, with its group length (PS3.10 7.1).
 * Media Storage SOP Class/Instance come from the data set's SOP Common attributes when present.
 */
function encodeFileMeta(dataSet: DataSet, transferSyntaxUid: string): Uint8Array {
  const enc: Encoding = { explicitVr: true, bigEndian: false };
  const copied = (from: number, to: number): DataElement[] => {
    const el = dataSet.find((e) => e.tag === from);
    return el === undefined || typeof el.value !== 'string' ? [] : [{ tag: to, vr: 'UI', value: el.value }];
  };
  const body = encodeDataSet(
    [
      { tag: tag(0x0002, 0x0001), vr: 'OB', value: Uint8Array.of(0, 1) },
      ...copied(Tag.SopClassUid, tag(0x0002, 0x0002)),
      ...copied(Tag.SopInstanceUid, tag(0x0002, 0x0003)),
      { tag: tag(0x0002, 0x0010), vr: 'UI', value: transferSyntaxUid },
      { tag: tag(0x0002, 0x0012), vr: 'UI', value: IMPLEMENTATION_CLASS_UID },
      { tag: tag(0x0002, 0x0013), vr: 'SH', value: IMPLEMENTATION_VERSION },
    ],
    enc,
  );
  const groupLength = encodeDataSet([{ tag: Tag.FileMetaGroupLength, vr: 'UL', value: [body.length] }], enc);
  return new Uint8Array(Buffer.concat([groupLength, body]));
}

/** Encodes a data set as a DICOM file (or bare data set) in the requested transfer syntax. */
export function writeDicom(dataSet: DataSet, options: WriteOptions = {}): Uint8Array {
  const ts = options.transferSyntaxUid ?? TransferSyntax.ExplicitVRLittleEndian;
  let body = encodeDataSet(
    dataSet.filter((e) => e.tag >>> 16 !== 0x0002),
    options.encoding ?? encodingFor(ts),
  );
  // Deflated explicit VR LE: the whole data set after the file meta is a raw deflate stream (PS3.5 A.5).
  if (ts === TransferSyntax.DeflatedExplicitVRLittleEndian) body = new Uint8Array(deflateRawSync(body));
  const parts: Uint8Array[] = [];
  if (options.preamble ?? true) parts.push(new Uint8Array(128), Buffer.from('DICM', 'latin1'));
  if (options.fileMeta ?? true) parts.push(encodeFileMeta(dataSet, ts));
  parts.push(body);
  return new Uint8Array(Buffer.concat(parts));
}

/** A deterministic 2.25 UID (PS3.5 B.2) derived from a seed and a role such as "study". */
export function deterministicUid(seed: number | string, role: string): string {
  const digest = createHash('sha256')
    .update(`cxr-fixture:${String(seed)}:${role}`)
    .digest('hex');
  // 2.25 + a 128-bit integer written in decimal: at most 39 digits, well under 64 characters.
  return `2.25.${BigInt(`0x${digest.slice(0, 32)}`).toString(10)}`;
}

/** Image Pixel module attributes (PS3.3 C.7.6.3) plus SOP Class and Modality, for tests. */
export interface ImagePixelSpec {
  readonly rows: number;
  readonly columns: number;
  readonly bitsAllocated: number;
  readonly bitsStored?: number;
  readonly highBit?: number;
  readonly pixelRepresentation?: number;
  readonly samplesPerPixel?: number;
  readonly photometricInterpretation?: string;
  readonly planarConfiguration?: number;
  readonly numberOfFrames?: number;
  /** Default DX For Presentation. */
  readonly sopClassUid?: string;
  /** Default DX. */
  readonly modality?: string;
}

/** Image Pixel module elements for tests (defaults: unsigned, one sample, MONOCHROME2 or RGB). */
export function imagePixelElements(pixel: ImagePixelSpec): DataElement[] {
  const bitsStored = pixel.bitsStored ?? pixel.bitsAllocated;
  const samplesPerPixel = pixel.samplesPerPixel ?? 1;
  const elements: DataElement[] = [
    { tag: Tag.SopClassUid, vr: 'UI', value: pixel.sopClassUid ?? SopClass.DigitalXRayForPresentation },
    { tag: Tag.Modality, vr: 'CS', value: pixel.modality ?? 'DX' },
    { tag: Tag.SamplesPerPixel, vr: 'US', value: [samplesPerPixel] },
    {
      tag: Tag.PhotometricInterpretation,
      vr: 'CS',
      value: pixel.photometricInterpretation ?? (samplesPerPixel === 3 ? 'RGB' : 'MONOCHROME2'),
    },
    { tag: Tag.Rows, vr: 'US', value: [pixel.rows] },
    { tag: Tag.Columns, vr: 'US', value: [pixel.columns] },
    { tag: Tag.BitsAllocated, vr: 'US', value: [pixel.bitsAllocated] },
    { tag: Tag.BitsStored, vr: 'US', value: [bitsStored] },
    { tag: Tag.HighBit, vr: 'US', value: [pixel.highBit ?? bitsStored - 1] },
    { tag: Tag.PixelRepresentation, vr: 'US', value: [pixel.pixelRepresentation ?? 0] },
  ];
  if (samplesPerPixel === 3) {
    elements.push({ tag: Tag.PlanarConfiguration, vr: 'US', value: [pixel.planarConfiguration ?? 0] });
  }
  if (pixel.numberOfFrames !== undefined) {
    elements.push({ tag: Tag.NumberOfFrames, vr: 'IS', value: String(pixel.numberOfFrames) });
  }
  return elements;
}

/** A raw (native) single-frame image, as tests hand it to an encoder or a decoder. */
export interface NativeImage {
  readonly rows: number;
  readonly columns: number;
  readonly samplesPerPixel: 1 | 3;
  readonly bitsAllocated: 8 | 16;
  readonly bitsStored: number;
  readonly pixelRepresentation: 0 | 1;
  readonly photometricInterpretation: string;
  /** Interleaved samples, one array element per sample (a Uint16Array may hold 8-bit samples). */
  readonly samples: Uint8Array | Uint16Array | Int16Array;
}

export interface NativeImageOptions {
  /** Default Secondary Capture. */
  readonly sopClassUid?: string;
  /** Default OT. */
  readonly modality?: string;
  readonly window?: { readonly center: number; readonly width: number };
  /** Default explicit VR little endian. */
  readonly transferSyntaxUid?: string;
}

/** Writes `image` as a minimal Part 10 file with native (uncompressed) Pixel Data. */
export function writeNativeImage(image: NativeImage, options: NativeImageOptions = {}): Uint8Array {
  const s = image.samples;
  const pixelData: DataElement =
    image.bitsAllocated === 8
      ? { tag: Tag.PixelData, vr: 'OB', value: s instanceof Uint8Array ? s : Uint8Array.from(s) }
      : {
          tag: Tag.PixelData,
          vr: 'OW',
          value:
            s instanceof Uint16Array
              ? s
              : s instanceof Int16Array
                ? new Uint16Array(s.buffer, s.byteOffset, s.length)
                : Uint16Array.from(s),
        };
  const window: DataElement[] =
    options.window === undefined
      ? []
      : [
          { tag: Tag.WindowCenter, vr: 'DS', value: String(options.window.center) },
          { tag: Tag.WindowWidth, vr: 'DS', value: String(options.window.width) },
        ];
  return writeDicom(
    [
      ...imagePixelElements({
        ...image,
        sopClassUid: options.sopClassUid ?? SopClass.SecondaryCapture,
        modality: options.modality ?? 'OT',
      }),
      { tag: Tag.SopInstanceUid, vr: 'UI', value: '2.25.1234567890123456789' },
      { tag: Tag.StudyInstanceUid, vr: 'UI', value: '2.25.11' },
      { tag: Tag.SeriesInstanceUid, vr: 'UI', value: '2.25.12' },
      ...window,
      pixelData,
    ],
    options.transferSyntaxUid === undefined ? {} : { transferSyntaxUid: options.transferSyntaxUid },
  );
}

/**
 * A valid 8-bit DX of `columns` x `rows` pixels that all hold `value`, RLE Lossless (PS3.5 Annex
 * G) so that even a 16384 x 16384 image is a few megabytes: each row is encoded on its own as
 * replicate runs of at most 128 bytes. For tests of size limits; the rows are never materialised.
 */
export function writeUniformRleImage(rows: number, columns: number, value = 0): Uint8Array {
  const row: number[] = [];
  for (let left = columns; left > 0; left -= 128) {
    const run = Math.min(128, left);
    // PackBits: header 257 - n replicates the next byte n times (n >= 2); header 0 is a 1-byte literal.
    row.push(run === 1 ? 0 : 257 - run, value);
  }
  const segmentLength = row.length * rows;
  const frame = new Uint8Array(64 + segmentLength + (segmentLength % 2));
  const view = new DataView(frame.buffer);
  view.setUint32(0, 1, true); // one segment
  view.setUint32(4, 64, true); // starting right after the 64-byte header
  for (let r = 0; r < rows; r++) frame.set(row, 64 + r * row.length);
  if (segmentLength % 2 === 1) frame[frame.length - 1] = 128; // no-op byte pads to even length
  return writeDicom(
    [
      ...imagePixelElements({ rows, columns, bitsAllocated: 8 }),
      { tag: Tag.SopInstanceUid, vr: 'UI', value: deterministicUid(`${columns}x${rows}`, 'instance') },
      { tag: Tag.PixelData, vr: 'OB', value: { kind: 'encapsulated', frames: [[frame]] } },
    ],
    { transferSyntaxUid: TransferSyntax.RleLossless },
  );
}
