/** Picks the store adapter from a URL: `sqlite:PATH`, `sqlite::memory:` or `postgres://...`. */
import { PostgresResultStore, type PostgresStoreOptions } from './postgres-store.js';
import type { ResultStore } from './result-store.js';
import { SqliteResultStore, type SqliteStoreOptions } from './sqlite-store.js';

export interface OpenStoreOptions extends PostgresStoreOptions, SqliteStoreOptions {
  /** Apply pending migrations before returning (default true). */
  readonly migrate?: boolean;
}

/** Opens (and by default migrates) the store a URL names; throws on an unknown scheme. */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<ResultStore> {
  const store = createStore(url, options);
  if (options.migrate !== false) {
    try {
      await store.migrate();
    } catch (error) {
      await store.close();
      throw error;
    }
  }
  return store;
}

function createStore(url: string, options: OpenStoreOptions): ResultStore {
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    return new PostgresResultStore(url, options);
  }
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    if (path === '') throw new Error('sqlite store URL needs a path: sqlite:PATH or sqlite::memory:');
    return new SqliteResultStore(path, options);
  }
  // Only the scheme is echoed: a postgres URL may carry a password.
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0] ?? '(none)';
  throw new Error(`unsupported store URL scheme ${scheme}; use sqlite:PATH or postgres://`);
}
