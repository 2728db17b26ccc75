/**
 * Distinct instances made from the fixtures, for the PACS tests: a copy of a Part 10 file whose
 * Study, Series and SOP Instance UIDs (and optionally Study Date and Modality) are replaced by
 * values of the same length, so no length field changes and the pixel data stays byte for byte
 * what the fixture's manifest describes. A deflated data set is inflated, edited and deflated.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { parseDicomBytes, TransferSyntax } from '@cxr/dicom';

export interface VariantChanges {
  /** Distinguishes the variant: the last digits of each UID. */
  readonly index: number;
  /** Another study (default: the index's own study). */
  readonly studyIndex?: number;
  /** YYYYMMDD replacing every occurrence of the fixture's Study Date. */
  readonly studyDate?: string;
  /** A two-letter modality replacing (0008,0060). */
  readonly modality?: string;
}

export interface Variant {
  readonly bytes: Uint8Array;
  readonly studyInstanceUid: string;
  readonly seriesInstanceUid: string;
  readonly sopInstanceUid: string;
}

/** `uid` with its last four digits replaced from `n` (the UID keeps its length and stays valid). */
export function uidVariant(uid: string, n: number, salt: number): string {
  if (!/\.[1-9]\d{4,}$/.test(uid)) throw new Error(`fixture UID too short to vary: "${uid}"`);
  return uid.slice(0, -4) + String((n * 7919 + salt * 104729) % 10_000).padStart(4, '0');
}

function replaceAll(bytes: Buffer, from: string, to: string): void {
  if (from.length !== to.length) throw new Error('replacement must keep the length');
  const needle = Buffer.from(from, 'latin1');
  const value = Buffer.from(to, 'latin1');
  for (let at = bytes.indexOf(needle); at !== -1; at = bytes.indexOf(needle, at + needle.length)) {
    value.copy(bytes, at);
  }
}

/** Sets the 2-character value of Modality (0008,0060) in any of the three uncompressed encodings. */
function setModality(bytes: Buffer, modality: string): void {
  const headers = [
    Buffer.from([0x08, 0x00, 0x60, 0x00, 0x43, 0x53, 0x02, 0x00]), // explicit VR LE
    Buffer.from([0x08, 0x00, 0x60, 0x00, 0x02, 0x00, 0x00, 0x00]), // implicit VR LE
    Buffer.from([0x00, 0x08, 0x00, 0x60, 0x43, 0x53, 0x00, 0x02]), // explicit VR BE
  ];
  for (const header of headers) {
    const at = bytes.indexOf(header);
    if (at !== -1) {
      bytes.write(modality, at + header.length, 'latin1');
      return;
    }
  }
  throw new Error('no two-character Modality element found');
}

/** A copy of `original` (a fixture file) with new UIDs, see the module comment. */
export function instanceVariant(original: Uint8Array, changes: VariantChanges): Variant {
  const parsed = parseDicomBytes(original);
  const read = (tag: string): string => (parsed.dataSet.string(tag) ?? '').replace(/[\0\s]+$/, '');
  const study = read('x0020000d');
  const series = read('x0020000e');
  const sop = read('x00080018');
  const date = read('x00080020');
  const studyIndex = changes.studyIndex ?? changes.index;
  const uids = {
    studyInstanceUid: uidVariant(study, studyIndex, 1),
    seriesInstanceUid: uidVariant(series, changes.index, 2),
    sopInstanceUid: uidVariant(sop, changes.index, 3),
  };
  const edit = (bytes: Buffer): void => {
    replaceAll(bytes, sop, uids.sopInstanceUid);
    replaceAll(bytes, series, uids.seriesInstanceUid);
    replaceAll(bytes, study, uids.studyInstanceUid);
    if (changes.studyDate !== undefined) replaceAll(bytes, date, changes.studyDate);
    if (changes.modality !== undefined) setModality(bytes, changes.modality);
  };
  const bytes = Buffer.from(original);
  if (parsed.transferSyntaxUid === TransferSyntax.DeflatedExplicitVRLittleEndian) {
    // Meta stays as it is (with the SOP Instance UID in (0002,0003)); the data set is deflated.
    const metaEnd = 132 + 12 + bytes.readUInt32LE(140);
    const meta = bytes.subarray(0, metaEnd);
    replaceAll(meta, sop, uids.sopInstanceUid);
    const dataSet = inflateRawSync(bytes.subarray(metaEnd));
    edit(dataSet);
    return { bytes: Buffer.concat([meta, deflateRawSync(dataSet)]), ...uids };
  }
  edit(bytes);
  return { bytes, ...uids };
}
