import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DicomRejectedError } from './errors.js';
import { DICOM_PREFIX_BYTES, MAX_SEQUENCE_DEPTH, checkDicomPrefix, parseDicomBytes } from './parse.js';
import {
  encodeDataSet,
  imagePixelElements,
  writeDicom,
  type DataElement,
  type DataSet,
} from './testing/index.js';
import { TransferSyntax } from './uids.js';

/** ../shared/data/public-dicom of the main checkout; worktrees sit one level deeper. */
const publicDir = ['../../../../shared/data/public-dicom/', '../../../../../shared/data/public-dicom/']
  .map((relative) => fileURLToPath(new URL(relative, import.meta.url)))
  .find((dir) => existsSync(dir));

function publicFiles(): string[] {
  if (publicDir === undefined) throw new Error('../shared/data/public-dicom not found');
  return readdirSync(publicDir)
    .filter((name) => name.endsWith('.dcm'))
    .map((name) => join(publicDir, name));
}

const REFERENCED_IMAGE_SEQUENCE = 0x00081140;

/** Pixel module + 2x2 8-bit Pixel Data, so that a parse that succeeds yields a usable data set. */
const IMAGE: DataSet = [
  ...imagePixelElements({ rows: 2, columns: 2, bitsAllocated: 8 }),
  { tag: 0x7fe00010, vr: 'OB', value: Uint8Array.of(1, 2, 3, 4) },
];

function rejection(bytes: Uint8Array): DicomRejectedError {
  try {
    parseDicomBytes(bytes);
  } catch (error) {
    expect(error).toBeInstanceOf(DicomRejectedError);
    return error as DicomRejectedError;
  }
  throw new Error('expected a DicomRejectedError');
}

/**
 * `depth` sequences nested inside each other with undefined lengths (PS3.5 7.5.2), built
 * iteratively: the test writer's recursion would itself overflow the stack at 50,000 levels.
 */
function nestedUndefinedLength(depth: number, explicitVr: boolean): Uint8Array {
  const open = new DataView(new ArrayBuffer(explicitVr ? 20 : 16));
  let at = 0;
  open.setUint16(at, 0x0008, true);
  open.setUint16(at + 2, 0x1140, true);
  if (explicitVr) {
    open.setUint8(at + 4, 0x53); // 'S'
    open.setUint8(at + 5, 0x51); // 'Q'
    open.setUint32(at + 8, 0xffffffff, true);
    at += 12;
  } else {
    open.setUint32(at + 4, 0xffffffff, true);
    at += 8;
  }
  open.setUint16(at, 0xfffe, true);
  open.setUint16(at + 2, 0xe000, true);
  open.setUint32(at + 4, 0xffffffff, true);
  const close = new DataView(new ArrayBuffer(16));
  close.setUint16(0, 0xfffe, true);
  close.setUint16(2, 0xe00d, true);
  close.setUint16(8, 0xfffe, true);
  close.setUint16(10, 0xe0dd, true);
  const openBytes = new Uint8Array(open.buffer);
  const closeBytes = new Uint8Array(close.buffer);
  const out = new Uint8Array(depth * (openBytes.length + closeBytes.length));
  for (let i = 0; i < depth; i++) {
    out.set(openBytes, i * openBytes.length);
    out.set(closeBytes, depth * openBytes.length + i * closeBytes.length);
  }
  return out;
}

/** A Part 10 file whose data set holds `nested` between the pixel module and Pixel Data. */
function fileWithNested(nested: Uint8Array, syntax: string): Uint8Array {
  const explicitVr = syntax !== TransferSyntax.ImplicitVRLittleEndian;
  const enc = { explicitVr, bigEndian: false };
  const head = writeDicom(imagePixelElements({ rows: 2, columns: 2, bitsAllocated: 8 }), {
    transferSyntaxUid: syntax,
  });
  const tail = encodeDataSet([{ tag: 0x7fe00010, vr: 'OB', value: Uint8Array.of(1, 2, 3, 4) }], enc);
  return new Uint8Array(Buffer.concat([head, nested, tail]));
}

/** Sequences of defined length nested `depth` deep, through the test writer. */
function nestedDefinedLength(depth: number): DataElement {
  let element: DataElement = { tag: REFERENCED_IMAGE_SEQUENCE, vr: 'SQ', value: [] };
  for (let i = 1; i < depth; i++) element = { tag: REFERENCED_IMAGE_SEQUENCE, vr: 'SQ', value: [[element]] };
  return element;
}

