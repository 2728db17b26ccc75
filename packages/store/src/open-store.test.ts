import { describe, expect, it } from 'vitest';
import { openStore, splitSchemaParameter } from './open-store.js';
import { sampleRow } from './testing/store-contract.js';

describe('openStore', () => {
  it('opens and migrates an in-memory SQLite store', async () => {
    const store = await openStore('sqlite::memory:');
    try {
      expect(store.dialect).toBe('sqlite');
      expect(await store.appliedMigrations()).toEqual([1, 2]);
      expect(await store.upsertResults([sampleRow('a')])).toMatchObject({ inserted: 1 });
    } finally {
      await store.close();
    }
  });

  it('refuses unknown schemes without echoing the URL (it may hold a password)', async () => {
    const error: unknown = await openStore('mysql://user:secret@host/db').catch((e: unknown) => e);
    expect(String(error)).toMatch(/unsupported store URL scheme mysql:/);
    expect(String(error)).not.toContain('secret');
    await expect(openStore('sqlite:')).rejects.toThrow(/needs a path/);
  });

  it('takes the schema out of a PostgreSQL URL and keeps the other parameters', () => {
    expect(splitSchemaParameter('postgres://u@h/db?schema=cxr')).toEqual({
      connectionString: 'postgres://u@h/db',
      schema: 'cxr',
    });
    expect(splitSchemaParameter('postgres://u@h/db?sslmode=require&schema=s1')).toEqual({
      connectionString: 'postgres://u@h/db?sslmode=require',
      schema: 's1',
    });
    expect(splitSchemaParameter('postgres://u@h/db?sslmode=require')).toEqual({
      connectionString: 'postgres://u@h/db?sslmode=require',
    });
  });
});
