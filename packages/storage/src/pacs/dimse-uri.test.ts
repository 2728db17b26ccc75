import { describe, expect, it } from 'vitest';
import { ObjectSourceConfigError } from '../errors.js';
import { dimseObjectUri, parseDimseObjectUri, parseDimseSourceUri } from './dimse-uri.js';

describe('parseDimseSourceUri', () => {
  it('reads the PACS, the filters and the retrieve mode', () => {
    const spec = parseDimseSourceUri(
      'dimse://PACS1@10.0.0.5:104?since=2024-01-30&until=20240202&modality=cr,dx&bodyPart=CHEST&limit=50&retrieve=move&dest=CXR',
    );
    expect(spec).toMatchObject({
      calledAeTitle: 'PACS1',
      host: '10.0.0.5',
      port: 104,
      baseUri: 'dimse://PACS1@10.0.0.5:104',
    });
    expect(spec.filters).toEqual({
      since: '20240130',
      until: '20240202',
      modalities: ['CR', 'DX'],
      bodyPart: 'CHEST',
      limit: 50,
    });
    expect(spec.retrieve).toEqual({ mode: 'move', destination: 'CXR' });
  });

  it('defaults to CR and DX, no date range, the configured retrieve', () => {
    const spec = parseDimseSourceUri('dimse://ORTHANC@127.0.0.1:4242');
    expect(spec.filters).toEqual({ modalities: ['CR', 'DX'] });
    expect(spec.retrieve).toBeUndefined();
  });

  it('keeps patient filters out of the base URI', () => {
    const spec = parseDimseSourceUri(
      'dimse://PACS@pacs.example:11112?since=2024-01-01&patientId=CANARY-ID-0001&accession=A123',
    );
    expect(spec.filters.patientId).toBe('CANARY-ID-0001');
    expect(spec.baseUri).toBe('dimse://PACS@pacs.example:11112');
  });

  it.each([
    ['dimse://127.0.0.1:104', 'AE title'],
    ['dimse://PACS@127.0.0.1', 'no port'],
    ['dimse://PACS:secret@127.0.0.1:104', 'credentials'],
    ['dimse://PACS@127.0.0.1:104?since=2024-02-30', 'calendar date'],
    ['dimse://PACS@127.0.0.1:104?until=2024-02-01', 'until needs since'],
    ['dimse://PACS@127.0.0.1:104?since=2024-02-02&until=2024-02-01', 'since is after until'],
    ['dimse://PACS@127.0.0.1:104?retrieve=move', 'dest='],
    ['dimse://PACS@127.0.0.1:104?limit=0', 'limit'],
    ['dimse://PACS@127.0.0.1:104?patient=X', 'unknown parameter "patient"'],
  ])('refuses %s with a usage error (%s)', (uri, message) => {
    expect(() => parseDimseSourceUri(uri)).toThrow(ObjectSourceConfigError);
    expect(() => parseDimseSourceUri(uri)).toThrow(message);
  });

  it('never echoes a patient filter value in an error', () => {
    const uri = 'dimse://PACS@127.0.0.1:104?patientId=CANARY-ID-0001&patientName=CANARY^PATIENT&limit=x';
    expect(() => parseDimseSourceUri(uri)).toThrow(/limit/);
    try {
      parseDimseSourceUri(uri);
    } catch (error) {
      expect((error as Error).message).not.toMatch(/CANARY/);
    }
  });
});

describe('dimse object URIs', () => {
  it('are the base URI plus the three UIDs, and parse back', () => {
    const uri = dimseObjectUri('dimse://PACS@127.0.0.1:104', {
      study: '1.2.3',
      series: '1.2.3.4',
      sop: '1.2.3.4.5',
    });
    expect(uri).toBe('dimse://PACS@127.0.0.1:104/studies/1.2.3/series/1.2.3.4/instances/1.2.3.4.5');
    expect(parseDimseObjectUri(uri)).toEqual({
      calledAeTitle: 'PACS',
      host: '127.0.0.1',
      port: 104,
      studyInstanceUid: '1.2.3',
      seriesInstanceUid: '1.2.3.4',
      sopInstanceUid: '1.2.3.4.5',
    });
  });

  it('refuse anything but UIDs in the path, and queries', () => {
    expect(
      parseDimseObjectUri('dimse://PACS@127.0.0.1:104/studies/1/series/2/instances/../3'),
    ).toBeUndefined();
    expect(
      parseDimseObjectUri('dimse://PACS@127.0.0.1:104/studies/1/series/2/instances/3?x=1'),
    ).toBeUndefined();
    expect(parseDimseObjectUri('s3://b/studies/1/series/2/instances/3')).toBeUndefined();
  });
});
