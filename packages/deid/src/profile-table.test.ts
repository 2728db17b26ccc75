/**
 * Every attribute of PS3.15 Table E.1-1 (2024b), checked on a data set that holds all of them:
 * the action the Basic Profile and each option prescribe is the action found in the output, read
 * back by dicom-parser. The expected actions come from the reference table in testing/ (scraped
 * from the standard by another project than the one the implementation's table comes from), and
 * the two tables must agree row by row.
 */
import { describe, expect, it } from 'vitest';
import type { DataSet as ParsedDataSet, Element } from 'dicom-parser';
import { TransferSyntax } from '@cxr/dicom';
import { writeDicom } from '@cxr/dicom/testing';
import { deidentifyObject } from './deidentify.js';
import type { OptionColumn, ProfileOptions } from './options.js';
import { PROFILE_ENTRIES, type ProfileEntry } from './profile.js';
import { DeidSession, generateKey } from './session.js';
import {
  dataSetRows,
  marker,
  occurrences,
  parseOutput,
  parserKey,
  profileDataSet,
  REFERENCE_ROWS,
  rowTag,
  rowVr,
  testValue,
} from './testing/index.js';
import { cleanDescriptor, DUMMY_TEXT } from './values.js';

const INPUT = writeDicom(profileDataSet());
const INPUT_PARSED = parseOutput(INPUT);
const ROWS = dataSetRows();
const PATIENT_NAME = 0x00100010;
const PATIENT_ID = 0x00100020;

function run(options: ProfileOptions): { out: ParsedDataSet; bytes: Uint8Array; session: DeidSession } {
  const session = new DeidSession(generateKey(), options);
  const { bytes } = deidentifyObject(INPUT, session);
  return { out: parseOutput(bytes), bytes, session };
}

function text(out: ParsedDataSet, tagNumber: number): string | undefined {
  const element = out.elements[parserKey(tagNumber)];
  if (element === undefined) return undefined;
  return Buffer.from(out.byteArray.subarray(element.dataOffset, element.dataOffset + element.length))
    .toString('latin1')
    .replace(/[\0 ]+$/, '');
}

/** The value bytes of an element, as stored. */
function raw(data: ParsedDataSet, tagNumber: number): Uint8Array | undefined {
  const element = data.elements[parserKey(tagNumber)];
  return element === undefined
    ? undefined
    : Uint8Array.from(data.byteArray.subarray(element.dataOffset, element.dataOffset + element.length));
}

function original(entry: ProfileEntry): string {
  const value = testValue(entry, ROWS.indexOf(entry));
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('latin1');
  if (Array.isArray(value) && typeof value[0] === 'number') return String(value[0]);
  return '';
}

function itemText(element: Element, tagNumber: number): string | undefined {
  const item = element.items?.[0]?.dataSet;
  return item === undefined ? undefined : text(item, tagNumber);
}

const UID = /^2\.25\.[1-9]\d*$/;

/** What an action looks like in the output for one attribute (the input value is non-empty). */
function expectAction(code: string, entry: ProfileEntry, out: ParsedDataSet, bytes: Uint8Array): void {
  const tagNumber = rowTag(entry);
  const element = out.elements[parserKey(tagNumber)];
  const vr = rowVr(entry);
  const where = `${entry.tag} ${entry.name} (${code})`;
  const before = original(entry);
  switch (code) {
    case 'X':
      expect(element, where).toBeUndefined();
      break;
    case 'Z':
    case 'X/Z':
      if (tagNumber === PATIENT_NAME || tagNumber === PATIENT_ID) {
        expect(text(out, tagNumber), where).toMatch(/^ANON-[0-9A-Z]{12}\^?$/);
        break;
      }
      expect(element, where).toBeDefined();
      if (vr === 'SQ') expect(element?.items ?? [], where).toHaveLength(0);
      else expect(element?.length, where).toBe(0);
      break;
    case 'D':
    case 'Z/D':
    case 'X/D':
    case 'X/Z/D':
      if (tagNumber === PATIENT_ID) {
        expect(text(out, tagNumber), where).toMatch(/^ANON-[0-9A-Z]{12}$/);
        break;
      }
      expect(element, where).toBeDefined();
      if (vr === 'SQ') {
        // D on a sequence is D on all of its contents: dummies, and replacement UIDs.
        expect(itemText(element!, 0x00080104), where).toBe(DUMMY_TEXT);
        expect(itemText(element!, 0x00081155), where).toMatch(UID);
      } else if (vr === 'UI') {
        expect(text(out, tagNumber), where).toMatch(UID);
      } else {
        expect(element!.length, where).toBeGreaterThan(0);
        expect(text(out, tagNumber), where).not.toBe(before);
      }
      break;
    case 'U':
      expect(text(out, tagNumber), where).toMatch(UID);
      break;
    case 'X/Z/U*':
      // The references stay, their instance UIDs replaced.
      expect(element?.items, where).toHaveLength(1);
      expect(itemText(element!, 0x00081155), where).toMatch(UID);
      break;
    default:
      throw new Error(`${where}: no expectation for action ${code}`);
  }
  // The original value is gone from the whole file, not only from this attribute (values with
  // a marker or an original UID: a short number or date could occur by chance in a new UID).
  if (before.includes(marker(tagNumber)) || before.startsWith('1.2.826.0.1.3680043.10.9999.')) {
    expect(occurrences(bytes, before), where).toBe(0);
  }
}

