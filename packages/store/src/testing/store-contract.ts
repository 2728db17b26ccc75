/**
 * The contract every ResultStore adapter must pass (BullMQ-style conformance suite): the same
 * tests run against SQLite and PostgreSQL from store.int.test.ts.
 */
import { describe, expect, it, beforeEach, afterEach } from 'vitest';
import { MIGRATIONS } from '../migrations.js';
import { hashPatientId } from '../patient-id.js';
import { InvalidResultRowError, parseResultRow, type ResultRow, type ResultRowInput } from '../result-row.js';
import type { ResultStore } from '../result-store.js';
import { rowKeyOf } from '../row-key.js';
import {
  InvalidWorklistCursorError,
  type WorklistItem,
  type WorklistOrder,
  type WorklistQuery,
  type WorklistSort,
} from '../worklist.js';

/** A fresh, empty database for one test; `open` may be called more than once (two "processes"). */
export interface StoreEnvironment {
  /** Opens a store on this environment's database, not yet migrated. */
  open(): Promise<ResultStore>;
  /** Closes nothing it did not open; drops the database/schema. */
  cleanup(): Promise<void>;
}

export const CANARY_NAME = 'CANARY^PATIENT^NAME';
export const CANARY_ID = 'CANARY-PID-0042';
const SALT = 'contract-test-salt-0123456789';

/** A valid ok row for `uri`; override any field. */
export function sampleRow(uri: string, overrides: Partial<ResultRowInput> = {}): ResultRow {
  return parseResultRow({
    runId: 'run-1',
    uri,
    etag: '"etag-1"',
    sizeBytes: 10_485_760,
    studyInstanceUid: '1.2.826.0.1.3680043.8.498.1',
    seriesInstanceUid: '1.2.826.0.1.3680043.8.498.2',
    sopInstanceUid: '1.2.826.0.1.3680043.8.498.3',
    patientIdHash: hashPatientId(CANARY_ID, SALT),
    modality: 'CR',
    viewPosition: 'PA',
    manufacturer: 'ACME, "Imaging"',
    institution: 'General Hospital',
    photometric: 'MONOCHROME2',
    transferSyntax: '1.2.840.10008.1.2.4.70',
    rows: 2500,
    columns: 2048,
    imageMean: 1834.25,
    imageStd: 612.0625,
    bitsStored: 12,
    modelId: 'seed-densenet121',
    modelVersion: '1.0.0',
    runtime: 'onnx',
    scores: { normal: 0.7, pneumonia: 0.2, further_evaluation: 0.1 },
    decision: 'normal',
    // Only an ok row has one: callers that override the outcome get none.
    suspicion: overrides.outcome === undefined || overrides.outcome === 'ok' ? 0.2 : null,
    outcome: 'ok',
    reason: null,
    timings: { fetch: 1.5, decode: 120, preprocess: 25, batch_wait: 3, infer: 250, store: null },
    enqueuedAt: '2026-11-27T00:00:00.000Z',
    ...overrides,
  });
}

function failed(uri: string, overrides: Partial<ResultRowInput> = {}): ResultRow {
  return sampleRow(uri, {
    outcome: 'failed',
    reason: 's3_timeout',
    scores: null,
    decision: null,
    suspicion: null,
    ...overrides,
  });
}

