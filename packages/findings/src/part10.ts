/**
 * The one module that talks to dcmjs: reads a Part 10 object's data set (without its pixels) and
 * writes a keyword-keyed data set as a Part 10 file. Everything else builds plain objects.
 */
import { data, log } from 'dcmjs';

// dcmjs reports odd elements through its own logger, and its messages may quote element values,
// which here are patient data: nothing of dcmjs goes to the console. Errors still throw.
log.setLevel('silent');
for (const logger of Object.values(log.getLoggers())) logger.setLevel('silent');

/** A data set keyed by DICOM keyword (dcmjs' "naturalized" form), e.g. `{ PatientID: '123' }`. */
export type NaturalDataset = Record<string, unknown>;

export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
const PIXEL_DATA_TAG = '7FE00010';

/** An ArrayBuffer holding exactly `bytes` (dcmjs reads ArrayBuffers). */
function exactArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  if (
    bytes.buffer instanceof ArrayBuffer &&
    bytes.byteOffset === 0 &&
    bytes.byteLength === bytes.buffer.byteLength
  ) {
    return bytes.buffer;
  }
  // A copy, not bytes.slice(): on a Node Buffer slice() is a view of the same (pooled) memory.
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return copy.buffer;
}

/**
 * The data set of a Part 10 object up to (not including) its Pixel Data, keyword-keyed. Strings
 * are decoded with the object's Specific Character Set. Throws when the bytes are not Part 10.
 */
export function readPart10Header(bytes: Uint8Array): NaturalDataset {
  const file = data.DicomMessage.readFile(exactArrayBuffer(bytes), {
    untilTag: PIXEL_DATA_TAG,
    includeUntilTagValue: false,
  });
  const { [PIXEL_DATA_TAG]: _pixelData, ...header } = file.dict;
  return data.DicomMetaDictionary.naturalizeDataset(header);
}

const PREAMBLE_BYTES = 128;

function hasDicmAt(bytes: Uint8Array, offset: number): boolean {
  return (
    bytes.length >= offset + 4 &&
    Buffer.from(bytes.buffer, bytes.byteOffset + offset, 4).toString('latin1') === 'DICM'
  );
}

/** An explicit VR little endian element of a short-length VR (PS3.5 7.1.2). */
function shortElement(group: number, element: number, vr: string, value: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt16LE(group, 0);
  header.writeUInt16LE(element, 2);
  header.write(vr, 4, 'latin1');
  header.writeUInt16LE(value.length, 6);
  return Buffer.concat([header, value]);
}

/**
 * The object as a Part 10 file for dcmjs, which reads nothing else: unchanged when it has the
 * preamble and "DICM"; otherwise (files written without them, PS3.10 7.1 is often ignored) the
 * preamble and "DICM" are added, and File Meta Information with `transferSyntaxUid` (what the
 * pipeline's parser inferred) when the object has none.
 */
export function asPart10File(bytes: Uint8Array, transferSyntaxUid: () => string): Uint8Array {
  if (hasDicmAt(bytes, PREAMBLE_BYTES)) return bytes;
  const body = hasDicmAt(bytes, 0) ? bytes.subarray(4) : bytes;
  const prefix = Buffer.concat([Buffer.alloc(PREAMBLE_BYTES), Buffer.from('DICM', 'latin1')]);
  // File meta is group 0002, always explicit VR little endian: its first element says whether it is there.
  if (body.length >= 2 && body[0] === 0x02 && body[1] === 0x00) return Buffer.concat([prefix, body]);
  const uid = Buffer.from(transferSyntaxUid(), 'latin1');
  const syntax = shortElement(
    0x0002,
    0x0010,
    'UI',
    uid.length % 2 === 0 ? uid : Buffer.concat([uid, Buffer.alloc(1)]),
  );
  const length = Buffer.alloc(4);
  length.writeUInt32LE(syntax.length, 0);
  return Buffer.concat([prefix, shortElement(0x0002, 0x0000, 'UL', length), syntax, body]);
}

export interface Part10Meta {
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly implementationClassUid: string;
  /** At most 16 characters (SH). */
  readonly implementationVersionName: string;
}

// Keys of a naturalized data set that are dcmjs bookkeeping, not attributes.
const BOOKKEEPING_KEYS = new Set(['_vrMap', '_meta']);

/**
 * Throws on a key that is no DICOM keyword: dcmjs would silently drop the attribute (a typo in a
 * keyword must not quietly lose, say, the Study Instance UID).
 */
function checkKeywords(dataset: NaturalDataset, path: string): void {
  for (const [key, value] of Object.entries(dataset)) {
    if (BOOKKEEPING_KEYS.has(key)) continue;
    const entry = data.DicomMetaDictionary.nameMap[key];
    if (entry === undefined) throw new Error(`writePart10: ${path}${key} is not a DICOM keyword`);
    if (entry.vr === 'SQ' && Array.isArray(value)) {
      for (const item of value) checkKeywords(item as NaturalDataset, `${path}${key}/`);
    }
  }
}

/** Writes a keyword-keyed data set as a Part 10 file in explicit VR little endian (PS3.10 7.1). */
export function writePart10(dataset: NaturalDataset, meta: Part10Meta): Uint8Array {
  checkKeywords(dataset, '');
  const file = new data.DicomDict({
    '00020001': { vr: 'OB', Value: [new Uint8Array([0, 1]).buffer] },
    '00020002': { vr: 'UI', Value: [meta.sopClassUid] },
    '00020003': { vr: 'UI', Value: [meta.sopInstanceUid] },
    '00020010': { vr: 'UI', Value: [EXPLICIT_VR_LITTLE_ENDIAN] },
    '00020012': { vr: 'UI', Value: [meta.implementationClassUid] },
    '00020013': { vr: 'SH', Value: [meta.implementationVersionName] },
  });
  file.dict = data.DicomMetaDictionary.denaturalizeDataset(dataset);
  return new Uint8Array(file.write());
}
