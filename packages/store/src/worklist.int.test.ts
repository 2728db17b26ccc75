/**
 * The worklist's database side in both dialects: migration 3 fills the row key of rows written
 * before it exactly as the JavaScript computes it (a worklist thumbnail must resolve to its own
 * row), and every sort, order and indexed filter is an index range scan (the query plan has no
 * sort step), so the first and the thousandth page cost the same on a large store.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS, MIGRATIONS_TABLE } from './migrations.js';
import { openStore } from './open-store.js';
import type { ResultStore } from './result-store.js';
import { rowKeyOf } from './row-key.js';
import {
  WORKLIST_SELECT_LIST,
  encodeWorklistCursor,
  worklistIndex,
  worklistSql,
  type WorklistCursor,
  type WorklistDialect,
  type WorklistOrder,
  type WorklistQuery,
  type WorklistSort,
} from './worklist.js';

const POSTGRES_URL = process.env.CXR_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Keys whose hash input has multi-byte characters in every part. */
const OLD_ROWS = [
  { uri: 's3://archive/plain.dcm', modelId: 'seed-densenet121', modelVersion: '1.0.0' },
  { uri: 'file:///archive/Müller ü/é 1.dcm', modelId: 'modèle', modelVersion: 'v2 β' },
  { uri: 'file:///archive/1.dcm', modelId: 'a:1', modelVersion: '2:b' },
];

const V2_COLUMNS =
  '(uri, model_id, model_version, run_id, outcome, scores, decision, created_at, updated_at)';

/** Applies migrations 1 and 2 only, as a store of the previous release has them. */
const previousRelease = MIGRATIONS.filter((m) => m.version <= 2);

async function expectRowKeysResolve(store: ResultStore): Promise<void> {
  for (const key of OLD_ROWS) {
    const row = await store.resultByRowKey(rowKeyOf(key));
    expect(row, key.uri).toMatchObject({ ...key, outcome: 'ok', suspicion: null });
  }
  const items = (await store.worklist({ sort: 'suspicion', limit: 10 })).items;
  expect(items.map((i) => i.rowKey).sort()).toEqual(OLD_ROWS.map((k) => rowKeyOf(k)).sort());
  // Rows without a suspicion still page, and new rows sort above them.
  expect(items.every((i) => i.suspicion === null)).toBe(true);
}

describe('migration 3 on a store of the previous release', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-worklist-migration-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('sqlite: fills row_key of existing rows as rowKeyOf does', async () => {
    const path = join(dir, 'old.sqlite');
    const db = new Database(path);
    db.exec(
      `CREATE TABLE ${MIGRATIONS_TABLE} (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT`,
    );
    for (const m of previousRelease) {
      db.exec(m.sqlite);
      db.prepare(`INSERT INTO ${MIGRATIONS_TABLE} VALUES (?, ?, ?)`).run(
        m.version,
        m.name,
        '2026-11-01T00:00:00.000Z',
      );
    }
    const insert = db.prepare(
      `INSERT INTO results ${V2_COLUMNS} VALUES (?, ?, ?, 'old', 'ok', '{"normal":1}', 'normal', ?, ?)`,
    );
    for (const k of OLD_ROWS)
      insert.run(k.uri, k.modelId, k.modelVersion, '2026-11-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z');
    db.close();
    const store = await openStore(`sqlite:${path}`);
    try {
      expect(await store.appliedMigrations()).toEqual(MIGRATIONS.map((m) => m.version));
      await expectRowKeysResolve(store);
    } finally {
      await store.close();
    }
  });

  it('postgres: fills row_key of existing rows as rowKeyOf does', async () => {
    const schema = `cxr_test_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    try {
      await admin.query(`CREATE SCHEMA ${schema}`);
      await admin.query(`SET search_path = ${schema}`);
      await admin.query(
        `CREATE TABLE ${MIGRATIONS_TABLE} (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
      );
      for (const m of previousRelease) {
        await admin.query(m.postgres);
        await admin.query(`INSERT INTO ${MIGRATIONS_TABLE} (version, name) VALUES ($1, $2)`, [
          m.version,
          m.name,
        ]);
      }
      for (const k of OLD_ROWS) {
        await admin.query(
          `INSERT INTO results ${V2_COLUMNS} VALUES ($1, $2, $3, 'old', 'ok', '{"normal":1}', 'normal', now(), now())`,
          [k.uri, k.modelId, k.modelVersion],
        );
      }
      const store = await openStore(POSTGRES_URL, { schema });
      try {
        expect(await store.appliedMigrations()).toEqual(MIGRATIONS.map((m) => m.version));
        await expectRowKeysResolve(store);
      } finally {
        await store.close();
      }
    } finally {
      await admin.query(`DROP SCHEMA ${schema} CASCADE`);
      await admin.end();
    }
  });
});

