/**
 * Test support for the wasm codecs: synthetic phantoms, a minimal Part 10 writer (explicit VR
 * little endian) so Debian's dcmtk/gdcm can encode them, and a minimal reader that pulls the
 * native Pixel Data or the first frame's codestream back out. Test-only: not exported from the
 * package index.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { EncodedFrameInfo } from '../types.js';

/** A raw (native) image as the tests hand it to an encoder. */
export interface RawImage {
  readonly rows: number;
  readonly columns: number;
  readonly samplesPerPixel: 1 | 3;
  readonly bitsAllocated: 8 | 16;
  readonly bitsStored: number;
  readonly pixelRepresentation: 0 | 1;
  readonly photometricInterpretation: string;
  /** Interleaved samples: Uint8Array for 8 bits, Uint16Array / Int16Array for 16. */
  readonly samples: Uint8Array | Uint16Array | Int16Array;
}

/** Small deterministic PRNG (mulberry32) so phantoms are identical on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A gradient + noise + bright/dark discs phantom, covering the full range of `bitsStored`.
 * Noise matters: a smooth image compresses trivially and would not exercise the entropy coders.
 */
export function makePhantom(options: {
  rows: number;
  columns: number;
  bitsStored: number;
  samplesPerPixel?: 1 | 3;
  signed?: boolean;
  seed?: number;
}): RawImage {
  const { rows, columns, bitsStored } = options;
  const spp = options.samplesPerPixel ?? 1;
  const signed = options.signed ?? false;
  const random = prng(options.seed ?? 1);
  const max = 2 ** bitsStored - 1;
  const count = rows * columns * spp;
  const bitsAllocated = bitsStored <= 8 ? 8 : 16;
  const samples =
    bitsAllocated === 8 ? new Uint8Array(count) : signed ? new Int16Array(count) : new Uint16Array(count);
  const discs = [
    { cy: rows * 0.3, cx: columns * 0.3, r: Math.min(rows, columns) * 0.15, v: max },
    { cy: rows * 0.65, cx: columns * 0.6, r: Math.min(rows, columns) * 0.2, v: 0 },
    { cy: rows * 0.2, cx: columns * 0.8, r: Math.min(rows, columns) * 0.08, v: max * 0.5 },
  ];
  const offset = signed ? 2 ** (bitsStored - 1) : 0;
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < columns; x++) {
      for (let c = 0; c < spp; c++) {
        // Each colour channel gets its own gradient direction so a channel swap is visible.
        const g = c === 0 ? x / columns : c === 1 ? y / rows : (x + y) / (rows + columns);
        let v = g * max * 0.8 + (random() - 0.5) * max * 0.05;
        for (const d of discs) {
          if ((x - d.cx) ** 2 + (y - d.cy) ** 2 < d.r * d.r) v = d.v + (random() - 0.5) * max * 0.02;
        }
        const clamped = Math.max(0, Math.min(max, Math.round(v)));
        samples[(y * columns + x) * spp + c] = clamped - offset;
      }
    }
  }
  return {
    rows,
    columns,
    samplesPerPixel: spp,
    bitsAllocated,
    bitsStored,
    pixelRepresentation: signed ? 1 : 0,
    photometricInterpretation: spp === 3 ? 'RGB' : 'MONOCHROME2',
    samples,
  };
}

const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);

class Writer {
  private readonly chunks: Uint8Array[] = [];
  length = 0;

  element(group: number, element: number, vr: string, value: Uint8Array): void {
    const long = LONG_VRS.has(vr);
    const header = Buffer.alloc(long ? 12 : 8);
    header.writeUInt16LE(group, 0);
    header.writeUInt16LE(element, 2);
    header.write(vr, 4, 'latin1');
    if (long) header.writeUInt32LE(value.length, 8);
    else header.writeUInt16LE(value.length, 6);
    this.push(header);
    this.push(value);
  }

  text(group: number, element: number, vr: string, value: string): void {
    // PS3.5 6.2: UI pads with NUL, other strings with a space, to an even length.
    const pad = value.length % 2 === 1 ? (vr === 'UI' ? '\0' : ' ') : '';
    this.element(group, element, vr, Buffer.from(value + pad, 'latin1'));
  }

  us(group: number, element: number, value: number): void {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(value, 0);
    this.element(group, element, 'US', b);
  }

