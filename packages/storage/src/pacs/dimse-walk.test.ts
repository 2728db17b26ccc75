import { describe, expect, it } from 'vitest';
import type { DimseFilters } from './dimse-uri.js';
import {
  decodeWalkCursor,
  encodeWalkCursor,
  studyDays,
  walkDimse,
  type WalkFind,
  type WalkLevel,
} from './dimse-walk.js';

interface FakeInstance {
  readonly day: string;
  readonly time: string;
  readonly study: string;
  readonly series: string;
  readonly sop: string;
  readonly modality: string;
  readonly bodyPart?: string;
  readonly patientId?: string;
}

/** A PACS as a table: C-FIND with StudyDate/StudyTime range and UID matching, like Orthanc's. */
function fakePacs(instances: readonly FakeInstance[], options: { cap?: number } = {}) {
  const calls: { level: WalkLevel; keys: Readonly<Record<string, string>> }[] = [];
  const inTime = (time: string, range: string): boolean => {
    if (range === '') return true;
    const [from = '', to = ''] = range.split('-');
    return time >= from && time <= to;
  };
  const find: WalkFind = (level, keys) => {
    calls.push({ level, keys });
    if (level === 'STUDY') {
      const matching = instances.filter(
        (i) =>
          (keys.StudyDate === '' || i.day === keys.StudyDate) &&
          inTime(i.time, keys.StudyTime ?? '') &&
          (keys.PatientID === '' || i.patientId === keys.PatientID),
      );
      const studies = new Map(matching.map((i) => [i.study, i]));
      if (options.cap !== undefined && studies.size > options.cap) {
        return Promise.resolve(
          [...studies.values()].slice(0, options.cap).map((i) => ({ StudyInstanceUID: i.study })),
        );
      }
      return Promise.resolve(
        [...studies.values()].map((i) => ({
          StudyInstanceUID: i.study,
          ModalitiesInStudy: [
            ...new Set(instances.filter((j) => j.study === i.study).map((j) => j.modality)),
          ],
          PatientID: i.patientId ?? '',
        })),
      );
    }
    if (level === 'SERIES') {
      const series = new Map(
        instances.filter((i) => i.study === keys.StudyInstanceUID).map((i) => [i.series, i]),
      );
      return Promise.resolve(
        [...series.values()].map((i) => ({
          SeriesInstanceUID: i.series,
          Modality: i.modality,
          BodyPartExamined: i.bodyPart ?? '',
        })),
      );
    }
    return Promise.resolve(
      instances
        .filter((i) => i.study === keys.StudyInstanceUID && i.series === keys.SeriesInstanceUID)
        .map((i) => ({ SOPInstanceUID: i.sop })),
    );
  };
  return { find, calls };
}

const ARCHIVE: FakeInstance[] = [
  {
    day: '20240102',
    time: '090000',
    study: '1.2.2',
    series: '1.2.2.1',
    sop: '1.2.2.1.2',
    modality: 'DX',
    bodyPart: 'CHEST',
  },
  {
    day: '20240102',
    time: '090000',
    study: '1.2.2',
    series: '1.2.2.1',
    sop: '1.2.2.1.1',
    modality: 'DX',
    bodyPart: 'CHEST',
  },
  {
    day: '20240101',
    time: '130000',
    study: '1.2.1',
    series: '1.2.1.9',
    sop: '1.2.1.9.1',
    modality: 'CR',
    bodyPart: 'CHEST',
  },
  { day: '20240101', time: '130000', study: '1.2.1', series: '1.2.1.8', sop: '1.2.1.8.1', modality: 'MR' },
  { day: '20240101', time: '080000', study: '1.2.0', series: '1.2.0.1', sop: '1.2.0.1.1', modality: 'CT' },
  {
    day: '20240103',
    time: '100000',
    study: '1.2.3',
    series: '1.2.3.1',
    sop: '1.2.3.1.1',
    modality: 'CR',
    bodyPart: 'HAND',
  },
];

const filters = (extra: Partial<DimseFilters> = {}): DimseFilters => ({
  since: '20240101',
  until: '20240103',
  modalities: ['CR', 'DX'],
  ...extra,
});

async function listAll(iterable: AsyncIterable<{ sop: string }>): Promise<string[]> {
  const sops: string[] = [];
  for await (const { sop } of iterable) sops.push(sop);
  return sops;
}