function rejected(uri: string, reason = 'not_dicom', overrides: Partial<ResultRowInput> = {}): ResultRow {
  return sampleRow(uri, {
    outcome: 'rejected',
    reason,
    scores: null,
    decision: null,
    suspicion: null,
    ...overrides,
  });
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

/** Every migration's version, ascending. */
const VERSIONS = MIGRATIONS.map((m) => m.version);

const key = (uri: string) => ({ uri, modelId: 'seed-densenet121', modelVersion: '1.0.0' });

/** Every page of a worklist query, following `next` cursors from the first page. */
async function walkForward(store: ResultStore, query: WorklistQuery): Promise<WorklistItem[][]> {
  const pages: WorklistItem[][] = [];
  let cursor: string | undefined;
  for (let guard = 0; guard < 1000; guard++) {
    const page = await store.worklist({ ...query, ...(cursor !== undefined ? { cursor } : {}) });
    pages.push([...page.items]);
    if (page.next === undefined) return pages;
    cursor = page.next;
  }
  throw new Error('worklist paging did not end');
}

/** The worklist order computed in JavaScript: the specification the SQL must follow. */
function expectedOrder(items: readonly WorklistItem[], sort: WorklistSort, order: WorklistOrder): string[] {
  const value = (item: WorklistItem): [number, string, string] => [
    sort === 'suspicion' ? (item.suspicion ?? -Infinity) : 0,
    item.updatedAt,
    item.rowKey,
  ];
  const compare = (a: WorklistItem, b: WorklistItem): number => {
    const [x, y] = [value(a), value(b)];
    if (x[0] !== y[0]) return x[0] < y[0] ? -1 : 1;
    if (x[1] !== y[1]) return x[1] < y[1] ? -1 : 1;
    return x[2] < y[2] ? -1 : x[2] > y[2] ? 1 : 0;
  };
  const sorted = [...items].sort(compare);
  return (order === 'desc' ? sorted.reverse() : sorted).map((item) => item.rowKey);
}

/** Rows of the worklist tests, written in three upserts (three updated_at values). */
async function fillWorklist(store: ResultStore): Promise<void> {
  const tick = () => new Promise((resolve) => setTimeout(resolve, 15));
  const scored = (uri: string, suspicion: number, overrides: Partial<ResultRowInput> = {}) =>
    sampleRow(uri, {
      scores: { normal: 1 - suspicion, pneumonia: suspicion, further_evaluation: 0 },
      decision: suspicion > 0.5 ? 'pneumonia' : 'normal',
      suspicion,
      ...overrides,
    });
  await store.upsertResults([
    scored('w/a', 0.9),
    scored('w/b', 0.3),
    scored('w/c', 0.3),
    rejected('w/r1'),
    scored('w/d', 0.7, { runId: 'run-2' }),
  ]);
  await tick();
  await store.upsertResults([
    scored('w/e', 0.3),
    scored('w/f', 0.95, { runId: 'run-2' }),
    failed('w/f1'),
    // Scored without a manifest (or before migration 3): no suspicion, sorts with the unscored.
    sampleRow('w/g', { suspicion: null }),
    scored('w/h', 0.05),
  ]);
  await tick();
  await store.upsertResults([
    scored('w/i', 0.6),
    scored('w/j', 0.3, { modelVersion: '2.0.0' }),
    rejected('w/r2', 'truncated', { runId: 'run-2' }),
    sampleRow('w/k', {
      scores: { 'a.b"c\\d': 0.8, normal: 0.2 },
      decision: 'a.b"c\\d',
      suspicion: 0.8,
    }),
  ]);
}

/** Registers the contract suite for one adapter. */
export function describeStoreContract(name: string, factory: () => Promise<StoreEnvironment>): void {
  describe(`ResultStore contract: ${name}`, () => {
    let env: StoreEnvironment;
    let store: ResultStore;
    const extra: ResultStore[] = [];

    beforeEach(async () => {
      env = await factory();
      store = await env.open();
    });

    afterEach(async () => {
      await store.close();
      for (const other of extra.splice(0)) await other.close();
      await env.cleanup();
    });

    it('migrates once; a second migrate is a no-op', async () => {
      expect(await store.migrate()).toEqual({ applied: VERSIONS });
      expect(await store.migrate()).toEqual({ applied: [] });
      expect(await store.appliedMigrations()).toEqual(VERSIONS);
    });

    it('two concurrent migrations apply each version exactly once', async () => {
      const other = await env.open();
      extra.push(other);
      const [a, b] = await Promise.all([store.migrate(), other.migrate()]);
      expect([...a.applied, ...b.applied].sort()).toEqual(VERSIONS);
      expect(await other.appliedMigrations()).toEqual(VERSIONS);
    });

    describe('after migrate', () => {
      beforeEach(async () => {
        await store.migrate();
      });

      it('round-trips every field of a row', async () => {
        const row = sampleRow('s3://bucket/a.dcm');
        await store.upsertResults([row]);
        const [stored] = await collect(store.iterateRun('run-1'));
        expect(stored).toBeDefined();
        const { createdAt, updatedAt, ...rest } = stored!;
        expect(rest).toEqual(row);
        expect(Date.parse(createdAt)).not.toBeNaN();
        expect(updatedAt >= createdAt).toBe(true);
      });

      it('stores the drift features as nullable columns (absent on older producers)', async () => {
        const columns = await store.resultColumns();
        expect(columns).toEqual(expect.arrayContaining(['image_mean', 'image_std', 'bits_stored']));
        await store.upsertResults([
          sampleRow('with'),
          sampleRow('without', { imageMean: null, imageStd: null, bitsStored: null }),
          // A producer that predates the features sends no such keys at all.
          parseResultRow(
            Object.fromEntries(
              Object.entries(sampleRow('legacy')).filter(
                ([k]) => !['imageMean', 'imageStd', 'bitsStored'].includes(k),
              ),
            ),
          ),
          sampleRow('negative', { imageMean: -1000.5, imageStd: 0 }),
        ]);
        const rows = await collect(store.iterateRun('run-1'));
        expect(rows.map((r) => [r.uri, r.imageMean, r.imageStd, r.bitsStored])).toEqual([
          ['legacy', null, null, null],
          ['negative', -1000.5, 0, 12],
          ['with', 1834.25, 612.0625, 12],
          ['without', null, null, null],
        ]);
        for (const bad of [{ imageStd: -1 }, { bitsStored: 0 }, { bitsStored: 12.5 }]) {
          expect(() => sampleRow('bad', bad)).toThrow(InvalidResultRowError);
        }
      });

      it('recentResults: newest ok rows of one model version, oldest first, by limit and since', async () => {
        // Three separate upserts get three increasing updated_at values (the store's clock).
        const tick = () => new Promise((resolve) => setTimeout(resolve, 15));
        await store.upsertResults([sampleRow('a'), sampleRow('b'), rejected('r1'), failed('f1')]);
        await tick();
        const between = new Date();
        await tick();
        await store.upsertResults([
          sampleRow('c'),
          sampleRow('d', { runId: 'run-2' }),
          sampleRow('e', { modelVersion: '2.0.0' }),
        ]);
        await tick();
        // A failed row replaced by an ok one counts with its new updated_at.
        await store.upsertResults([sampleRow('f1')]);
        const query = { modelId: 'seed-densenet121', modelVersion: '1.0.0' };
        const uris = async (q: { limit: number; since?: Date }) =>
          (await store.recentResults({ ...query, ...q })).map((r) => r.uri);
        // Runs do not matter, other versions and outcomes do; same updated_at -> by uri.
        expect(await uris({ limit: 100 })).toEqual(['a', 'b', 'c', 'd', 'f1']);
        expect(await uris({ limit: 3 })).toEqual(['c', 'd', 'f1']);
        expect(await uris({ limit: 100, since: between })).toEqual(['c', 'd', 'f1']);
        expect(await uris({ limit: 1, since: between })).toEqual(['f1']);
        expect(await uris({ limit: 100, since: new Date(Date.now() + 60_000) })).toEqual([]);
        const [row] = await store.recentResults({ ...query, limit: 1 });
        expect(row).toMatchObject({ uri: 'f1', outcome: 'ok', imageMean: 1834.25, bitsStored: 12 });
        expect(await store.recentResults({ modelId: 'nope', modelVersion: '1.0.0', limit: 5 })).toEqual([]);
        await expect(store.recentResults({ ...query, limit: 0 })).rejects.toThrow(RangeError);
        await expect(store.recentResults({ ...query, limit: 100_001 })).rejects.toThrow(RangeError);
      });

      it('re-delivery of the same result adds no row', async () => {
        const row = sampleRow('s3://bucket/a.dcm');
        expect(await store.upsertResults([row])).toEqual({ inserted: 1, updated: 0, unchanged: 0 });
        expect(await store.upsertResults([row])).toEqual({ inserted: 0, updated: 0, unchanged: 1 });
        expect(await store.upsertResults([row, row])).toEqual({ inserted: 0, updated: 0, unchanged: 2 });
        expect(await store.countByOutcome('run-1')).toEqual({ ok: 1, rejected: 0, failed: 0 });
      });

      it('a later result replaces failed; ok and rejected are final', async () => {
        await store.upsertResults([failed('u1'), failed('u2'), sampleRow('u3'), rejected('u4')]);
        const summary = await store.upsertResults([
          sampleRow('u1'),
          failed('u2', { reason: 'connection_reset' }),
          failed('u3'),
          sampleRow('u4'),
        ]);
        expect(summary).toEqual({ inserted: 0, updated: 2, unchanged: 2 });
        const rows = await collect(store.iterateRun('run-1'));
        expect(rows.map((r) => [r.uri, r.outcome, r.reason])).toEqual([
          ['u1', 'ok', null],
          ['u2', 'failed', 'connection_reset'],
          ['u3', 'ok', null],
          ['u4', 'rejected', 'not_dicom'],
        ]);
      });

      it('a new ETag (object overwritten) or force replaces a final result', async () => {
        await store.upsertResults([sampleRow('u1'), sampleRow('u2')]);
        expect(await store.upsertResults([rejected('u1', 'truncated', { etag: '"etag-2"' })])).toMatchObject({
          updated: 1,
        });
        expect(await store.upsertResults([failed('u2')], { force: true })).toMatchObject({ updated: 1 });
        const rows = await collect(store.iterateRun('run-1'));
        expect(rows.map((r) => [r.outcome, r.etag])).toEqual([
          ['rejected', '"etag-2"'],
          ['failed', '"etag-1"'],
        ]);
      });

      it('duplicates inside one batch collapse by the same rule', async () => {
        const summary = await store.upsertResults([failed('u1'), sampleRow('u1'), failed('u1')]);
        expect(summary).toEqual({ inserted: 1, updated: 0, unchanged: 2 });
        const [row] = await collect(store.iterateRun('run-1'));
        expect(row?.outcome).toBe('ok');
      });

      it('upserts a batch of 1000 rows in one call, all or nothing', async () => {
        const rows = Array.from({ length: 1000 }, (_, i) =>
          sampleRow(`s3://bucket/${String(i).padStart(4, '0')}.dcm`),
        );
        const started = performance.now();
        expect(await store.upsertResults(rows)).toEqual({ inserted: 1000, updated: 0, unchanged: 0 });
        const elapsed = performance.now() - started;
        expect(elapsed).toBeLessThan(10_000);
        expect((await store.countByOutcome('run-1')).ok).toBe(1000);
        // One invalid row refuses the whole batch: nothing of it is written.
        const bad = [
          sampleRow('s3://bucket/new.dcm'),
          { ...sampleRow('x'), outcome: 'maybe' } as unknown as ResultRow,
        ];
        await expect(store.upsertResults(bad)).rejects.toThrow(InvalidResultRowError);
        expect(await store.hasResult(key('s3://bucket/new.dcm'))).toBe(false);
      });

      it('iterateRun streams one run in key order across page boundaries', async () => {
        const uris = Array.from(
          { length: 24 },
          (_, i) => `file:///archive/${String((i * 7) % 24).padStart(2, '0')}.dcm`,
        );
        await store.upsertResults(uris.map((uri) => sampleRow(uri)));
        // Same URIs under another model version, and another run, must not leak in or reorder.
        await store.upsertResults(uris.slice(0, 5).map((uri) => sampleRow(uri, { modelVersion: '2.0.0' })));
        await store.upsertResults([sampleRow('file:///archive/zz.dcm', { runId: 'run-2' })]);
        const expected = [
          ...uris.map((uri) => `${uri}|1.0.0`),
          ...uris.slice(0, 5).map((uri) => `${uri}|2.0.0`),
        ].sort();
        for (const batchSize of [1, 4, 5, 29, 1000]) {
          const rows = await collect(store.iterateRun('run-1', { batchSize }));
          expect(rows.map((r) => `${r.uri}|${r.modelVersion}`)).toEqual(expected);
        }
        expect(await collect(store.iterateRun('no-such-run', { batchSize: 3 }))).toEqual([]);
      });

      it('counts by outcome and by reason', async () => {
        await store.upsertResults([
          sampleRow('a'),
          sampleRow('b'),
          rejected('c', 'not_dicom'),
          rejected('d', 'not_dicom'),
          rejected('e', 'truncated'),
          failed('f'),
          sampleRow('g', { runId: 'run-2' }),
        ]);
        expect(await store.countByOutcome('run-1')).toEqual({ ok: 2, rejected: 3, failed: 1 });
        expect(await store.countByReason('run-1')).toEqual([
          { outcome: 'rejected', reason: 'not_dicom', count: 2 },
          { outcome: 'failed', reason: 's3_timeout', count: 1 },
          { outcome: 'rejected', reason: 'truncated', count: 1 },
        ]);
        const runs = await store.listRuns();
        expect(runs.map((r) => [r.runId, r.total, r.byOutcome])).toEqual(
          expect.arrayContaining([
            ['run-1', 6, { ok: 2, rejected: 3, failed: 1 }],
            ['run-2', 1, { ok: 1, rejected: 0, failed: 0 }],
          ]),
        );
        expect(runs).toHaveLength(2);
      });

      it('existingKeys and hasResult find exactly the stored keys', async () => {
        await store.upsertResults([sampleRow('a'), failed('b')]);
        const found = await store.existingKeys([
          key('a'),
          key('b'),
          key('c'),
          { ...key('a'), modelVersion: '9' },
        ]);
        expect(found.sort((x, y) => x.uri.localeCompare(y.uri))).toEqual([
          { ...key('a'), outcome: 'ok' },
          { ...key('b'), outcome: 'failed' },
        ]);
        expect(await store.existingKeys([])).toEqual([]);
        expect(await store.hasResult(key('a'))).toBe(true);
        expect(await store.hasResult(key('c'))).toBe(false);
      });

      it('worklist: every sort and order, page by page forwards and backwards, matches the specification', async () => {
        await fillWorklist(store);
        const all = (await store.worklist({ sort: 'time', limit: 1000 })).items;
        expect(all).toHaveLength(14);
        for (const sort of ['suspicion', 'time'] as const) {
          for (const order of ['desc', 'asc'] as const) {
            const expected = expectedOrder(all, sort, order);
            for (const limit of [1, 3, 5, 14, 20]) {
              const pages = await walkForward(store, { sort, order, limit });
              expect(
                pages.flat().map((i) => i.rowKey),
                `${sort} ${order} ${limit}`,
              ).toEqual(expected);
              expect(pages.every((p, n) => p.length === limit || n === pages.length - 1)).toBe(true);
              // Back from the last page with `previous`, each page equals the one walked forwards.
              let page = await store.worklist({ sort, order, limit, cursor: undefined });
              const forward = [page];
              while (page.next !== undefined) {
                page = await store.worklist({ sort, order, limit, cursor: page.next });
                forward.push(page);
              }
              for (let n = forward.length - 1; n > 0; n--) {
                const back = await store.worklist({ sort, order, limit, cursor: forward[n]!.previous! });
                expect(back.items.map((i) => i.rowKey)).toEqual(forward[n - 1]!.items.map((i) => i.rowKey));
                expect(back.next).toBeDefined();
                expect(back.previous === undefined).toBe(n === 1);
              }
              expect(forward[0]!.previous).toBeUndefined();
            }
          }
        }
        // Most suspicious first, unscored rows (rejected, failed, no suspicion) last.
        const bySuspicion = (await store.worklist({ sort: 'suspicion', limit: 4 })).items;
        expect(bySuspicion.map((i) => [i.suspicion, i.runId])).toEqual([
          [0.95, 'run-2'],
          [0.9, 'run-1'],
          [0.8, 'run-1'],
          [0.7, 'run-2'],
        ]);
        const tail = (await store.worklist({ sort: 'suspicion', order: 'desc', limit: 1000 })).items.slice(
          -4,
        );
        expect(tail.map((i) => i.suspicion)).toEqual([null, null, null, null]);
      });

      it('worklist: items carry what the page shows and never the URI', async () => {
        await store.upsertResults([sampleRow('s3://bucket/CANARY^PATIENT^NAME.dcm')]);
        const [item] = (await store.worklist({ sort: 'time', limit: 10 })).items;
        expect(item).toEqual({
          rowKey: rowKeyOf(key('s3://bucket/CANARY^PATIENT^NAME.dcm')),
          runId: 'run-1',
          modelId: 'seed-densenet121',
          modelVersion: '1.0.0',
          uriScheme: 's3',
          studyInstanceUid: '1.2.826.0.1.3680043.8.498.1',
          seriesInstanceUid: '1.2.826.0.1.3680043.8.498.2',
          sopInstanceUid: '1.2.826.0.1.3680043.8.498.3',
          modality: 'CR',
          viewPosition: 'PA',
          scores: { normal: 0.7, pneumonia: 0.2, further_evaluation: 0.1 },
          decision: 'normal',
          suspicion: 0.2,
          outcome: 'ok',
          reason: null,
          createdAt: expect.any(String) as string,
          updatedAt: expect.any(String) as string,
        });
        expect(JSON.stringify(item)).not.toContain(CANARY_NAME);
        expect(Date.parse(item!.updatedAt)).not.toBeNaN();
      });

      it('worklist: filters by run, decision, outcome, a label score and a time range', async () => {
        await fillWorklist(store);
        const [first] = (await store.worklist({ sort: 'time', order: 'asc', limit: 1 })).items;
        const [last] = (await store.worklist({ sort: 'time', order: 'desc', limit: 1 })).items;
        const uris = async (
          query: Omit<WorklistQuery, 'sort' | 'limit'>,
          sort: WorklistSort = 'suspicion',
        ) => {
          const pages = await walkForward(store, { ...query, sort, limit: 2 });
          const keys = new Map(
            ['a', 'b', 'c', 'd', 'e', 'f', 'f1', 'g', 'h', 'i', 'j', 'k', 'r1', 'r2'].map((u) => [
              rowKeyOf({ ...key(`w/${u}`), ...(u === 'j' ? { modelVersion: '2.0.0' } : {}) }),
              u,
            ]),
          );
          return pages.flat().map((i) => keys.get(i.rowKey));
        };
        expect(await uris({ runId: 'run-2' })).toEqual(['f', 'd', 'r2']);
        expect(await uris({ decision: 'pneumonia' })).toEqual(['f', 'a', 'd', 'i']);
        expect(await uris({ outcome: 'rejected' }, 'time')).toEqual(['r2', 'r1']);
        expect(await uris({ outcome: 'failed', runId: 'run-2' })).toEqual([]);
        expect(await uris({ minScore: { label: 'pneumonia', min: 0.6 } })).toEqual(['f', 'a', 'd', 'i']);
        // A label with JSON-path characters is looked up as a key, not parsed as a path.
        expect(await uris({ minScore: { label: 'a.b"c\\d', min: 0.5 } })).toEqual(['k']);
        expect(await uris({ minScore: { label: 'nope', min: 0 } })).toEqual([]);
        // The second upsert's rows: from its instant (inclusive) to the third's (exclusive).
        const times = [
          ...new Set(
            (await store.worklist({ sort: 'time', order: 'asc', limit: 100 })).items.map((i) => i.updatedAt),
          ),
        ];
        expect(times).toHaveLength(3);
        expect(first?.updatedAt).toBe(times[0]);
        expect(last?.updatedAt).toBe(times[2]);
        const range = { from: new Date(times[1]!), to: new Date(times[2]!) };
        const inRange = await uris(range);
        // The two unscored rows share updated_at: their order is the row keys'.
        expect(inRange.slice(0, 3)).toEqual(['f', 'e', 'h']);
        expect(inRange.slice(3).sort()).toEqual(['f1', 'g']);
        expect(await uris({ ...range, runId: 'run-2' }, 'time')).toEqual(['f']);
        expect(await uris({ from: new Date(Date.parse(times[2]!) + 1) })).toEqual([]);
      });

      it('worklist: refuses bad limits and cursors it did not issue', async () => {
        await fillWorklist(store);
        const page = await store.worklist({ sort: 'suspicion', limit: 2 });
        expect(page.next).toBeDefined();
        for (const limit of [0, 1001, 2.5]) {
          await expect(store.worklist({ sort: 'time', limit })).rejects.toThrow(RangeError);
        }
        await expect(store.worklist({ sort: 'time', limit: 2, cursor: page.next! })).rejects.toThrow(
          InvalidWorklistCursorError,
        );
        await expect(
          store.worklist({ sort: 'suspicion', order: 'asc', limit: 2, cursor: page.next! }),
        ).rejects.toThrow(InvalidWorklistCursorError);
        for (const cursor of [
          '',
          'not a cursor',
          Buffer.from('{"v":1}').toString('base64url'),
          `${page.next!}x`,
        ]) {
          await expect(store.worklist({ sort: 'suspicion', limit: 2, cursor })).rejects.toThrow(
            InvalidWorklistCursorError,
          );
        }
      });

      it('resultByRowKey finds a row by the key rowKeyOf computes, and nothing else', async () => {
        await store.upsertResults([sampleRow('file:///archive/é ü/1.dcm'), failed('file:///archive/2.dcm')]);
        const found = await store.resultByRowKey(rowKeyOf(key('file:///archive/é ü/1.dcm')));
        expect(found).toMatchObject({ uri: 'file:///archive/é ü/1.dcm', outcome: 'ok', suspicion: 0.2 });
        expect(await store.resultByRowKey(rowKeyOf(key('file:///archive/2.dcm')))).toMatchObject({
          outcome: 'failed',
          suspicion: null,
        });
        expect(await store.resultByRowKey(rowKeyOf(key('file:///archive/3.dcm')))).toBeUndefined();
        expect(await store.resultByRowKey("x' OR 1=1 --")).toBeUndefined();
        // Every row the worklist shows resolves to itself.
        for (const item of (await store.worklist({ sort: 'time', limit: 10 })).items) {
          const row = await store.resultByRowKey(item.rowKey);
          expect(row && rowKeyOf(row)).toBe(item.rowKey);
        }
      });

      it('keeps the delivery state of ok rows: pending, sent, failed with reason and attempts; counts per run', async () => {
        await store.upsertResults([sampleRow('a'), sampleRow('b'), sampleRow('c'), rejected('d')]);
        const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((uri) => rowKeyOf(key(uri)));
        expect(await store.deliveryCounts('run-1')).toEqual({ pending: 0, sent: 0, failed: 0 });
        // Rows not ok are never queued; a key without a row is ignored.
        const marked = await store.markDeliveryPending(
          [a!, b!, c!, d!, '0'.repeat(32)],
          new Date('2026-12-07T10:00:00.000Z'),
        );
        expect(marked).toBe(3);
        expect(await store.deliveryCounts('run-1')).toEqual({ pending: 3, sent: 0, failed: 0 });
        expect(
          await store.recordDelivery(a!, {
            state: 'sent',
            reason: null,
            attempts: 1,
            at: new Date('2026-12-07T10:00:01.000Z'),
          }),
        ).toBe(true);
        await store.recordDelivery(b!, {
          state: 'failed',
          reason: `stow_http_409: refused ${'x'.repeat(400)}`,
          attempts: 3,
          at: new Date('2026-12-07T10:00:02.000Z'),
        });
        await store.recordDelivery(c!, {
          state: 'pending',
          reason: 'pacs_unreachable: STOW-RS: no connection',
          attempts: 2,
          at: new Date('2026-12-07T10:00:03.000Z'),
        });
        expect(
          await store.recordDelivery('f'.repeat(32), {
            state: 'sent',
            reason: null,
            attempts: 1,
            at: new Date(),
          }),
        ).toBe(false);
        await expect(
          store.recordDelivery(a!, { state: 'lost' as 'sent', reason: null, attempts: 1, at: new Date() }),
        ).rejects.toThrow(RangeError);
        expect(await store.deliveryCounts('run-1')).toEqual({ pending: 1, sent: 1, failed: 1 });
        const rows = new Map((await collect(store.iterateRun('run-1'))).map((row) => [row.uri, row]));
        expect(rows.get('a')?.delivery).toEqual({
          state: 'sent',
          reason: null,
          attempts: 1,
          at: '2026-12-07T10:00:01.000Z',
        });
        expect(rows.get('b')?.delivery?.state).toBe('failed');
        expect(rows.get('b')?.delivery?.reason).toHaveLength(256);
        expect(rows.get('c')?.delivery).toMatchObject({ state: 'pending', attempts: 2 });
        expect(rows.get('d')?.delivery).toBeUndefined();
        expect((await store.resultByRowKey(a!))?.delivery?.state).toBe('sent');

        // A re-delivered, unchanged result keeps its state; a replaced result voids it (its SR
        // in the PACS describes the old result) until it is queued again.
        await store.upsertResults([sampleRow('a')]);
        expect((await store.resultByRowKey(a!))?.delivery?.state).toBe('sent');
        await store.upsertResults([sampleRow('a', { decision: 'pneumonia' })], { force: true });
        expect((await store.resultByRowKey(a!))?.delivery).toBeUndefined();
        expect(await store.deliveryCounts('run-1')).toEqual({ pending: 1, sent: 0, failed: 1 });
      });

      it('never stores a patient name and refuses rows that carry one', async () => {
        const columns = await store.resultColumns();
        expect(columns).toContain('patient_id_hash');
        expect(columns.filter((c) => /name|patient_id$/i.test(c))).toEqual([]);

        const smuggled: unknown[] = [
          { ...sampleRow('a'), patientName: CANARY_NAME },
          { ...sampleRow('a'), timings: { ...sampleRow('a').timings, patientName: CANARY_NAME } },
          { ...sampleRow('a'), sopInstanceUid: CANARY_NAME },
          { ...sampleRow('a'), patientIdHash: CANARY_ID },
        ];
        for (const row of smuggled) {
          const error: unknown = await store.upsertResults([row as ResultRow]).catch((e: unknown) => e);
          expect(error).toBeInstanceOf(InvalidResultRowError);
          expect(String(error)).not.toContain(CANARY_NAME);
          expect(String(error)).not.toContain(CANARY_ID);
        }
        expect(await store.countByOutcome('run-1')).toEqual({ ok: 0, rejected: 0, failed: 0 });

        await store.upsertResults([sampleRow('a')]);
        const stored = JSON.stringify(await collect(store.iterateRun('run-1')));
        expect(stored).not.toContain(CANARY_NAME);
        expect(stored).not.toContain(CANARY_ID);
        expect(stored).toContain(hashPatientId(CANARY_ID, SALT));
      });
    });
  });
}