describe('PS3.15 Table E.1-1: the implementation table against the reference', () => {
  it('lists the same attributes with the same Basic Profile action, row by row', () => {
    const implementation = new Map(PROFILE_ENTRIES.map((entry) => [entry.tag, entry.basic]));
    expect(REFERENCE_ROWS.length).toBeGreaterThan(600);
    for (const row of REFERENCE_ROWS) {
      expect(implementation.get(row.tag), `${row.tag} ${row.name}`).toBe(row.basic);
    }
    // The reference leaves out only the row for all private attributes.
    expect(
      PROFILE_ENTRIES.map((e) => e.tag).filter((tag) => !REFERENCE_ROWS.some((r) => r.tag === tag)),
    ).toEqual(['gggg,eeee odd']);
  });
});

describe('the Basic Profile applied to every attribute of Table E.1-1', () => {
  const { out, bytes } = run({ retain: [], clean: [] });
  const reference = new Map(REFERENCE_ROWS.map((row) => [row.tag, row.basic]));

  it.each(ROWS.map((entry) => [entry.tag, entry.name, entry] as const))('%s %s', (_tag, _name, entry) => {
    expectAction(reference.get(entry.tag) ?? 'missing', entry, out, bytes);
  });

  it('removes private attributes, every element of the overlay and curve groups, and group lengths', () => {
    for (const key of Object.keys(out.elements)) {
      const group = Number.parseInt(key.slice(1, 5), 16);
      expect(group % 2, key).toBe(0);
      expect(group & 0xff00, key).not.toBe(0x6000);
      expect(group & 0xff00, key).not.toBe(0x5000);
      expect(key.endsWith('0000') && group !== 0x0002, key).toBe(false);
    }
    expect(occurrences(bytes, 'CANARY')).toBe(0);
  });

  it('declares the profile: Patient Identity Removed, the method codes, dates removed', () => {
    expect(text(out, 0x00120062)).toBe('YES');
    expect(text(out, 0x00120063)).toBe('Basic Application Confidentiality Profile');
    const codes = out.elements.x00120064?.items?.map((item) => text(item.dataSet!, 0x00080100));
    expect(codes).toEqual(['113100']);
    expect(text(out, 0x00280303)).toBe('REMOVED');
  });
});

describe('the Basic Profile applied to every attribute of Table E.1-1, implicit VR', () => {
  // No VR in the bytes: the reader goes by the table's VRs and the values' first items. Without
  // the command group (0000,xxxx), which dicom-parser cannot read back from an implicit VR data set.
  const input = writeDicom(
    profileDataSet().filter((element) => element.tag >>> 16 !== 0),
    { transferSyntaxUid: TransferSyntax.ImplicitVRLittleEndian },
  );
  const { bytes } = deidentifyObject(input, new DeidSession(generateKey(), { retain: [], clean: [] }));
  const out = parseOutput(bytes);
  const reference = new Map(REFERENCE_ROWS.map((row) => [row.tag, row.basic]));

  it('keeps the transfer syntax', () => {
    expect(out.string('x00020010')).toBe(TransferSyntax.ImplicitVRLittleEndian);
  });

  it.each(
    ROWS.filter((entry) => !entry.tag.startsWith('0000')).map(
      (entry) => [entry.tag, entry.name, entry] as const,
    ),
  )('%s %s', (_tag, _name, entry) => {
    expectAction(reference.get(entry.tag) ?? 'missing', entry, out, bytes);
  });
});

