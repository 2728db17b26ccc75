/**
 * Picks the store adapter from a URL: `sqlite:PATH`, `sqlite::memory:` or `postgres://...`. A
 * PostgreSQL URL may name the schema of the tables as `?schema=NAME` (created if missing, unless
 * the store must exist).
 */
import { PostgresResultStore, type PostgresStoreOptions } from './postgres-store.js';
import { StoreNotFoundError, type ResultStore } from './result-store.js';
import { SqliteResultStore, type SqliteStoreOptions } from './sqlite-store.js';

export interface OpenStoreOptions extends PostgresStoreOptions, SqliteStoreOptions {
  /** Apply pending migrations before returning (default true). */
  readonly migrate?: boolean;
  /**
   * Never create a store: the SQLite file and the store's tables (PostgreSQL: in the schema) must
   * exist already, else StoreNotFoundError. For commands that only read; pending migrations of
   * an existing store are still applied.
   */
  readonly mustExist?: boolean;
}

/** Opens (and by default migrates) the store a URL names; throws on an unknown scheme. */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<ResultStore> {
  const store = createStore(url, options);
  try {
    if (options.mustExist === true && !(await store.hasSchema())) {
      throw new StoreNotFoundError(`result store ${describeStoreUrl(url)} holds no cxr results tables`);
    }
    if (options.migrate !== false) await store.migrate();
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}

/** The store URL as it may be printed: SQLite as given; PostgreSQL without credentials or host. */
function describeStoreUrl(url: string): string {
  if (url.startsWith('sqlite:')) return url;
  const schema = splitSchemaParameter(url).schema;
  return schema === undefined ? 'PostgreSQL (search path of the connection)' : `PostgreSQL schema ${schema}`;
}

function createStore(url: string, options: OpenStoreOptions): SqliteResultStore | PostgresResultStore {
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const { connectionString, schema } = splitSchemaParameter(url);
    return new PostgresResultStore(connectionString, {
      ...options,
      ...(schema !== undefined && options.schema === undefined ? { schema } : {}),
    });
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

/** Removes `schema=NAME` from a PostgreSQL URL's query (node-postgres would send it to the server). */
export function splitSchemaParameter(url: string): { connectionString: string; schema?: string } {
  const query = url.indexOf('?');
  if (query === -1) return { connectionString: url };
  const params = new URLSearchParams(url.slice(query + 1));
  const schema = params.get('schema');
  if (schema === null) return { connectionString: url };
  params.delete('schema');
  const rest = params.toString();
  return { connectionString: url.slice(0, query) + (rest === '' ? '' : `?${rest}`), schema };
}
