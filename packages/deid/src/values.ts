/**
 * Replacement values: the dummy value of each VR (action D), date shifting (the modified-dates
 * option) and descriptor cleaning (the clean-descriptors option). Pure string and byte functions.
 */

/** The dummy text of action D: the same for every attribute, so it can be recognised as a dummy. */
export const DUMMY_TEXT = 'ANONYMIZED';
/** The dummy date, time and date-time (January 1st 1900: no real acquisition date). */
export const DUMMY_DATE = '19000101';
export const DUMMY_TIME = '000000';
export const DUMMY_DATE_TIME = '19000101000000';

/** VRs whose value is text (PS3.5 6.2); the others are binary. */
const TEXT_VRS = new Set([
  'AE', 'AS', 'CS', 'DA', 'DS', 'DT', 'IS', 'LO', 'LT', 'PN', 'SH', 'ST', 'TM', 'UC', 'UI', 'UR', 'UT',
]); // prettier-ignore

export function isTextVr(vr: string): boolean {
  return TEXT_VRS.has(vr);
}

/** Size of one binary value of a VR; 1 for the byte-stream VRs. */
const BINARY_UNIT: Readonly<Record<string, number>> = {
  AT: 4, FD: 8, FL: 4, OB: 1, OD: 8, OF: 4, OL: 4, OV: 8, OW: 2, SL: 4, SS: 2, SV: 8, UL: 4, UN: 1, US: 2, UV: 8,
}; // prettier-ignore

/**
 * The dummy value of a VR as text (text VRs) or bytes (binary VRs), non-empty and valid for the
 * VR (PS3.15 E.1.1 action D). UI is not handled here: a dummy UID is a replacement UID.
 */
export function dummyValue(vr: string): string | Uint8Array {
  switch (vr) {
    case 'DA':
      return DUMMY_DATE;
    case 'TM':
      return DUMMY_TIME;
    case 'DT':
      return DUMMY_DATE_TIME;
    case 'DS':
    case 'IS':
      return '0';
    case 'AS':
      return '000Y';
    case 'PN':
      // The family name component: a PN without "^" reads as a retired name form.
      return `${DUMMY_TEXT}^`;
    default:
      if (isTextVr(vr)) return DUMMY_TEXT;
      // Zeros: one value, at least two bytes so the length stays even (PS3.5 7.1.1).
      return new Uint8Array(Math.max(2, BINARY_UNIT[vr] ?? 2));
  }
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** YYYYMMDD shifted by `days`, or undefined when the text is not a full valid date. */
function shiftDate(date: string, days: number): string | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})$/.exec(date);
  if (!match) return undefined;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const time = Date.UTC(year, month - 1, day);
  const check = new Date(time);
  if (check.getUTCFullYear() !== year || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day) {
    return undefined;
  }
  const shifted = new Date(time + days * DAY_MS);
  const y = shifted.getUTCFullYear();
  if (y < 1 || y > 9999) return undefined;
  return `${String(y).padStart(4, '0')}${String(shifted.getUTCMonth() + 1).padStart(2, '0')}${String(shifted.getUTCDate()).padStart(2, '0')}`;
}

/**
 * A DA or DT value (backslash-separated values, each a full date, DT with any time and offset
 * after it) with every date moved by `days`; times of day stay as they are, so intervals within a
 * patient are kept exactly. Undefined when a value is not a full date (a partial DT such as
 * "2024", a DA range, an old "YYYY.MM.DD"): the caller then applies the Basic Profile action.
 */
export function shiftDates(value: string, vr: 'DA' | 'DT', days: number): string | undefined {
  const parts = value.split('\\');
  const out: string[] = [];
  for (const part of parts) {
    const trimmed = part.trim();
    if (trimmed === '') {
      out.push('');
      continue;
    }
    const date = vr === 'DA' ? trimmed : trimmed.slice(0, 8);
    if (vr === 'DT' && !/^\d{8}(\d{2,}(\.\d+)?)?([+-]\d{4})?$/.test(trimmed)) return undefined;
    const shifted = shiftDate(date, days);
    if (shifted === undefined) return undefined;
    out.push(vr === 'DA' ? shifted : `${shifted}${trimmed.slice(8)}`);
  }
  return out.join('\\');
}

/**
 * Words kept by the clean-descriptors option: the technical vocabulary of chest and general
 * radiography descriptions (views, positions, body parts, modality words). Everything else is
 * dropped, which is the "retain only values known to be useful and safe" approach of PS3.15
 * E.3.5 Note 2: a name, a date, an ID or an unknown word never survives. (No "DR": it is also a
 * title, as in "Dr. Smith".)
 */
const SAFE_DESCRIPTOR_WORDS = new Set(
  `
  CHEST THORAX THORACIC LUNG LUNGS HEART CARDIAC MEDIASTINUM RIB RIBS STERNUM CLAVICLE CLAVICLES
  SHOULDER SHOULDERS ABDOMEN ABDOMINAL ABD PELVIS SPINE CERVICAL LUMBAR NECK AIRWAY DIAPHRAGM
  PA AP LAT LATERAL LL RL LLAT RLAT DECUBITUS DECUB OBLIQUE OBL LORDOTIC APICAL FRONTAL PROJECTION
  ERECT UPRIGHT SUPINE PRONE SEMI SEMIERECT SITTING STANDING PORTABLE PORT MOBILE BEDSIDE WARD
  INSPIRATION EXPIRATION INSP EXP INSPIRATORY EXPIRATORY
  LEFT RIGHT BILATERAL BOTH L R
  VIEW VIEWS IMAGE IMAGES SERIES STUDY EXAM EXAMINATION ROUTINE STANDARD DEFAULT
  XR X RAY RAYS XRAY CR DX RADIOGRAPH RADIOGRAPHY RADIOGRAPHIC PLAIN FILM FILMS
  ADULT ADULTS PEDIATRIC PAEDIATRIC PED PAED CHILD INFANT NEONATE NEONATAL
  FOR PRESENTATION PROCESSING PROCESSED ORIGINAL PRIMARY SECONDARY DERIVED
  AND WITH WITHOUT W WO OF ONLY ONE TWO THREE SINGLE
  SOFT TISSUE BONE GRID NO
  `
    .split(/\s+/)
    .filter((word) => word !== ''),
);

/**
 * A descriptor (Study Description, Series Description, Protocol Name...) reduced to the safe
 * words it contains, upper case, single spaces, plus small numbers (at most 2 digits: "2 VIEWS").
 * Empty when nothing safe is left; the caller then applies the Basic Profile action.
 */
export function cleanDescriptor(value: string): string {
  const kept: string[] = [];
  for (const chunk of value.toUpperCase().split(/[^A-Z0-9./:-]+/)) {
    // Digits joined by - / . or : are a date, a time or an ID ("2024-01-15", "12/3"): dropped
    // whole, never kept as small numbers.
    if (/\d/.test(chunk) && /[./:-]/.test(chunk)) continue;
    for (const word of chunk.split(/[^A-Z0-9]+/)) {
      if (word === '') continue;
      if (SAFE_DESCRIPTOR_WORDS.has(word) || /^\d{1,2}$/.test(word)) kept.push(word);
    }
  }
  return kept.join(' ');
}
