// JPEG (ITU-T T.81) marker-segment parsing shared by the lossless (Annex H) and DCT sequential
// (Annex F) decoders: SOI/SOFn/DHT/DQT/DRI/SOS/EOI, Huffman table construction (Annex C) and a
// bit reader for entropy-coded segments (F.2.2.5, with 0xFF00 byte unstuffing, B.1.1.5).
import { DicomRejectedError } from '../../errors.js';
import { buildHuffmanTable, type HuffmanTable } from './huffman.js';

export const SOI = 0xd8;
export const EOI = 0xd9;
export const SOS = 0xda;
export const DQT = 0xdb;
export const DNL = 0xdc;
export const DRI = 0xdd;
export const DHT = 0xc4;
export const RST0 = 0xd0;

/** Throws the error every malformed stream maps to (the reason code is a contract). */
export function corrupt(message: string): never {
  throw new DicomRejectedError('corrupt_stream', message);
}

export interface FrameComponent {
  readonly id: number;
  /** Position in the frame header (0-based): the sample's place in interleaved output. */
  readonly index: number;
  readonly h: number;
  readonly v: number;
  readonly tq: number;
}

export interface FrameHeader {
  /** The SOFn marker's low nibble: 0 baseline, 1 extended, 2 progressive, 3 lossless, ... */
  readonly process: number;
  readonly precision: number;
  readonly lines: number;
  readonly samplesPerLine: number;
  readonly components: readonly FrameComponent[];
  readonly maxH: number;
  readonly maxV: number;
}

export interface ScanComponent {
  readonly component: FrameComponent;
  readonly td: number;
  readonly ta: number;
}

export interface ScanHeader {
  readonly components: readonly ScanComponent[];
  /** Lossless: predictor selection value; DCT: start of spectral selection. */
  readonly ss: number;
  readonly se: number;
  readonly ah: number;
  /** Lossless: point transform Pt; DCT: successive approximation low bit. */
  readonly al: number;
}

/** Table state at the time a scan starts (tables may be redefined between scans, B.2.4). */
export interface JpegTables {
  readonly dc: (HuffmanTable | undefined)[];
  readonly ac: (HuffmanTable | undefined)[];
  /** Quantization tables in zig-zag order, as stored in DQT. */
  readonly quant: (Int32Array | undefined)[];
  restartInterval: number;
}

export interface JpegWalker {
  /** Validates the frame header; throws to refuse it. */
  onFrame(frame: FrameHeader): void;
  /** Decodes one scan's entropy-coded data starting at `pos`; returns the position after it. */
  onScan(frame: FrameHeader, scan: ScanHeader, tables: JpegTables, pos: number): number;
}

function u16(data: Uint8Array, pos: number): number {
  return (data[pos]! << 8) | data[pos + 1]!;
}

/** The SOFn process nibble of the first frame header, or -1 when there is none (for dispatch). */
export function findFrameProcess(data: Uint8Array): number {
  if (data.length < 4 || data[0] !== 0xff || data[1] !== SOI) return -1;
  let pos = 2;
  while (pos + 4 <= data.length) {
    if (data[pos] !== 0xff) return -1;
    const marker = data[pos + 1]!;
    if (marker === 0xff) {
      pos += 1;
      continue;
    }
    if (isSof(marker)) return marker & 0x0f;
    if (marker === SOS || marker === EOI) return -1;
    pos += 2 + u16(data, pos + 2);
  }
  return -1;
}

function isSof(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== DHT && marker !== 0xc8 && marker !== 0xcc;
}

function parseFrame(data: Uint8Array, pos: number, length: number, marker: number): FrameHeader {
  if (length < 8) corrupt('JPEG frame header too short');
  const count = data[pos + 7]!;
  if (count === 0 || length !== 8 + 3 * count)
    corrupt('JPEG frame header length does not match its component count');
  const components: FrameComponent[] = [];
  let maxH = 1;
  let maxV = 1;
  for (let i = 0; i < count; i++) {
    const p = pos + 8 + 3 * i;
    const h = data[p + 1]! >> 4;
    const v = data[p + 1]! & 15;
    const tq = data[p + 2]!;
    if (h < 1 || h > 4 || v < 1 || v > 4 || tq > 3)
      corrupt('JPEG frame header has invalid sampling factors or table');
    maxH = Math.max(maxH, h);
    maxV = Math.max(maxV, v);
    components.push({ id: data[p]!, index: i, h, v, tq });
  }
  return {
    process: marker & 0x0f,
    precision: data[pos + 2]!,
    lines: u16(data, pos + 3),
    samplesPerLine: u16(data, pos + 5),
    components,
    maxH,
    maxV,
  };
}

