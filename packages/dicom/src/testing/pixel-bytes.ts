/**
 * Pixel Data byte layouts for tests: little-endian sample bytes, packed 1-bit samples, planar
 * and YBR_FULL colour, and RLE Lossless frames (PS3.5 Annex G).
 */

/** Little-endian bytes of a typed array (the layout of native Pixel Data in a LE transfer syntax). */
export function littleEndianBytes(
  samples: Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array,
): Uint8Array {
  // Node runs little-endian on every platform we support; copy so callers may reuse their array.
  return new Uint8Array(samples.buffer.slice(samples.byteOffset, samples.byteOffset + samples.byteLength));
}

/** Packs one-bit-per-element samples into bytes, least significant bit first (PS3.5 8.1.1, D.2). */
export function packOneBitSamples(bits: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(bits.length / 8));
  for (let i = 0; i < bits.length; i++) {
    if (bits[i]! & 1) out[i >> 3]! |= 1 << (i & 7);
  }
  return out;
}

/** Converts interleaved RGB to colour-by-plane order (Planar Configuration 1, PS3.3 C.7.6.3.1.3). */
export function toPlanar(rgb: Uint8Array, pixels: number): Uint8Array {
  const out = new Uint8Array(rgb.length);
  for (let i = 0; i < pixels; i++) {
    out[i] = rgb[i * 3]!;
    out[pixels + i] = rgb[i * 3 + 1]!;
    out[2 * pixels + i] = rgb[i * 3 + 2]!;
  }
  return out;
}

/** RGB to YBR_FULL with the PS3.3 C.7.6.3.1.2 equations, rounded and clamped to 8 bits. */
export function rgbToYbrFull(rgb: Uint8Array): Uint8Array {
  const out = new Uint8Array(rgb.length);
  const clamp = (v: number): number => Math.min(255, Math.max(0, Math.round(v)));
  for (let i = 0; i < rgb.length; i += 3) {
    const r = rgb[i]!;
    const g = rgb[i + 1]!;
    const b = rgb[i + 2]!;
    out[i] = clamp(0.299 * r + 0.587 * g + 0.114 * b);
    out[i + 1] = clamp(-0.1687 * r - 0.3313 * g + 0.5 * b + 128);
    out[i + 2] = clamp(0.5 * r - 0.4187 * g - 0.0813 * b + 128);
  }
  return out;
}

/** PackBits-encodes bytes as literal runs, with replicate runs where 3+ values repeat (PS3.5 G.3.1). */
export function packBits(bytes: Uint8Array): Uint8Array {
  const out: number[] = [];
  let i = 0;
  while (i < bytes.length) {
    let run = 1;
    while (i + run < bytes.length && run < 128 && bytes[i + run] === bytes[i]) run++;
    if (run >= 3) {
      out.push(257 - run, bytes[i]!);
      i += run;
      continue;
    }
    const start = i;
    while (i < bytes.length && i - start < 128) {
      if (i + 2 < bytes.length && bytes[i] === bytes[i + 1] && bytes[i] === bytes[i + 2]) break;
      i++;
    }
    out.push(i - start - 1, ...bytes.subarray(start, i));
  }
  if (out.length % 2 === 1) out.push(128); // no-op byte pads the segment to even length
  return Uint8Array.from(out);
}

/** Builds one RLE Lossless frame (PS3.5 Annex G) from already split byte segments. */
export function rleFrame(segments: readonly Uint8Array[]): Uint8Array {
  const encoded = segments.map(packBits);
  const header = new Uint8Array(64);
  const view = new DataView(header.buffer);
  view.setUint32(0, segments.length, true);
  let offset = 64;
  encoded.forEach((segment, s) => {
    view.setUint32(4 + s * 4, offset, true);
    offset += segment.length;
  });
  const out = new Uint8Array(offset);
  out.set(header);
  let at = 64;
  for (const segment of encoded) {
    out.set(segment, at);
    at += segment.length;
  }
  return out;
}