  push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.length += bytes.length;
  }

  bytes(): Uint8Array {
    return new Uint8Array(Buffer.concat(this.chunks));
  }
}

const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const SECONDARY_CAPTURE = '1.2.840.10008.5.1.4.1.1.7';

/** Writes `image` as a minimal Part 10 file in Explicit VR Little Endian (native Pixel Data). */
export function writeNativePart10(image: RawImage): Uint8Array {
  const sopInstance = '2.25.1234567890123456789';
  const meta = new Writer();
  meta.element(0x0002, 0x0001, 'OB', new Uint8Array([0, 1]));
  meta.text(0x0002, 0x0002, 'UI', SECONDARY_CAPTURE);
  meta.text(0x0002, 0x0003, 'UI', sopInstance);
  meta.text(0x0002, 0x0010, 'UI', EXPLICIT_LE);
  meta.text(0x0002, 0x0012, 'UI', '2.25.42');
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(meta.length, 0);

  const ds = new Writer();
  ds.text(0x0008, 0x0016, 'UI', SECONDARY_CAPTURE);
  ds.text(0x0008, 0x0018, 'UI', sopInstance);
  ds.text(0x0008, 0x0060, 'CS', 'OT');
  ds.text(0x0020, 0x000d, 'UI', '2.25.11');
  ds.text(0x0020, 0x000e, 'UI', '2.25.12');
  ds.us(0x0028, 0x0002, image.samplesPerPixel);
  ds.text(0x0028, 0x0004, 'CS', image.photometricInterpretation);
  if (image.samplesPerPixel === 3) ds.us(0x0028, 0x0006, 0);
  ds.us(0x0028, 0x0010, image.rows);
  ds.us(0x0028, 0x0011, image.columns);
  ds.us(0x0028, 0x0100, image.bitsAllocated);
  ds.us(0x0028, 0x0101, image.bitsStored);
  ds.us(0x0028, 0x0102, image.bitsStored - 1);
  ds.us(0x0028, 0x0103, image.pixelRepresentation);
  const s = image.samples;
  let pixels = new Uint8Array(s.buffer, s.byteOffset, s.byteLength);
  if (pixels.length % 2 === 1) pixels = new Uint8Array([...pixels, 0]);
  ds.element(0x7fe0, 0x0010, image.bitsAllocated === 8 ? 'OB' : 'OW', pixels);

  const out = new Writer();
  out.push(new Uint8Array(128));
  out.push(Buffer.from('DICM', 'latin1'));
  out.element(0x0002, 0x0000, 'UL', groupLength);
  out.push(meta.bytes());
  out.push(ds.bytes());
  return out.bytes();
}

/** What a minimal Part 10 reader finds: some Image Pixel attributes and the Pixel Data. */
export interface ParsedPart10 {
  readonly transferSyntaxUid: string;
  readonly rows: number;
  readonly columns: number;
  readonly samplesPerPixel: number;
  readonly bitsAllocated: number;
  readonly bitsStored: number;
  readonly pixelRepresentation: number;
  readonly photometricInterpretation: string;
  /** Native Pixel Data bytes, when the Pixel Data has a defined length. */
  readonly nativePixels?: Uint8Array;
  /** Fragments after the Basic Offset Table, when the Pixel Data is encapsulated (PS3.5 A.4). */
  readonly fragments?: readonly Uint8Array[];
}

/**
 * Minimal explicit VR little endian reader: enough for files written by dcmtk, gdcm and the
 * public test files. Undefined-length sequences are skipped item by item (PS3.5 7.5).
 */
