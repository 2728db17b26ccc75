/**
 * Test support for the de-identification tests: the independent reference table, a data set
 * holding every attribute of Table E.1-1, an independent reader of the output (dicom-parser, not
 * this package's reader) and dciodvfy. Test-only: production code never imports it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import dicomParser, { type DataSet as ParsedDataSet } from 'dicom-parser';
import { SopClass, tag as makeTag, type DataElement, type Vr } from '@cxr/dicom/testing';
import reference from './ps3.15-e.1-1-basic.reference.json' with { type: 'json' };
import { PROFILE_ENTRIES, type ProfileEntry } from '../profile.js';

/** One row of the reference table (tag, name, Basic Profile action). */
export interface ReferenceRow {
  readonly tag: string;
  readonly name: string;
  readonly basic: string;
}

/** The Basic Profile column of Table E.1-1 as extracted independently (see the file's source). */
export const REFERENCE_ROWS: readonly ReferenceRow[] = reference.attributes;
export const REFERENCE_SOURCE = { edition: reference.edition, ...reference.source };

/** The unique marker of an attribute's test value: Q and its tag in upper-case hex. */
export function marker(tagNumber: number): string {
  return `Q${tagNumber.toString(16).toUpperCase().padStart(8, '0')}`;
}

/** The tag number of a table row; repeating groups become their first group (5000, 6000). */
export function rowTag(row: { readonly tag: string }): number {
  if (row.tag === '50xxxxxx') return 0x50003000;
  return Number.parseInt(row.tag.replace(/x/g, '0'), 16) >>> 0;
}

/** The VR to write a row's attribute with (the first of several; OW for curve and overlay data). */
export function rowVr(entry: ProfileEntry): Vr {
  if (entry.tag === '50xxxxxx' || entry.tag === '60xx3000') return 'OW';
  const vr = (entry.vr ?? 'UN').split(' ')[0]!;
  return vr as Vr;
}

const DAY = 24 * 60 * 60 * 1000;

/** A valid DA for the index-th attribute (distinct dates in 2024-2025). */
export function testDate(index: number): string {
  return new Date(Date.UTC(2024, 0, 1) + index * DAY).toISOString().slice(0, 10).replaceAll('-', '');
}

/** The item every sequence of the test data set holds: a code and a referenced UID. */
export function sequenceItem(tagNumber: number): DataElement[] {
  return [
    { tag: makeTag(0x0008, 0x0100), vr: 'SH', value: 'ITEMCODE' },
    { tag: makeTag(0x0008, 0x0102), vr: 'SH', value: '99TEST' },
    { tag: makeTag(0x0008, 0x0104), vr: 'LO', value: `ITEM ${marker(tagNumber)}` },
    { tag: makeTag(0x0008, 0x1155), vr: 'UI', value: `1.2.826.0.1.3680043.10.9999.${tagNumber}.7` },
  ];
}

/** The test value of an attribute: valid for its VR and holding its marker where the VR allows. */
export function testValue(entry: ProfileEntry, index: number): DataElement['value'] {
  const tagNumber = rowTag(entry);
  const m = marker(tagNumber);
  const vr = rowVr(entry);
  switch (vr) {
    case 'SQ':
      return [sequenceItem(tagNumber)];
    case 'DA':
      return testDate(index);
    case 'TM':
      return `${String(index % 24).padStart(2, '0')}1112`;
    case 'DT':
      return `${testDate(index)}101112`;
    case 'UI':
      return `1.2.826.0.1.3680043.10.9999.${tagNumber}`;
    case 'AS':
      return '042Y';
    case 'DS':
      return '12.5';
    case 'IS':
      return '42';
    case 'PN':
      return `CHEST^${m}`;
    case 'CS':
      return `PA_${m}`;
    case 'AE':
    case 'SH':
      return `PA ${m}`;
    case 'UR':
      return `http://canary.example/${m}`;
    case 'US':
    case 'SS':
      return [7];
    case 'UL':
    case 'SL':
    case 'FL':
    case 'FD':
      return [7];
    case 'OB':
    case 'OW':
    case 'UN':
      return new Uint8Array(Buffer.from(`CANARY${m}`, 'latin1'));
    default:
      // LO, LT, ST, UT, UC: a descriptor with safe words, a marker and a name.
      return `CHEST PA ${m} Smith^John`;
  }
}

/** Rows of the table that the test data set holds as attributes (not the file meta, not "private"). */
export function dataSetRows(): ProfileEntry[] {
  return PROFILE_ENTRIES.filter((entry) => entry.tag !== 'gggg,eeee odd' && !entry.tag.startsWith('0002'));
}

/**
 * A data set with every attribute of Table E.1-1 (each with a marked value; sequences with one
 * item), an overlay and a curve group, and a private block; SOP Class UID so that it reads as DICOM.
 */
export function profileDataSet(): DataElement[] {
  const elements: DataElement[] = dataSetRows().map((entry, index) => ({
    tag: rowTag(entry),
    vr: rowVr(entry),
    value: testValue(entry, index),
  }));
  elements.push(
    { tag: makeTag(0x0008, 0x0016), vr: 'UI', value: SopClass.SecondaryCapture },
    { tag: makeTag(0x5000, 0x0005), vr: 'US', value: [1] },
    { tag: makeTag(0x6000, 0x0010), vr: 'US', value: [4] },
    { tag: makeTag(0x6000, 0x0011), vr: 'US', value: [4] },
    { tag: makeTag(0x0009, 0x0010), vr: 'LO', value: 'ACME PRIVATE' },
    { tag: makeTag(0x0009, 0x1001), vr: 'LO', value: `CANARY PRIVATE ${marker(0x00091001)}` },
  );
  return elements;
}

/** dicom-parser's hook for the deflated syntax: the meta as it is, the data set inflated. */
export function inflater(bytes: Uint8Array, position: number): Uint8Array {
  return new Uint8Array(
    Buffer.concat([bytes.subarray(0, position), inflateRawSync(bytes.subarray(position))]),
  );
}

/** Parses a de-identified file with dicom-parser (independent of this package's reader). */
export function parseOutput(bytes: Uint8Array): ParsedDataSet {
  return dicomParser.parseDicom(bytes, { inflater });
}

/** The key dicom-parser uses for a tag: x + 8 lower-case hex digits. */
export function parserKey(tagNumber: number): string {
  return `x${tagNumber.toString(16).padStart(8, '0')}`;
}

/** dciodvfy's Error lines for a file, values in <...> and [...] blanked so runs compare. */
export function dciodvfyErrors(bytes: Uint8Array): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'cxr-deid-dciodvfy-'));
  try {
    const path = join(dir, 'object.dcm');
    writeFileSync(path, bytes);
    const run = spawnSync('dciodvfy', [path], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    if (run.error !== undefined)
      throw new Error(`dciodvfy could not run (install dicom3tools): ${run.error.message}`);
    return `${run.stdout}${run.stderr}`
      .split('\n')
      .filter((line) => line.startsWith('Error'))
      .map((line) => line.replace(/<[^>]*>/g, '<>').replace(/\[[^\]]*\]/g, '[]'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every offset of `needle` in `haystack` (latin1 bytes). */
export function occurrences(haystack: Uint8Array, needle: string): number {
  const bytes = Buffer.from(haystack.buffer, haystack.byteOffset, haystack.byteLength);
  const pattern = Buffer.from(needle, 'latin1');
  let count = 0;
  for (let at = bytes.indexOf(pattern); at !== -1; at = bytes.indexOf(pattern, at + 1)) count += 1;
  return count;
}
