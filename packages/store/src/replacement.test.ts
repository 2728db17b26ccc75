import { describe, expect, it } from 'vitest';
import { collapseBatch, replacesExisting } from './replacement.js';
import { sampleRow } from './testing/store-contract.js';

describe('replacesExisting', () => {
  it('lets anything replace failed, nothing replace ok/rejected with the same ETag', () => {
    const etag = '"e1"';
    expect(replacesExisting({ outcome: 'failed', etag }, { etag })).toBe(true);
    expect(replacesExisting({ outcome: 'ok', etag }, { etag })).toBe(false);
    expect(replacesExisting({ outcome: 'rejected', etag }, { etag })).toBe(false);
    expect(replacesExisting({ outcome: 'ok', etag }, { etag: null })).toBe(false);
  });

  it('replaces a final result for a new ETag or under force', () => {
    expect(replacesExisting({ outcome: 'ok', etag: '"e1"' }, { etag: '"e2"' })).toBe(true);
    expect(replacesExisting({ outcome: 'ok', etag: null }, { etag: '"e2"' })).toBe(true);
    expect(replacesExisting({ outcome: 'rejected', etag: '"e1"' }, { etag: '"e1"' }, { force: true })).toBe(
      true,
    );
  });
});

describe('collapseBatch', () => {
  it('keeps one row per key, chosen as sequential upserts would', () => {
    const failedRow = sampleRow('u1', { outcome: 'failed', reason: 'timeout', scores: null });
    const okRow = sampleRow('u1', { decision: 'pneumonia' });
    const laterOk = sampleRow('u1', { decision: 'normal' });
    const other = sampleRow('u2');
    expect(collapseBatch([failedRow, okRow, laterOk, other])).toEqual([okRow, other]);
    expect(collapseBatch([okRow, laterOk], { force: true })).toEqual([laterOk]);
  });
});