export function readPart10(file: Uint8Array): ParsedPart10 {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const text = (o: number, n: number): string =>
    Buffer.from(file.subarray(o, o + n))
      .toString('latin1')
      .replace(/[\0 ]+$/, '');
  const values = new Map<number, { offset: number; length: number }>();
  let transferSyntaxUid = '';

  // Walks elements from `offset`; returns the offset after the item/sequence delimiter it stops at.
  const walk = (start: number, end: number, top: boolean): number => {
    let o = start;
    while (o + 8 <= end) {
      const group = view.getUint16(o, true);
      const element = view.getUint16(o + 2, true);
      const tag = (group << 16) | element;
      if (group === 0xfffe) {
        const length = view.getUint32(o + 4, true);
        o += 8;
        if (element === 0xe00d || element === 0xe0dd) return o; // item / sequence delimitation
        if (element === 0xe000) {
          o = length === 0xffffffff ? walk(o, end, false) : o + length;
        }
        continue;
      }
      const vr = text(o + 4, 2);
      let length: number;
      let valueOffset: number;
      if (LONG_VRS.has(vr)) {
        length = view.getUint32(o + 8, true);
        valueOffset = o + 12;
      } else {
        length = view.getUint16(o + 6, true);
        valueOffset = o + 8;
      }
      if (tag >>> 0 === 0x7fe00010 && top) {
        if (length !== 0xffffffff) {
          values.set(tag >>> 0, { offset: valueOffset, length });
          return valueOffset + length;
        }
        const fragments: Uint8Array[] = [];
        let p = valueOffset;
        while (p + 8 <= end) {
          const itemTag = view.getUint32(p, true);
          const itemLength = view.getUint32(p + 4, true);
          p += 8;
          if (itemTag === 0xe0ddfffe) break;
          fragments.push(file.subarray(p, p + itemLength));
          p += itemLength;
        }
        encapsulated = fragments.slice(1); // the first item is the Basic Offset Table
        return p;
      }
      if (length === 0xffffffff) {
        o = walk(valueOffset, end, false);
        continue;
      }
      if (top) values.set(tag >>> 0, { offset: valueOffset, length });
      if (group === 0x0002 && element === 0x0010) transferSyntaxUid = text(valueOffset, length);
      o = valueOffset + length;
    }
    return o;
  };

  let encapsulated: Uint8Array[] | undefined;
  const hasPreamble = text(128, 4) === 'DICM';
  walk(hasPreamble ? 132 : 0, file.length, true);
  const us = (tag: number): number => {
    const v = values.get(tag);
    if (!v) throw new Error(`missing tag ${tag.toString(16)}`);
    return view.getUint16(v.offset, true);
  };
  const str = (tag: number): string => {
    const v = values.get(tag);
    return v ? text(v.offset, v.length) : '';
  };
  const native = values.get(0x7fe00010);
  return {
    transferSyntaxUid,
    rows: us(0x00280010),
    columns: us(0x00280011),
    samplesPerPixel: us(0x00280002),
    bitsAllocated: us(0x00280100),
    bitsStored: us(0x00280101),
    pixelRepresentation: us(0x00280103),
    photometricInterpretation: str(0x00280004),
    ...(native ? { nativePixels: file.subarray(native.offset, native.offset + native.length) } : {}),
    ...(encapsulated ? { fragments: encapsulated } : {}),
  };
}

/** The first frame's codestream of a single-frame encapsulated file (all fragments joined). */
export function firstFrameCodestream(parsed: ParsedPart10): Uint8Array {
  if (!parsed.fragments || parsed.fragments.length === 0) throw new Error('Pixel Data is not encapsulated');
  return new Uint8Array(Buffer.concat(parsed.fragments.map((f) => Buffer.from(f))));
}

/** Native Pixel Data as typed samples (little endian host assumed, as on x86/arm). */
export function nativeSamples(parsed: ParsedPart10): Uint8Array | Uint16Array | Int16Array {
  const bytes = parsed.nativePixels;
  if (!bytes) throw new Error('Pixel Data is not native');
  const count = parsed.rows * parsed.columns * parsed.samplesPerPixel;
  const copy = new Uint8Array(bytes.subarray(0, count * (parsed.bitsAllocated / 8)));
  if (parsed.bitsAllocated === 8) return copy;
  return parsed.pixelRepresentation === 1 ? new Int16Array(copy.buffer) : new Uint16Array(copy.buffer);
}

