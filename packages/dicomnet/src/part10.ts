/**
 * A DICOM Part 10 file (PS3.10 7.1) around a data set received over the network: 128-byte
 * preamble, "DICM", the File Meta Information (group 0002, explicit VR little endian, PS3.10
 * 7.1 Table 7.1-1) built from what the association knows, then the data set bytes exactly as
 * they arrived (any transfer syntax, deflated included). Nothing of the data set is parsed or
 * re-encoded.
 */

/** Implementation Class UID of the files this pipeline writes (under the UUID-derived 2.25 root). */
export const IMPLEMENTATION_CLASS_UID = '2.25.163380123071412458735811230957296478281';
export const IMPLEMENTATION_VERSION_NAME = 'CXR_PIPELINE_1';

export interface FileMetaFields {
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly transferSyntaxUid: string;
  /** Source Application Entity Title (0002,0016): the AE that sent the instance. */
  readonly sourceAeTitle?: string;
}

/** One explicit-VR little-endian element with a 2-byte length (all group 0002 VRs but OB). */
function shortElement(element: number, vr: string, value: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt16LE(0x0002, 0);
  header.writeUInt16LE(element, 2);
  header.write(vr, 4, 'latin1');
  header.writeUInt16LE(value.length, 6);
  return Buffer.concat([header, value]);
}

/** A value padded to even length (PS3.5 6.2: UI with NUL, text VRs with a space). */
function padded(text: string, pad: '\0' | ' '): Buffer {
  return Buffer.from(text.length % 2 === 0 ? text : text + pad, 'latin1');
}

/** Encodes the File Meta Information group, (0002,0000) group length first. */
export function encodeFileMeta(fields: FileMetaFields): Buffer {
  const version = Buffer.from([
    0x02, 0x00, 0x01, 0x00, 0x4f, 0x42, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
  ]);
  const body = Buffer.concat([
    version, // (0002,0001) OB, 4-byte length 2, value 00 01
    shortElement(0x0002, 'UI', padded(fields.sopClassUid, '\0')),
    shortElement(0x0003, 'UI', padded(fields.sopInstanceUid, '\0')),
    shortElement(0x0010, 'UI', padded(fields.transferSyntaxUid, '\0')),
    shortElement(0x0012, 'UI', padded(IMPLEMENTATION_CLASS_UID, '\0')),
    shortElement(0x0013, 'SH', padded(IMPLEMENTATION_VERSION_NAME, ' ')),
    ...(fields.sourceAeTitle !== undefined && fields.sourceAeTitle.trim() !== ''
      ? [shortElement(0x0016, 'AE', padded(fields.sourceAeTitle.trim(), ' '))]
      : []),
  ]);
  const groupLength = Buffer.alloc(12);
  groupLength.writeUInt16LE(0x0002, 0);
  groupLength.writeUInt16LE(0x0000, 2);
  groupLength.write('UL', 4, 'latin1');
  groupLength.writeUInt16LE(4, 6);
  groupLength.writeUInt32LE(body.length, 8);
  return Buffer.concat([groupLength, body]);
}

/** Preamble (zeros) and the "DICM" prefix. */
const PREFIX = Buffer.concat([Buffer.alloc(128), Buffer.from('DICM', 'latin1')]);

/**
 * The Part 10 file of a data set given as the chunks it arrived in: one allocation for the whole
 * file that owns its ArrayBuffer (not a slice of node's buffer pool), so the worker can move it
 * to a decode thread.
 */
export function part10File(fields: FileMetaFields, dataSet: readonly Uint8Array[]): Uint8Array {
  const parts = [PREFIX, encodeFileMeta(fields), ...dataSet];
  let size = 0;
  for (const part of parts) size += part.byteLength;
  const file = Buffer.allocUnsafeSlow(size);
  let offset = 0;
  for (const part of parts) {
    file.set(part, offset);
    offset += part.byteLength;
  }
  return new Uint8Array(file.buffer, file.byteOffset, file.byteLength);
}
