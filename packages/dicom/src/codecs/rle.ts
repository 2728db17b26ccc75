import { allocateSamples } from '../buffers.js';
import { DicomRejectedError } from '../errors.js';
import type { CodecOutput, EncodedFrameInfo, SampleAllocator, StoredSamples } from '../types.js';

/**
 * RLE Lossless (PS3.5 Annex G). A frame is a 64-byte header (segment count + 15 offsets) and one
 * PackBits-coded segment per byte of each sample: for 16-bit data the most significant byte
 * plane comes first, and colour images store all bytes of sample 1, then sample 2, then 3
 * (so the output is planar, Planar Configuration 1 in effect, PS3.5 G.2).
 */

const HEADER_BYTES = 64;
const MAX_SEGMENTS = 15;

function corrupt(message: string): DicomRejectedError {
  return new DicomRejectedError('corrupt_stream', `RLE: ${message}`);
}

/**
 * Decodes one PackBits segment (PS3.5 G.3.1) from src[from, to) into out[0, count).
 * Returns the number of bytes produced; a segment may carry one padding byte past `count`.
 */
function decodeSegment(src: Uint8Array, from: number, to: number, out: Uint8Array, count: number): number {
  let i = from;
  let o = 0;
  while (i < to && o < count) {
    const n = src[i++]!;
    if (n < 128) {
      // Literal run of n+1 bytes.
      const len = Math.min(n + 1, to - i, count - o);
      if (len > 16) {
        out.set(src.subarray(i, i + len), o);
        i += len;
        o += len;
      } else {
        // Short runs: a plain loop beats allocating a subarray view.
        for (let k = 0; k < len; k++) out[o++] = src[i++]!;
      }
    } else if (n > 128) {
      // Replicate run: the next byte 257-n times. 128 is a no-op.
      if (i >= to) break;
      const value = src[i++]!;
      const end = Math.min(o + 257 - n, count);
      if (end - o > 16) {
        out.fill(value, o, end);
        o = end;
      } else {
        while (o < end) out[o++] = value;
      }
    }
  }
  return o;
}

/** Decodes an RLE Lossless frame to planar samples typed by BitsAllocated and PixelRepresentation. */
export function decodeRleSync(
  encoded: Uint8Array,
  info: EncodedFrameInfo,
  buffers?: SampleAllocator,
): CodecOutput {
  const { rows, columns, samplesPerPixel, bitsAllocated } = info;
  if (bitsAllocated !== 8 && bitsAllocated !== 16 && bitsAllocated !== 32) {
    throw new DicomRejectedError('unsupported_pixel_module', `RLE with Bits Allocated ${bitsAllocated}`);
  }
  const bytesPerSample = bitsAllocated / 8;
  const expectedSegments = bytesPerSample * samplesPerPixel;
  if (encoded.length < HEADER_BYTES) throw corrupt(`frame of ${encoded.length} bytes has no 64-byte header`);
  const header = new DataView(encoded.buffer, encoded.byteOffset, HEADER_BYTES);
  const segmentCount = header.getUint32(0, true);
  if (segmentCount < expectedSegments || segmentCount > MAX_SEGMENTS) {
    throw corrupt(`${segmentCount} segments, expected ${expectedSegments}`);
  }
  const offsets: number[] = [];
  for (let s = 0; s < segmentCount; s++) offsets.push(header.getUint32(4 + s * 4, true));

  const pixels = rows * columns;
  // Each segment is decoded into a contiguous byte plane (PackBits runs become native
  // fill/set calls or short loops), then a sample's planes are combined in one pass. Every
  // plane byte is written (a short segment is rejected), so reused buffers need no clearing.
  const planes = Array.from({ length: bytesPerSample }, () => allocateSamples(Uint8Array, pixels, buffers));
  const out = allocateOutput(pixels * samplesPerPixel, bitsAllocated, info.pixelRepresentation, buffers);
  for (let sample = 0; sample < samplesPerPixel; sample++) {
    for (let b = 0; b < bytesPerSample; b++) {
      const s = sample * bytesPerSample + b;
      const from = offsets[s]!;
      const to = s + 1 < segmentCount ? offsets[s + 1]! : encoded.length;
      if (from < HEADER_BYTES || from > to || to > encoded.length) {
        throw corrupt(`segment ${s + 1} has invalid offsets ${from}..${to} in ${encoded.length} bytes`);
      }
      // Segments run most significant byte first (G.2): plane 0 is the high byte.
      const produced = decodeSegment(encoded, from, to, planes[b]!, pixels);
      if (produced < pixels) throw corrupt(`segment ${s + 1} decodes to ${produced} of ${pixels} bytes`);
    }
    combinePlanes(out, planes, sample * pixels);
  }
  return { samples: out, planar: samplesPerPixel === 3, colorSpace: 'as-stored' };
}

/** Writes samples [start, start + pixels) from byte planes given most significant first. */
function combinePlanes(out: StoredSamples, planes: readonly Uint8Array[], start: number): void {
  const first = planes[0]!;
  const n = first.length;
  if (out instanceof Uint8Array) {
    out.set(first, start);
  } else if (out instanceof Int8Array) {
    out.set(new Int8Array(first.buffer, first.byteOffset, n), start);
  } else if (out instanceof Uint16Array || out instanceof Int16Array) {
    const low = planes[1]!;
    for (let i = 0; i < n; i++) out[start + i] = (first[i]! << 8) | low[i]!;
  } else {
    const [b1, b2, b3] = [planes[1]!, planes[2]!, planes[3]!];
    for (let i = 0; i < n; i++) out[start + i] = (first[i]! << 24) | (b1[i]! << 16) | (b2[i]! << 8) | b3[i]!;
  }
}

function allocateOutput(
  count: number,
  bitsAllocated: 8 | 16 | 32,
  pixelRepresentation: 0 | 1,
  buffers: SampleAllocator | undefined,
): StoredSamples {
  const signed = pixelRepresentation === 1;
  switch (bitsAllocated) {
    case 8:
      return signed
        ? allocateSamples(Int8Array, count, buffers)
        : allocateSamples(Uint8Array, count, buffers);
    case 16:
      return signed
        ? allocateSamples(Int16Array, count, buffers)
        : allocateSamples(Uint16Array, count, buffers);
    case 32:
      return signed
        ? allocateSamples(Int32Array, count, buffers)
        : allocateSamples(Uint32Array, count, buffers);
  }
}

/** FrameCodec for RLE Lossless (1.2.840.10008.1.2.5); see decodeRleSync. */
export function decodeRle(
  encoded: Uint8Array,
  info: EncodedFrameInfo,
  buffers?: SampleAllocator,
): Promise<CodecOutput> {
  try {
    return Promise.resolve(decodeRleSync(encoded, info, buffers));
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}
