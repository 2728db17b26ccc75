/**
 * A byte-level reader of DICOM data sets (PS3.5 7): the position of every element header, value
 * and sequence item, in any native encoding, with nothing decoded. The rewriter copies what it
 * keeps byte for byte from these positions, so untouched values (Pixel Data first of all) are never
 * re-encoded, and only what it replaces is written anew.
 */
import { DeidRejectedError } from './errors.js';

/** How a data set (or a sequence's items) is encoded. */
export interface Encoding {
  readonly explicitVr: boolean;
  readonly littleEndian: boolean;
}

/** Implicit VR little endian: the encoding of the items of a UN element of undefined length (PS3.5 6.2.2). */
export const IMPLICIT_LITTLE_ENDIAN: Encoding = { explicitVr: false, littleEndian: true };

/** One data element as found in the bytes. */
export interface ElementNode {
  /** (group << 16) | element. */
  readonly tag: number;
  /** The VR written in the element (explicit VR), or undefined (implicit VR). */
  readonly vr: string | undefined;
  /** Offset of the element's first header byte. */
  readonly start: number;
  /** Offset of the value (after the header). */
  readonly valueStart: number;
  /** Value length; undefined for an undefined length (0xFFFFFFFF). */
  readonly length: number | undefined;
  /** Offset after the element, including the sequence delimiter of an undefined length. */
  readonly end: number;
  /** Items of a sequence. */
  readonly items?: readonly ItemNode[];
  /** Encoding of the items' content (differs from the data set's inside UN of undefined length). */
  readonly itemEncoding?: Encoding;
  /** True for an encapsulated value (fragments, PS3.5 A.4): kept or dropped whole, never parsed. */
  readonly fragments?: boolean;
}

/** One sequence item. */
export interface ItemNode {
  readonly start: number;
  /** Item length; undefined for an undefined length (ended by an Item Delimitation Item). */
  readonly length: number | undefined;
  readonly elements: readonly ElementNode[];
  readonly end: number;
}

export const ITEM = 0xfffee000;
export const ITEM_DELIMITATION = 0xfffee00d;
export const SEQUENCE_DELIMITATION = 0xfffee0dd;
export const UNDEFINED_LENGTH = 0xffffffff;
const PIXEL_DATA = 0x7fe00010;

/** VRs of PS3.5 Table 6.2-1. */
const VRS = new Set([
  'AE', 'AS', 'AT', 'CS', 'DA', 'DS', 'DT', 'FD', 'FL', 'IS', 'LO', 'LT', 'OB', 'OD', 'OF', 'OL', 'OV',
  'OW', 'PN', 'SH', 'SL', 'SQ', 'SS', 'ST', 'SV', 'TM', 'UC', 'UI', 'UL', 'UN', 'UR', 'US', 'UT', 'UV',
]); // prettier-ignore

/** VRs whose explicit length field is 4 bytes after 2 reserved bytes (PS3.5 7.1.2). */
export const LONG_LENGTH_VRS = new Set([
  'OB',
  'OD',
  'OF',
  'OL',
  'OV',
  'OW',
  'SQ',
  'SV',
  'UC',
  'UN',
  'UR',
  'UT',
  'UV',
]);

/** Tells a reader which implicit VR elements are sequences (the data dictionary's SQ attributes it knows). */
export type SequenceHint = (tag: number) => boolean | undefined;

class Reader {
  readonly #view: DataView;

