/** PostgreSQL adapter (pg Pool): the production store shared by many results consumers. */
import pg from 'pg';
import {
  DATA_COLUMNS,
  MAX_PAGE_SIZE,
  SELECT_LIST,
  UPDATABLE_COLUMNS,
  CLEAR_DELIVERY_SQL,
  quoteIdent,
  storedResultFromRecord,
  worklistItemFromRecord,
  type SqlValue,
} from './columns.js';
import { MIGRATIONS, MIGRATIONS_TABLE } from './migrations.js';
import {
  checkDeliveryUpdate,
  emptyDeliveryCounts,
  isDeliveryState,
  type DeliveryState,
  type DeliveryUpdate,
} from './delivery.js';
import { SqlReaderStudyStore, type ReaderStudyStore, type SqlExecutor } from './reader-study.js';
import { collapseBatch, type UpsertOptions } from './replacement.js';
import { ROW_KEY_PATTERN } from './row-key.js';
import {
  WORKLIST_SELECT_LIST,
  checkWorklistQuery,
  decodeWorklistCursor,
  worklistPage,
  worklistSql,
  type WorklistDialect,
  type WorklistPage,
  type WorklistQuery,
} from './worklist.js';
import {
  OUTCOMES,
  parseResultRow,
  type Outcome,
  type ResultKey,
  type ResultRow,
  type StoredResult,
} from './result-row.js';
import {
  emptyOutcomeCounts,
  pageSize,
  recentLimit,
  type ExistingResult,
  type RecentResultsQuery,
  type IterateOptions,
  type ReasonCount,
  type ResultStore,
  type RunSummary,
  type UpsertSummary,
} from './result-store.js';

/** PostgreSQL's spelling of the worklist query. */
const POSTGRES_WORKLIST: WorklistDialect = {
  param: (n) => `$${n}`,
  instant: (param) => `${param}::timestamptz`,
  score: (param) => `(scores ->> ${param}::text)::double precision`,
  labelParam: (label) => label,
  // PostgreSQL's planner has statistics (and no hints): the indexes are there for it to choose.
  useIndex: () => '',
};

// PostgreSQL allows 65,535 bind parameters per statement; 37 per row -> 1,000 rows is ~37,000.
const ROWS_PER_STATEMENT = 1000;
// Advisory lock namespace for migrations (an arbitrary constant; the second key is the schema).
const MIGRATION_LOCK_CLASS = 0x43585231; // "CXR1"

function isOutcome(value: unknown): value is Outcome {
  return OUTCOMES.some((outcome) => outcome === value);
}

export interface PostgresStoreOptions {
  /** Schema for all tables (set as search_path on every connection); default: server default. */
  readonly schema?: string;
  /** Pool size; the results service needs few connections (one upsert per batch). */
  readonly maxConnections?: number;
}

export class PostgresResultStore implements ResultStore {
  readonly dialect = 'postgres';
  readonly studies: ReaderStudyStore;
  private readonly pool: pg.Pool;
  private readonly schema: string | undefined;

  constructor(connectionString: string, options: PostgresStoreOptions = {}) {
    const config: pg.PoolConfig = { connectionString, max: options.maxConnections ?? 4 };
    if (options.schema !== undefined) {
      if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(options.schema)) throw new Error('invalid schema name');
      config.options = `-c search_path=${options.schema}`;
    }
    this.schema = options.schema;
    this.pool = new pg.Pool(config);
    // An idle client losing its connection (server restart) must not crash the process; the
    // next query gets a fresh connection.
    this.pool.on('error', () => undefined);
    this.studies = new SqlReaderStudyStore(this.#executor());
  }

