// Test helpers for the JPEG decoders: synthetic phantoms, a minimal Part 10 writer (explicit VR
// little endian), a reader for dcmtk's outputs, a dcmtk runner, and a small reference JPEG
// lossless encoder for what no installed tool writes (restart intervals, non-interleaved scans,
// odd precisions, several Huffman tables, long codes). Test-only: nothing in src imports it.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import dicomParser from 'dicom-parser';

/** Deterministic PRNG (mulberry32) so that phantoms are identical on every run. */
export function prng(seed: number): () => number {
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
 * A `bits`-deep phantom: gradient + discs + noise, clamped to [0, 2^bits - 1], with a patch of
 * extreme values (0 / max / half-range checkerboard) that exercises difference category 16.
 */
export function makePhantom(
  width: number,
  height: number,
  bits: number,
  channels: 1 | 3,
  seed: number,
): Uint16Array {
  const max = 2 ** bits - 1;
  const random = prng(seed);
  const discs = Array.from({ length: 5 }, () => ({
    cx: random() * width,
    cy: random() * height,
    r: (0.05 + random() * 0.25) * Math.min(width, height),
    level: (random() - 0.5) * 0.6 * max,
  }));
  const out = new Uint16Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        let v = ((0.55 * x) / width + (0.3 * y) / height + 0.05 * c) * max;
        for (const d of discs) if ((x - d.cx) ** 2 + (y - d.cy) ** 2 < d.r * d.r) v += d.level;
        v += (random() - 0.5) * 0.04 * max;
        out[(y * width + x) * channels + c] = Math.max(0, Math.min(max, Math.round(v)));
      }
    }
  }
  const half = 2 ** (bits - 1);
  for (let y = 0; y < Math.min(6, height); y++) {
    for (let x = 0; x < Math.min(6, width); x++) {
      for (let c = 0; c < channels; c++)
        out[(y * width + x) * channels + c] = (x + y) % 2 === 0 ? 0 : x < 3 ? half : max;
    }
  }
  return out;
}

export interface NativeImage {
  readonly rows: number;
  readonly columns: number;
  readonly samplesPerPixel: 1 | 3;
  readonly bitsAllocated: 8 | 16;
  readonly bitsStored: number;
  readonly pixelRepresentation: 0 | 1;
  readonly photometric: string;
  /** Interleaved samples. */
  readonly samples: Uint16Array;
}

function element(group: number, elem: number, vr: string, value: Uint8Array): Uint8Array {
  const long = vr === 'OB' || vr === 'OW' || vr === 'UN' || vr === 'SQ' || vr === 'UT';
  const header = new Uint8Array(long ? 12 : 8);
  const view = new DataView(header.buffer);
  view.setUint16(0, group, true);
  view.setUint16(2, elem, true);
  header[4] = vr.charCodeAt(0);
  header[5] = vr.charCodeAt(1);
  if (long) view.setUint32(8, value.length, true);
  else view.setUint16(6, value.length, true);
  return concat([header, value]);
}

function text(value: string, pad = ' '): Uint8Array {
  const s = value.length % 2 === 0 ? value : value + pad;
  return new TextEncoder().encode(s);
}

