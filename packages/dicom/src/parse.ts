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

/**
 * Bytes `checkDicomPrefix` needs: the 128-byte preamble and "DICM" (PS3.10 7.1). They also cover
 * the first element header of a file without preamble, which is all the parser looks at before
 * deciding whether the bytes are DICOM at all.
 */
export const DICOM_PREFIX_BYTES = 132;

/**
 * Rejects (`not_dicom`) bytes that `parseDicomBytes` would refuse from their start alone, so that a
 * large non-DICOM object can be refused after reading its first `DICOM_PREFIX_BYTES` bytes. The
 * same tests as the parser's first decision, in the same order: a "DICM" prefix at 128 or at 0, or
 * a plausible first element header at 0 (file meta or data set without preamble, PS3.10 7.1 and
 * the bare data sets the parser accepts). Anything it lets through may still be rejected later.
 */
export function checkDicomPrefix(head: Uint8Array): void {
  if (hasDicmAt(head, 128) || hasDicmAt(head, 0) || detectEncoding(head, 0) !== undefined) return;
  throw new DicomRejectedError(
    'not_dicom',
    'no DICM prefix and no recognisable DICOM data set at the start of the file',
  );
}

/**
 * Deepest sequence nesting accepted. Real CR/DX objects nest fewer than 10 levels (functional
 * groups, code sequences, referenced images); 64 leaves ample room while keeping dicom-parser,
 * which recurses a few stack frames per level, far from the stack limit (50,000 levels overflow
 * it, and the overflow used to surface as `truncated`).
 */
export const MAX_SEQUENCE_DEPTH = 64;

const UNDEFINED_LENGTH = 0xffffffff;
const ITEM = 0xfffee000;
const ITEM_DELIMITATION = 0xfffee00d;
const SEQUENCE_DELIMITATION = 0xfffee0dd;
const PIXEL_DATA = 0x7fe00010;
const EXTENDED_OFFSET_TABLES = new Set([0x7fe00001, 0x7fe00002]);
/** VRs whose explicit length is 4 bytes after 2 reserved bytes, as dicom-parser 1.8 reads them. */
const LONG_LENGTH_VRS = new Set(['OB', 'OD', 'OL', 'OW', 'SQ', 'OF', 'UC', 'UR', 'UT', 'UN']);

/** Where the depth walk is: inside a sequence's value (items follow) or inside an item (elements follow). */
interface WalkFrame {
  readonly kind: 'items' | 'elements';
  readonly explicitVr: boolean;
  /** End offset of a defined length; undefined for an undefined length (a delimiter ends it). */
  readonly end: number | undefined;
}

/**
 * Throws `nesting_too_deep` when sequences nest deeper than `limit`. An iterative walk over element
 * and item headers that follows dicom-parser 1.8's own rules for where sequences and items begin
 * and end (SQ, or UN / implicit VR values of undefined length or starting with an item tag), so it
 * measures the depth the parser would recurse to, without recursing itself. Anything it cannot
 * follow ends the walk quietly: the parser then reports the structural fault.
 */
