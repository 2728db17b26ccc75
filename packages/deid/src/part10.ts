/**
 * The Part 10 file around a data set (PS3.10 7.1): where the data set of an input starts, and a
 * new preamble and File Meta Information for the output. PS3.15 E.1.1 asks for both to be
 * replaced: an input's preamble (128 bytes of anything) and meta (source AE titles, private
 * information) may carry identity.
 */
import { deflateRawSync } from 'node:zlib';
import { DicomRejectedError, parseDicomBytes, TransferSyntax } from '@cxr/dicom';
import { concat, textBytes, Writer, type Encoding } from './dataset.js';
import { DeidRejectedError, type DeidRejectReason } from './errors.js';

/** Implementation Class UID of the files cxr-pipeline writes (the value @cxr/findings writes too). */
export const IMPLEMENTATION_CLASS_UID = '2.25.111451137230960368717849043951281800647';
/** Implementation Version Name (SH, at most 16 characters). */
export const IMPLEMENTATION_VERSION_NAME = 'CXR_DEID_0.1.0';

/** The data set of an input object and how it is encoded. */
export interface InputDataSet {
  /** The bytes holding the data set: the input itself, or its inflated data set. */
  readonly bytes: Uint8Array;
  /** Where the data set starts in `bytes`. */
  readonly start: number;
  readonly encoding: Encoding;
  /** The transfer syntax the output declares (see outputSyntax). */
  readonly transferSyntaxUid: string;
  readonly deflated: boolean;
  /** Media Storage SOP Class UID (0002,0002) of the input's meta, if any. */
  readonly metaSopClassUid?: string;
}

const NATIVE_SYNTAXES: ReadonlySet<string> = new Set([
  TransferSyntax.ImplicitVRLittleEndian,
  TransferSyntax.ExplicitVRLittleEndian,
  TransferSyntax.ExplicitVRBigEndian,
]);

function hasDicmAt(bytes: Uint8Array, pos: number): boolean {
  return (
    bytes.length >= pos + 4 &&
    bytes[pos] === 0x44 &&
    bytes[pos + 1] === 0x49 &&
    bytes[pos + 2] === 0x43 &&
    bytes[pos + 3] === 0x4d
  );
}

function isVrAt(bytes: Uint8Array, pos: number): boolean {
  const a = bytes[pos];
  const b = bytes[pos + 1];
  return a !== undefined && b !== undefined && a >= 0x41 && a <= 0x5a && b >= 0x41 && b <= 0x5a;
}

const META_LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);

/**
 * Where the input's data set starts (after the preamble, "DICM" and group 0002, each optional) and
 * its meta's Media Storage SOP Class UID. The same steps as @cxr/dicom's parser, which has already
 * accepted the bytes: group 0002 is explicit VR little endian, or implicit in some old writers.
 */
function locateDataSet(bytes: Uint8Array): { start: number; metaSopClassUid?: string } {
  let pos = hasDicmAt(bytes, 128) ? 132 : hasDicmAt(bytes, 0) ? 4 : 0;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let metaSopClassUid: string | undefined;
  while (pos + 8 <= bytes.length && view.getUint16(pos, true) === 0x0002) {
    const element = view.getUint16(pos + 2, true);
    let valueStart: number;
    let length: number;
    if (isVrAt(bytes, pos + 4)) {
      const vr = String.fromCharCode(bytes[pos + 4]!, bytes[pos + 5]!);
      if (META_LONG_VRS.has(vr)) {
        length = view.getUint32(pos + 8, true);
        valueStart = pos + 12;
      } else {
        length = view.getUint16(pos + 6, true);
        valueStart = pos + 8;
      }
    } else {
      length = view.getUint32(pos + 4, true);
      valueStart = pos + 8;
    }
    if (valueStart + length > bytes.length)
      throw new DeidRejectedError('truncated', 'file ends inside the file meta information');
    if (element === 0x0002) {
      metaSopClassUid = Buffer.from(bytes.subarray(valueStart, valueStart + length))
        .toString('latin1')
        .replace(/[\0 ]+$/, '');
    }
    pos = valueStart + length;
  }
  return metaSopClassUid === undefined ? { start: pos } : { start: pos, metaSopClassUid };
}