function us(value: number): Uint8Array {
  return new Uint8Array([value & 0xff, value >> 8]);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** A minimal Part 10 Secondary Capture file, explicit VR little endian, holding `image`. */
export function writeNativeDicom(image: NativeImage): Uint8Array {
  const sopClass = '1.2.840.10008.5.1.4.1.1.7';
  const sopInstance = '1.2.826.0.1.3680043.9.7777.1';
  const explicitLe = '1.2.840.10008.1.2.1';
  const metaBody = concat([
    element(0x0002, 0x0001, 'OB', new Uint8Array([0, 1])),
    element(0x0002, 0x0002, 'UI', text(sopClass, '\0')),
    element(0x0002, 0x0003, 'UI', text(sopInstance, '\0')),
    element(0x0002, 0x0010, 'UI', text(explicitLe, '\0')),
    element(0x0002, 0x0012, 'UI', text('1.2.826.0.1.3680043.9.7777', '\0')),
  ]);
  const groupLength = new Uint8Array(4);
  new DataView(groupLength.buffer).setUint32(0, metaBody.length, true);
  let pixels: Uint8Array;
  if (image.bitsAllocated === 16) {
    pixels = new Uint8Array(image.samples.length * 2);
    const view = new DataView(pixels.buffer);
    image.samples.forEach((v, i) => {
      view.setUint16(2 * i, v, true);
    });
  } else {
    pixels = new Uint8Array(image.samples);
    if (pixels.length % 2 === 1) pixels = concat([pixels, new Uint8Array(1)]);
  }
  const data = [
    element(0x0008, 0x0016, 'UI', text(sopClass, '\0')),
    element(0x0008, 0x0018, 'UI', text(sopInstance, '\0')),
    element(0x0008, 0x0060, 'CS', text('OT')),
    element(0x0028, 0x0002, 'US', us(image.samplesPerPixel)),
    element(0x0028, 0x0004, 'CS', text(image.photometric)),
    ...(image.samplesPerPixel === 3 ? [element(0x0028, 0x0006, 'US', us(0))] : []),
    element(0x0028, 0x0010, 'US', us(image.rows)),
    element(0x0028, 0x0011, 'US', us(image.columns)),
    element(0x0028, 0x0100, 'US', us(image.bitsAllocated)),
    element(0x0028, 0x0101, 'US', us(image.bitsStored)),
    element(0x0028, 0x0102, 'US', us(image.bitsStored - 1)),
    element(0x0028, 0x0103, 'US', us(image.pixelRepresentation)),
    element(0x7fe0, 0x0010, image.bitsAllocated === 16 ? 'OW' : 'OB', pixels),
  ];
  return concat([
    new Uint8Array(128),
    new TextEncoder().encode('DICM'),
    element(0x0002, 0x0000, 'UL', groupLength),
    metaBody,
    ...data,
  ]);
}

export interface ReadDicom {
  readonly transferSyntax: string;
  readonly rows: number;
  readonly columns: number;
  readonly samplesPerPixel: 1 | 3;
  readonly bitsAllocated: 1 | 8 | 16 | 32;
  readonly bitsStored: number;
  readonly pixelRepresentation: 0 | 1;
  readonly planarConfiguration: 0 | 1;
  readonly photometric: string;
  /** First frame: the encapsulated fragments joined, or the native pixel bytes. */
  readonly pixelBytes: Uint8Array;
  readonly encapsulated: boolean;
}

/** Reads the pixel module and the first frame's bytes of a Part 10 file with dicom-parser. */
export function readDicom(path: string): ReadDicom {
  const bytes = new Uint8Array(readFileSync(path));
  const dataSet = dicomParser.parseDicom(bytes);
  const pixel = dataSet.elements.x7fe00010;
  if (!pixel) throw new Error(`no pixel data in ${path}`);
  let pixelBytes: Uint8Array;
  const encapsulated = pixel.encapsulatedPixelData === true;
  if (encapsulated) {
    const fragments = pixel.fragments ?? [];
    pixelBytes = concat(fragments.map((f) => bytes.subarray(f.position, f.position + f.length)));
  } else {
    pixelBytes = bytes.slice(pixel.dataOffset, pixel.dataOffset + pixel.length);
  }
  const samplesPerPixel = dataSet.uint16('x00280002') === 3 ? 3 : 1;
  const bitsAllocated = dataSet.uint16('x00280100') ?? 16;
  return {
    transferSyntax: (dataSet.string('x00020010') ?? '').replace(/\0/g, '').trim(),
    rows: dataSet.uint16('x00280010') ?? 0,
    columns: dataSet.uint16('x00280011') ?? 0,
    samplesPerPixel,
    bitsAllocated: bitsAllocated === 8 ? 8 : bitsAllocated === 1 ? 1 : bitsAllocated === 32 ? 32 : 16,
    bitsStored: dataSet.uint16('x00280101') ?? bitsAllocated,
    pixelRepresentation: dataSet.uint16('x00280103') === 1 ? 1 : 0,
    planarConfiguration: dataSet.uint16('x00280006') === 1 ? 1 : 0,
    photometric: (dataSet.string('x00280004') ?? '').trim(),
    pixelBytes,
    encapsulated,
  };
}

/** Native pixel bytes as interleaved unsigned samples (planar configuration 1 is interleaved). */
export function nativeSamples(file: ReadDicom): Uint16Array {
  const count = file.rows * file.columns * file.samplesPerPixel;
  const raw = new Uint16Array(count);
  if (file.bitsAllocated === 16) {
    const view = new DataView(file.pixelBytes.buffer, file.pixelBytes.byteOffset, file.pixelBytes.byteLength);
    for (let i = 0; i < count; i++) raw[i] = view.getUint16(2 * i, true);
  } else {
    for (let i = 0; i < count; i++) raw[i] = file.pixelBytes[i]!;
  }
  if (file.samplesPerPixel === 1 || file.planarConfiguration === 0) return raw;
  const plane = file.rows * file.columns;
  const out = new Uint16Array(count);
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) out[i * 3 + c] = raw[c * plane + i]!;
  return out;
}

