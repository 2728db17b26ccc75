/**
 * Applies the profile to a data set read by dataset.ts: element by element, at every sequence
 * depth, it keeps (copying the original bytes), removes, empties, replaces with a dummy value, a
 * replacement UID, a shifted date or a cleaned descriptor, and inserts the de-identification
 * attributes at the top level. What it keeps is never re-encoded.
 */
import safePrivateTable from './data/safe-private-attributes.json' with { type: 'json' };
import type { OptionColumn } from './options.js';
import {
  isOverlayGroup,
  profileEntryFor,
  resolveAction,
  type ActionCode,
  type ProfileEntry,
} from './profile.js';
import {
  concat,
  formatTag,
  ITEM,
  ITEM_DELIMITATION,
  SEQUENCE_DELIMITATION,
  textBytes,
  valueText,
  Writer,
  type ElementNode,
  type Encoding,
  type ItemNode,
} from './dataset.js';
import type { DeidSession, PatientPseudonym } from './session.js';
import { cleanDescriptor, dummyValue, isTextVr, shiftDates } from './values.js';

/** A new value for the top level, inserted in tag order (replacing an element of the same tag). */
export interface Insertion {
  readonly tag: number;
  readonly vr: string;
  /** Text (padded as the VR says), or items, each a list of insertions. */
  readonly value: string | readonly (readonly Insertion[])[];
}

/** What the rewrite needs besides the bytes. */
export interface RewriteContext {
  readonly bytes: Uint8Array;
  readonly session: DeidSession;
  readonly columns: readonly OptionColumn[];
  readonly patient: PatientPseudonym;
  readonly retainSafePrivate: boolean;
}

/** The output of one element, item or level: chunks to concatenate, and whether anything differs. */
interface Out {
  readonly chunks: Uint8Array[];
  length: number;
  changed: boolean;
}

function newOut(): Out {
  return { chunks: [], length: 0, changed: false };
}

function push(out: Out, chunk: Uint8Array): void {
  out.chunks.push(chunk);
  out.length += chunk.length;
}

function append(out: Out, other: Out): void {
  for (const chunk of other.chunks) push(out, chunk);
  out.changed ||= other.changed;
}

const PATIENT_NAME = 0x00100010;
/** The root of the UIDs the DICOM standard defines (PS3.6 Annex A). */
const DICOM_UID_ROOT = '1.2.840.10008.';
const PATIENT_ID = 0x00100020;

/**
 * How the contents of a sequence are treated: `profile` applies Table E.1-1 to each attribute;
 * `dummy` is action D applied to a whole sequence ("the action is applicable to the Sequence and
 * all of its contents", PS3.15 E.1.1): every value becomes a dummy, every UID a replacement UID.
 */
type Mode = 'profile' | 'dummy';

/** Safe private attributes (PS3.15 Table E.3.10-1): `group:element-byte:creator`. */
const SAFE_PRIVATE = new Set(
  safePrivateTable.attributes.map((a) => `${a.group.toLowerCase()}:${a.element.toLowerCase()}:${a.creator}`),
);

function hex(value: number, digits: number): string {
  return value.toString(16).padStart(digits, '0');
}

/**
 * VRs of attributes Table E.1-1 does not list but that fill the items of the sequences action D
 * applies to (the Code Sequence Macro, SR content items, SOP references): in an implicit VR object
 * these are what a dummied item holds, and without their VR they could only be removed.
 */
