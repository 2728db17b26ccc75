/**
 * The DICOMweb source against a real PACS (Debian Orthanc with its DICOMweb plugin): QIDO-RS
 * lists exactly the CR and DX instances of the filters, WADO-RS returns the stored bytes, the
 * walk resumes from a cursor, a PACS capping its answers (LimitFindInstances) is walked in split
 * windows until every instance is listed, and a patient filter never shows in the source's
 * identity or cursors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ObjectFetchError } from '../errors.js';
import { createObjectFetcher, openObjectSource } from '../open.js';
import type { PacsObserver } from '../pacs/budget.js';
import { dicomCopy, freshUid, publicDicomFile } from '../testing/dicom-copies.js';
import { startOrthanc, type RunningOrthanc } from '../testing/orthanc.js';
import type { ObjectEntry } from '../types.js';
import { DEFAULT_DICOMWEB_SETTINGS, type DicomwebSettings } from './source.js';

const CR = publicDicomFile('siim_cr_jpegbaseline.dcm');
const DX = publicDicomFile('nih_dx_implicit.dcm');
const CT = publicDicomFile('fo_D_CLUNIE_CT1_RLE_FRAGS.dcm');
const DX_CLASS = '1.2.840.10008.5.1.4.1.1.1.1';
const SECRET_PATIENT = 'CANARY-ID-0001';

const settings: DicomwebSettings = { ...DEFAULT_DICOMWEB_SETTINGS, maxRequestsPerSecond: 0 };

interface Uploaded {
  readonly sop: string;
  readonly bytes: Uint8Array;
}

async function list(uri: string, cursor?: string, pacsFilters = {}): Promise<ObjectEntry[]> {
  const source = openObjectSource(uri, { env: {}, dicomweb: settings, pacsFilters });
  const entries: ObjectEntry[] = [];
  try {
    for await (const entry of source.list(cursor === undefined ? {} : { cursor })) entries.push(entry);
  } finally {
    await source.close();
  }
  return entries;
}

const sopOf = (uri: string): string => uri.slice(uri.lastIndexOf('/') + 1);

/** A valid Study Time (TM) for a second of the day. */
const hhmmss = (second: number): string =>
  [Math.floor(second / 3600), Math.floor(second / 60) % 60, second % 60]
    .map((n) => String(n).padStart(2, '0'))
    .join('');