  constructor(
    readonly bytes: Uint8Array,
    readonly maxDepth: number,
    readonly isSequence: SequenceHint,
  ) {
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  u16(pos: number, enc: Encoding): number {
    return this.#view.getUint16(pos, enc.littleEndian);
  }

  u32(pos: number, enc: Encoding): number {
    return this.#view.getUint32(pos, enc.littleEndian);
  }

  tagAt(pos: number, enc: Encoding): number {
    return ((this.u16(pos, enc) << 16) | this.u16(pos + 2, enc)) >>> 0;
  }

  need(pos: number, count: number, what: string): void {
    if (pos + count > this.bytes.length) throw new DeidRejectedError('truncated', `file ends inside ${what}`);
  }

  /** Whether a value of defined length begins with an Item tag (then it holds sequence items). */
  startsWithItem(valueStart: number, length: number | undefined, enc: Encoding): boolean {
    return length !== undefined && length >= 8 && this.tagAt(valueStart, enc) === ITEM;
  }

  /** Elements from `pos` to `end`, or, with `end` undefined, to an Item Delimitation Item. */
  elements(
    pos: number,
    end: number | undefined,
    enc: Encoding,
    depth: number,
  ): { elements: ElementNode[]; end: number } {
    const elements: ElementNode[] = [];
    const limit = end ?? this.bytes.length;
    while (pos < limit) {
      // Some writers pad a file with NUL bytes after its last element: nothing to keep there.
      if (depth === 0 && end === this.bytes.length && this.bytes.subarray(pos).every((byte) => byte === 0)) {
        return { elements, end: pos };
      }
      this.need(pos, 8, 'an element header');
      const tag = this.tagAt(pos, enc);
      if (end === undefined && tag === ITEM_DELIMITATION) return { elements, end: pos + 8 };
      if (tag >>> 16 === 0xfffe) {
        throw new DeidRejectedError(
          'malformed',
          `unexpected item tag (FFFE,${hex4(tag & 0xffff)}) among elements`,
        );
      }
      const element = this.element(pos, tag, enc, depth);
      if (end !== undefined && element.end > end) {
        throw new DeidRejectedError(
          end === this.bytes.length ? 'truncated' : 'malformed',
          `element ${formatTag(tag)} runs past the end of its ${end === this.bytes.length ? 'file' : 'item'}`,
        );
      }
      elements.push(element);
      pos = element.end;
    }
    if (end === undefined)
      throw new DeidRejectedError('truncated', 'file ends inside an item of undefined length');
    return { elements, end: pos };
  }

  element(pos: number, tag: number, enc: Encoding, depth: number): ElementNode {
    let vr: string | undefined;
    let valueStart: number;
    let rawLength: number;
    if (enc.explicitVr) {
      vr = String.fromCharCode(this.bytes[pos + 4]!, this.bytes[pos + 5]!);
      if (!VRS.has(vr)) {
        throw new DeidRejectedError('malformed', `element ${formatTag(tag)} has no valid VR`);
      }
      if (LONG_LENGTH_VRS.has(vr)) {
        this.need(pos, 12, 'an element header');
        rawLength = this.u32(pos + 8, enc);
        valueStart = pos + 12;
      } else {
        rawLength = this.u16(pos + 6, enc);
        valueStart = pos + 8;
      }
    } else {
      rawLength = this.u32(pos + 4, enc);
      valueStart = pos + 8;
    }
    const undefinedLength = rawLength === UNDEFINED_LENGTH;
    const length = undefinedLength ? undefined : rawLength;
    if (length !== undefined && valueStart + length > this.bytes.length) {
      throw new DeidRejectedError('truncated', `file ends inside the value of ${formatTag(tag)}`);
    }
    const valueEnd = length === undefined ? undefined : valueStart + length;
    const base = { tag, vr, start: pos, valueStart, length };

    const privateTag = (tag >>> 16) % 2 === 1;
    let itemEncoding: Encoding | undefined;
    if (vr === 'SQ') itemEncoding = enc;
    else if (
      vr === 'UN' &&
      (undefinedLength || (!privateTag && this.startsWithItem(valueStart, length, IMPLICIT_LITTLE_ENDIAN)))
    ) {
      // A sequence the writer did not know: its items are implicit VR little endian (PS3.5 6.2.2),
      // and what they hold must be de-identified like any other item.
      itemEncoding = IMPLICIT_LITTLE_ENDIAN;
    } else if (vr === undefined && tag !== PIXEL_DATA) {
      const hint = this.isSequence(tag);
      const startsWithItem = hint !== false && this.startsWithItem(valueStart, length, enc);
      if (hint === true || undefinedLength || (startsWithItem && !privateTag)) itemEncoding = enc;
    }
    if (itemEncoding !== undefined) {
      if (depth + 1 > this.maxDepth) {
        throw new DeidRejectedError('nesting_too_deep', `sequences nest deeper than ${this.maxDepth} levels`);
      }
      const { items, end } = this.items(valueStart, valueEnd, itemEncoding, depth + 1);
      return { ...base, end, items, itemEncoding };
    }
    if (undefinedLength) return { ...base, end: this.skipFragments(valueStart, enc, tag), fragments: true };
    return { ...base, end: valueEnd! };
  }

  items(
    pos: number,
    end: number | undefined,
    enc: Encoding,
    depth: number,
  ): { items: ItemNode[]; end: number } {
    const items: ItemNode[] = [];
    for (;;) {
      if (end !== undefined && pos >= end) {
        if (pos > end) throw new DeidRejectedError('malformed', 'a sequence item runs past its sequence');
        return { items, end: pos };
      }
      this.need(pos, 8, 'a sequence');
      const tag = this.tagAt(pos, enc);
      if (end === undefined && tag === SEQUENCE_DELIMITATION) return { items, end: pos + 8 };
      if (tag !== ITEM) {
        throw new DeidRejectedError('malformed', `expected a sequence item, found ${formatTag(tag)}`);
      }
      const rawLength = this.u32(pos + 4, enc);
      const length = rawLength === UNDEFINED_LENGTH ? undefined : rawLength;
      const valueStart = pos + 8;
      if (length !== undefined && valueStart + length > this.bytes.length) {
        throw new DeidRejectedError('truncated', 'file ends inside a sequence item');
      }
      const read = this.elements(
        valueStart,
        length === undefined ? undefined : valueStart + length,
        enc,
        depth,
      );
      items.push({ start: pos, length, elements: read.elements, end: read.end });
      pos = read.end;
    }
  }

  /** The end of an encapsulated value: fragments (items) up to the Sequence Delimitation Item. */
  skipFragments(pos: number, enc: Encoding, tag: number): number {
    for (;;) {
      this.need(pos, 8, `the fragments of ${formatTag(tag)}`);
      const itemTag = this.tagAt(pos, enc);
      const length = this.u32(pos + 4, enc);
      if (itemTag === SEQUENCE_DELIMITATION) return pos + 8;
      if (itemTag !== ITEM || length === UNDEFINED_LENGTH) {
        throw new DeidRejectedError(
          'malformed',
          `unexpected ${formatTag(itemTag)} among the fragments of ${formatTag(tag)}`,
        );
      }
      this.need(pos + 8, length, `a fragment of ${formatTag(tag)}`);
      pos += 8 + length;
    }
  }
}

/**
 * Reads the elements of a data set that fills `bytes` from `start`. Throws DeidRejectedError
 * (`truncated`, `malformed`, `nesting_too_deep`) on a structure it cannot follow.
 */
export function readDataSet(
  bytes: Uint8Array,
  start: number,
  encoding: Encoding,
  options: { readonly maxDepth: number; readonly isSequence: SequenceHint },
): ElementNode[] {
  const reader = new Reader(bytes, options.maxDepth, options.isSequence);
  return reader.elements(start, bytes.length, encoding, 0).elements;
}

function hex4(value: number): string {
  return value.toString(16).toUpperCase().padStart(4, '0');
}

/** A tag as (GGGG,EEEE) for messages: a tag number is structure, never patient data. */
export function formatTag(tag: number): string {
  return `(${hex4(tag >>> 16)},${hex4(tag & 0xffff)})`;
}

/** The value bytes of an element with a defined length (empty for an undefined length). */
export function valueBytes(bytes: Uint8Array, element: ElementNode): Uint8Array {
  return element.length === undefined
    ? new Uint8Array(0)
    : bytes.subarray(element.valueStart, element.valueStart + element.length);
}

/** A text value as Latin-1 code units (byte for byte), trailing NUL and space padding removed. */
export function valueText(bytes: Uint8Array, element: ElementNode): string {
  return Buffer.from(valueBytes(bytes, element))
    .toString('latin1')
    .replace(/[\0 ]+$/, '');
}

/** Writes element and item headers and values in one encoding. */
export class Writer {
  constructor(readonly encoding: Encoding) {}