  /** The study store's SQL surface: `?` placeholders become $1, $2, ... */
  #executor(): SqlExecutor {
    const numbered = (sql: string): string => {
      let n = 0;
      return sql.replace(/\?/g, () => `$${++n}`);
    };
    const on = (client: pg.Pool | pg.PoolClient) => ({
      all: async (sql: string, params: readonly unknown[] = []) =>
        (await client.query<Record<string, unknown>>(numbered(sql), [...params])).rows,
      run: async (sql: string, params: readonly unknown[] = []) =>
        (await client.query(numbered(sql), [...params])).rowCount ?? 0,
    });
    return {
      typed: { json: '?::jsonb', real: '?::double precision', time: '?::timestamptz' },
      ...on(this.pool),
      transaction: async (body) => {
        const client = await this.pool.connect();
        try {
          await client.query('BEGIN');
          try {
            const result = await body(on(client));
            await client.query('COMMIT');
            return result;
          } catch (error) {
            await client.query('ROLLBACK');
            throw error;
          }
        } finally {
          client.release();
        }
      },
    };
  }

  async migrate(): Promise<{ applied: number[] }> {
    const client = await this.pool.connect();
    const applied: number[] = [];
    try {
      // Session-level advisory lock: a second process running migrate() waits here, then finds
      // everything applied. Keyed by schema so separate schemas migrate independently.
      const lockKey =
        this.schema ?? (await client.query<{ s: string }>('SELECT current_schema() AS s')).rows[0]?.s ?? '';
      await client.query('SELECT pg_advisory_lock($1, hashtext($2))', [MIGRATION_LOCK_CLASS, lockKey]);
      try {
        // A named schema is created on first use, under the lock (its name matched a strict pattern).
        if (this.schema !== undefined) await client.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`);
        await client.query(
          `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
        );
        for (const migration of MIGRATIONS) {
          await client.query('BEGIN');
          try {
            const done = await client.query(`SELECT 1 FROM ${MIGRATIONS_TABLE} WHERE version = $1`, [
              migration.version,
            ]);
            if (done.rowCount === 0) {
              await client.query(migration.postgres);
              await client.query(`INSERT INTO ${MIGRATIONS_TABLE} (version, name) VALUES ($1, $2)`, [
                migration.version,
                migration.name,
              ]);
              applied.push(migration.version);
            }
            await client.query('COMMIT');
          } catch (error) {
            await client.query('ROLLBACK');
            throw new Error(`migration ${migration.version} (${migration.name}) failed`, { cause: error });
          }
        }
      } finally {
        await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [MIGRATION_LOCK_CLASS, lockKey]);
      }
    } finally {
      client.release();
    }
    return { applied };
  }

  /** True when the migrations table is on the search path (the schema holds a cxr store). */
  async hasSchema(): Promise<boolean> {
    const result = await this.pool.query<{ present: boolean }>(
      'SELECT to_regclass($1) IS NOT NULL AS present',
      [MIGRATIONS_TABLE],
    );
    return result.rows[0]?.present === true;
  }

  async appliedMigrations(): Promise<number[]> {
    const result = await this.pool.query<{ version: number }>(
      `SELECT version FROM ${MIGRATIONS_TABLE} ORDER BY version`,
    );
    return result.rows.map((row) => row.version);
  }

  async upsertResults(rows: readonly ResultRow[], options: UpsertOptions = {}): Promise<UpsertSummary> {
    const batch = collapseBatch(
      rows.map((row) => parseResultRow(row)),
      options,
    );
    if (batch.length === 0) return { inserted: 0, updated: 0, unchanged: rows.length };
    const now = new Date().toISOString();
    const columns = [...DATA_COLUMNS.map((c) => quoteIdent(c.name)), 'created_at', 'updated_at'];
    const client = await this.pool.connect();
    let inserted = 0;
    let updated = 0;
    try {
      await client.query('BEGIN');
      try {
        for (let start = 0; start < batch.length; start += ROWS_PER_STATEMENT) {
          const chunk = batch.slice(start, start + ROWS_PER_STATEMENT);
          const params: SqlValue[] = [];
          const tuples = chunk.map((row) => {
            const values: SqlValue[] = [...DATA_COLUMNS.map((c) => c.toSql(row)), now, now];
            const placeholders = values.map((value) => {
              params.push(value);
              return `$${params.length}`;
            });
            return `(${placeholders.join(', ')})`;
          });
          // The WHERE on DO UPDATE is replacesExisting (replacement.ts) in SQL; rows it skips are
          // not returned. xmax = 0 identifies a freshly inserted tuple (no prior version).
          const result = await client.query<{ inserted: boolean }>(
            `INSERT INTO results (${columns.join(', ')}) VALUES ${tuples.join(', ')}
             ON CONFLICT (model_id, model_version, uri) DO UPDATE SET
               ${UPDATABLE_COLUMNS.map((c) => `${quoteIdent(c.name)} = EXCLUDED.${quoteIdent(c.name)}`).join(', ')},
               ${CLEAR_DELIVERY_SQL},
               updated_at = EXCLUDED.updated_at
             WHERE ${options.force === true ? 'TRUE' : 'FALSE'}
               OR results.outcome = 'failed'
               OR (EXCLUDED.etag IS NOT NULL AND results.etag IS DISTINCT FROM EXCLUDED.etag)
             RETURNING (xmax = 0) AS inserted`,
            params,
          );
          for (const row of result.rows) {
            if (row.inserted) inserted += 1;
            else updated += 1;
          }
        }
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw new Error(`upsert of ${batch.length} results failed`, { cause: error });
      }
    } finally {
      client.release();
    }
    return { inserted, updated, unchanged: rows.length - inserted - updated };
  }

  async hasResult(key: ResultKey): Promise<boolean> {
    const result = await this.pool.query(
      'SELECT 1 FROM results WHERE model_id = $1 AND model_version = $2 AND uri = $3',
      [key.modelId, key.modelVersion, key.uri],
    );
    return result.rowCount !== null && result.rowCount > 0;
  }

  async existingKeys(keys: readonly ResultKey[]): Promise<ExistingResult[]> {
    if (keys.length === 0) return [];
    // Three parallel arrays unnested into a key table: one round trip and three parameters,
    // whatever the number of keys.
    const result = await this.pool.query<{
      uri: string;
      model_id: string;
      model_version: string;
      outcome: string;
    }>(
      `SELECT r.uri, r.model_id, r.model_version, r.outcome
       FROM unnest($1::text[], $2::text[], $3::text[]) AS k(model_id, model_version, uri)
       JOIN results r ON r.model_id = k.model_id AND r.model_version = k.model_version AND r.uri = k.uri`,
      [keys.map((k) => k.modelId), keys.map((k) => k.modelVersion), keys.map((k) => k.uri)],
    );
    return result.rows.flatMap((row) =>
      isOutcome(row.outcome)
        ? [{ uri: row.uri, modelId: row.model_id, modelVersion: row.model_version, outcome: row.outcome }]
        : [],
    );
  }

  async countByOutcome(runId: string): Promise<Record<Outcome, number>> {
    const counts = emptyOutcomeCounts();
    const result = await this.pool.query<{ outcome: string; n: string }>(
      'SELECT outcome, COUNT(*) AS n FROM results WHERE run_id = $1 GROUP BY outcome',
      [runId],
    );
    for (const row of result.rows) if (isOutcome(row.outcome)) counts[row.outcome] = Number(row.n);
    return counts;
  }

  async countByReason(runId: string): Promise<ReasonCount[]> {
    const result = await this.pool.query<{ outcome: string; reason: string; n: string }>(
      `SELECT outcome, reason, COUNT(*) AS n FROM results
       WHERE run_id = $1 AND outcome <> 'ok' AND reason IS NOT NULL
       GROUP BY outcome, reason ORDER BY n DESC, outcome COLLATE "C", reason COLLATE "C"`,
      [runId],
    );
    return result.rows.flatMap((row) =>
      isOutcome(row.outcome) ? [{ outcome: row.outcome, reason: row.reason, count: Number(row.n) }] : [],
    );
  }

  async *iterateRun(runId: string, options: IterateOptions = {}): AsyncGenerator<StoredResult> {
    const limit = pageSize(options.batchSize, MAX_PAGE_SIZE);
    let last: StoredResult | undefined;
    for (;;) {
      // Keyset pagination on the results_run index (see the SQLite adapter for why not OFFSET).
      const result =
        last === undefined
          ? await this.pool.query(
              `SELECT ${SELECT_LIST} FROM results WHERE run_id = $1 ORDER BY uri, model_id, model_version LIMIT $2`,
              [runId, limit],
            )
          : await this.pool.query(
              `SELECT ${SELECT_LIST} FROM results
               WHERE run_id = $1 AND (uri, model_id, model_version) > ($2, $3, $4)
               ORDER BY uri, model_id, model_version LIMIT $5`,
              [runId, last.uri, last.modelId, last.modelVersion, limit],
            );
      const page = result.rows.map((row: Record<string, unknown>) => storedResultFromRecord(row));
      for (const row of page) yield row;
      if (page.length < limit) return;
      last = page[page.length - 1];
    }
  }

  async recentResults(query: RecentResultsQuery): Promise<StoredResult[]> {
    const limit = recentLimit(query.limit);
    // The inner query walks the results_recent_ok index backwards; the outer one flips the page
    // to oldest first.
    const result = await this.pool.query(
      `SELECT * FROM (
         SELECT ${SELECT_LIST} FROM results
         WHERE model_id = $1 AND model_version = $2 AND outcome = 'ok'
           AND ($3::timestamptz IS NULL OR updated_at >= $3::timestamptz)
         ORDER BY updated_at DESC, uri DESC LIMIT $4
       ) AS recent ORDER BY updated_at, uri`,
      [query.modelId, query.modelVersion, query.since?.toISOString() ?? null, limit],
    );
    return result.rows.map((row: Record<string, unknown>) => storedResultFromRecord(row));
  }

  async worklist(query: WorklistQuery): Promise<WorklistPage> {
    const order = checkWorklistQuery(query);
    const cursor =
      query.cursor === undefined ? undefined : decodeWorklistCursor(query.cursor, query.sort, order);
    const { sql, params } = worklistSql(query, order, cursor, POSTGRES_WORKLIST, WORKLIST_SELECT_LIST);
    const result = await this.pool.query(sql, params);
    const rows = result.rows.map((row: Record<string, unknown>) => worklistItemFromRecord(row));
    return worklistPage(rows, query, order, cursor);
  }

  async resultByRowKey(rowKey: string): Promise<StoredResult | undefined> {
    if (!ROW_KEY_PATTERN.test(rowKey)) return undefined;
    const result = await this.pool.query(`SELECT ${SELECT_LIST} FROM results WHERE row_key = $1`, [rowKey]);
    const row = result.rows[0] as Record<string, unknown> | undefined;
    return row === undefined ? undefined : storedResultFromRecord(row);
  }

  async markDeliveryPending(rowKeys: readonly string[], at: Date): Promise<number> {
    const keys = rowKeys.filter((key) => ROW_KEY_PATTERN.test(key));
    if (keys.length === 0) return 0;
    const result = await this.pool.query(
      `UPDATE results SET delivery_state = 'pending', delivery_reason = NULL, delivery_attempts = 0, delivery_at = $1
       WHERE row_key = ANY($2::text[]) AND outcome = 'ok'`,
      [at.toISOString(), keys],
    );
    return result.rowCount ?? 0;
  }

  async recordDelivery(rowKey: string, update: DeliveryUpdate): Promise<boolean> {
    const u = checkDeliveryUpdate(update);
    if (!ROW_KEY_PATTERN.test(rowKey)) return false;
    const result = await this.pool.query(
      `UPDATE results SET delivery_state = $1, delivery_reason = $2, delivery_attempts = $3, delivery_at = $4
       WHERE row_key = $5`,
      [u.state, u.reason, u.attempts, u.at.toISOString(), rowKey],
    );
    return result.rowCount === 1;
  }

  async deliveryCounts(runId: string): Promise<Record<DeliveryState, number>> {
    const counts = emptyDeliveryCounts();
    const result = await this.pool.query<{ delivery_state: string; n: string }>(
      `SELECT delivery_state, COUNT(*) AS n FROM results
       WHERE run_id = $1 AND delivery_state IS NOT NULL GROUP BY delivery_state`,
      [runId],
    );
    for (const row of result.rows)
      if (isDeliveryState(row.delivery_state)) counts[row.delivery_state] = Number(row.n);
    return counts;
  }

  async listRuns(): Promise<RunSummary[]> {
    const result = await this.pool.query<{
      run_id: string;
      total: string;
      ok: string;
      rejected: string;
      failed: string;
      first_created_at: Date;
      last_updated_at: Date;
    }>(
      `SELECT run_id, COUNT(*) AS total,
         COUNT(*) FILTER (WHERE outcome = 'ok') AS ok,
         COUNT(*) FILTER (WHERE outcome = 'rejected') AS rejected,
         COUNT(*) FILTER (WHERE outcome = 'failed') AS failed,
         MIN(created_at) AS first_created_at, MAX(updated_at) AS last_updated_at
       FROM results GROUP BY run_id ORDER BY last_updated_at DESC, run_id`,
    );
    return result.rows.map((row) => ({
      runId: row.run_id,
      total: Number(row.total),
      byOutcome: { ok: Number(row.ok), rejected: Number(row.rejected), failed: Number(row.failed) },
      firstCreatedAt: row.first_created_at.toISOString(),
      lastUpdatedAt: row.last_updated_at.toISOString(),
    }));
  }

  async resultColumns(): Promise<string[]> {
    const result = await this.pool.query<{ column_name: string }>(
      `SELECT column_name FROM information_schema.columns
       WHERE table_schema = current_schema() AND table_name = 'results' ORDER BY ordinal_position`,
    );
    return result.rows.map((row) => row.column_name);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
