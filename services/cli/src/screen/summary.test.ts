import { describe, expect, it } from 'vitest';
import {
  StageLatencyCollector,
  displayStoreUrl,
  formatSummary,
  quantile,
  type ScreenSummary,
} from './summary.js';

describe('quantile (type 7, linear between closest ranks)', () => {
  it('matches hand-computed values', () => {
    const sorted = [1, 2, 3, 4, 10];
    expect(quantile(sorted, 0.5)).toBe(3);
    // position (5 - 1) * 0.95 = 3.8: 4 + 0.8 * (10 - 4) = 8.8
    expect(quantile(sorted, 0.95)).toBeCloseTo(8.8, 12);
    expect(quantile(sorted, 0)).toBe(1);
    expect(quantile(sorted, 1)).toBe(10);
    expect(quantile([7], 0.95)).toBe(7);
    expect(quantile([], 0.5)).toBeNaN();
    expect(() => quantile(sorted, 1.5)).toThrow(RangeError);
  });
});

describe('StageLatencyCollector', () => {
  it('skips stages a row never reached and reports p50 / p95 per stage', () => {
    const collector = new StageLatencyCollector();
    const timings = (fetch: number, infer: number | null) => ({
      fetch,
      decode: null,
      preprocess: null,
      batch_wait: null,
      infer,
      store: null,
    });
    collector.add({ timings: timings(4, 10) });
    collector.add({ timings: timings(2, null) });
    collector.add({ timings: timings(3, 30) });
    const result = collector.result();
    expect(result.fetch).toEqual({ n: 3, p50Ms: 3, p95Ms: 3.9 });
    expect(result.infer).toEqual({ n: 2, p50Ms: 20, p95Ms: 29 });
    expect(result.decode).toBeUndefined();
  });
});

describe('displayStoreUrl', () => {
  it('masks a PostgreSQL password and leaves SQLite paths alone', () => {
    expect(displayStoreUrl('postgres://cxr:s3cret@db:5432/cxr?schema=a')).toBe(
      'postgres://cxr:***@db:5432/cxr?schema=a',
    );
    expect(displayStoreUrl('postgres://cxr@db/cxr')).toBe('postgres://cxr@db/cxr');
    expect(displayStoreUrl('sqlite:./cxr-results.sqlite')).toBe('sqlite:./cxr-results.sqlite');
  });
});

describe('formatSummary', () => {
  const summary: ScreenSummary = {
    runId: 'run-1',
    model: { id: 'seed', version: '1.0.0', runtime: 'onnx' },
    ingest: {
      listed: 12,
      enqueued: 10,
      requeued: 0,
      duplicates: 0,
      skipped: 2,
      sourceSkipped: 0,
      sourceSkipReasons: {},
      complete: true,
    },
    outcomes: { ok: 8, rejected: 1, failed: 1 },
    reasons: [
      { outcome: 'rejected', reason: 'truncated', count: 1 },
      { outcome: 'failed', reason: 'fetch_error', count: 1 },
    ],
    inferred: 8,
    wallSeconds: 4,
    imagesPerSecond: 2.5,
    stages: { infer: { n: 8, p50Ms: 120.4, p95Ms: 250 } },
    store: 'sqlite:./r.sqlite',
    complete: true,
    interrupted: false,
    missing: 0,
  };

  it('prints the entries the source did not list, by reason, only when there are some', () => {
    expect(formatSummary(summary)).not.toContain('not listed');
    const text = formatSummary({
      ...summary,
      ingest: {
        ...summary.ingest,
        sourceSkipped: 4,
        sourceSkipReasons: { symlink_loop: 1, link_outside_root: 3 },
      },
    });
    expect(text).toContain(
      'listed 12: 10 queued, 2 already screened, 0 already queued\n' +
        'not listed 4: link_outside_root 3, symlink_loop 1 (logged as source entry skipped)\n',
    );
  });

  it('prints counts per outcome and reason, throughput, stage quantiles and where results are', () => {
    const text = formatSummary(summary);
    expect(text).toContain('listed 12: 10 queued, 2 already screened, 0 already queued');
    expect(text).toContain('stored 10: ok 8, rejected 1, failed 1');
    expect(text).toContain('  rejected truncated: 1');
    expect(text).toContain('  failed fetch_error: 1');
    expect(text).toContain('inferred 8 images in 4.0 s (2.50 images/s stored)');
    expect(text).toMatch(/infer\s+p50 120 ms {2}p95 250 ms/);
    expect(text).toContain('results: sqlite:./r.sqlite (run run-1)');
    expect(text).not.toContain('interrupted');
    expect(text).not.toContain('INCOMPLETE');
    expect(formatSummary({ ...summary, complete: false, interrupted: true })).toContain(
      'run run-1 (interrupted',
    );
  });

  it('says how many objects were screened again and how many listed objects have no row', () => {
    const text = formatSummary({
      ...summary,
      ingest: { ...summary.ingest, requeued: 3 },
      complete: false,
      missing: 2,
    });
    expect(text).toContain('listed 12: 10 queued (3 of them again: no row in the store), 2 already screened');
    expect(text).toContain('INCOMPLETE: 2 listed objects have no result row; run the same command again');
    expect(text).not.toContain('interrupted');
  });
});
