import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS } from './migrations.js';
import { openStore, splitSchemaParameter } from './open-store.js';
import { StoreNotFoundError } from './result-store.js';
import { sampleRow } from './testing/store-contract.js';

describe('openStore', () => {
  it('opens and migrates an in-memory SQLite store', async () => {
    const store = await openStore('sqlite::memory:');
    try {
      expect(store.dialect).toBe('sqlite');
      expect(await store.appliedMigrations()).toEqual(MIGRATIONS.map((m) => m.version));
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

  describe('with mustExist (read commands)', () => {
    it('refuses a missing SQLite file, a missing folder and :memory: without creating anything', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'cxr-open-store-'));
      try {
        for (const path of [join(dir, 'none.sqlite'), join(dir, 'no-folder', 'none.sqlite'), ':memory:']) {
          const error: unknown = await openStore(`sqlite:${path}`, { mustExist: true }).catch(
            (e: unknown) => e,
          );
          expect(error, path).toBeInstanceOf(StoreNotFoundError);
          expect(String(error)).toContain(`result store sqlite:${path} does not exist`);
        }
        expect(await readdir(dir)).toEqual([]);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('refuses a SQLite database without the store tables and adds none', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'cxr-open-store-'));
      const path = join(dir, 'other.sqlite');
      try {
        const other = new Database(path);
        other.exec('CREATE TABLE unrelated (x INTEGER)');
        other.close();
        await expect(openStore(`sqlite:${path}`, { mustExist: true })).rejects.toThrow(
          new StoreNotFoundError(`result store sqlite:${path} holds no cxr results tables`),
        );
        const check = new Database(path, { readonly: true });
        const tables = check.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all();
        check.close();
        expect(tables).toEqual([{ name: 'unrelated' }]);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('opens an existing store', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'cxr-open-store-'));
      const url = `sqlite:${join(dir, 'results.sqlite')}`;
      try {
        const writer = await openStore(url);
        await writer.upsertResults([sampleRow('a')]);
        await writer.close();
        const reader = await openStore(url, { mustExist: true });
        try {
          expect(await reader.hasResult(sampleRow('a'))).toBe(true);
        } finally {
          await reader.close();
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});
