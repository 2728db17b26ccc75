import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseCsvText } from '@cxr/csv';
import { exportHeader, writeExport, type ExportRow } from './export.js';
import { sampleRow } from './testing/store-contract.js';

const LABELS = ['normal', 'pneumonia', 'further_evaluation'];

async function render(rows: ExportRow[], format: 'csv' | 'jsonl'): Promise<string> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (chunk: Buffer) => chunks.push(chunk));
  async function* source(): AsyncGenerator<ExportRow> {
    for (const row of rows) {
      await Promise.resolve();
      yield row;
    }
  }
  const { rows: count } = await writeExport(source(), { format, labels: LABELS }, out);
  out.end();
  expect(count).toBe(rows.length);
  return Buffer.concat(chunks).toString('utf8');
}

/** The fields of each record: what a study's CSV reader (@cxr/csv, the one the CLI uses) sees. */
function parseCsv(text: string): string[][] {
  return parseCsvText(text).map((record) => [...record.fields]);
}

describe('exportHeader', () => {
  it('puts study columns first, then one score column per label in order, then the rest', () => {
    const header = exportHeader(LABELS);
    expect(header.slice(0, 9)).toEqual([
      'uri',
      'sop_instance_uid',
      'study_instance_uid',
      'outcome',
      'reason',
      'decision',
      'score_normal',
      'score_pneumonia',
      'score_further_evaluation',
    ]);
    expect(header).toContain('patient_id_hash');
    expect(header).toContain('infer_ms');
    expect(header).not.toContain('scores');
    expect(new Set(header).size).toBe(header.length);
    expect(() => exportHeader(['a', 'a'])).toThrow(/duplicate/);
  });
});

describe('writeExport', () => {
  const tricky = sampleRow('s3://bucket/a,"b"\nc.dcm', { manufacturer: 'ACME, "X-ray"\r\nDiv' });
  const rejected = sampleRow('s3://bucket/d.dcm', {
    outcome: 'rejected',
    reason: 'not_dicom',
    scores: null,
    decision: null,
  });

  it('writes CSV that parses back to the same fields', async () => {
    const text = await render([tricky, rejected], 'csv');
    const [header, first, second, ...rest] = parseCsv(text);
    expect(rest).toEqual([]);
    expect(header).toEqual(exportHeader(LABELS));
    const at = (record: string[] | undefined, name: string) => record?.[header!.indexOf(name)];
    expect(at(first, 'uri')).toBe(tricky.uri);
    expect(at(first, 'manufacturer')).toBe('ACME, "X-ray"\r\nDiv');
    expect(at(first, 'score_pneumonia')).toBe('0.2');
    expect(at(first, 'rows')).toBe('2500');
    expect(at(second, 'outcome')).toBe('rejected');
    expect(at(second, 'reason')).toBe('not_dicom');
    expect(at(second, 'score_normal')).toBe('');
  });

  it('writes JSONL with the same keys in the same order', async () => {
    const lines = (await render([tricky, rejected], 'jsonl')).trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    const first = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(Object.keys(first)).toEqual(exportHeader(LABELS));
    expect(first.uri).toBe(tricky.uri);
    expect(first.score_normal).toBe(0.7);
    const second = JSON.parse(lines[1]!) as Record<string, unknown>;
    expect(second.score_normal).toBeNull();
    expect(second.reason).toBe('not_dicom');
  });

  it('waits for drain under backpressure and writes every row', async () => {
    const out = new PassThrough({ highWaterMark: 64 });
    let received = '';
    const rows = Array.from({ length: 200 }, (_, i) => sampleRow(`u${i}`));
    async function* source(): AsyncGenerator<ExportRow> {
      for (const row of rows) {
        await Promise.resolve();
        yield row;
      }
    }
    const done = writeExport(source(), { format: 'jsonl', labels: LABELS }, out);
    // Read slowly so write() returns false and the writer must await 'drain'.
    for await (const chunk of out) {
      received += String(chunk);
      if (received.split('\n').length > 200) break;
    }
    expect(await done).toEqual({ rows: 200 });
    expect(received.trimEnd().split('\n')).toHaveLength(200);
  });
});