describe('DICOMweb source on Orthanc', () => {
  let orthanc: RunningOrthanc;
  const wanted: Uploaded[] = [];
  const patientOnes: string[] = [];

  beforeAll(async () => {
    orthanc = await startOrthanc();
    // 24 chest radiographs over three days (CR and DX, several times a day), two of them of the
    // patient the cohort filter asks for; 3 CT the default modality filter excludes; 2 CR
    // outside the date range.
    for (let i = 0; i < 24; i++) {
      const dx = i % 3 === 0;
      const sop = freshUid();
      const bytes = await dicomCopy(dx ? DX : CR, {
        sopInstanceUid: sop,
        ...(dx ? { modality: 'DX', sopClassUid: DX_CLASS } : { modality: 'CR' }),
        studyDate: `2024030${1 + (i % 3)}`,
        studyTime: hhmmss(8 * 3600 + i * 900),
        ...(i < 2 ? { patientId: SECRET_PATIENT } : { patientId: `OTHER-${i}` }),
      });
      await orthanc.upload(bytes);
      wanted.push({ sop, bytes });
      if (i < 2) patientOnes.push(sop);
    }
    // Two without any Study Time: a day query finds them, no time range does.
    for (let i = 0; i < 2; i++) {
      const sop = freshUid();
      const bytes = await dicomCopy(CR, {
        sopInstanceUid: sop,
        modality: 'CR',
        studyDate: '20240302',
        studyTime: null,
      });
      await orthanc.upload(bytes);
      wanted.push({ sop, bytes });
    }
    for (let i = 0; i < 3; i++)
      await orthanc.upload(await dicomCopy(CT, { studyDate: '20240302', studyTime: '120000' }));
    for (const date of ['20240229', '20240304']) {
      await orthanc.upload(await dicomCopy(CR, { modality: 'CR', studyDate: date, studyTime: '100000' }));
    }
  }, 120_000);
  afterAll(async () => {
    await orthanc.dispose();
  });

  it('lists exactly the CR and DX instances of the date range, with UID-only object URIs', async () => {
    const entries = await list(`dicomweb+${orthanc.dicomwebUrl}?study-date=20240301-20240303`);
    expect(entries.map((e) => sopOf(e.uri)).sort()).toEqual(wanted.map((w) => w.sop).sort());
    for (const entry of entries) {
      expect(entry.uri).toMatch(
        new RegExp(
          `^dicomweb\\+${orthanc.dicomwebUrl.replaceAll('.', '\\.')}/studies/[0-9.]+/series/[0-9.]+/instances/[0-9.]+$`,
        ),
      );
      expect(entry.size).toBeUndefined();
    }
    // Without a date filter: the two outside the range too, still no CT.
    expect(await list(`dicomweb+${orthanc.dicomwebUrl}`)).toHaveLength(28);
    expect(await list(`dicomweb+${orthanc.dicomwebUrl}?modality=CT`)).toHaveLength(3);
    expect(await list(`dicomweb+${orthanc.dicomwebUrl}?modality=*&limit=5`)).toHaveLength(5);
  });

  it('fetches the stored bytes of every listed instance by WADO-RS', async () => {
    const entries = await list(`dicomweb+${orthanc.dicomwebUrl}?study-date=20240301-20240303`);
    const requests: string[] = [];
    const observer: PacsObserver = {
      observePacsRequest: (operation, statusClass) => requests.push(`${operation} ${statusClass}`),
      countPacsThrottled: () => undefined,
    };
    const fetcher = createObjectFetcher({ env: {}, dicomweb: settings, pacsObserver: observer });
    try {
      for (const entry of entries) {
        const bytes = await fetcher.fetch(entry.uri, { maxBytes: 64 * 1024 * 1024 });
        const expected = wanted.find((w) => w.sop === sopOf(entry.uri));
        expect(Buffer.from(bytes).equals(Buffer.from(expected?.bytes ?? [])), entry.uri).toBe(true);
      }
      const missing = `dicomweb+${orthanc.dicomwebUrl}/studies/1.2.3/series/1.2.3.4/instances/1.2.3.4.5`;
      const error = await fetcher.fetch(missing).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ObjectFetchError);
      expect((error as ObjectFetchError).transient).toBe(false);
      expect((error as Error).message).toMatch(/not found on the PACS \(HTTP 404\)$/);
    } finally {
      await fetcher.close();
    }
    expect(requests.filter((r) => r === 'wado 2xx')).toHaveLength(26);
    expect(requests.filter((r) => r === 'wado 4xx')).toHaveLength(1);
  });

  it('resumes a listing from any cursor with the instances not yet listed', async () => {
    const uri = `dicomweb+${orthanc.dicomwebUrl}?study-date=20240301-20240303`;
    const all = await list(uri);
    for (const at of [0, 9, 22]) {
      const rest = await list(uri, all[at]?.cursor);
      expect(rest.map((e) => e.uri).sort()).toEqual(
        all
          .slice(at + 1)
          .map((e) => e.uri)
          .sort(),
      );
    }
  });

  it('selects a cohort by Patient ID (a flag) without the ID in the source identity or cursors', async () => {
    const uri = `dicomweb+${orthanc.dicomwebUrl}`;
    const entries = await list(uri, undefined, { 'patient-id': SECRET_PATIENT });
    expect(entries.map((e) => sopOf(e.uri)).sort()).toEqual([...patientOnes].sort());
    const source = openObjectSource(uri, { env: {}, pacsFilters: { 'patient-id': SECRET_PATIENT } });
    expect(source.uri).toMatch(/#filters=[0-9a-f]{16}$/);
    await source.close();
    for (const text of [source.uri, ...entries.map((e) => e.cursor), ...entries.map((e) => e.uri)]) {
      expect(text).not.toContain('CANARY');
    }
    // The same ID in the URI's query gives the same source (and cursor key).
    const viaQuery = openObjectSource(`${uri}?PatientID=${SECRET_PATIENT}`, { env: {} });
    expect(viaQuery.uri).toBe(source.uri);
    await viaQuery.close();
  });
});

describe('DICOMweb walk of a PACS that caps its answers', () => {
  let orthanc: RunningOrthanc;
  const sops: string[] = [];

  beforeAll(async () => {
    // Orthanc answers at most 11 instances per query however many match (and offset does not
    // page past that): the walk must find out by itself and split its windows.
    orthanc = await startOrthanc({ extraConfig: { LimitFindInstances: 10, LimitFindResults: 10 } });
    for (let i = 0; i < 45; i++) {
      const sop = freshUid();
      await orthanc.upload(
        await dicomCopy(CR, {
          sopInstanceUid: sop,
          modality: 'CR',
          studyDate: `2024050${1 + (i % 3)}`,
          studyTime: hhmmss(7 * 3600 + i * 1200),
        }),
      );
      sops.push(sop);
    }
    // Invalid Study Times that real archives hold: they sort between time windows as strings.
    for (const studyTime of ['076000', '1161', '']) {
      const sop = freshUid();
      await orthanc.upload(
        await dicomCopy(CR, { sopInstanceUid: sop, modality: 'CR', studyDate: '20240502', studyTime }),
      );
      sops.push(sop);
    }
  }, 120_000);
  afterAll(async () => {
    await orthanc.dispose();
  });

  it('lists every instance once, in windows split until each answer is complete', async () => {
    const capped = await fetch(`${orthanc.dicomwebUrl}/instances?limit=1000`);
    expect(((await capped.json()) as unknown[]).length).toBe(11);
    const requests: string[] = [];
    const source = openObjectSource(`dicomweb+${orthanc.dicomwebUrl}?modality=CR`, {
      env: {},
      dicomweb: settings,
      pacsObserver: {
        observePacsRequest: (operation) => requests.push(operation),
        countPacsThrottled: () => undefined,
      },
    });
    const listed: string[] = [];
    const skipped: string[] = [];
    for await (const entry of source.list({ onSkip: (s) => skipped.push(s.reason) }))
      listed.push(sopOf(entry.uri));
    await source.close();
    expect(skipped).toEqual([]);
    expect(listed).toHaveLength(48);
    expect([...listed].sort()).toEqual([...sops].sort());
    expect(requests.length).toBeGreaterThan(8);
  });
});