describe('walkDimse', () => {
  it('lists the matching instances day by day in UID order, other modalities excluded', async () => {
    const { find, calls } = fakePacs(ARCHIVE);
    expect(await listAll(walkDimse(find, filters()))).toEqual([
      '1.2.1.9.1',
      '1.2.2.1.1',
      '1.2.2.1.2',
      '1.2.3.1.1',
    ]);
    // One study query per day, and no series query for the CT-only study.
    expect(calls.filter((c) => c.level === 'STUDY').map((c) => c.keys.StudyDate)).toEqual([
      '20240101',
      '20240102',
      '20240103',
    ]);
    expect(calls.some((c) => c.level === 'SERIES' && c.keys.StudyInstanceUID === '1.2.0')).toBe(false); // Without patient filters no patient attribute is asked for at any level.
    for (const { keys } of calls) {
      expect(Object.keys(keys).filter((key) => /^Patient|^AccessionNumber/.test(key))).toEqual([]);
    }
  });

  it('matches body part on the series and stops at the limit', async () => {
    const { find } = fakePacs(ARCHIVE);
    expect(await listAll(walkDimse(find, filters({ bodyPart: 'chest' })))).toEqual([
      '1.2.1.9.1',
      '1.2.2.1.1',
      '1.2.2.1.2',
    ]);
    expect(await listAll(walkDimse(find, filters({ limit: 2 })))).toEqual(['1.2.1.9.1', '1.2.2.1.1']);
  });

  it('resumes right after the cursor of any listed instance, listing each instance once', async () => {
    const { find } = fakePacs(ARCHIVE);
    const all: { sop: string; cursor: string }[] = [];
    for await (const entry of walkDimse(find, filters()))
      all.push({ sop: entry.sop, cursor: encodeWalkCursor(entry.cursor) });
    for (let i = 0; i < all.length; i++) {
      const cursor = decodeWalkCursor(all[i]!.cursor);
      const rest = await listAll(walkDimse(find, filters(), { cursor }));
      expect(rest).toEqual(all.slice(i + 1).map((e) => e.sop));
    }
  });

  it('resuming re-queries only the day of the cursor and after', async () => {
    const { find, calls } = fakePacs(ARCHIVE);
    const cursor = { day: '20240102', study: '1.2.2', series: '1.2.2.1', sop: '1.2.2.1.1' };
    expect(await listAll(walkDimse(find, filters(), { cursor }))).toEqual(['1.2.2.1.2', '1.2.3.1.1']);
    expect(calls.filter((c) => c.level === 'STUDY').map((c) => c.keys.StudyDate)).toEqual([
      '20240102',
      '20240103',
    ]);
  });

  it('splits a day whose study query the PACS caps into StudyTime windows, missing nothing', async () => {
    const busy: FakeInstance[] = Array.from({ length: 9 }, (_, i) => ({
      day: '20240101',
      time: `${String(i * 2).padStart(2, '0')}3000`,
      study: `1.3.${i + 1}`,
      series: `1.3.${i + 1}.1`,
      sop: `1.3.${i + 1}.1.1`,
      modality: 'CR',
    }));
    const { find, calls } = fakePacs(busy, { cap: 3 });
    const sops = await listAll(walkDimse(find, filters({ until: '20240101' }), { maxMatches: 3 }));
    expect(sops.sort()).toEqual(busy.map((i) => i.sop).sort());
    expect(calls.filter((c) => c.level === 'STUDY' && c.keys.StudyTime !== '').length).toBeGreaterThan(1);
  });

  it('refuses to guess when a query without a date range is capped', async () => {
    const { find } = fakePacs(ARCHIVE, { cap: 2 });
    await expect(listAll(walkDimse(find, { modalities: ['CR', 'DX'] }, { maxMatches: 2 }))).rejects.toThrow(
      /since= and until=/,
    );
  });

  it('sends patient filters to the PACS and checks the answers again', async () => {
    const withPatients = ARCHIVE.map((i) => ({ ...i, patientId: i.study === '1.2.2' ? 'P2' : 'P1' }));
    const { find, calls } = fakePacs(withPatients);
    expect(await listAll(walkDimse(find, filters({ patientId: 'P2' })))).toEqual(['1.2.2.1.1', '1.2.2.1.2']);
    expect(calls.find((c) => c.level === 'STUDY')?.keys.PatientID).toBe('P2');
  });
});

describe('studyDays', () => {
  it('walks calendar days across month ends', () => {
    expect([...studyDays('20240228', '20240302')]).toEqual(['20240228', '20240229', '20240301', '20240302']);
  });
});
