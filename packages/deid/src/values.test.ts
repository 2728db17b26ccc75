import { describe, expect, it } from 'vitest';
import { cleanDescriptor, dummyValue, shiftDates } from './values.js';

describe('shiftDates', () => {
  it('moves dates across months, years and leap days, keeping times and offsets', () => {
    expect(shiftDates('20240301', 'DA', -1)).toBe('20240229');
    expect(shiftDates('20250101', 'DA', -366)).toBe('20240101');
    expect(shiftDates('20240115\\20240116', 'DA', -15)).toBe('20231231\\20240101');
    expect(shiftDates('20240115101112.123456+0100', 'DT', -15)).toBe('20231231101112.123456+0100');
    expect(shiftDates('20240115', 'DT', -1)).toBe('20240114');
  });

  it('refuses what is not a full date (the caller then removes or replaces it)', () => {
    expect(shiftDates('2024', 'DT', -1)).toBeUndefined();
    expect(shiftDates('202401', 'DT', -1)).toBeUndefined();
    expect(shiftDates('2024.01.15', 'DA', -1)).toBeUndefined();
    expect(shiftDates('20240115-20240120', 'DA', -1)).toBeUndefined();
    expect(shiftDates('20240230', 'DA', -1)).toBeUndefined();
  });
});

describe('cleanDescriptor', () => {
  it('keeps the safe technical words and drops names, dates, IDs and unknown words', () => {
    expect(cleanDescriptor('CT chest abdomen pelvis - 55F Dr. Smith')).toBe('CHEST ABDOMEN PELVIS');
    expect(cleanDescriptor('Chest PA+LAT 2 views 2024-01-15 MRN 123456')).toBe('CHEST PA LAT 2 VIEWS');
    expect(cleanDescriptor('Thorax^pa_erect (portable)')).toBe('THORAX PA ERECT PORTABLE');
    expect(cleanDescriptor('DOE^JOHN')).toBe('');
  });
});

describe('dummyValue', () => {
  it('is non-empty and valid for its VR', () => {
    expect(dummyValue('DA')).toBe('19000101');
    expect(dummyValue('TM')).toBe('000000');
    expect(dummyValue('DT')).toBe('19000101000000');
    expect(dummyValue('PN')).toBe('ANONYMIZED^');
    expect(dummyValue('AS')).toBe('000Y');
    expect(dummyValue('DS')).toBe('0');
    expect(dummyValue('US')).toEqual(new Uint8Array(2));
    expect(dummyValue('FD')).toEqual(new Uint8Array(8));
    expect(dummyValue('OB')).toEqual(new Uint8Array(2));
  });
});
