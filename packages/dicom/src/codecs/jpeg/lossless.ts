// JPEG lossless, process 14 (ITU-T T.81 Annex H; DICOM 1.2.840.10008.1.2.4.57 and .70 SV1).
// Samples are reconstructed as prediction + decoded difference, modulo 2^16 (H.1.2.1), in a
// Uint16Array with the frame's components interleaved, then shifted left by the point transform.
import { allocateSamples } from '../../buffers.js';
import type { CodecOutput, EncodedFrameInfo, SampleAllocator } from '../../types.js';
import type { HuffmanTable } from './huffman.js';
import {
  BitReader,
  corrupt,
  walkJpeg,
  type FrameHeader,
  type JpegTables,
  type ScanHeader,
} from './markers.js';
import { checkFrameAgainstInfo, packSamples } from './output.js';

/** Decodes one JPEG lossless (SOF3) image synchronously; see decodeJpegLossless for the contract. */
export function decodeLosslessImage(
  data: Uint8Array,
  info: EncodedFrameInfo,
  buffers?: SampleAllocator,
): CodecOutput {
  let out = new Uint16Array(0);
  const decoded: boolean[] = [];
  let pointTransform = -1;
  const frame = walkJpeg(data, {
    onFrame(f) {
      if (f.process !== 3) corrupt(`JPEG lossless decoder given a SOF${f.process} frame`);
      if (f.precision < 2 || f.precision > 16)
        corrupt(`JPEG lossless precision ${f.precision} is outside 2..16`);
      checkFrameAgainstInfo(f, info);
      // With several components, only equal sampling factors make sense for DICOM, whose pixel
      // data has one sample of each component per pixel (PS3.5 8.2.1).
      if (f.components.some((c) => c.h !== f.maxH || c.v !== f.maxV)) {
        corrupt('JPEG lossless frame with subsampled components is not supported');
      }
      // Every sample is written: each component's scan covers all rows and columns (checked below).
      out = allocateSamples(Uint16Array, f.samplesPerLine * f.lines * f.components.length, buffers);
    },
    onScan(f, scan, tables, pos) {
      if (scan.ss < 1 || scan.ss > 7 || scan.se !== 0 || scan.ah !== 0 || scan.al >= f.precision) {
        corrupt('JPEG lossless scan has an invalid predictor or point transform');
      }
      if (pointTransform >= 0 && pointTransform !== scan.al)
        corrupt('JPEG lossless scans disagree on the point transform');
      pointTransform = scan.al;
      for (const c of scan.components) {
        if (decoded[c.component.index]) corrupt('JPEG lossless component coded in two scans');
        decoded[c.component.index] = true;
      }
      return decodeScan(data, pos, f, scan, tables, out);
    },
  });
  for (let i = 0; i < frame.components.length; i++) {
    if (!decoded[i]) corrupt('JPEG lossless stream is missing a component scan');
  }
  if (pointTransform > 0) {
    for (let i = 0; i < out.length; i++) out[i] = out[i]! << pointTransform;
  }
  return packSamples(out, frame.precision, info, 'as-stored', buffers);
}

/**
 * Decodes one scan into `out`. Per row: the entropy decoder fills a row of differences, then a
 * per-predictor loop reconstructs the samples; keeping the two apart keeps each loop tight.
 * Restart intervals must cover whole rows, as in IJG's lossless decoder.
 */
function decodeScan(
  data: Uint8Array,
  start: number,
  frame: FrameHeader,
  scan: ScanHeader,
  tables: JpegTables,
  out: Uint16Array,
): number {
  const width = frame.samplesPerLine;
  const height = frame.lines;
  const nScan = scan.components.length;
  const stride = frame.components.length;
  const rowStride = width * stride;
  const predictor = scan.ss;
  const pt = scan.al;
  const initial = 1 << (frame.precision - pt - 1);
  const scanTables: HuffmanTable[] = scan.components.map((c) => {
    const t = tables.dc[c.td];
    if (!t) corrupt('JPEG lossless scan uses an undefined Huffman table');
    return t;
  });
  const restartInterval = tables.restartInterval;
  let rowsPerInterval = 0;
  if (restartInterval > 0) {
    if (restartInterval % width !== 0)
      corrupt('JPEG lossless restart interval is not a whole number of rows');
    rowsPerInterval = restartInterval / width;
  }
  const diffs = new Int32Array(width * nScan);
  const reader = new BitReader(data, start);
  let restarts = 0;
  for (let y = 0; y < height; y++) {
    let firstLine = y === 0;
    if (rowsPerInterval > 0 && y > 0 && y % rowsPerInterval === 0) {
      reader.restart(restarts++);
      firstLine = true; // H.1.2.1: each restart interval starts like the first line
    }
    if (nScan === 1) decodeRowSingle(reader, scanTables[0]!, diffs);
    else decodeRowInterleaved(reader, scanTables, diffs);
    for (let k = 0; k < nScan; k++) {
      const base = y * rowStride + scan.components[k]!.component.index;
      reconstructRow(
        out,
        diffs,
        k,
        nScan,
        base,
        stride,
        rowStride,
        width,
        firstLine ? 0 : predictor,
        initial,
      );
    }
  }
  return reader.finish();
}

/**
 * Entropy-decodes one row of one component's differences. The bit reader is inlined (locals, no
 * calls per sample) because this loop is the whole cost of decoding a large SV1 image.
 */
