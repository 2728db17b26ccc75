/**
 * Reads back what tools (dcmtk, gdcm) and the writer produce: the Image Pixel attributes, the
 * native Pixel Data or the encapsulated fragments (PS3.5 A.4). It uses dicom-parser directly,
 * not this package's decoder, so a decoder bug cannot hide in its own reference.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import dicomParser from 'dicom-parser';

import type { EncodedFrameInfo } from '../types.js';

/** What the reader finds: the transfer syntax, the Image Pixel attributes and the Pixel Data. */
export interface ParsedPart10 extends EncodedFrameInfo {
  readonly transferSyntaxUid: string;
  /** Native Pixel Data bytes, when the Pixel Data has a defined length. */
  readonly nativePixels?: Uint8Array;
  /** Fragments after the Basic Offset Table, when the Pixel Data is encapsulated (PS3.5 A.4). */
  readonly fragments?: readonly Uint8Array[];
}

/** Parses a Part 10 file's pixel module and Pixel Data (any transfer syntax dicom-parser reads). */
export function readPart10(file: Uint8Array): ParsedPart10 {
  const dataSet = dicomParser.parseDicom(file);
  const pixel = dataSet.elements.x7fe00010;
  if (!pixel) throw new Error('no Pixel Data');
  const text = (tag: string): string => (dataSet.string(tag) ?? '').replace(/\0/g, '').trim();
  const bitsAllocated = dataSet.uint16('x00280100') ?? 16;
  const pixelData =
    pixel.encapsulatedPixelData === true
      ? { fragments: (pixel.fragments ?? []).map((f) => file.subarray(f.position, f.position + f.length)) }
      : { nativePixels: file.subarray(pixel.dataOffset, pixel.dataOffset + pixel.length) };
  return {
    transferSyntaxUid: text('x00020010'),
    rows: dataSet.uint16('x00280010') ?? 0,
    columns: dataSet.uint16('x00280011') ?? 0,
    samplesPerPixel: dataSet.uint16('x00280002') === 3 ? 3 : 1,
    bitsAllocated: bitsAllocated === 8 ? 8 : bitsAllocated === 1 ? 1 : bitsAllocated === 32 ? 32 : 16,
    bitsStored: dataSet.uint16('x00280101') ?? bitsAllocated,
    pixelRepresentation: dataSet.uint16('x00280103') === 1 ? 1 : 0,
    planarConfiguration: dataSet.uint16('x00280006') === 1 ? 1 : 0,
    photometricInterpretation: text('x00280004'),
    ...pixelData,
  };
}

/** Reads and parses a Part 10 file from disk. */
export function readDicomFile(path: string): ParsedPart10 {
  return readPart10(new Uint8Array(readFileSync(path)));
}

/**
 * Absolute path of a public test file in ../shared/data/public-dicom (relative to the repo root),
 * or in CXR_PUBLIC_DICOM_DIR when set (a checkout elsewhere, e.g. a git worktree).
 */
export function publicDicomPath(name: string): string {
  // Test support, not app code: reading the environment here bypasses @cxr/config on purpose.
  const dir = process.env.CXR_PUBLIC_DICOM_DIR;
  if (dir !== undefined && dir !== '') return join(dir, name);
  return fileURLToPath(new URL(`../../../../../shared/data/public-dicom/${name}`, import.meta.url));
}

/** Reads a public test file from ../shared/data/public-dicom. */
export function readPublicDicom(name: string): { path: string; parsed: ParsedPart10 } {
  const path = publicDicomPath(name);
  return { path, parsed: readDicomFile(path) };
}

/** The codestream of a single-frame encapsulated file (all fragments joined). */
export function firstFrameCodestream(parsed: ParsedPart10): Uint8Array {
  if (!parsed.fragments || parsed.fragments.length === 0) throw new Error('Pixel Data is not encapsulated');
  return new Uint8Array(Buffer.concat(parsed.fragments));
}

/**
 * The first frame of native Pixel Data as interleaved samples: Uint8Array for 8 bits allocated,
 * Int16Array or Uint16Array for 16 (signed by Pixel Representation). Planar Configuration 1
 * (PS3.3 C.7.6.3.1.3) is interleaved here, as decoders return it.
 */
export function nativeSamples(parsed: ParsedPart10): Uint8Array | Uint16Array | Int16Array {
  const bytes = parsed.nativePixels;
  if (!bytes) throw new Error('Pixel Data is not native');
  const count = parsed.rows * parsed.columns * parsed.samplesPerPixel;
  const copy = new Uint8Array(bytes.subarray(0, count * (parsed.bitsAllocated / 8)));
  // Host byte order is little endian on every platform we run on, as is the Pixel Data here.
  const raw =
    parsed.bitsAllocated === 8
      ? copy
      : parsed.pixelRepresentation === 1
        ? new Int16Array(copy.buffer)
        : new Uint16Array(copy.buffer);
  if (parsed.samplesPerPixel === 1 || parsed.planarConfiguration === 0) return raw;
  const plane = parsed.rows * parsed.columns;
  const out = raw.slice();
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) out[i * 3 + c] = raw[c * plane + i]!;
  return out;
}

/** The codec-facing frame description of a parsed file or raw image (planar configuration 0). */
export function frameInfoOf(image: {
  rows: number;
  columns: number;
  samplesPerPixel: number;
  bitsAllocated: number;
  bitsStored: number;
  pixelRepresentation: number;
  photometricInterpretation: string;
}): EncodedFrameInfo {
  return {
    rows: image.rows,
    columns: image.columns,
    samplesPerPixel: image.samplesPerPixel === 3 ? 3 : 1,
    bitsAllocated: image.bitsAllocated === 8 ? 8 : 16,
    bitsStored: image.bitsStored,
    pixelRepresentation: image.pixelRepresentation === 1 ? 1 : 0,
    planarConfiguration: 0,
    photometricInterpretation: image.photometricInterpretation,
  };
}
