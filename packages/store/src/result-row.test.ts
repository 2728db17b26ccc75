import { describe, expect, it } from 'vitest';
import { InvalidResultRowError, parseResultRow } from './result-row.js';

const minimal = {
  runId: 'r',
  uri: 'file:///a.dcm',
  modelId: 'm',
  modelVersion: '1',
  outcome: 'ok',
  scores: { a: 0.5 },
};

describe('parseResultRow', () => {
  it('fills omitted optional fields with null', () => {
    const row = parseResultRow(minimal);
    expect(row.etag).toBeNull();
    expect(row.timings).toEqual({
      fetch: null,
      decode: null,
      preprocess: null,
      batch_wait: null,
      infer: null,
      store: null,
    });
  });

  it('requires scores for ok and a reason otherwise', () => {
    expect(() => parseResultRow({ ...minimal, scores: null })).toThrow(/scores/);
    expect(() => parseResultRow({ ...minimal, outcome: 'failed', scores: null })).toThrow(/reason/);
    expect(
      parseResultRow({ ...minimal, outcome: 'rejected', reason: 'not_dicom', scores: null }).reason,
    ).toBe('not_dicom');
  });

  it('refuses non-finite scores and unknown stage names', () => {
    expect(() => parseResultRow({ ...minimal, scores: { a: Number.NaN } })).toThrow(InvalidResultRowError);
    expect(() => parseResultRow({ ...minimal, scores: { a: Infinity } })).toThrow(InvalidResultRowError);
    expect(() => parseResultRow({ ...minimal, timings: { gpu: 3 } })).toThrow(/timings\.gpu/);
  });
});