describe('parseDicomBytes: sequence nesting limit', () => {
  it('rejects 50,000 nested sequences as nesting_too_deep, not truncated (audit finding 13)', () => {
    const bytes = fileWithNested(nestedUndefinedLength(50_000, true), TransferSyntax.ExplicitVRLittleEndian);
    const error = rejection(bytes);
    expect(error.reason).toBe('nesting_too_deep');
    expect(error.message).toBe(`sequences nest deeper than ${MAX_SEQUENCE_DEPTH} levels`);
  });

  it('counts implicit VR sequences the way the parser recognises them', () => {
    const deep = fileWithNested(nestedUndefinedLength(50_000, false), TransferSyntax.ImplicitVRLittleEndian);
    expect(rejection(deep).reason).toBe('nesting_too_deep');
    const fine = fileWithNested(
      nestedUndefinedLength(MAX_SEQUENCE_DEPTH, false),
      TransferSyntax.ImplicitVRLittleEndian,
    );
    expect(parseDicomBytes(fine).dataSet.elements.x7fe00010?.length).toBe(4);
  });

  it('accepts exactly MAX_SEQUENCE_DEPTH levels and rejects one more, with defined lengths too', () => {
    const at = (depth: number): Uint8Array => writeDicom([...IMAGE, nestedDefinedLength(depth)]);
    const parsed = parseDicomBytes(at(MAX_SEQUENCE_DEPTH));
    expect(parsed.dataSet.elements.x00081140?.items).toHaveLength(1);
    expect(parsed.dataSet.elements.x7fe00010?.length).toBe(4);
    expect(rejection(at(MAX_SEQUENCE_DEPTH + 1)).reason).toBe('nesting_too_deep');
    const undefinedLengths = (depth: number): Uint8Array =>
      fileWithNested(nestedUndefinedLength(depth, true), TransferSyntax.ExplicitVRLittleEndian);
    expect(parseDicomBytes(undefinedLengths(MAX_SEQUENCE_DEPTH)).dataSet.elements.x7fe00010?.length).toBe(4);
    expect(rejection(undefinedLengths(MAX_SEQUENCE_DEPTH + 1)).reason).toBe('nesting_too_deep');
  });

  it('follows UN values of undefined length, which the parser reads as implicit VR sequences', () => {
    const inner = nestedUndefinedLength(MAX_SEQUENCE_DEPTH, false);
    const header = new DataView(new ArrayBuffer(20));
    header.setUint16(0, 0x0009, true); // a private element of unknown VR
    header.setUint16(2, 0x1010, true);
    header.setUint8(4, 0x55); // 'U'
    header.setUint8(5, 0x4e); // 'N'
    header.setUint32(8, 0xffffffff, true);
    header.setUint16(12, 0xfffe, true); // one item around the implicit VR nest
    header.setUint16(14, 0xe000, true);
    header.setUint32(16, 0xffffffff, true);
    const trailer = new DataView(new ArrayBuffer(16));
    trailer.setUint16(0, 0xfffe, true);
    trailer.setUint16(2, 0xe00d, true);
    trailer.setUint16(8, 0xfffe, true);
    trailer.setUint16(10, 0xe0dd, true);
    const un = Buffer.concat([new Uint8Array(header.buffer), inner, new Uint8Array(trailer.buffer)]);
    const bytes = fileWithNested(un, TransferSyntax.ExplicitVRLittleEndian);
    expect(rejection(bytes).reason).toBe('nesting_too_deep');
  });
});

describe('checkDicomPrefix', () => {
  it('rejects what the parser rejects from the first bytes alone', () => {
    for (const bytes of [
      new Uint8Array(0),
      new Uint8Array(DICOM_PREFIX_BYTES),
      Buffer.from('\x89PNG\r\n\x1a\n\0\0\0\rIHDR'),
      Buffer.from('%PDF-1.7 a document, not an image'.padEnd(DICOM_PREFIX_BYTES, ' ')),
    ]) {
      expect(() => {
        checkDicomPrefix(bytes);
      }).toThrow(DicomRejectedError);
      expect(rejection(bytes).reason).toBe('not_dicom');
    }
  });

  it('accepts the start of every encoding the parser accepts: preamble, DICM only, bare meta, bare data set', () => {
    const variants = [
      writeDicom(IMAGE),
      writeDicom(IMAGE, { preamble: false }),
      writeDicom(IMAGE, { preamble: false, fileMeta: false }),
      writeDicom(IMAGE, {
        preamble: false,
        fileMeta: false,
        transferSyntaxUid: TransferSyntax.ImplicitVRLittleEndian,
      }),
      writeDicom(IMAGE, {
        preamble: false,
        fileMeta: false,
        transferSyntaxUid: TransferSyntax.ExplicitVRBigEndian,
      }),
    ];
    const withoutPreamble = writeDicom(IMAGE).subarray(128);
    for (const bytes of [...variants, withoutPreamble]) {
      parseDicomBytes(bytes);
      expect(() => {
        checkDicomPrefix(bytes.subarray(0, DICOM_PREFIX_BYTES));
      }).not.toThrow();
    }
  });

  it('accepts the start of every public DICOM file the parser opens', () => {
    const paths = publicFiles();
    expect(paths.some((path) => path.endsWith('/fuji_cr_mono1_10bit.dcm'))).toBe(true); // no preamble, no meta
    for (const name of paths) {
      const bytes = new Uint8Array(readFileSync(name));
      parseDicomBytes(bytes);
      expect(() => {
        checkDicomPrefix(bytes.subarray(0, DICOM_PREFIX_BYTES));
      }, name).not.toThrow();
    }
  });
});
