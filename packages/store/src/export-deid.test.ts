import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DeidSession, generateKey, type ProfileOptions } from '@cxr/deid';
import { EXPORT_DEIDENTIFICATION, deidentifyExportRow } from './export-deid.js';
import { exportHeader, writeExport, type ExportRow } from './export.js';
import { hashPatientId } from './patient-id.js';
import { parseResultRow } from './result-row.js';

const CANARY_URI = 's3://archive/CANARY^PATIENT^DO-NOT-LEAK/CANARY-ID-0001.dcm';

function row(overrides: Partial<Record<string, unknown>> = {}): ExportRow {
  return {
    ...parseResultRow({
      runId: 'run-20261201T101112Z-abcdef',
      uri: CANARY_URI,
      etag: 'e0f1',
      sizeBytes: 123_456,
      studyInstanceUid: '1.2.826.0.1.3680043.10.4242.1',
      seriesInstanceUid: '1.2.826.0.1.3680043.10.4242.2',
      sopInstanceUid: '1.2.826.0.1.3680043.10.4242.3',
      patientIdHash: hashPatientId('CANARY-ID-0001', 'export-deid-test-salt'),
      modality: 'CR',
      institution: 'Canary General Hospital',
      modelId: 'seed',
      modelVersion: '1.0.0',
      scores: { normal: 0.5 },
      decision: 'normal',
      outcome: 'ok',
      enqueuedAt: '2026-12-01T10:11:12.000Z',
      ...overrides,
    }),
    createdAt: '2026-12-01T10:11:13.000Z',
    updatedAt: '2026-12-01T10:11:14.000Z',
  };
}

function session(options: ProfileOptions = { retain: [], clean: [] }): DeidSession {
  return new DeidSession(generateKey(), options);
}

async function csv(rows: ExportRow[]): Promise<string> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (chunk: Buffer) => chunks.push(chunk));
  async function* source(): AsyncGenerator<ExportRow> {
    for (const r of rows) {
      await Promise.resolve();
      yield r;
    }
  }
  await writeExport(source(), { format: 'csv', labels: ['normal'] }, out);
  out.end();
  return Buffer.concat(chunks).toString('utf8');
}

describe('de-identified export rows', () => {
  it('has a decision for every export column', () => {
    const columns = exportHeader(['normal']).map((name) =>
      name.startsWith('score_') ? 'score_<label>' : name,
    );
    expect(Object.keys(EXPORT_DEIDENTIFICATION).sort()).toEqual([...columns].sort());
  });

  it('names the image as cxr deidentify does and replaces its UIDs with the same replacements', () => {
    const s = session();
    const out = deidentifyExportRow(row(), s);
    const sop = s.uid('1.2.826.0.1.3680043.10.4242.3');
    expect(out.uri).toBe(`${sop}.dcm`);
    expect(out.sopInstanceUid).toBe(sop);
    expect(out.studyInstanceUid).toBe(s.uid('1.2.826.0.1.3680043.10.4242.1'));
    expect(out.seriesInstanceUid).toBe(s.uid('1.2.826.0.1.3680043.10.4242.2'));
  });

  it('leaves nothing identifying: no URI, no original UID, no hash, no institution, no date', async () => {
    const original = row();
    const text = await csv([deidentifyExportRow(original, session())]);
    for (const value of [
      'CANARY',
      original.sopInstanceUid!,
      original.studyInstanceUid!,
      original.seriesInstanceUid!,
      original.patientIdHash!,
      'Canary General',
      '2026-12-01',
      '20261201',
      'e0f1',
      '123456',
    ]) {
      expect(text, value).not.toContain(value);
    }
  });

  it('keeps one pseudonym per patient, and leaves the uri empty without a SOP Instance UID', () => {
    const s = session();
    const a = deidentifyExportRow(row(), s);
    const b = deidentifyExportRow(row({ uri: 's3://archive/other.dcm', sopInstanceUid: null }), s);
    expect(a.patientIdHash).toMatch(/^[0-9A-Z]{16}$/);
    expect(b.patientIdHash).toBe(a.patientIdHash);
    expect(b.uri).toBe('');
  });

  it('keeps what the map profile retains: UIDs, dates, institution', () => {
    const original = row();
    const out = deidentifyExportRow(
      original,
      session({ retain: ['uids', 'dates', 'institution'], clean: [] }),
    );
    expect(out.sopInstanceUid).toBe(original.sopInstanceUid);
    expect(out.uri).toBe(`${original.sopInstanceUid}.dcm`);
    expect(out.enqueuedAt).toBe(original.enqueuedAt);
    expect(out.createdAt).toBe(original.createdAt);
    expect(out.runId).toBe(original.runId);
    expect(out.institution).toBe(original.institution);
    expect(out.etag).toBeNull();
  });
});
