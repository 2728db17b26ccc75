import { parseDicomBytes } from '@cxr/dicom';
import { describe, expect, it } from 'vitest';
import { IMPLEMENTATION_CLASS_UID, encodeFileMeta, part10File } from './part10.js';

/** A tiny explicit VR little endian data set: SOP Instance UID (0008,0018) and Rows (0028,0010). */
function dataSet(sop: string): Buffer {
  const value = Buffer.from(sop.length % 2 === 0 ? sop : `${sop}\0`, 'latin1');
  const uid = Buffer.alloc(8);
  uid.writeUInt16LE(0x0008, 0);
  uid.writeUInt16LE(0x0018, 2);
  uid.write('UI', 4, 'latin1');
  uid.writeUInt16LE(value.length, 6);
  const rows = Buffer.from([0x28, 0x00, 0x10, 0x00, 0x55, 0x53, 0x02, 0x00, 0x00, 0x02]);
  return Buffer.concat([uid, value, rows]);
}

describe('part10File', () => {
  const sop = '1.2.826.0.1.3680043.2.1125.1';
  const fields = {
    sopClassUid: '1.2.840.10008.5.1.4.1.1.1',
    sopInstanceUid: sop,
    transferSyntaxUid: '1.2.840.10008.1.2.1',
    sourceAeTitle: 'MODALITY1',
  };

  it('wraps the data set, fragment by fragment, after a preamble and the File Meta Information (PS3.10 7.1)', () => {
    const set = dataSet(sop);
    const file = part10File(fields, [set.subarray(0, 5), set.subarray(5)]);
    const bytes = Buffer.from(file);
    expect(bytes.subarray(0, 128).every((b) => b === 0)).toBe(true);
    expect(bytes.subarray(128, 132).toString('latin1')).toBe('DICM');
    const meta = encodeFileMeta(fields);
    expect(bytes.subarray(132, 132 + meta.length).equals(meta)).toBe(true);
    // The data set exactly as received, nothing re-encoded.
    expect(bytes.subarray(132 + meta.length).equals(set)).toBe(true);
    const parsed = parseDicomBytes(file);
    expect(parsed.hadPreamble).toBe(true);
    expect(parsed.transferSyntaxUid).toBe(fields.transferSyntaxUid);
    expect(parsed.dataSet.string('x00080018')).toBe(sop);
    expect(parsed.dataSet.uint16('x00280010')).toBe(512);
  });

  it('writes the SOP class and instance, transfer syntax, implementation and source AE title into group 0002', () => {
    const file = part10File(fields, [dataSet(sop)]);
    const text = Buffer.from(file).toString('latin1');
    for (const value of [
      fields.sopClassUid,
      sop,
      fields.transferSyntaxUid,
      IMPLEMENTATION_CLASS_UID,
      'MODALITY1',
    ]) {
      expect(text).toContain(value);
    }
    // Group length (0002,0000) counts the bytes after it up to the data set.
    const meta = encodeFileMeta(fields);
    expect(meta.readUInt32LE(8)).toBe(meta.length - 12);
    expect(meta.length % 2).toBe(0);
  });

  it('returns bytes that own their whole ArrayBuffer (transferable to a decode thread)', () => {
    const file = part10File(fields, [dataSet(sop)]);
    expect(file.byteOffset).toBe(0);
    expect(file.buffer.byteLength).toBe(file.byteLength);
  });
});