function parseHuffmanTables(data: Uint8Array, start: number, end: number, tables: JpegTables): void {
  let pos = start;
  while (pos < end) {
    if (pos + 17 > end) corrupt('JPEG DHT segment truncated');
    const tc = data[pos]! >> 4;
    const th = data[pos]! & 15;
    if (tc > 1 || th > 3) corrupt('JPEG DHT segment has an invalid table class or id');
    const counts = data.subarray(pos + 1, pos + 17);
    let total = 0;
    for (const c of counts) total += c;
    if (total > 256 || pos + 17 + total > end) corrupt('JPEG DHT segment truncated');
    const table = buildHuffmanTable(counts, data.subarray(pos + 17, pos + 17 + total));
    if (tc === 0) tables.dc[th] = table;
    else tables.ac[th] = table;
    pos += 17 + total;
  }
}

function parseQuantTables(data: Uint8Array, start: number, end: number, tables: JpegTables): void {
  let pos = start;
  while (pos < end) {
    const pq = data[pos]! >> 4;
    const tq = data[pos]! & 15;
    const size = pq === 0 ? 64 : 128;
    if (pq > 1 || tq > 3 || pos + 1 + size > end) corrupt('JPEG DQT segment invalid or truncated');
    const q = new Int32Array(64);
    for (let k = 0; k < 64; k++) q[k] = pq === 0 ? data[pos + 1 + k]! : u16(data, pos + 1 + 2 * k);
    tables.quant[tq] = q;
    pos += 1 + size;
  }
}

function parseScan(data: Uint8Array, pos: number, length: number, frame: FrameHeader): ScanHeader {
  const count = data[pos + 2]!;
  if (count < 1 || count > 4 || length !== 6 + 2 * count)
    corrupt('JPEG scan header length does not match its component count');
  const components: ScanComponent[] = [];
  for (let i = 0; i < count; i++) {
    const p = pos + 3 + 2 * i;
    const component = frame.components.find((c) => c.id === data[p]);
    if (!component) corrupt('JPEG scan names a component that is not in the frame');
    components.push({ component, td: data[p + 1]! >> 4, ta: data[p + 1]! & 15 });
  }
  const p = pos + 3 + 2 * count;
  return { components, ss: data[p]!, se: data[p + 1]!, ah: data[p + 2]! >> 4, al: data[p + 2]! & 15 };
}

/**
 * Walks the marker segments of one JPEG image (B.2): tables are collected, the frame header is
 * handed to `onFrame` and each scan to `onScan`, which decodes the entropy-coded data.
 */
export function walkJpeg(data: Uint8Array, walker: JpegWalker): FrameHeader {
  if (data.length < 4 || data[0] !== 0xff || data[1] !== SOI) corrupt('JPEG stream does not start with SOI');
  const tables: JpegTables = { dc: [], ac: [], quant: [], restartInterval: 0 };
  let frame: FrameHeader | undefined;
  let scans = 0;
  let pos = 2;
  for (;;) {
    if (pos >= data.length) break; // a missing EOI after complete scans is tolerated, as in IJG
    if (data[pos] !== 0xff) corrupt(`JPEG marker expected at offset ${pos}`);
    const marker = data[pos + 1];
    if (marker === undefined) break;
    if (marker === 0xff) {
      pos += 1; // fill byte before a marker (B.1.1.2)
      continue;
    }
    if (marker === EOI) break;
    if (marker === SOI) corrupt('JPEG stream has a second SOI');
    if (marker >= RST0 && marker <= RST0 + 7) {
      pos += 2; // stray restart marker between segments: no payload
      continue;
    }
    if (pos + 4 > data.length) corrupt('JPEG marker segment truncated');
    const length = u16(data, pos + 2);
    const start = pos + 4;
    const end = pos + 2 + length;
    if (length < 2 || end > data.length) corrupt('JPEG marker segment truncated');
    if (isSof(marker)) {
      if (frame) corrupt('JPEG stream has more than one frame header');
      frame = parseFrame(data, pos + 2, length, marker);
      walker.onFrame(frame);
    } else if (marker === DHT) {
      parseHuffmanTables(data, start, end, tables);
    } else if (marker === DQT) {
      parseQuantTables(data, start, end, tables);
    } else if (marker === DRI) {
      if (length !== 4) corrupt('JPEG DRI segment has the wrong length');
      tables.restartInterval = u16(data, start);
    } else if (marker === DNL) {
      corrupt('JPEG DNL marker (number of lines after the first scan) is not supported');
    } else if (marker === SOS) {
      if (!frame) corrupt('JPEG scan before the frame header');
      const scan = parseScan(data, pos + 2, length, frame);
      pos = walker.onScan(frame, scan, tables, end);
      scans++;
      continue;
    }
    // APPn, COM, DAC and other segments carry nothing the decoders need.
    pos = end;
  }
  if (!frame) corrupt('JPEG stream has no frame header');
  if (scans === 0) corrupt('JPEG stream has no scan');
  return frame;
}

