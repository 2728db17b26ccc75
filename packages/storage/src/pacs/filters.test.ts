import { describe, expect, it } from 'vitest';
import { ObjectSourceConfigError } from '../errors.js';
import {
  isPacsUri,
  mergePacsFilterInput,
  pacsFilterInputFromQuery,
  pacsFilterKey,
  pacsMatchingKeys,
  parsePacsFilters,
  parseStudyDateFilter,
  studyDateWalkRange,
} from './filters.js';

describe('PACS filters', () => {
  it('defaults to chest radiographs (CR and DX) over the whole archive', () => {
    expect(parsePacsFilters({})).toEqual({ modalities: ['CR', 'DX'] });
  });

  it('reads flag names and DICOM keywords from a query string, in any case', () => {
    const input = pacsFilterInputFromQuery(
      new URLSearchParams(
        'StudyDate=20240101-20240131&modality=DX&Modality=CR&BODY-PART=CHEST&StationName=ST1&limit=50',
      ),
    );
    expect(parsePacsFilters(input)).toEqual({
      studyDate: { from: '20240101', to: '20240131' },
      modalities: ['CR', 'DX'],
      bodyPart: 'CHEST',
      station: 'ST1',
      limit: 50,
    });
  });

  it('accepts comma and backslash modality lists, and * for any modality', () => {
    expect(parsePacsFilters({ modality: 'dx,CR' }).modalities).toEqual(['CR', 'DX']);
    expect(parsePacsFilters({ modality: 'CR\\DX' }).modalities).toEqual(['CR', 'DX']);
    expect(parsePacsFilters({ modality: '*' }).modalities).toEqual([]);
  });

  it('lets a flag replace the URI value of the same filter', () => {
    const merged = mergePacsFilterInput({ modality: ['CR'], 'body-part': 'CHEST' }, { modality: 'DX' });
    expect(parsePacsFilters(merged)).toMatchObject({ modalities: ['DX'], bodyPart: 'CHEST' });
  });

  it('parses study date ranges with open ends and refuses impossible ones', () => {
    expect(parseStudyDateFilter('20240101-20240131')).toEqual({ from: '20240101', to: '20240131' });
    expect(parseStudyDateFilter('20240229')).toEqual({ from: '20240229', to: '20240229' });
    expect(parseStudyDateFilter('20240101-')).toEqual({ from: '20240101' });
    expect(parseStudyDateFilter('-20240101')).toEqual({ to: '20240101' });
    for (const bad of ['20230229', '2024-01-01', '20240131-20240101', '-', '', '20240101-2024']) {
      expect(() => parseStudyDateFilter(bad), bad).toThrow(ObjectSourceConfigError);
    }
    expect(studyDateWalkRange(undefined, '20261209')).toEqual({ from: '19000101', to: '20261209' });
    expect(studyDateWalkRange({ from: '20240101' }, '20261209')).toEqual({
      from: '20240101',
      to: '20261209',
    });
  });

  it('never repeats a Patient ID or Accession Number in an error', () => {
    const secret = 'CANARY-ID-0001\\x';
    for (const name of ['patient-id', 'accession'] as const) {
      let message = '';
      try {
        parsePacsFilters({ [name]: secret });
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(new RegExp(`^${name} must be`));
      expect(message).not.toContain('CANARY');
    }
    // Other filters say what they got.
    expect(() => parsePacsFilters({ station: 'a\\b' })).toThrow(/got "a\\b"/);
    expect(() => pacsFilterInputFromQuery(new URLSearchParams('PatientName=CANARY'))).toThrow(
      /unknown PACS filter "PatientName"/,
    );
  });

  it('keys a filter set by a hash that changes with any value and never spells one out', () => {
    const a = parsePacsFilters({ 'patient-id': 'CANARY-ID-0001' });
    const b = parsePacsFilters({ 'patient-id': 'CANARY-ID-0002' });
    expect(pacsFilterKey(a)).toMatch(/^[0-9a-f]{16}$/);
    expect(pacsFilterKey(a)).not.toBe(pacsFilterKey(b));
    expect(pacsFilterKey(a)).toBe(pacsFilterKey(parsePacsFilters({ 'patient-id': 'CANARY-ID-0001' })));
    expect(pacsMatchingKeys(a)).toEqual({ PatientID: 'CANARY-ID-0001' });
  });

  it('knows which schemes are PACS sources', () => {
    expect(isPacsUri('dicomweb+http://pacs/dicom-web')).toBe(true);
    expect(isPacsUri('DICOMweb+HTTPS://pacs/dicom-web')).toBe(true);
    expect(isPacsUri('dimse://PACS@host:104')).toBe(true);
    expect(isPacsUri('s3://bucket/prefix')).toBe(false);
    expect(isPacsUri('/data/archive')).toBe(false);
  });
});
