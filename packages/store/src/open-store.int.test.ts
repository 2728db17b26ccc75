/** `?schema=NAME` in a PostgreSQL store URL, against the real server. */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from './open-store.js';
import { StoreNotFoundError } from './result-store.js';
import { sampleRow } from './testing/store-contract.js';

const BASE_URL = 'postgres://postgres@127.0.0.1:5432/test';

describe('openStore with a PostgreSQL schema parameter', () => {
  const schema = `cxr_open_${randomBytes(4).toString('hex')}`;

  afterAll(async () => {
    const admin = new pg.Client({ connectionString: BASE_URL });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    // Only created if mustExist failed to hold.
    await admin.query(`DROP SCHEMA IF EXISTS ${schema}_missing CASCADE`);
    await admin.end();
  });

  it('creates the schema, migrates inside it and keeps its tables there', async () => {
    const store = await openStore(`${BASE_URL}?schema=${schema}`);
    try {
      expect(await store.upsertResults([sampleRow('a')])).toMatchObject({ inserted: 1 });
    } finally {
      await store.close();
    }
    const admin = new pg.Client({ connectionString: BASE_URL });
    await admin.connect();
    try {
      const tables = await admin.query<{ table_name: string }>(
        'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name',
        [schema],
      );
      expect(tables.rows.map((r) => r.table_name)).toContain('results');
    } finally {
      await admin.end();
    }
    // A second open finds the schema current and the row still there.
    const again = await openStore(`${BASE_URL}?schema=${schema}`);
    try {
      expect(await again.migrate()).toEqual({ applied: [] });
      expect(await again.hasResult(sampleRow('a'))).toBe(true);
    } finally {
      await again.close();
    }
  });

  it('refuses a schema name that is not a plain identifier', async () => {
    await expect(openStore(`${BASE_URL}?schema=x;drop`)).rejects.toThrow(/invalid schema name/);
  });

  it('with mustExist, refuses a schema that does not exist and does not create it', async () => {
    const missing = `${schema}_missing`;
    await expect(openStore(`${BASE_URL}?schema=${missing}`, { mustExist: true })).rejects.toThrow(
      new StoreNotFoundError(`result store PostgreSQL schema ${missing} holds no cxr results tables`),
    );
    const admin = new pg.Client({ connectionString: BASE_URL });
    await admin.connect();
    try {
      const found = await admin.query('SELECT 1 FROM information_schema.schemata WHERE schema_name = $1', [
        missing,
      ]);
      expect(found.rowCount).toBe(0);
    } finally {
      await admin.end();
    }
  });
});