function decodeRowSingle(reader: BitReader, table: HuffmanTable, diffs: Int32Array): void {
  const data = reader.data;
  const lookup = table.lookup;
  const maxCode = table.maxCode;
  let buffer = reader.buffer;
  let count = reader.count;
  let pos = reader.pos;
  let limit = reader.limit;
  let fedZeros = reader.fedZeros;
  const n = diffs.length;
  for (let x = 0; x < n; x++) {
    if (count < 16) {
      while (count <= 24) {
        let byte = 0;
        if (pos < limit) {
          byte = data[pos]!;
          if (byte === 0xff) {
            if (pos + 1 < limit && data[pos + 1] === 0) {
              pos += 2;
            } else {
              limit = pos;
              byte = 0;
              fedZeros++;
            }
          } else {
            pos++;
          }
        } else {
          fedZeros++;
        }
        buffer = (buffer << 8) | byte;
        count += 8;
      }
    }
    let size: number;
    const entry = lookup[(buffer >>> (count - 9)) & 0x1ff]!;
    if (entry !== 0) {
      count -= entry >> 8;
      size = entry & 0xff;
    } else {
      const code16 = (buffer >>> (count - 16)) & 0xffff;
      let length = 10;
      while (length <= 16 && code16 >>> (16 - length) > maxCode[length]!) length++;
      if (length > 16) corrupt('JPEG entropy-coded data has an invalid Huffman code');
      count -= length;
      size = table.values[(code16 >>> (16 - length)) + table.valueOffset[length]!]!;
    }
    let diff = 0;
    if (size !== 0) {
      if (size >= 16) {
        diff = 32768; // H.1.2.2: category 16 has no additional bits
      } else {
        if (count < size) {
          while (count <= 24) {
            let byte = 0;
            if (pos < limit) {
              byte = data[pos]!;
              if (byte === 0xff) {
                if (pos + 1 < limit && data[pos + 1] === 0) {
                  pos += 2;
                } else {
                  limit = pos;
                  byte = 0;
                  fedZeros++;
                }
              } else {
                pos++;
              }
            } else {
              fedZeros++;
            }
            buffer = (buffer << 8) | byte;
            count += 8;
          }
        }
        const bits = (buffer >>> (count - size)) & ((1 << size) - 1);
        count -= size;
        diff = bits < 1 << (size - 1) ? bits - (1 << size) + 1 : bits;
      }
    }
    diffs[x] = diff;
  }
  reader.buffer = buffer;
  reader.count = count;
  reader.pos = pos;
  reader.limit = limit;
  reader.fedZeros = fedZeros;
  // Garbage decoded from fed zeros would go unnoticed until the scan ends; stop early instead.
  if (fedZeros > 4 && reader.overran()) corrupt('JPEG entropy-coded data ended early (truncated scan)');
}

/** Entropy-decodes one row of an interleaved scan: MCU = one sample of each scan component. */
function decodeRowInterleaved(reader: BitReader, tables: readonly HuffmanTable[], diffs: Int32Array): void {
  const nScan = tables.length;
  for (let x = 0; x < diffs.length; x += nScan) {
    for (let k = 0; k < nScan; k++) {
      const size = reader.decode(tables[k]!);
      diffs[x + k] = size >= 16 ? 32768 : reader.receiveExtend(size);
    }
  }
  if (reader.fedZeros > 4 && reader.overran())
    corrupt('JPEG entropy-coded data ended early (truncated scan)');
}

/**
 * Reconstructs one row of one component (Table H.1 predictors); `predictor` 0 means the first
 * line of the scan or of a restart interval, which uses Ra (and 2^(P-Pt-1) for its first sample).
 * Column 0 of other rows uses Rb. JS numbers are exact here; the Uint16Array store is mod 2^16.
 */
function reconstructRow(
  out: Uint16Array,
  diffs: Int32Array,
  k: number,
  nScan: number,
  base: number,
  stride: number,
  rowStride: number,
  width: number,
  predictor: number,
  initial: number,
): void {
  let i = base;
  let d = k;
  if (predictor === 0) {
    let prev = (initial + diffs[d]!) & 0xffff;
    out[i] = prev;
    for (let x = 1; x < width; x++) {
      i += stride;
      d += nScan;
      prev = (prev + diffs[d]!) & 0xffff;
      out[i] = prev;
    }
    return;
  }
  let prev = (out[i - rowStride]! + diffs[d]!) & 0xffff;
  out[i] = prev;
  switch (predictor) {
    case 1:
      for (let x = 1; x < width; x++) {
        i += stride;
        d += nScan;
        prev = (prev + diffs[d]!) & 0xffff;
        out[i] = prev;
      }
      break;
    case 2:
      for (let x = 1; x < width; x++) {
        i += stride;
        d += nScan;
        out[i] = out[i - rowStride]! + diffs[d]!;
      }
      break;
    case 3:
      for (let x = 1; x < width; x++) {
        i += stride;
        d += nScan;
        out[i] = out[i - rowStride - stride]! + diffs[d]!;
      }
      break;
    case 4:
      for (let x = 1; x < width; x++) {
        i += stride;
        d += nScan;
        out[i] = out[i - stride]! + out[i - rowStride]! - out[i - rowStride - stride]! + diffs[d]!;
      }
      break;
    case 5:
      for (let x = 1; x < width; x++) {
        i += stride;
        d += nScan;
        out[i] = out[i - stride]! + ((out[i - rowStride]! - out[i - rowStride - stride]!) >> 1) + diffs[d]!;
      }
      break;
    case 6:
      for (let x = 1; x < width; x++) {
        i += stride;
        d += nScan;
        out[i] = out[i - rowStride]! + ((out[i - stride]! - out[i - rowStride - stride]!) >> 1) + diffs[d]!;
      }
      break;
    case 7:
      for (let x = 1; x < width; x++) {
        i += stride;
        d += nScan;
        out[i] = ((out[i - stride]! + out[i - rowStride]!) >> 1) + diffs[d]!;
      }
      break;
    default:
      corrupt('JPEG lossless predictor out of range');
  }
}