function checkSequenceDepth(bytes: Uint8Array, start: number, encoding: Encoding, limit: number): void {
  const length = bytes.length;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const littleEndian = !encoding.bigEndian;
  const u16 = (pos: number): number => view.getUint16(pos, littleEndian);
  const u32 = (pos: number): number => view.getUint32(pos, littleEndian);
  const tagAt = (pos: number): number => ((u16(pos) << 16) | u16(pos + 2)) >>> 0;
  const stack: WalkFrame[] = [{ kind: 'elements', explicitVr: encoding.explicitVr, end: length }];
  let depth = 0;
  let pos = start;
  const enterSequence = (explicitVr: boolean, end: number | undefined): void => {
    depth += 1;
    if (depth > limit) {
      throw new DicomRejectedError('nesting_too_deep', `sequences nest deeper than ${limit} levels`);
    }
    stack.push({ kind: 'items', explicitVr, end });
  };
  const leave = (): void => {
    if (stack.pop()?.kind === 'items') depth -= 1;
  };
  for (;;) {
    const frame = stack.at(-1);
    if (frame === undefined) return;
    if (frame.kind === 'items') {
      if (frame.end === undefined) {
        if (pos + 4 > length) return;
        if (tagAt(pos) === SEQUENCE_DELIMITATION) {
          pos += 8;
          leave();
          continue;
        }
      } else if (pos >= frame.end) {
        leave();
        continue;
      }
      if (pos + 8 > length || tagAt(pos) !== ITEM) return;
      const itemLength = u32(pos + 4);
      pos += 8;
      const end = itemLength === UNDEFINED_LENGTH ? undefined : pos + itemLength;
      if (end !== undefined && end > length) return;
      stack.push({ kind: 'elements', explicitVr: frame.explicitVr, end });
      continue;
    }
    if (pos >= (frame.end ?? length)) {
      leave();
      continue;
    }
    if (pos + 8 > length) return;
    const tag = tagAt(pos);
    let vr: string | undefined;
    let valueLength: number;
    let dataOffset: number;
    if (frame.explicitVr) {
      vr = String.fromCharCode(bytes[pos + 4]!, bytes[pos + 5]!);
      const long =
        LONG_LENGTH_VRS.has(vr) ||
        (stack.length === 1 && EXTENDED_OFFSET_TABLES.has(tag) && LONG_VRS_UNKNOWN_TO_PARSER.has(vr));
      if (long) {
        if (pos + 12 > length) return;
        valueLength = u32(pos + 8);
        dataOffset = pos + 12;
      } else {
        valueLength = u16(pos + 6);
        dataOffset = pos + 8;
      }
    } else {
      valueLength = u32(pos + 4);
      dataOffset = pos + 8;
    }
    pos = dataOffset;
    if (frame.end === undefined && tag === ITEM_DELIMITATION) {
      leave();
      continue;
    }
    const undefinedLength = valueLength === UNDEFINED_LENGTH;
    const end = undefinedLength ? undefined : dataOffset + valueLength;
    if (frame.explicitVr) {
      if (vr === 'SQ') {
        enterSequence(true, end);
        continue;
      }
      if (undefinedLength && tag === PIXEL_DATA) {
        pos = skipFragments(bytes, pos, tagAt, u32);
        continue;
      }
      if (undefinedLength && vr === 'UN') {
        enterSequence(false, undefined);
        continue;
      }
    } else {
      const startsWithItem =
        pos + 4 <= length && (tagAt(pos) === ITEM || tagAt(pos) === SEQUENCE_DELIMITATION);
      const privateTag = (tag >>> 16) % 2 === 1;
      if (startsWithItem && (!privateTag || undefinedLength)) {
        enterSequence(false, end);
        continue;
      }
    }
    pos = end ?? findItemDelimitationEnd(bytes, pos, u16);
  }
}

/** Position after encapsulated Pixel Data (PS3.5 A.4), stepping over its items as dicom-parser does. */
function skipFragments(
  bytes: Uint8Array,
  start: number,
  tagAt: (pos: number) => number,
  u32: (pos: number) => number,
): number {
  let pos = start;
  while (pos + 8 <= bytes.length) {
    const tag = tagAt(pos);
    const itemLength = u32(pos + 4);
    pos += 8 + itemLength;
    if (tag !== ITEM) return pos;
  }
  return bytes.length;
}

/** Position after the Item Delimitation Item ending a non-sequence value of undefined length. */
function findItemDelimitationEnd(bytes: Uint8Array, start: number, u16: (pos: number) => number): number {
  // dicom-parser's findItemDelimitationItemAndSetElementLength: 16-bit steps, (FFFE,E00D) + length.
  let pos = start;
  while (pos + 8 <= bytes.length) {
    const group = u16(pos);
    pos += 2;
    if (group !== 0xfffe) continue;
    const element = u16(pos);
    pos += 2;
    if (element === 0xe00d) return pos + 4;
  }
  return bytes.length;
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

// Output chunks of 1 MiB instead of zlib's 16 KiB: a 10 MB data set inflates in about 25 % less
// CPU time (fewer chunks for node:zlib to collect and join).
const INFLATE_CHUNK = { chunkSize: 1 << 20 };

function inflateDataSet(bytes: Uint8Array, start: number): Uint8Array {
  const deflated = bytes.subarray(start);
  try {
    return inflateRawSync(deflated, INFLATE_CHUNK);
  } catch (rawError) {
    try {
      // Some writers wrap the stream in a zlib header although PS3.5 A.5 asks for raw deflate.
      return inflateSync(deflated, INFLATE_CHUNK);
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
 * dicom-parser. Throws DicomRejectedError ('not_dicom', 'truncated', 'corrupt_stream',
 * 'nesting_too_deep').
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
  checkSequenceDepth(byteArray, start, encoding, MAX_SEQUENCE_DEPTH);
  try {
    if (encoding.explicitVr) {
      parseExplicit(dataSet, stream, byteArray.length);
    } else {
      dicomParser.parseDicomDataSetImplicit(dataSet, stream, byteArray.length);
    }
  } catch (error) {
    if (error instanceof DicomRejectedError) throw error;
    if (error instanceof RangeError && /call stack/i.test(error.message)) {
      // The depth walk should have stopped this first; a stack overflow is never `truncated`.
      throw new DicomRejectedError('nesting_too_deep', 'sequences nest too deep for the parser', {
        cause: error,
      });
    }
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
