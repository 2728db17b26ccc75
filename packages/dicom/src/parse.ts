import { inflateRawSync, inflateSync } from 'node:zlib';
import dicomParser from 'dicom-parser';
import type { ByteArrayParser, DataSet, Element } from 'dicom-parser';
import { DicomRejectedError } from './errors.js';
import { Tag } from './tags.js';
import { TransferSyntax } from './uids.js';

/** A parsed Part 10 file (or bare data set): dicom-parser's DataSet plus how it was encoded. */
export interface ParsedDicom {
  /** Data set elements (group 0002 excluded). Its byteArray is the input, or the inflated copy for deflate. */
  readonly dataSet: DataSet;
  /** Transfer syntax UID from (0002,0010), or inferred from the bytes when there is no file meta. */
  readonly transferSyntaxUid: string;
  /** True when the 128-byte preamble and "DICM" prefix were present (PS3.10 7.1). */
  readonly hadPreamble: boolean;
  /** True when File Meta Information with a Transfer Syntax UID was present. */
  readonly hadFileMeta: boolean;
  readonly explicitVr: boolean;
  readonly bigEndian: boolean;
  /** Extended Offset Table (7FE0,0001) and its lengths (7FE0,0002), 64-bit values as numbers. */
  readonly extendedOffsets?: readonly number[];
  readonly extendedLengths?: readonly number[];
}

// dicom-parser exports its DataSet class at runtime but its typings only declare an interface.
type DataSetConstructor = new (
  parser: ByteArrayParser,
  byteArray: Uint8Array,
  elements: Record<string, Element>,
) => DataSet;
const DataSetClass = (dicomParser as unknown as { DataSet: DataSetConstructor }).DataSet;

/** Value representations of PS3.5 6.2; used to tell explicit from implicit VR encodings. */
const VRS = new Set([
  'AE', 'AS', 'AT', 'CS', 'DA', 'DS', 'DT', 'FD', 'FL', 'IS', 'LO', 'LT', 'OB', 'OD', 'OF', 'OL', 'OV',
  'OW', 'PN', 'SH', 'SL', 'SQ', 'SS', 'ST', 'SV', 'TM', 'UC', 'UI', 'UL', 'UN', 'UR', 'US', 'UT', 'UV',
]); // prettier-ignore

/** VRs with a 4-byte length (PS3.5 7.1.2) that dicom-parser 1.8 reads with a 2-byte length. */
const LONG_VRS_UNKNOWN_TO_PARSER = new Set(['OV', 'SV', 'UV']);

function hasDicmAt(bytes: Uint8Array, pos: number): boolean {
  return (
    bytes.length >= pos + 4 &&
    bytes[pos] === 0x44 &&
    bytes[pos + 1] === 0x49 &&
    bytes[pos + 2] === 0x43 &&
    bytes[pos + 3] === 0x4d
  );
}

function u16le(bytes: Uint8Array, pos: number): number {
  return (bytes[pos] ?? 0) | ((bytes[pos + 1] ?? 0) << 8);
}

function isVrAt(bytes: Uint8Array, pos: number): boolean {
  if (pos + 2 > bytes.length) return false;
  return VRS.has(String.fromCharCode(bytes[pos]!, bytes[pos + 1]!));
}

/**
 * A data set's first tag is almost always in group 0008 (or 0002 for a meta group written
 * without preamble). Accepting only low even groups keeps random bytes from passing as DICOM.
 */
function plausibleFirstGroup(group: number): boolean {
  return group >= 0x0002 && group <= 0x0028 && group % 2 === 0;
}

interface Encoding {
  readonly explicitVr: boolean;
  readonly bigEndian: boolean;
}

/** Guesses the encoding of a data set that has no file meta from its first element header. */
function detectEncoding(bytes: Uint8Array, pos: number): Encoding | undefined {
  if (pos + 8 > bytes.length) return undefined;
  const groupLe = u16le(bytes, pos);
  const groupBe = ((bytes[pos] ?? 0) << 8) | (bytes[pos + 1] ?? 0);
  const explicitVr = isVrAt(bytes, pos + 4);
  if (plausibleFirstGroup(groupLe)) return { explicitVr, bigEndian: false };
  // Implicit VR big endian is not a DICOM transfer syntax, so big endian must show a VR.
  if (plausibleFirstGroup(groupBe) && explicitVr) return { explicitVr, bigEndian: true };
  return undefined;
}

function syntaxForEncoding(encoding: Encoding): string {
  if (encoding.bigEndian) return TransferSyntax.ExplicitVRBigEndian;
  return encoding.explicitVr ? TransferSyntax.ExplicitVRLittleEndian : TransferSyntax.ImplicitVRLittleEndian;
}