const ITEM_VRS: ReadonlyMap<number, string> = new Map([
  [0x00080100, 'SH'], // Code Value
  [0x00080102, 'SH'], // Coding Scheme Designator
  [0x00080103, 'SH'], // Coding Scheme Version
  [0x00080104, 'LO'], // Code Meaning
  [0x00080105, 'CS'], // Mapping Resource
  [0x00080106, 'DT'], // Context Group Version
  [0x0008010b, 'CS'], // Context Group Extension Flag
  [0x0008010f, 'CS'], // Context Identifier
  [0x00080117, 'UI'], // Context UID
  [0x00080118, 'UI'], // Mapping Resource UID
  [0x00080119, 'UC'], // Long Code Value
  [0x00080120, 'UR'], // URN Code Value
  [0x00080122, 'LO'], // Mapping Resource Name
  [0x00081150, 'UI'], // Referenced SOP Class UID
  [0x00081160, 'IS'], // Referenced Frame Number
  [0x0040a010, 'CS'], // Relationship Type
  [0x0040a040, 'CS'], // Value Type
  [0x0040a050, 'CS'], // Continuity Of Content
  [0x0040a160, 'UT'], // Text Value
]);

/** The VR to interpret a value with: the written one, or the dictionary's when there is none (or UN). */
function effectiveVr(element: ElementNode, entry: ProfileEntry | undefined): string | undefined {
  if (element.vr !== undefined && element.vr !== 'UN') return element.vr;
  const known = entry?.vr ?? ITEM_VRS.get(element.tag);
  if (known === undefined || known.includes(' ')) return element.vr;
  return known;
}

/** The VR to write a replacement with: a UN element of a known attribute is written with its real VR. */
function writtenVr(element: ElementNode, vr: string): string {
  return element.vr === undefined || element.vr === 'UN' ? vr : element.vr;
}

class Rewriter {
  constructor(readonly ctx: RewriteContext) {}

  /** The original bytes of a node, unchanged. */
  copy(node: { readonly start: number; readonly end: number }): Out {
    const out = newOut();
    push(out, this.ctx.bytes.subarray(node.start, node.end));
    return out;
  }

  removed(): Out {
    const out = newOut();
    out.changed = true;
    return out;
  }

  /** An element with a new value (text or bytes), in the level's encoding. */
  value(tag: number, vr: string, value: string | Uint8Array, writer: Writer): Out {
    const bytes = typeof value === 'string' ? textBytes(value, vr) : value;
    const out = newOut();
    push(out, writer.header(tag, vr, bytes.length));
    push(out, bytes);
    out.changed = true;
    return out;
  }

  /** A sequence with the given items' outputs, in the original's length style. */
  sequence(element: ElementNode, items: readonly Out[], writer: Writer, itemWriter: Writer): Out {
    const body = newOut();
    for (const item of items) append(body, item);
    const undefinedLength = element.length === undefined;
    if (undefinedLength) push(body, itemWriter.itemHeader(SEQUENCE_DELIMITATION, 0));
    const out = newOut();
    push(out, writer.header(element.tag, element.vr ?? 'SQ', undefinedLength ? undefined : body.length));
    append(out, body);
    out.changed = true;
    return out;
  }

  /** A sequence of no items (action Z on a sequence). */
  emptySequence(element: ElementNode, writer: Writer): Out {
    const out = newOut();
    push(out, writer.header(element.tag, element.vr ?? 'SQ', 0));
    out.changed = true;
    return out;
  }

  item(item: ItemNode, encoding: Encoding, mode: Mode, depth: number): Out {
    const content = this.elements(item.elements, encoding, mode, depth, []);
    if (!content.changed) return this.copy(item);
    const writer = new Writer(encoding);
    const out = newOut();
    push(out, writer.itemHeader(ITEM, item.length === undefined ? undefined : content.length));
    append(out, content);
    if (item.length === undefined) push(out, writer.itemHeader(ITEM_DELIMITATION, 0));
    out.changed = true;
    return out;
  }

  /** A sequence whose items are rewritten in `mode`; copied as it is when nothing inside changes. */
  recurse(element: ElementNode, encoding: Encoding, mode: Mode, depth: number): Out {
    const itemEncoding = element.itemEncoding ?? encoding;
    const items = (element.items ?? []).map((item) => this.item(item, itemEncoding, mode, depth + 1));
    if (!items.some((item) => item.changed)) return this.copy(element);
    return this.sequence(element, items, new Writer(encoding), new Writer(itemEncoding));
  }