/** The option columns `retain`/`clean` names select, as the table calls them. */
const OPTIONS: readonly { readonly options: ProfileOptions; readonly column: OptionColumn }[] = [
  { options: { retain: ['dates'], clean: [] }, column: 'fullDates' },
  { options: { retain: ['modified-dates'], clean: [] }, column: 'modifiedDates' },
  { options: { retain: ['uids'], clean: [] }, column: 'uids' },
  { options: { retain: ['device'], clean: [] }, column: 'device' },
  { options: { retain: ['institution'], clean: [] }, column: 'institution' },
  { options: { retain: ['patient-characteristics'], clean: [] }, column: 'patientCharacteristics' },
  { options: { retain: [], clean: ['descriptors'] }, column: 'cleanDescriptors' },
];

const DAY = 24 * 60 * 60 * 1000;
function days(from: string, to: string): number {
  const at = (d: string): number =>
    Date.UTC(Number(d.slice(0, 4)), Number(d.slice(4, 6)) - 1, Number(d.slice(6, 8)));
  return Math.round((at(to) - at(from)) / DAY);
}

describe.each(OPTIONS)('option $column applied to every attribute it lists', ({ options, column }) => {
  const { out, bytes, session } = run(options);
  const rows = ROWS.filter((entry) => entry.options[column] !== undefined);
  const offset = session.state().patients[0]?.dateOffsetDays ?? 0;

  it('lists attributes', () => {
    expect(rows.length).toBeGreaterThan(0);
  });

  it.each(rows.map((entry) => [entry.tag, entry.name, entry] as const))('%s %s', (_tag, _name, entry) => {
    const tagNumber = rowTag(entry);
    const vr = rowVr(entry);
    const where = `${entry.tag} ${entry.name} (${column} ${entry.options[column]})`;
    const element = out.elements[parserKey(tagNumber)];
    // Another option's K could apply too; only this option is selected here.
    if (entry.options[column] === 'K') {
      expect(element, where).toBeDefined();
      if (vr === 'SQ') {
        expect(itemText(element!, 0x00080104), where).toBe(`ITEM ${marker(tagNumber)}`);
      } else {
        expect(raw(out, tagNumber), where).toEqual(raw(INPUT_PARSED, tagNumber));
      }
      return;
    }
    // C: the option's cleaner where one fits, the Basic Profile action otherwise.
    const before = original(entry);
    if (column === 'modifiedDates' && (vr === 'DA' || vr === 'DT')) {
      const after = text(out, tagNumber) ?? '';
      expect(days(before.slice(0, 8), after.slice(0, 8)), where).toBe(offset);
      expect(after.slice(8), where).toBe(before.slice(8));
      return;
    }
    if (column === 'modifiedDates' && vr === 'TM') {
      expect(text(out, tagNumber), where).toBe(before);
      return;
    }
    if (column === 'cleanDescriptors' && ['LO', 'LT', 'SH', 'ST', 'UT', 'UC', 'CS', 'AE'].includes(vr)) {
      expect(text(out, tagNumber), where).toBe(cleanDescriptor(before));
      expect(text(out, tagNumber), where).not.toContain(marker(tagNumber));
      return;
    }
    expectAction(entry.basic, entry, out, bytes);
  });
});

describe('the date options', () => {
  it('modified dates: one offset of 1 to 3652 days back for the patient, declared MODIFIED', () => {
    const { out, session } = run({ retain: ['modified-dates'], clean: [] });
    const offset = session.state().patients[0]?.dateOffsetDays ?? 0;
    expect(offset).toBeLessThanOrEqual(-1);
    expect(offset).toBeGreaterThanOrEqual(-3652);
    expect(text(out, 0x00280303)).toBe('MODIFIED');
    expect(out.elements.x00120064?.items?.map((item) => text(item.dataSet!, 0x00080100))).toEqual([
      '113100',
      '113107',
    ]);
  });

  it('full dates: declared UNMODIFIED', () => {
    const { out } = run({ retain: ['dates'], clean: [] });
    expect(text(out, 0x00280303)).toBe('UNMODIFIED');
  });
});