/** Runs a dcmtk (or gdcm) command; a missing tool fails the test loudly rather than skipping. */
export function runTool(tool: string, args: readonly string[]): void {
  const result = spawnSync(tool, args, { encoding: 'utf8' });
  if (result.error)
    throw new Error(`${tool} is required for these tests (install dcmtk): ${result.error.message}`);
  if (result.status !== 0)
    throw new Error(`${tool} ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
}

/** Writes `image` as native DICOM, compresses it with dcmcjpeg `options`, returns the JPEG stream. */
export function dcmcjpegStream(
  dir: string,
  name: string,
  image: NativeImage,
  options: readonly string[],
): Uint8Array {
  const input = `${dir}/${name}.raw.dcm`;
  const output = `${dir}/${name}.jpg.dcm`;
  writeFileSync(input, writeNativeDicom(image));
  runTool('dcmcjpeg', [...options, input, output]);
  const file = readDicom(output);
  if (!file.encapsulated) throw new Error(`dcmcjpeg did not encapsulate ${name}`);
  return file.pixelBytes;
}

/** Decompresses a DICOM file with dcmdjpeg and returns the reference decode. */
export function dcmdjpegDecode(dir: string, name: string, input: string): ReadDicom {
  const output = `${dir}/${name}.dec.dcm`;
  runTool('dcmdjpeg', [input, output]);
  return readDicom(output);
}

// ---------------------------------------------------------------------------------------------
// Reference JPEG lossless encoder (T.81 Annex H), written from the standard for test inputs.

export interface LosslessEncodeOptions {
  readonly width: number;
  readonly height: number;
  readonly precision: number;
  readonly components: 1 | 3;
  readonly predictor: number;
  readonly pointTransform?: number;
  /** Restart interval in rows (0 = none); written as DRI in MCUs. */
  readonly restartRows?: number;
  /** Three components in one scan (default) or one scan per component. */
  readonly interleaved?: boolean;
  /** 'typical' lengths 2..15, or 'skewed': small categories get 10..16-bit codes. */
  readonly table?: 'typical' | 'skewed';
  /** One Huffman table per component (Td = component index) instead of a shared one. */
  readonly tablePerComponent?: boolean;
}

const TYPICAL_LENGTHS = [3, 2, 2, 3, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
const SKEWED_LENGTHS = [16, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 2];

interface Code {
  readonly code: number;
  readonly length: number;
}

function canonicalTable(lengths: readonly number[]): { dht: Uint8Array; codes: Code[] } {
  const symbols = lengths
    .map((length, symbol) => ({ length, symbol }))
    .sort((a, b) => a.length - b.length || a.symbol - b.symbol);
  const bits = new Uint8Array(16);
  for (const s of symbols) bits[s.length - 1]!++;
  const codes: Code[] = [];
  let code = 0;
  let length = symbols[0]!.length;
  for (const s of symbols) {
    code <<= s.length - length;
    length = s.length;
    codes[s.symbol] = { code, length };
    code++;
  }
  return { dht: concat([bits, new Uint8Array(symbols.map((s) => s.symbol))]), codes };
}

class BitWriter {
  private readonly bytes: number[] = [];
  private acc = 0;
  private count = 0;

  write(value: number, length: number): void {
    for (let i = length - 1; i >= 0; i--) {
      this.acc = (this.acc << 1) | ((value >> i) & 1);
      if (++this.count === 8) this.flushByte();
    }
  }

  private flushByte(): void {
    this.bytes.push(this.acc);
    if (this.acc === 0xff) this.bytes.push(0); // B.1.1.5 byte stuffing
    this.acc = 0;
    this.count = 0;
  }

  /** Pads the last byte with 1-bits (F.1.2.3). */
  align(): void {
    while (this.count !== 0) this.write(1, 1);
  }

  marker(code: number): void {
    this.align();
    this.bytes.push(0xff, code);
  }

  result(): number[] {
    this.align();
    return this.bytes;
  }
}

function segment(marker: number, body: readonly number[] | Uint8Array): number[] {
  const length = body.length + 2;
  return [0xff, marker, length >> 8, length & 0xff, ...body];
}

/** Encodes interleaved samples (before the point transform) as a JPEG lossless SOF3 stream. */
export function encodeLossless(samples: Uint16Array, o: LosslessEncodeOptions): Uint8Array {
  const pt = o.pointTransform ?? 0;
  const nc = o.components;
  const restartRows = o.restartRows ?? 0;
  const tablePerComponent = o.tablePerComponent ?? false;
  const { dht, codes } = canonicalTable(o.table === 'skewed' ? SKEWED_LENGTHS : TYPICAL_LENGTHS);
  const shifted = samples.map((v) => v >> pt);
  const out: number[] = [0xff, 0xd8];
  const tableCount = tablePerComponent ? nc : 1;
  for (let t = 0; t < tableCount; t++) out.push(...segment(0xc4, [t, ...dht]));
  const sof = [o.precision, o.height >> 8, o.height & 0xff, o.width >> 8, o.width & 0xff, nc];
  for (let c = 0; c < nc; c++) sof.push(c + 1, 0x11, 0);
  out.push(...segment(0xc3, sof));
  const scans =
    nc === 3 && o.interleaved === false ? [[0], [1], [2]] : [Array.from({ length: nc }, (_, c) => c)];
  if (restartRows > 0) {
    const interval = restartRows * o.width;
    out.push(...segment(0xdd, [interval >> 8, interval & 0xff]));
  }
  const initial = 1 << (o.precision - pt - 1);
  const rowStride = o.width * nc;
  for (const scan of scans) {
    const sos = [scan.length];
    for (const c of scan) sos.push(c + 1, (tablePerComponent ? c : 0) << 4);
    sos.push(o.predictor, 0, pt);
    out.push(...segment(0xda, sos));
    const writer = new BitWriter();
    let restarts = 0;
    for (let y = 0; y < o.height; y++) {
      let first = y === 0;
      if (restartRows > 0 && y > 0 && y % restartRows === 0) {
        writer.marker(0xd0 + (restarts++ % 8));
        first = true;
      }
      for (let x = 0; x < o.width; x++) {
        for (const c of scan) {
          const i = y * rowStride + x * nc + c;
          const ra = x > 0 ? shifted[i - nc]! : 0;
          const rb = y > 0 ? shifted[i - rowStride]! : 0;
          const rc = x > 0 && y > 0 ? shifted[i - rowStride - nc]! : 0;
          let px: number;
          if (first) px = x === 0 ? initial : ra;
          else if (x === 0) px = rb;
          else {
            px = [0, ra, rb, rc, ra + rb - rc, ra + ((rb - rc) >> 1), rb + ((ra - rc) >> 1), (ra + rb) >> 1][
              o.predictor
            ]!;
          }
          let diff = (shifted[i]! - px) & 0xffff;
          if (diff > 32768) diff -= 65536;
          const magnitude = Math.abs(diff);
          const size = diff === 32768 ? 16 : 32 - Math.clz32(magnitude);
          const code = codes[size]!;
          writer.write(code.code, code.length);
          if (size > 0 && size < 16) writer.write(diff > 0 ? diff : diff + (1 << size) - 1, size);
        }
      }
    }
    for (const byte of writer.result()) out.push(byte);
  }
  out.push(0xff, 0xd9);
  return new Uint8Array(out);
}

// ---------------------------------------------------------------------------------------------
// Reference DCT encoder for DC-only blocks (T.81 Annex F), to test restart intervals, which
// dcmcjpeg cannot write. A DC-only block decodes to a flat 8x8 patch whose value follows from the
// IDCT's DC path: floor((DC * Q + 4) / 8) + 2^(P-1), clamped (jidctint.c).

export interface DcOnlyOptions {
  readonly precision: 8 | 12;
  /** Blocks per row / column (the image is 8 * that in size). */
  readonly blocksWide: number;
  readonly blocksHigh: number;
  readonly quant: number;
  /** Restart interval in MCUs (blocks); 0 = none. */
  readonly restartInterval: number;
}

/** Encodes a grayscale SOF1 image whose blocks carry only the given DC values (row-major). */
export function encodeDcOnly(dc: Int32Array, o: DcOnlyOptions): Uint8Array {
  const dcTable = canonicalTable(TYPICAL_LENGTHS.slice(0, 16));
  const out: number[] = [0xff, 0xd8];
  out.push(...segment(0xdb, [0, ...new Array<number>(64).fill(o.quant)]));
  out.push(...segment(0xc4, [0x00, ...dcTable.dht]));
  // AC table with the single symbol EOB (0x00) coded as '0'.
  out.push(...segment(0xc4, [0x10, 1, ...new Array<number>(15).fill(0), 0x00]));
  const width = o.blocksWide * 8;
  const height = o.blocksHigh * 8;
  out.push(
    ...segment(0xc1, [o.precision, height >> 8, height & 0xff, width >> 8, width & 0xff, 1, 1, 0x11, 0]),
  );
  if (o.restartInterval > 0) out.push(...segment(0xdd, [o.restartInterval >> 8, o.restartInterval & 0xff]));
  out.push(...segment(0xda, [1, 1, 0x00, 0, 63, 0]));
  const writer = new BitWriter();
  let prediction = 0;
  let restarts = 0;
  for (let i = 0; i < dc.length; i++) {
    if (o.restartInterval > 0 && i > 0 && i % o.restartInterval === 0) {
      writer.marker(0xd0 + (restarts++ % 8));
      prediction = 0;
    }
    const diff = dc[i]! - prediction;
    prediction = dc[i]!;
    const size = diff === 0 ? 0 : 32 - Math.clz32(Math.abs(diff));
    const code = dcTable.codes[size]!;
    writer.write(code.code, code.length);
    if (size > 0) writer.write(diff > 0 ? diff : diff + (1 << size) - 1, size);
    writer.write(0, 1); // EOB
  }
  for (const byte of writer.result()) out.push(byte);
  out.push(0xff, 0xd9);
  return new Uint8Array(out);
}