  /** Replacement UIDs for every value of a UI element. */
  uids(element: ElementNode, vr: string, writer: Writer): Out {
    const values = valueText(this.ctx.bytes, element).split('\\');
    const replaced = values.map((uid) => this.ctx.session.uid(uid)).join('\\');
    return this.value(element.tag, writtenVr(element, vr), replaced, writer);
  }

  /** Action D on one element (a dummy value; for a UID, a replacement UID; for a sequence, D on all of it). */
  dummy(
    element: ElementNode,
    vr: string | undefined,
    encoding: Encoding,
    depth: number,
    writer: Writer,
  ): Out {
    if (element.items !== undefined) return this.recurse(element, encoding, 'dummy', depth);
    if (element.fragments === true || vr === undefined) return this.removed();
    if (vr === 'UI') {
      // UIDs of the standard itself (SOP classes, transfer syntaxes, coding schemes) identify
      // nobody, and references need them: kept.
      const values = valueText(this.ctx.bytes, element).split('\\');
      if (values.every((uid) => uid.startsWith(DICOM_UID_ROOT))) return this.copy(element);
      return this.uids(element, vr, writer);
    }
    return this.value(element.tag, writtenVr(element, vr), dummyValue(vr), writer);
  }

  /** Action Z on one element: a zero-length value, or a sequence of no items. */
  empty(element: ElementNode, vr: string | undefined, writer: Writer): Out {
    if (element.items !== undefined) {
      return element.items.length === 0 && element.length === 0
        ? this.copy(element)
        : this.emptySequence(element, writer);
    }
    if (element.length === 0) return this.copy(element);
    if (element.fragments === true || vr === undefined) return this.removed();
    return this.value(element.tag, writtenVr(element, vr), '', writer);
  }

  isEmpty(element: ElementNode): boolean {
    if (element.items !== undefined) return element.items.length === 0;
    return (
      element.length === 0 || (element.length !== undefined && valueText(this.ctx.bytes, element) === '')
    );
  }

  /** Applies an action code of Table E.1-1 (after the options) to one element. */
  apply(
    code: ActionCode,
    element: ElementNode,
    entry: ProfileEntry,
    resolved: readonly OptionColumn[],
    encoding: Encoding,
    depth: number,
    writer: Writer,
  ): Out {
    const vr = effectiveVr(element, entry);
    switch (code) {
      case 'K':
        return element.items !== undefined
          ? this.recurse(element, encoding, 'profile', depth)
          : this.copy(element);
      case 'X':
        return this.removed();
      case 'Z':
        return this.empty(element, vr, writer);
      case 'D':
        return this.dummy(element, vr, encoding, depth, writer);
      case 'U':
        if (element.items !== undefined) return this.recurse(element, encoding, 'profile', depth);
        return vr === 'UI'
          ? this.uids(element, vr, writer)
          : this.dummy(element, vr, encoding, depth, writer);
      case 'Z/D':
      case 'X/D':
      case 'X/Z/D':
        // Without the IOD's attribute types at hand, presence decides: an attribute with a value
        // may be Type 1, so it gets a dummy (D); an empty one is at most Type 2 and stays empty.
        return this.isEmpty(element)
          ? this.empty(element, vr, writer)
          : this.dummy(element, vr, encoding, depth, writer);
      case 'X/Z':
        // Z keeps a Type 2 attribute present; an empty Type 3 attribute is valid too.
        return this.empty(element, vr, writer);
      case 'X/Z/U*':
        // The references stay (Referenced Image Sequence...), their instance UIDs replaced by the
        // table's own U rows inside; everything else in the items is de-identified by the table too.
        if (element.items !== undefined) return this.recurse(element, encoding, 'profile', depth);
        return vr === 'UI' ? this.uids(element, vr, writer) : this.empty(element, vr, writer);
      case 'C':
        return this.clean(element, entry, resolved, vr, encoding, depth, writer);
    }
  }

