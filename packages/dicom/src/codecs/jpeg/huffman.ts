// Huffman decoding tables built from a DHT segment's BITS and HUFFVAL lists (T.81 Annex C and
// F.2.2.3), shaped for speed: a lookup on the next LOOKUP_BITS bits resolves every short code in
// one step; longer codes fall back to the canonical MAXCODE/VALPTR search.
import { DicomRejectedError } from '../../errors.js';

/** Codes up to this many bits are resolved by one table lookup. */
export const LOOKUP_BITS = 9;

export interface HuffmanTable {
  /** Indexed by the next LOOKUP_BITS bits: (code length << 8) | value, or 0 for a longer code. */
  readonly lookup: Uint16Array;
  /** Largest code of each length 0..16 (index = length), -1 when there is none. */
  readonly maxCode: Int32Array;
  /** Added to a code of each length to index `values`. */
  readonly valueOffset: Int32Array;
  readonly values: Uint8Array;
}

/** Builds decoding tables from BITS (16 counts) and HUFFVAL; throws on an impossible code set. */
export function buildHuffmanTable(counts: Uint8Array, values: Uint8Array): HuffmanTable {
  const lookup = new Uint16Array(1 << LOOKUP_BITS);
  const maxCode = new Int32Array(18).fill(-1);
  const valueOffset = new Int32Array(18);
  let code = 0;
  let k = 0;
  for (let length = 1; length <= 16; length++) {
    const n = counts[length - 1]!;
    valueOffset[length] = k - code;
    for (let i = 0; i < n; i++) {
      // Annex C.2: codes of one length are consecutive; more than fit in `length` bits is a
      // table no encoder can have written (IJG rejects it the same way).
      if (code >= 1 << length) {
        throw new DicomRejectedError('corrupt_stream', 'JPEG Huffman table defines more codes than fit');
      }
      if (length <= LOOKUP_BITS) {
        const shift = LOOKUP_BITS - length;
        const entry = (length << 8) | values[k]!;
        lookup.fill(entry, code << shift, (code + 1) << shift);
      }
      code++;
      k++;
    }
    if (n > 0) maxCode[length] = code - 1;
    code <<= 1;
  }
  return { lookup, maxCode, valueOffset, values: values.slice() };
}