/** Turns whatever dicom-parser throws (often a bare string) into one short line. */
function describeThrown(thrown: unknown): string {
  const raw =
    thrown instanceof Error
      ? thrown.message
      : typeof thrown === 'string'
        ? thrown
        : typeof thrown === 'object' && thrown !== null && 'exception' in thrown
          ? describeThrown(thrown.exception)
          : 'unknown parser error';
  // dicom-parser messages are fixed strings about structure, but keep them short and printable.
  return raw.replace(/[^\x20-\x7e]+/g, ' ').slice(0, 160);
}

function isOverrun(message: string): boolean {
  return /overrun|past end|end of buffer|eof|beyond|not enough/i.test(message);
}

interface MetaResult {
  readonly transferSyntaxUid?: string;
  readonly end: number;
}

/** Reads File Meta Information (group 0002, explicit VR LE per PS3.10 7.1; tolerates implicit VR). */
function readFileMeta(bytes: Uint8Array, start: number): MetaResult {
  const stream = new dicomParser.ByteStream(dicomParser.littleEndianByteArrayParser, bytes, start);
  let transferSyntaxUid: string | undefined;
  while (stream.position + 8 <= bytes.length && u16le(bytes, stream.position) === 0x0002) {
    const element = isVrAt(bytes, stream.position + 4)
      ? dicomParser.readDicomElementExplicit(stream, [])
      : dicomParser.readDicomElementImplicit(stream);
    if (element.dataOffset + element.length > bytes.length) {
      throw new DicomRejectedError('truncated', 'file ends inside the file meta information');
    }
    if (element.tag === Tag.TransferSyntaxUid) {
      transferSyntaxUid = dicomParser
        .readFixedString(bytes, element.dataOffset, element.length)
        .replace(/[\0\s]+$/g, '')
        .trim();
    }
  }
  return { transferSyntaxUid, end: stream.position };
}

function inflateDataSet(bytes: Uint8Array, start: number): Uint8Array {
  const deflated = bytes.subarray(start);
  try {
    return inflateRawSync(deflated);
  } catch (rawError) {
    try {
      // Some writers wrap the stream in a zlib header although PS3.5 A.5 asks for raw deflate.
      return inflateSync(deflated);
    } catch {
      const message = describeThrown(rawError);
      if (/unexpected end/i.test(message)) {
        throw new DicomRejectedError('truncated', 'deflated data set ends early', { cause: rawError });
      }
      throw new DicomRejectedError('corrupt_stream', `deflated data set cannot be inflated: ${message}`, {
        cause: rawError,
      });
    }
  }
}

function readUint64Array(
  dataSet: DataSet,
  element: Element | undefined,
  bigEndian: boolean,
): number[] | undefined {
  if (element === undefined || element.length < 8) return undefined;
  const { byteArray, byteArrayParser } = dataSet;
  const values: number[] = [];
  for (let offset = element.dataOffset; offset + 8 <= element.dataOffset + element.length; offset += 8) {
    const first = byteArrayParser.readUint32(byteArray, offset);
    const second = byteArrayParser.readUint32(byteArray, offset + 4);
    values.push(bigEndian ? first * 2 ** 32 + second : second * 2 ** 32 + first);
  }
  return values;
}

/**
 * Parses explicit VR elements, stepping over the Extended Offset Table elements (OV, PS3.5 A.4)
 * by hand because dicom-parser 1.8 reads their length as 2 bytes.
 */
function parseExplicit(dataSet: DataSet, stream: dicomParser.ByteStream, end: number): void {
  for (const untilTag of [Tag.ExtendedOffsetTable, Tag.ExtendedOffsetTableLengths, '']) {
    if (stream.position >= end) return;
    dicomParser.parseDicomDataSetExplicit(dataSet, stream, end, { untilTag });
    const stopped = untilTag === '' ? undefined : dataSet.elements[untilTag];
    if (stopped === undefined || stream.position !== stopped.dataOffset) continue;
    if (stopped.vr !== undefined && LONG_VRS_UNKNOWN_TO_PARSER.has(stopped.vr)) {
      if (stopped.dataOffset + 4 > end)
        throw new DicomRejectedError('truncated', 'file ends inside (7FE0,0001)');
      stopped.length = dataSet.byteArrayParser.readUint32(dataSet.byteArray, stopped.dataOffset);
      stopped.dataOffset += 4;
    }
    if (stopped.dataOffset + stopped.length > end) {
      throw new DicomRejectedError('truncated', 'file ends inside the extended offset table');
    }
    stream.position = stopped.dataOffset + stopped.length;
  }
}

/**
 * Parses a DICOM Part 10 file, or a bare data set without preamble and/or file meta, with
 * dicom-parser. Throws DicomRejectedError ('not_dicom', 'truncated', 'corrupt_stream').
 */