  /**
   * Action C: the cleaner of the option that asked for it, when one fits the value; otherwise the
   * Basic Profile action. Cleaners: modified dates (DA and DT shifted by the patient's offset, TM
   * kept: whole-day shifts keep times of day), clean descriptors (text reduced to safe words).
   */
  clean(
    element: ElementNode,
    entry: ProfileEntry,
    cleanBy: readonly OptionColumn[],
    vr: string | undefined,
    encoding: Encoding,
    depth: number,
    writer: Writer,
  ): Out {
    if (element.items === undefined && element.fragments !== true && vr !== undefined) {
      if (cleanBy.includes('modifiedDates')) {
        if (vr === 'TM') return this.copy(element);
        if (vr === 'DA' || vr === 'DT') {
          const text = valueText(this.ctx.bytes, element);
          if (text === '') return this.copy(element);
          const shifted = shiftDates(text, vr, this.ctx.patient.dateOffsetDays);
          if (shifted !== undefined) return this.value(element.tag, writtenVr(element, vr), shifted, writer);
        }
      }
      if (
        cleanBy.includes('cleanDescriptors') &&
        isTextVr(vr) &&
        !['DA', 'DT', 'TM', 'UI', 'PN'].includes(vr)
      ) {
        const cleaned = cleanDescriptor(valueText(this.ctx.bytes, element));
        if (cleaned !== '') return this.value(element.tag, writtenVr(element, vr), cleaned, writer);
      }
    }
    return this.apply(entry.basic, element, entry, [], encoding, depth, writer);
  }

  /** Private elements of one level to keep with Retain Safe Private: the safe ones and their creators. */
  safePrivate(elements: readonly ElementNode[]): Set<number> {
    const keep = new Set<number>();
    if (!this.ctx.retainSafePrivate) return keep;
    const creators = new Map<number, string>();
    for (const element of elements) {
      const group = element.tag >>> 16;
      const number = element.tag & 0xffff;
      if (group % 2 === 1 && number >= 0x10 && number <= 0xff && element.length !== undefined) {
        creators.set((group << 8) | number, valueText(this.ctx.bytes, element).trim());
      }
    }
    for (const element of elements) {
      const group = element.tag >>> 16;
      const number = element.tag & 0xffff;
      if (group % 2 === 0 || number < 0x1000) continue;
      const block = number >>> 8;
      const creator = creators.get((group << 8) | block);
      if (creator === undefined) continue;
      if (SAFE_PRIVATE.has(`${hex(group, 4)}:${hex(number & 0xff, 2)}:${creator}`)) {
        keep.add(element.tag);
        keep.add(((group << 16) | block) >>> 0);
      }
    }
    return keep;
  }

  /** One element in profile mode. */
  profileElement(
    element: ElementNode,
    encoding: Encoding,
    depth: number,
    writer: Writer,
    safePrivate: ReadonlySet<number>,
  ): Out {
    const tag = element.tag;
    const group = tag >>> 16;
    if ((tag & 0xffff) === 0) return this.removed(); // group lengths: wrong once anything changes
    if (group % 2 === 1) {
      if (!safePrivate.has(tag)) return this.removed();
      return element.items !== undefined
        ? this.recurse(element, encoding, 'profile', depth)
        : this.copy(element);
    }
    // An overlay without its Overlay Data (removed, Table E.1-1) would be an invalid Overlay Plane
    // module: the whole overlay group goes.
    if (isOverlayGroup(group)) return this.removed();
    if (depth === 0 && (tag === PATIENT_NAME || tag === PATIENT_ID)) {
      // A keyed pseudonym is the dummy value of action Z/D: a study's patients stay distinguishable.
      // As a name it is the family name component (a PN without "^" reads as a retired form).
      return tag === PATIENT_NAME
        ? this.value(tag, writtenVr(element, 'PN'), `${this.ctx.patient.pseudonym}^`, writer)
        : this.value(tag, writtenVr(element, 'LO'), this.ctx.patient.pseudonym, writer);
    }
    const entry = profileEntryFor(tag);
    if (entry === undefined) {
      return element.items !== undefined
        ? this.recurse(element, encoding, 'profile', depth)
        : this.copy(element);
    }
    const resolved = resolveAction(entry, this.ctx.columns);
    return this.apply(resolved.code, element, entry, resolved.cleanBy, encoding, depth, writer);
  }

