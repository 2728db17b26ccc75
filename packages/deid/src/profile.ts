/**
 * The Basic Application Level Confidentiality Profile of PS3.15 Annex E as data: Table E.1-1
 * (src/data/ps3.15-e.1-1.json, with its provenance) and the options this package offers. Pure:
 * what to do with an attribute, never how.
 */
import table from './data/ps3.15-e.1-1.json' with { type: 'json' };
import { OPTION_COLUMNS, type OptionColumn } from './options.js';

/** Action codes of PS3.15 Table E.1-1a. */
export const ACTION_CODES = ['D', 'Z', 'X', 'K', 'C', 'U', 'Z/D', 'X/Z', 'X/D', 'X/Z/D', 'X/Z/U*'] as const;
export type ActionCode = (typeof ACTION_CODES)[number];

/** One row of Table E.1-1. */
export interface ProfileEntry {
  /** 8 lower-case hex digits; `x` for a repeating-group digit (50xxxxxx, 60xx3000). */
  readonly tag: string;
  readonly name: string;
  /** The attribute's VR in the PS3.6 data dictionary ("OB or OW" when it has several). */
  readonly vr?: string;
  readonly basic: ActionCode;
  /** The action of each option column that has one (K or C). */
  readonly options: Readonly<Partial<Record<OptionColumn, 'K' | 'C'>>>;
}

/** Where the table came from (edition and source), for documentation and the map file. */
export const PROFILE_TABLE_SOURCE = { edition: table.edition, ...table.source } as const;

function isActionCode(value: string): value is ActionCode {
  return (ACTION_CODES as readonly string[]).includes(value);
}

function loadEntries(): ProfileEntry[] {
  return table.attributes.map((row) => {
    const record = row as Readonly<Record<string, string | undefined>>;
    const basic = record.basic ?? '';
    if (!isActionCode(basic)) throw new Error(`Table E.1-1 ${row.tag}: unknown action "${basic}"`);
    const options: Partial<Record<OptionColumn, 'K' | 'C'>> = {};
    for (const column of OPTION_COLUMNS) {
      const value = record[column];
      if (value === undefined) continue;
      if (value !== 'K' && value !== 'C') throw new Error(`Table E.1-1 ${row.tag}: ${column} "${value}"`);
      options[column] = value;
    }
    return {
      tag: row.tag,
      name: row.name,
      ...(record.vr === undefined ? {} : { vr: record.vr }),
      basic,
      options,
    };
  });
}

/** Every row of Table E.1-1, in tag order. */
export const PROFILE_ENTRIES: readonly ProfileEntry[] = loadEntries();

const BY_TAG = new Map<number, ProfileEntry>();
let curveEntry: ProfileEntry | undefined;
let overlayDataEntry: ProfileEntry | undefined;
let overlayCommentsEntry: ProfileEntry | undefined;
let privateEntry: ProfileEntry | undefined;
for (const entry of PROFILE_ENTRIES) {
  if (/^[0-9a-f]{8}$/.test(entry.tag)) BY_TAG.set(Number.parseInt(entry.tag, 16), entry);
  else if (entry.tag === '50xxxxxx') curveEntry = entry;
  else if (entry.tag === '60xx3000') overlayDataEntry = entry;
  else if (entry.tag === '60xx4000') overlayCommentsEntry = entry;
  else if (entry.tag === 'gggg,eeee odd') privateEntry = entry;
  else throw new Error(`Table E.1-1: unexpected tag pattern ${entry.tag}`);
}
if (!curveEntry || !overlayDataEntry || !overlayCommentsEntry || !privateEntry) {
  throw new Error('Table E.1-1 lacks its curve, overlay or private attribute rows');
}
/** The row for Curve Data (50xx,xxxx): every element of a curve group. */
export const CURVE_ENTRY: ProfileEntry = curveEntry;
/** The row for Overlay Data (60xx,3000). */
export const OVERLAY_DATA_ENTRY: ProfileEntry = overlayDataEntry;
/** The row for Overlay Comments (60xx,4000). */
export const OVERLAY_COMMENTS_ENTRY: ProfileEntry = overlayCommentsEntry;
/** The row for all private attributes ((gggg,eeee) with gggg odd). */
export const PRIVATE_ENTRY: ProfileEntry = privateEntry;

/** Whether a group is a repeating curve group (5000-501E, even) of PS3.5 7.6. */
export function isCurveGroup(group: number): boolean {
  return (group & 0xff00) === 0x5000 && group % 2 === 0;
}

/** Whether a group is a repeating overlay group (6000-601E, even) of PS3.5 7.6. */
export function isOverlayGroup(group: number): boolean {
  return (group & 0xff00) === 0x6000 && group % 2 === 0 && (group & 0xff) <= 0x1e;
}

/** The Table E.1-1 row of a standard attribute, or undefined when the table does not list it. */
export function profileEntryFor(tag: number): ProfileEntry | undefined {
  const exact = BY_TAG.get(tag);
  if (exact !== undefined) return exact;
  const group = tag >>> 16;
  if (isCurveGroup(group)) return CURVE_ENTRY;
  if (isOverlayGroup(group)) {
    const element = tag & 0xffff;
    if (element === 0x3000) return OVERLAY_DATA_ENTRY;
    if (element === 0x4000) return OVERLAY_COMMENTS_ENTRY;
  }
  return undefined;
}

/** The action a profile gives a row, and which selected options asked for cleaning. */
export interface ResolvedAction {
  /** K when a selected option keeps the attribute, C when one cleans it, else the Basic Profile action. */
  readonly code: ActionCode;
  /** For C: the option columns that asked for it (the cleaner follows from them). */
  readonly cleanBy: readonly OptionColumn[];
  /** The Basic Profile action, which applies when no cleaner fits the attribute. */
  readonly basic: ActionCode;
}

/**
 * The action for a row under the selected option columns: an option that keeps it (K) wins,
 * since retaining is what the option is for; otherwise an option that cleans it (C); otherwise
 * the Basic Profile action. (Retain Device Identity and Retain UIDs both keep Device UID, etc.)
 */
export function resolveAction(entry: ProfileEntry, columns: readonly OptionColumn[]): ResolvedAction {
  const cleanBy: OptionColumn[] = [];
  for (const column of columns) {
    const action = entry.options[column];
    if (action === 'K') return { code: 'K', cleanBy: [], basic: entry.basic };
    if (action === 'C') cleanBy.push(column);
  }
  return cleanBy.length > 0
    ? { code: 'C', cleanBy, basic: entry.basic }
    : { code: entry.basic, cleanBy, basic: entry.basic };
}