/** A scratch directory for encoder runs; call `cleanup` in afterAll. */
export function scratchDir(): { dir: string; path: (name: string) => string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'cxr-codec-'));
  return {
    dir,
    path: (name) => join(dir, name),
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs a Debian DICOM tool (dcmtk, gdcm) and throws with its stderr when it fails. */
export function runTool(command: string, args: readonly string[]): void {
  execFileSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Writes `image` to `<dir>/<name>.raw.dcm`, runs `command args in out`, returns the output parsed. */
export function encodeWithTool(
  scratch: { path: (name: string) => string },
  name: string,
  image: RawImage,
  command: string,
  args: readonly string[],
): ParsedPart10 {
  const input = scratch.path(`${name}.raw.dcm`);
  const output = scratch.path(`${name}.enc.dcm`);
  writeFileSync(input, writeNativePart10(image));
  runTool(command, [...args, input, output]);
  return readPart10(new Uint8Array(readFileSync(output)));
}

/** Decodes an encoded file with a native tool (e.g. `dcmdjpls`, `gdcmconv --raw`) and returns its samples. */
export function decodeWithTool(
  scratch: { path: (name: string) => string },
  inputPath: string,
  name: string,
  command: string,
  args: readonly string[],
): Uint8Array | Uint16Array | Int16Array {
  const output = scratch.path(`${name}.dec.dcm`);
  runTool(command, [...args, inputPath, output]);
  return nativeSamples(readPart10(new Uint8Array(readFileSync(output))));
}

/** Largest absolute difference between two equally long sample arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] ?? 0) - (b[i] ?? 0));
    if (d > max) max = d;
  }
  return max;
}

/** The codec-facing frame description of a parsed file or raw image. */
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

/** Reads a public test file from ../shared/data/public-dicom (relative to the repo root). */
export function readPublicDicom(name: string): { path: string; parsed: ParsedPart10 } {
  const path = fileURLToPath(new URL(`../../../../../shared/data/public-dicom/${name}`, import.meta.url));
  return { path, parsed: readPart10(new Uint8Array(readFileSync(path))) };
}

/**
 * Index of the first differing sample, or -1 when type, length and values all match (vitest's
 * toEqual walks typed arrays element by element and takes ~1 s on a small RGB frame).
 */
export function firstMismatch(
  actual: ArrayLike<number> & object,
  expected: ArrayLike<number> & object,
): number {
  if (actual.constructor !== expected.constructor) return -2;
  if (actual.length !== expected.length) return -3;
  for (let i = 0; i < actual.length; i++) if (actual[i] !== expected[i]) return i;
  return -1;
}

interface WasmEncoder {
  getDecodedBuffer(frameInfo: object): Uint8Array;
  encode(): void;
  getEncodedBuffer(): Uint8Array;
  setQuality?(reversible: boolean, quantizationStep: number): void;
  delete(): void;
}

const requireCjs = createRequire(import.meta.url);

async function encodeWith(
  specifier: string,
  className: string,
  image: RawImage,
  configure?: (encoder: WasmEncoder) => void,
  extraInfo: object = {},
): Promise<Uint8Array> {
  const factory = requireCjs(specifier) as (o: object) => Promise<Record<string, unknown>>;
  const module = await factory({ print: () => undefined, printErr: () => undefined });
  const Encoder = module[className] as new () => WasmEncoder;
  const encoder = new Encoder();
  try {
    configure?.(encoder);
    const input = encoder.getDecodedBuffer({
      width: image.columns,
      height: image.rows,
      bitsPerSample: image.bitsStored,
      componentCount: image.samplesPerPixel,
      isSigned: image.pixelRepresentation === 1,
      ...extraInfo,
    });
    const s = image.samples;
    input.set(new Uint8Array(s.buffer, s.byteOffset, s.byteLength));
    encoder.encode();
    return encoder.getEncodedBuffer().slice();
  } finally {
    encoder.delete();
  }
}

/**
 * HTJ2K codestream of `image` from OpenJPH's wasm encoder (no Debian tool writes HTJ2K).
 * `quantizationStep` makes it irreversible (lossy); colour images use the RCT/ICT.
 */
export function encodeHtj2k(
  image: RawImage,
  options: { quantizationStep?: number } = {},
): Promise<Uint8Array> {
  const step = options.quantizationStep;
  return encodeWith(
    '@cornerstonejs/codec-openjph/wasmjs',
    'HTJ2KEncoder',
    image,
    (e) => {
      if (step !== undefined) e.setQuality?.(false, step);
    },
    { isUsingColorTransform: image.samplesPerPixel === 3 },
  );
}

/** Classic JPEG 2000 codestream from OpenJPEG's wasm encoder: lossless, MCT on for colour. */
export function encodeJ2kWithOpenJpeg(image: RawImage): Promise<Uint8Array> {
  return encodeWith('@cornerstonejs/codec-openjpeg/wasmjs', 'J2KEncoder', image);
}
