import { describe, expect, it } from 'vitest';
import {
  InvalidWorklistCursorError,
  WORKLIST_INDEXES,
  decodeWorklistCursor,
  encodeWorklistCursor,
  uriSchemeOf,
  worklistIndex,
  type WorklistCursor,
} from './worklist.js';

describe('uriSchemeOf', () => {
  it('keeps the scheme alone, lowercase, and nothing of the rest', () => {
    expect(uriSchemeOf('s3://bucket/DOE^JOHN.dcm')).toBe('s3');
    expect(uriSchemeOf('file:///archive/a.dcm')).toBe('file');
    expect(uriSchemeOf('DICOMweb+HTTPS://pacs/studies/1')).toBe('dicomweb+https');
    expect(uriSchemeOf('dimse://PACS@10.0.0.1:104/1.2.3')).toBe('dimse');
    expect(uriSchemeOf('/no/scheme/DOE^JOHN.dcm')).toBeNull();
    expect(uriSchemeOf('DOE JOHN:1.dcm')).toBeNull();
  });
});

describe('worklist cursors', () => {
  const cursor: WorklistCursor = {
    sort: 'suspicion',
    order: 'desc',
    direction: 'after',
    suspicion: 0.25,
    updatedAt: '2026-12-01T10:00:00.000Z',
    rowKey: '0123456789abcdef0123456789abcdef',
  };

  it('round-trip as URL-safe text', () => {
    const text = encodeWorklistCursor(cursor);
    expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeWorklistCursor(text, 'suspicion', 'desc')).toEqual(cursor);
  });

  it('refuse a cursor of another sort or order, or one edited by hand', () => {
    const text = encodeWorklistCursor(cursor);
    expect(() => decodeWorklistCursor(text, 'time', 'desc')).toThrow(InvalidWorklistCursorError);
    expect(() => decodeWorklistCursor(text, 'suspicion', 'asc')).toThrow(InvalidWorklistCursorError);
    const edit = (patch: Record<string, unknown>): string => {
      const body = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Record<string, unknown>;
      return Buffer.from(JSON.stringify({ ...body, ...patch }), 'utf8').toString('base64url');
    };
    for (const patch of [
      { k: "x' OR 1=1" },
      { t: 'yesterday' },
      { x: null },
      { x: 'NaN' },
      { d: 'sideways' },
      { v: 2 },
      { extra: 1 },
    ]) {
      expect(() => decodeWorklistCursor(edit(patch), 'suspicion', 'desc'), JSON.stringify(patch)).toThrow(
        InvalidWorklistCursorError,
      );
    }
  });
});

describe('worklistIndex', () => {
  it('picks the index of the first indexed filter (run, then decision, then outcome) and the sort', () => {
    expect(worklistIndex({ sort: 'suspicion' })).toBe('results_worklist_suspicion');
    expect(worklistIndex({ sort: 'time', outcome: 'ok' })).toBe('results_worklist_outcome_time');
    expect(worklistIndex({ sort: 'time', decision: 'x', outcome: 'ok' })).toBe(
      'results_worklist_decision_time',
    );
    expect(worklistIndex({ sort: 'suspicion', runId: 'r', decision: 'x' })).toBe(
      'results_worklist_run_suspicion',
    );
    // Every index a query can name exists (migration 3 creates WORKLIST_INDEXES).
    const names = new Set(WORKLIST_INDEXES.map((index) => index.name));
    for (const sort of ['suspicion', 'time'] as const) {
      for (const filter of [{}, { runId: 'r' }, { decision: 'd' }, { outcome: 'ok' as const }]) {
        expect(names.has(worklistIndex({ sort, ...filter }))).toBe(true);
      }
    }
    expect(names.size).toBe(8);
  });
});