/**
 * Reads entropy-coded bits (F.2.2.5). Bits live in the low `count` bits of a 32-bit buffer,
 * refilled a byte at a time; at a marker or the end of data it feeds zero bytes and counts them,
 * so that decoding never reads out of bounds and `overran()` can tell a truncated segment.
 */
export class BitReader {
  buffer = 0;
  count = 0;
  /** Zero bytes fed after the marker/end; bits consumed from them mean the data ran short. */
  fedZeros = 0;
  pos: number;
  /** Position of the marker that ends the segment (data.length until one is seen). */
  limit: number;
  readonly data: Uint8Array;

  constructor(data: Uint8Array, pos: number) {
    this.data = data;
    this.pos = pos;
    this.limit = data.length;
  }

  /** Tops the buffer up to at least 25 valid bits. */
  fill(): void {
    const data = this.data;
    while (this.count <= 24) {
      let byte = 0;
      if (this.pos < this.limit) {
        byte = data[this.pos]!;
        if (byte === 0xff) {
          if (this.pos + 1 < this.limit && data[this.pos + 1] === 0) {
            this.pos += 2;
          } else {
            this.limit = this.pos;
            byte = 0;
            this.fedZeros++;
          }
        } else {
          this.pos++;
        }
      } else {
        this.fedZeros++;
      }
      this.buffer = (this.buffer << 8) | byte;
      this.count += 8;
    }
  }

  /** Decodes one Huffman-coded value (F.2.2.3) with a 9-bit lookup and a canonical slow path. */
  decode(table: HuffmanTable): number {
    if (this.count < 16) this.fill();
    const entry = table.lookup[(this.buffer >>> (this.count - 9)) & 0x1ff]!;
    if (entry !== 0) {
      this.count -= entry >> 8;
      return entry & 0xff;
    }
    const code16 = (this.buffer >>> (this.count - 16)) & 0xffff;
    const maxCode = table.maxCode;
    for (let length = 10; length <= 16; length++) {
      const code = code16 >>> (16 - length);
      if (code <= maxCode[length]!) {
        this.count -= length;
        return table.values[code + table.valueOffset[length]!]!;
      }
    }
    return corrupt('JPEG entropy-coded data has an invalid Huffman code');
  }

  /** Reads `size` raw bits and extends them to a signed difference (F.2.2.1, Figure F.12). */
  receiveExtend(size: number): number {
    if (size === 0) return 0;
    if (this.count < size) this.fill();
    const value = (this.buffer >>> (this.count - size)) & ((1 << size) - 1);
    this.count -= size;
    return value < 1 << (size - 1) ? value - (1 << size) + 1 : value;
  }

  /** True when decoding has consumed bits beyond the real data (truncated or corrupt segment). */
  overran(): boolean {
    return this.fedZeros * 8 > this.count;
  }

  /** Checks the segment was complete, then consumes RSTn (n = index mod 8) and resets (F.2.2.5). */
  restart(index: number): void {
    if (this.overran()) corrupt('JPEG entropy-coded data ended early (truncated restart interval)');
    let pos = this.limit < this.data.length ? this.limit : this.pos;
    const data = this.data;
    while (pos < data.length && data[pos] === 0xff && data[pos + 1] === 0xff) pos++;
    if (pos + 1 >= data.length || data[pos] !== 0xff || data[pos + 1] !== RST0 + (index & 7)) {
      corrupt('JPEG restart marker missing or out of order');
    }
    this.pos = pos + 2;
    this.limit = data.length;
    this.buffer = 0;
    this.count = 0;
    this.fedZeros = 0;
  }

  /** Checks the scan was complete and returns the position of the marker that follows it. */
  finish(): number {
    if (this.overran()) corrupt('JPEG entropy-coded data ended early (truncated scan)');
    return findMarker(this.data, this.limit < this.data.length ? this.limit : this.pos);
  }
}

/** Skips to the next marker that is not a restart marker nor a stuffed zero (end of a scan). */
export function findMarker(data: Uint8Array, from: number): number {
  let pos = from;
  while (pos + 1 < data.length) {
    if (data[pos] === 0xff) {
      const next = data[pos + 1]!;
      if (next !== 0 && next !== 0xff && (next < RST0 || next > RST0 + 7)) return pos;
      if (next === 0xff) {
        pos += 1;
        continue;
      }
    }
    pos++;
  }
  return data.length;
}