export function parseDicomBytes(bytes: Uint8Array): ParsedDicom {
  let hadPreamble = false;
  let position = 0;
  if (hasDicmAt(bytes, 128)) {
    hadPreamble = true;
    position = 132;
  } else if (hasDicmAt(bytes, 0)) {
    // "DICM" without the preamble: seen from writers that strip the 128 bytes.
    position = 4;
  }

  let transferSyntaxUid: string | undefined;
  if (position + 8 <= bytes.length && u16le(bytes, position) === 0x0002) {
    try {
      const meta = readFileMeta(bytes, position);
      transferSyntaxUid = meta.transferSyntaxUid;
      position = meta.end;
    } catch (error) {
      if (error instanceof DicomRejectedError) throw error;
      const message = describeThrown(error);
      throw new DicomRejectedError(
        isOverrun(message) ? 'truncated' : 'not_dicom',
        `unreadable file meta information: ${message}`,
        { cause: error },
      );
    }
  }
  const hadFileMeta = transferSyntaxUid !== undefined && transferSyntaxUid !== '';

  const detected = detectEncoding(bytes, position);
  let encoding: Encoding;
  if (hadFileMeta && transferSyntaxUid !== undefined) {
    encoding = encodingForSyntax(transferSyntaxUid, detected);
  } else {
    if (detected === undefined) {
      throw new DicomRejectedError(
        'not_dicom',
        hadPreamble
          ? 'DICM prefix present but the data set encoding is not recognisable'
          : 'no DICM prefix and no recognisable DICOM data set at the start of the file',
      );
    }
    encoding = detected;
    transferSyntaxUid = syntaxForEncoding(detected);
  }

  const deflated = transferSyntaxUid === TransferSyntax.DeflatedExplicitVRLittleEndian;
  const byteArray = deflated ? inflateDataSet(bytes, position) : bytes;
  const start = deflated ? 0 : position;
  const parser = encoding.bigEndian
    ? dicomParser.bigEndianByteArrayParser
    : dicomParser.littleEndianByteArrayParser;
  const dataSet = new DataSetClass(parser, byteArray, {});
  dataSet.warnings = [];
  const stream = new dicomParser.ByteStream(parser, byteArray, start);
  try {
    if (encoding.explicitVr) {
      parseExplicit(dataSet, stream, byteArray.length);
    } else {
      dicomParser.parseDicomDataSetImplicit(dataSet, stream, byteArray.length);
    }
  } catch (error) {
    if (error instanceof DicomRejectedError) throw error;
    const message = describeThrown(error);
    // Without a preamble or meta, garbage that happened to look like a first tag fails here.
    const reason = isOverrun(message) || hadPreamble || hadFileMeta ? 'truncated' : 'not_dicom';
    throw new DicomRejectedError(
      reason,
      reason === 'truncated'
        ? `file ends inside a data element (${message})`
        : `malformed data set: ${message}`,
      { cause: error },
    );
  }

  if (!hadFileMeta && !hadPreamble && !hasImageOrIdentityGroup(dataSet)) {
    throw new DicomRejectedError('not_dicom', 'no DICM prefix and the bytes do not form a DICOM data set');
  }

  return {
    dataSet,
    transferSyntaxUid,
    hadPreamble,
    hadFileMeta,
    explicitVr: encoding.explicitVr,
    bigEndian: encoding.bigEndian,
    extendedOffsets: readUint64Array(dataSet, dataSet.elements[Tag.ExtendedOffsetTable], encoding.bigEndian),
    extendedLengths: readUint64Array(
      dataSet,
      dataSet.elements[Tag.ExtendedOffsetTableLengths],
      encoding.bigEndian,
    ),
  };
}

function hasImageOrIdentityGroup(dataSet: DataSet): boolean {
  return (
    dataSet.elements[Tag.SopClassUid] !== undefined ||
    dataSet.elements[Tag.Rows] !== undefined ||
    dataSet.elements[Tag.PixelData] !== undefined
  );
}

/**
 * The encoding a transfer syntax prescribes (PS3.5 10). Files whose meta says explicit VR
 * little endian but whose data set is implicit (or the reverse) exist; the bytes win then.
 */
function encodingForSyntax(uid: string, detected: Encoding | undefined): Encoding {
  if (uid === TransferSyntax.ExplicitVRBigEndian) return { explicitVr: true, bigEndian: true };
  if (uid === TransferSyntax.DeflatedExplicitVRLittleEndian) return { explicitVr: true, bigEndian: false };
  const declaredExplicit = uid !== TransferSyntax.ImplicitVRLittleEndian;
  if (detected !== undefined && !detected.bigEndian && detected.explicitVr !== declaredExplicit) {
    return { explicitVr: detected.explicitVr, bigEndian: false };
  }
  return { explicitVr: declaredExplicit, bigEndian: false };
}
