// 8- and 16-bit stored samples seen as unsigned codes, so that a per-value table built once over
// all 2^8 or 2^16 codes can replace per-pixel arithmetic. Each loop below handles exactly one
// typed-array kind: V8 slows a loop down several-fold once it has seen many array kinds
// (megamorphic element access), and the decode pool feeds every kind through the same code.
import type { FrameSamples } from '../types.js';

/** Samples reinterpreted as unsigned codes (Int16 -> Uint16 over the same memory, no copy). */
export type CodeView =
  | { readonly bits: 8; readonly codes: Uint8Array; readonly signed: boolean }
  | { readonly bits: 16; readonly codes: Uint16Array; readonly signed: boolean };

/** The code view of 8/16-bit samples, or undefined for 32-bit and float samples (no table over 2^32 codes). */
export function codeView(samples: FrameSamples): CodeView | undefined {
  if (samples instanceof Uint8Array) return { bits: 8, codes: samples, signed: false };
  if (samples instanceof Uint16Array) return { bits: 16, codes: samples, signed: false };
  if (samples instanceof Int8Array) {
    return {
      bits: 8,
      codes: new Uint8Array(samples.buffer, samples.byteOffset, samples.length),
      signed: true,
    };
  }
  if (samples instanceof Int16Array) {
    return {
      bits: 16,
      codes: new Uint16Array(samples.buffer, samples.byteOffset, samples.length),
      signed: true,
    };
  }
  return undefined;
}

// Fresh 256 KB buffers cost about a millisecond each in page faults on this machine class, as
// much as the rest of the table work: the code tables are constant and built once, and the
// scratch buffers below are reused (calls are synchronous; each worker thread has its own module).
const codeValueCache = new Map<string, Int32Array>();

/** The stored value each code stands for: the code itself, or its two's complement reading. Shared: do not modify. */
export function codeValues(view: CodeView): Int32Array {
  const key = `${view.bits}${view.signed ? 's' : 'u'}`;
  const cached = codeValueCache.get(key);
  if (cached !== undefined) return cached;
  const size = 1 << view.bits;
  const values = new Int32Array(size);
  const shift = 32 - view.bits;
  if (view.signed) for (let code = 0; code < size; code++) values[code] = (code << shift) >> shift;
  else for (let code = 0; code < size; code++) values[code] = code;
  codeValueCache.set(key, values);
  return values;
}

const scratchTables = new Map<string, Float32Array>();

/**
 * A reusable Float32Array with one entry per code, owned by `owner` (one per call site so that
 * nested users never share one). Valid until the owner's next call.
 */
export function scratchTable(owner: string, view: CodeView): Float32Array {
  const key = `${owner}${view.bits}`;
  let table = scratchTables.get(key);
  if (table === undefined) {
    table = new Float32Array(1 << view.bits);
    scratchTables.set(key, table);
  }
  return table;
}

function map8(codes: Uint8Array, table: Float32Array, into: Float32Array): void {
  for (let i = 0; i < codes.length; i++) into[i] = table[codes[i]!]!;
}

function map16(codes: Uint16Array, table: Float32Array, into: Float32Array): void {
  for (let i = 0; i < codes.length; i++) into[i] = table[codes[i]!]!;
}

/** into[i] = table[code of pixel i]; `table` has 2^bits entries. */
export function mapCodes(view: CodeView, table: Float32Array, into: Float32Array): void {
  if (view.bits === 8) map8(view.codes, table, into);
  else map16(view.codes, table, into);
}

function count8(codes: Uint8Array, counts: Uint32Array): void {
  for (let i = 0; i < codes.length; i++) counts[codes[i]!]!++;
}

function count16(codes: Uint16Array, counts: Uint32Array): void {
  for (let i = 0; i < codes.length; i++) counts[codes[i]!]!++;
}

const scratchCounts = new Map<number, Uint32Array>();

/** Histogram of codes: counts[code] = number of pixels holding it. Reused: valid until the next call. */
export function countCodes(view: CodeView): Uint32Array {
  let counts = scratchCounts.get(view.bits);
  if (counts === undefined) {
    counts = new Uint32Array(1 << view.bits);
    scratchCounts.set(view.bits, counts);
  } else {
    counts.fill(0);
  }
  if (view.bits === 8) count8(view.codes, counts);
  else count16(view.codes, counts);
  return counts;
}