/** The transfer syntax a native data set is actually encoded in (the meta may say otherwise). */
function nativeSyntax(encoding: Encoding): string {
  if (!encoding.littleEndian) return TransferSyntax.ExplicitVRBigEndian;
  return encoding.explicitVr ? TransferSyntax.ExplicitVRLittleEndian : TransferSyntax.ImplicitVRLittleEndian;
}

const PARSER_REASONS: Readonly<Record<string, DeidRejectReason>> = {
  not_dicom: 'not_dicom',
  truncated: 'truncated',
  corrupt_stream: 'corrupt_stream',
  nesting_too_deep: 'nesting_too_deep',
};

/**
 * The data set of an input. The shared parser (@cxr/dicom) decides first whether the bytes are
 * DICOM at all, so that `cxr deidentify` accepts and rejects exactly what the pipeline does.
 * Throws DeidRejectedError.
 */
export function readInputDataSet(bytes: Uint8Array): InputDataSet {
  let parsed;
  try {
    parsed = parseDicomBytes(bytes);
  } catch (error) {
    if (error instanceof DicomRejectedError) {
      throw new DeidRejectedError(PARSER_REASONS[error.reason] ?? 'malformed', error.message, {
        cause: error,
      });
    }
    throw error;
  }
  const encoding: Encoding = { explicitVr: parsed.explicitVr, littleEndian: !parsed.bigEndian };
  const deflated = parsed.transferSyntaxUid === TransferSyntax.DeflatedExplicitVRLittleEndian;
  const { start, metaSopClassUid } = locateDataSet(bytes);
  // A native syntax is written as the bytes are encoded (an input whose meta names the wrong one
  // gets a meta that tells the truth); an encapsulated one as declared.
  const transferSyntaxUid =
    deflated || (parsed.hadFileMeta && !NATIVE_SYNTAXES.has(parsed.transferSyntaxUid))
      ? parsed.transferSyntaxUid
      : nativeSyntax(encoding);
  return {
    bytes: deflated ? parsed.dataSet.byteArray : bytes,
    start: deflated ? 0 : start,
    encoding,
    transferSyntaxUid,
    deflated,
    ...(metaSopClassUid === undefined ? {} : { metaSopClassUid }),
  };
}

/** A meta element: explicit VR little endian, always (PS3.10 7.1). */
function metaElement(writer: Writer, element: number, vr: string, value: string | Uint8Array): Uint8Array {
  const bytes = typeof value === 'string' ? textBytes(value, vr) : value;
  return concat([writer.header((0x0002 << 16) | element, vr, bytes.length), bytes]);
}

export interface OutputMeta {
  readonly sopClassUid: string | undefined;
  readonly sopInstanceUid: string;
  readonly transferSyntaxUid: string;
}

/**
 * A Part 10 file: a zero preamble, "DICM", new File Meta Information naming this implementation,
 * and the data set (deflated again for the deflated syntax).
 */
export function writePart10(meta: OutputMeta, dataSet: Uint8Array, deflate: boolean): Uint8Array {
  const writer = new Writer({ explicitVr: true, littleEndian: true });
  const elements = [
    metaElement(writer, 0x0001, 'OB', new Uint8Array([0, 1])),
    ...(meta.sopClassUid === undefined ? [] : [metaElement(writer, 0x0002, 'UI', meta.sopClassUid)]),
    metaElement(writer, 0x0003, 'UI', meta.sopInstanceUid),
    metaElement(writer, 0x0010, 'UI', meta.transferSyntaxUid),
    metaElement(writer, 0x0012, 'UI', IMPLEMENTATION_CLASS_UID),
    metaElement(writer, 0x0013, 'SH', IMPLEMENTATION_VERSION_NAME),
  ];
  const group = concat(elements);
  const groupLength = new Uint8Array(4);
  new DataView(groupLength.buffer).setUint32(0, group.length, true);
  const body = deflate ? new Uint8Array(deflateRawSync(dataSet)) : dataSet;
  return concat([
    new Uint8Array(128),
    new Uint8Array([0x44, 0x49, 0x43, 0x4d]),
    metaElement(writer, 0x0000, 'UL', groupLength),
    group,
    body,
  ]);
}