  /** One element in dummy mode (inside a sequence under action D). */
  dummyElement(element: ElementNode, encoding: Encoding, depth: number, writer: Writer): Out {
    const group = element.tag >>> 16;
    if (group % 2 === 1 || (element.tag & 0xffff) === 0) return this.removed();
    const entry = profileEntryFor(element.tag);
    if (element.items === undefined && this.isEmpty(element)) return this.copy(element);
    // Code strings are enumerated or defined terms, "not generally at risk" (PS3.15 E.3.5 Note 3),
    // and they carry the structure (an SR content item's Value Type, Relationship Type): kept.
    if (effectiveVr(element, entry) === 'CS') return this.copy(element);
    // Implicit VR elements the table does not list have no known VR: removed rather than guessed.
    return this.dummy(element, effectiveVr(element, entry), encoding, depth, writer);
  }

  /** The elements of one level, with `insertions` (sorted by tag) merged in, replacing equal tags. */
  elements(
    elements: readonly ElementNode[],
    encoding: Encoding,
    mode: Mode,
    depth: number,
    insertions: readonly Insertion[],
  ): Out {
    const writer = new Writer(encoding);
    const out = newOut();
    const safePrivate = mode === 'profile' ? this.safePrivate(elements) : new Set<number>();
    let next = 0;
    const flush = (before: number): void => {
      while (next < insertions.length && insertions[next]!.tag < before) {
        append(out, this.insertion(insertions[next]!, writer));
        next += 1;
      }
    };
    for (const element of elements) {
      flush(element.tag);
      if (next < insertions.length && insertions[next]!.tag === element.tag) {
        append(out, this.insertion(insertions[next]!, writer));
        next += 1;
        continue;
      }
      append(
        out,
        mode === 'profile'
          ? this.profileElement(element, encoding, depth, writer, safePrivate)
          : this.dummyElement(element, encoding, depth, writer),
      );
    }
    flush(Number.POSITIVE_INFINITY);
    return out;
  }

  insertion(insertion: Insertion, writer: Writer): Out {
    if (typeof insertion.value === 'string')
      return this.value(insertion.tag, insertion.vr, insertion.value, writer);
    const body = newOut();
    for (const item of insertion.value) {
      const content = newOut();
      for (const element of item) append(content, this.insertion(element, writer));
      push(body, writer.itemHeader(ITEM, content.length));
      append(body, content);
    }
    const out = newOut();
    push(out, writer.header(insertion.tag, insertion.vr, body.length));
    append(out, body);
    out.changed = true;
    return out;
  }
}

/**
 * The de-identified data set: `elements` (the top level of the data set in `ctx.bytes`) with the
 * profile applied and `insertions` merged in. Throws on nothing but programming errors: what the
 * reader accepted, the rewriter can write.
 */
export function rewriteDataSet(
  elements: readonly ElementNode[],
  encoding: Encoding,
  ctx: RewriteContext,
  insertions: readonly Insertion[],
): Uint8Array {
  const sorted = [...insertions].sort((a, b) => a.tag - b.tag);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.tag === sorted[i - 1]!.tag)
      throw new Error(`insertion ${formatTag(sorted[i]!.tag)} given twice`);
  }
  const out = new Rewriter(ctx).elements(elements, encoding, 'profile', 0, sorted);
  return concat(out.chunks);
}