/** Every combination the worklist page offers with an index of its own. */
function indexedQueries(): {
  name: string;
  query: WorklistQuery;
  cursor: WorklistCursor | undefined;
  order: WorklistOrder;
}[] {
  const cases: {
    name: string;
    query: WorklistQuery;
    cursor: WorklistCursor | undefined;
    order: WorklistOrder;
  }[] = [];
  const filters: { name: string; filter: Partial<WorklistQuery>; sorts: readonly WorklistSort[] }[] = [
    { name: 'none', filter: {}, sorts: ['suspicion', 'time'] },
    { name: 'run', filter: { runId: 'run-1' }, sorts: ['suspicion', 'time'] },
    { name: 'decision', filter: { decision: 'pneumonia' }, sorts: ['suspicion', 'time'] },
    { name: 'outcome', filter: { outcome: 'rejected' }, sorts: ['suspicion', 'time'] },
    {
      name: 'run and decision',
      filter: { runId: 'run-1', decision: 'pneumonia' },
      sorts: ['suspicion', 'time'],
    },
    // A time range on the time sort is a range of the same index.
    { name: 'range', filter: { from: new Date('2026-01-01'), to: new Date('2026-02-01') }, sorts: ['time'] },
  ];
  for (const { name, filter, sorts } of filters) {
    for (const sort of sorts) {
      for (const order of ['desc', 'asc'] as const) {
        for (const direction of [undefined, 'after', 'before'] as const) {
          const cursor: WorklistCursor | undefined =
            direction === undefined
              ? undefined
              : {
                  sort,
                  order,
                  direction,
                  suspicion: sort === 'suspicion' ? 0.5 : null,
                  updatedAt: '2026-01-15T00:00:00.000Z',
                  rowKey: '0123456789abcdef0123456789abcdef',
                };
          cases.push({
            name: `${name} ${sort} ${order} ${direction ?? 'first'}`,
            query: {
              ...filter,
              sort,
              order,
              limit: 50,
              ...(cursor ? { cursor: encodeWorklistCursor(cursor) } : {}),
            },
            cursor,
            order,
          });
        }
      }
    }
  }
  return cases;
}

describe('worklist query plans', () => {
  it('sqlite: the index of the filter and sort delivers every page in order (no temporary sort)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cxr-worklist-plan-'));
    const store = await openStore(`sqlite:${join(dir, 'plan.sqlite')}`);
    await store.close();
    const db = new Database(join(dir, 'plan.sqlite'), { readonly: true });
    const dialect: WorklistDialect = {
      param: () => '?',
      instant: (p) => p,
      score: (p) => `json_extract(scores, ${p})`,
      labelParam: (l) => `$."${l}"`,
      useIndex: (index) => ` INDEXED BY ${index}`,
    };
    try {
      for (const { name, query, cursor, order } of indexedQueries()) {
        const { sql, params } = worklistSql(query, order, cursor, dialect, WORKLIST_SELECT_LIST);
        const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[])
          .map((row) => row.detail)
          .join('; ');
        expect(plan, name).toMatch(new RegExp(`USING INDEX ${worklistIndex(query)}\\b`));
        expect(plan, name).not.toMatch(/TEMP B-TREE/);
        // The cursor starts the walk: a range on the first sort key, not a scan from the top.
        if (cursor !== undefined) expect(plan, name).toMatch(/SEARCH .*(<expr>|updated_at)[<>]/);
      }
    } finally {
      db.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('postgres: an index delivers every indexed page in order (no Sort node)', async () => {
    const schema = `cxr_test_${randomBytes(6).toString('hex')}`;
    const store = await openStore(POSTGRES_URL, { schema });
    await store.close();
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    const dialect: WorklistDialect = {
      param: (n) => `$${n}`,
      instant: (p) => `${p}::timestamptz`,
      score: (p) => `(scores ->> ${p}::text)::double precision`,
      labelParam: (l) => l,
      useIndex: () => '',
    };
    try {
      await client.query(`SET search_path = ${schema}`);
      // An empty table is cheapest to scan and sort; with both made prohibitive the planner
      // still sorts when no index gives the order, so a plan without Sort proves the index does.
      await client.query('SET enable_seqscan = off');
      await client.query('SET enable_sort = off');
      for (const { name, query, cursor, order } of indexedQueries()) {
        const { sql, params } = worklistSql(query, order, cursor, dialect, WORKLIST_SELECT_LIST);
        const result = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, params);
        const plan = result.rows.map((row) => row['QUERY PLAN']).join('\n');
        expect(plan, name).toMatch(/Index Scan (Backward )?using results_worklist_/);
        expect(plan, name).not.toMatch(/Sort/);
        if (cursor !== undefined)
          expect(plan, `${name}: the cursor starts the index range`).toMatch(/Index Cond: .*ROW\(/);
      }
    } finally {
      await client.query(`DROP SCHEMA ${schema} CASCADE`);
      await client.end();
    }
  });
});