  #u16(value: number): Uint8Array {
    const out = new Uint8Array(2);
    new DataView(out.buffer).setUint16(0, value, this.encoding.littleEndian);
    return out;
  }

  #u32(value: number): Uint8Array {
    const out = new Uint8Array(4);
    new DataView(out.buffer).setUint32(0, value, this.encoding.littleEndian);
    return out;
  }

  #tag(tag: number): Uint8Array {
    return concat([this.#u16(tag >>> 16), this.#u16(tag & 0xffff)]);
  }

  /** An element header for a value of `length` bytes (undefined: undefined length). */
  header(tag: number, vr: string, length: number | undefined): Uint8Array {
    const raw = length ?? UNDEFINED_LENGTH;
    if (!this.encoding.explicitVr) return concat([this.#tag(tag), this.#u32(raw)]);
    const vrBytes = new Uint8Array([vr.charCodeAt(0), vr.charCodeAt(1)]);
    if (LONG_LENGTH_VRS.has(vr)) return concat([this.#tag(tag), vrBytes, new Uint8Array(2), this.#u32(raw)]);
    if (raw > 0xffff) {
      // Replacement UIDs are longer than many originals: a list of thousands may outgrow the VR.
      throw new DeidRejectedError(
        'malformed',
        `the new value of ${formatTag(tag)} (${raw} bytes) is too long for ${vr}`,
      );
    }
    return concat([this.#tag(tag), vrBytes, this.#u16(raw)]);
  }

  /** An item or delimiter header: (FFFE,xxxx) and a 32-bit length. */
  itemHeader(tag: number, length: number | undefined): Uint8Array {
    return concat([this.#tag(tag), this.#u32(length ?? UNDEFINED_LENGTH)]);
  }
}

/** Text as bytes of even length: padded with a NUL for UI, a space otherwise (PS3.5 6.2). */
export function textBytes(text: string, vr: string): Uint8Array {
  const bytes = Buffer.from(text, 'latin1');
  if (bytes.length % 2 === 0) return new Uint8Array(bytes);
  return concat([bytes, new Uint8Array([vr === 'UI' ? 0 : 0x20])]);
}

/** One buffer holding `chunks` one after the other. */
export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const chunk of chunks) length += chunk.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
