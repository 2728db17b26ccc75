/** SQLite adapter (better-sqlite3): the embedded default for one machine and for tests. */
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
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
import { ROW_KEY_PATTERN, SQLITE_ROW_KEY_FUNCTION, sqliteRowKey } from './row-key.js';
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
  StoreNotFoundError,
  type ResultStore,
  type RunSummary,
  type UpsertSummary,
} from './result-store.js';

/**
 * better-sqlite3 is synchronous; the port is async. Running the body inside a promise turns a
 * synchronous throw (validation, SQLITE_BUSY) into a rejection, as callers of the port expect.
 */
function settle<T>(body: () => T): Promise<T> {
  return new Promise<T>((resolve) => {
    resolve(body());
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function records(rows: unknown[]): Record<string, unknown>[] {
  return rows.filter(isRecord);
}

/** SQLite's spelling of the worklist query: ISO text instants, scores by JSON path. */
const SQLITE_WORKLIST: WorklistDialect = {
  param: () => '?',
  // updated_at is ISO 8601 UTC text written by toISOString: text order is time order.
  instant: (param) => param,
  score: (param) => `json_extract(scores, ${param})`,
  // A quoted path label matches the key exactly, dots and brackets included.
  labelParam: (label) => `$."${label.replace(/["\\]/g, (c) => `\\${c}`)}"`,
  // Without statistics SQLite's planner prefers an equality index and sorts what it finds (a
  // third of the table for a decision); the index of the query's filter and sort never sorts.
  useIndex: (index) => ` INDEXED BY ${index}`,
};

function isOutcome(value: unknown): value is Outcome {
  return OUTCOMES.some((outcome) => outcome === value);
}

export interface SqliteStoreOptions {
  /** Milliseconds a writer waits for another process's lock before failing. */
  readonly busyTimeoutMs?: number;
  /** Refuse to create the database file: a missing file is a StoreNotFoundError (read commands). */
  readonly mustExist?: boolean;
}

export class SqliteResultStore implements ResultStore {
  readonly dialect = 'sqlite';
  readonly studies: ReaderStudyStore;
  private readonly db: Database.Database;

  /** `path` is a file path or `:memory:`. */
  constructor(path: string, options: SqliteStoreOptions = {}) {
    if (options.mustExist === true && (path === ':memory:' || !existsSync(path))) {
      throw new StoreNotFoundError(`result store sqlite:${path} does not exist`);
    }
    // fileMustExist: a file deleted since the check is not created either.
    this.db = new Database(path, { fileMustExist: options.mustExist === true });
    // WAL lets exports read while the results service writes; busy_timeout makes a second
    // process (two `cxr` commands on one file) wait for the write lock instead of failing.
    if (path !== ':memory:') this.db.pragma('journal_mode = WAL');
    this.db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
    // Migration 3 fills row_key of existing rows with it (SQLite has no SHA-256 of its own).
    this.db.function(SQLITE_ROW_KEY_FUNCTION, { deterministic: true }, sqliteRowKey);
    this.studies = new SqlReaderStudyStore(this.#executor());
  }

  /** The study store's SQL surface on this connection (statements run synchronously). */
  #executor(): SqlExecutor {
    const all = (sql: string, params: readonly unknown[] = []) =>
      settle(() => records(this.db.prepare(sql).all(...params)));
    const run = (sql: string, params: readonly unknown[] = []) =>
      settle(() => this.db.prepare(sql).run(...params).changes);
    // better-sqlite3's transaction() takes a synchronous function; the body awaits statements of
    // this connection, so BEGIN/COMMIT bracket it and transactions of this object queue up (one
    // connection has one transaction at a time).
    let queue: Promise<unknown> = Promise.resolve();
    const transaction = <T>(
      body: (tx: Omit<SqlExecutor, 'transaction' | 'typed'>) => Promise<T>,
    ): Promise<T> => {
      const turn = queue.then(async () => {
        this.db.exec('BEGIN IMMEDIATE');
        try {
          const result = await body({ all, run });
          this.db.exec('COMMIT');
          return result;
        } catch (error) {
          if (this.db.inTransaction) this.db.exec('ROLLBACK');
          throw error;
        }
      });
      queue = turn.catch(() => undefined);
      return turn;
    };
    return { typed: { json: '?', real: '?', time: '?' }, all, run, transaction };
  }

  migrate(): Promise<{ applied: number[] }> {
    return settle(() => {
      this.db.exec(
        `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT`,
      );
      const applied: number[] = [];
      const isApplied = this.db.prepare(`SELECT 1 FROM ${MIGRATIONS_TABLE} WHERE version = ?`);
      const record = this.db.prepare(
        `INSERT INTO ${MIGRATIONS_TABLE} (version, name, applied_at) VALUES (?, ?, ?)`,
      );
      for (const migration of MIGRATIONS) {
        // IMMEDIATE takes the write lock before the check, so two processes cannot both decide a
        // migration is pending; the loser waits (busy_timeout), then sees it applied.
        const apply = this.db.transaction(() => {
          if (isApplied.get(migration.version) !== undefined) return;
          this.db.exec(migration.sqlite);
          record.run(migration.version, migration.name, new Date().toISOString());
          applied.push(migration.version);
        });
        apply.immediate();
      }
      return { applied };
    });
  }

  /** True when the migrations table exists (the file holds a cxr store, possibly an older one). */
  hasSchema(): Promise<boolean> {
    return settle(
      () =>
        this.db
          .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?")
          .get(MIGRATIONS_TABLE) !== undefined,
    );
  }

  appliedMigrations(): Promise<number[]> {
    return settle(() => {
      const rows = records(this.db.prepare(`SELECT version FROM ${MIGRATIONS_TABLE} ORDER BY version`).all());
      return rows.map((row) => Number(row.version));
    });
  }

  upsertResults(rows: readonly ResultRow[], options: UpsertOptions = {}): Promise<UpsertSummary> {
    return settle(() => {
      const valid = rows.map((row) => parseResultRow(row));
      const batch = collapseBatch(valid, options);
      const columns = DATA_COLUMNS.map((c) => quoteIdent(c.name));
      const insert = this.db.prepare(
        `INSERT INTO results (${columns.join(', ')}, created_at, updated_at)
       VALUES (${columns.map(() => '?').join(', ')}, ?, ?)
       ON CONFLICT (model_id, model_version, uri) DO NOTHING`,
      );
      // Mirrors replacesExisting (replacement.ts); `IS NOT` is SQLite's null-safe inequality.
      const update = this.db.prepare(
        `UPDATE results SET ${UPDATABLE_COLUMNS.map((c) => `${quoteIdent(c.name)} = ?`).join(', ')}, ${CLEAR_DELIVERY_SQL}, updated_at = ?
       WHERE model_id = ? AND model_version = ? AND uri = ?
         AND (? = 1 OR outcome = 'failed' OR (? IS NOT NULL AND etag IS NOT ?))`,
      );
      const now = new Date().toISOString();
      let inserted = 0;
      let updated = 0;
      this.db
        .transaction(() => {
          for (const row of batch) {
            const values: SqlValue[] = DATA_COLUMNS.map((c) => c.toSql(row));
            if (insert.run(...values, now, now).changes === 1) {
              inserted += 1;
              continue;
            }
            const changes = update.run(
              ...UPDATABLE_COLUMNS.map((c) => c.toSql(row)),
              now,
              row.modelId,
              row.modelVersion,
              row.uri,
              options.force === true ? 1 : 0,
              row.etag,
              row.etag,
            ).changes;
            if (changes === 1) updated += 1;
          }
        })
        .immediate();
      return { inserted, updated, unchanged: rows.length - inserted - updated };
    });
  }

  hasResult(key: ResultKey): Promise<boolean> {
    return settle(() => {
      const row = this.db
        .prepare('SELECT 1 FROM results WHERE model_id = ? AND model_version = ? AND uri = ?')
        .get(key.modelId, key.modelVersion, key.uri);
      return row !== undefined;
    });
  }

  existingKeys(keys: readonly ResultKey[]): Promise<ExistingResult[]> {
    return settle(() => {
      // One indexed point lookup per key: synchronous and in-process, so cheaper than building a
      // large IN list (SQLite caps bound parameters).
      const lookup = this.db.prepare(
        'SELECT outcome FROM results WHERE model_id = ? AND model_version = ? AND uri = ?',
      );
      const found: ExistingResult[] = [];
      for (const key of keys) {
        const row = lookup.get(key.modelId, key.modelVersion, key.uri);
        if (isRecord(row) && isOutcome(row.outcome)) {
          found.push({
            uri: key.uri,
            modelId: key.modelId,
            modelVersion: key.modelVersion,
            outcome: row.outcome,
          });
        }
      }
      return found;
    });
  }

  countByOutcome(runId: string): Promise<Record<Outcome, number>> {
    return settle(() => {
      const counts = emptyOutcomeCounts();
      const rows = records(
        this.db
          .prepare('SELECT outcome, COUNT(*) AS n FROM results WHERE run_id = ? GROUP BY outcome')
          .all(runId),
      );
      for (const row of rows) if (isOutcome(row.outcome)) counts[row.outcome] = Number(row.n);
      return counts;
    });
  }

  countByReason(runId: string): Promise<ReasonCount[]> {
    return settle(() => {
      const rows = records(
        this.db
          .prepare(
            `SELECT outcome, reason, COUNT(*) AS n FROM results
           WHERE run_id = ? AND outcome <> 'ok' AND reason IS NOT NULL
           GROUP BY outcome, reason ORDER BY n DESC, outcome, reason`,
          )
          .all(runId),
      );
      return rows.flatMap((row) =>
        isOutcome(row.outcome) && typeof row.reason === 'string'
          ? [{ outcome: row.outcome, reason: row.reason, count: Number(row.n) }]
          : [],
      );
    });
  }

  async *iterateRun(runId: string, options: IterateOptions = {}): AsyncGenerator<StoredResult> {
    const limit = pageSize(options.batchSize, MAX_PAGE_SIZE);
    const first = this.db.prepare(
      `SELECT ${SELECT_LIST} FROM results WHERE run_id = ? ORDER BY uri, model_id, model_version LIMIT ?`,
    );
    // Keyset pagination: each page starts after the last key of the previous one, so memory is
    // one page and concurrent inserts never shift or repeat rows (unlike OFFSET).
    const next = this.db.prepare(
      `SELECT ${SELECT_LIST} FROM results
       WHERE run_id = ? AND (uri, model_id, model_version) > (?, ?, ?)
       ORDER BY uri, model_id, model_version LIMIT ?`,
    );
    let last: StoredResult | undefined;
    for (;;) {
      const page = records(
        last === undefined
          ? first.all(runId, limit)
          : next.all(runId, last.uri, last.modelId, last.modelVersion, limit),
      ).map(storedResultFromRecord);
      for (const row of page) yield row;
      if (page.length < limit) return;
      last = page[page.length - 1];
      // Let other work (the event loop) run between synchronous pages.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  recentResults(query: RecentResultsQuery): Promise<StoredResult[]> {
    return settle(() => {
      const limit = recentLimit(query.limit);
      // updated_at is ISO 8601 UTC text written by toISOString, so text order is time order.
      // The inner query walks the results_recent_ok index backwards; the outer one flips the
      // page to oldest first.
      const rows = this.db
        .prepare(
          `SELECT * FROM (
             SELECT ${SELECT_LIST} FROM results
             WHERE model_id = ? AND model_version = ? AND outcome = 'ok' AND updated_at >= ?
             ORDER BY updated_at DESC, uri DESC LIMIT ?
           ) ORDER BY updated_at, uri`,
        )
        .all(query.modelId, query.modelVersion, query.since?.toISOString() ?? '', limit);
      return records(rows).map(storedResultFromRecord);
    });
  }

  worklist(query: WorklistQuery): Promise<WorklistPage> {
    return settle(() => {
      const order = checkWorklistQuery(query);
      const cursor =
        query.cursor === undefined ? undefined : decodeWorklistCursor(query.cursor, query.sort, order);
      const { sql, params } = worklistSql(query, order, cursor, SQLITE_WORKLIST, WORKLIST_SELECT_LIST);
      const rows = records(this.db.prepare(sql).all(...params)).map(worklistItemFromRecord);
      return worklistPage(rows, query, order, cursor);
    });
  }

  resultByRowKey(rowKey: string): Promise<StoredResult | undefined> {
    return settle(() => {
      if (!ROW_KEY_PATTERN.test(rowKey)) return undefined;
      const row = this.db.prepare(`SELECT ${SELECT_LIST} FROM results WHERE row_key = ?`).get(rowKey);
      return isRecord(row) ? storedResultFromRecord(row) : undefined;
    });
  }

  markDeliveryPending(rowKeys: readonly string[], at: Date): Promise<number> {
    return settle(() => {
      const mark = this.db.prepare(
        `UPDATE results SET delivery_state = 'pending', delivery_reason = NULL, delivery_attempts = 0, delivery_at = ?
         WHERE row_key = ? AND outcome = 'ok'`,
      );
      const when = at.toISOString();
      let marked = 0;
      this.db
        .transaction(() => {
          for (const key of rowKeys) if (ROW_KEY_PATTERN.test(key)) marked += mark.run(when, key).changes;
        })
        .immediate();
      return marked;
    });
  }

  recordDelivery(rowKey: string, update: DeliveryUpdate): Promise<boolean> {
    return settle(() => {
      const u = checkDeliveryUpdate(update);
      if (!ROW_KEY_PATTERN.test(rowKey)) return false;
      const changes = this.db
        .prepare(
          `UPDATE results SET delivery_state = ?, delivery_reason = ?, delivery_attempts = ?, delivery_at = ?
           WHERE row_key = ?`,
        )
        .run(u.state, u.reason, u.attempts, u.at.toISOString(), rowKey).changes;
      return changes === 1;
    });
  }

  deliveryCounts(runId: string): Promise<Record<DeliveryState, number>> {
    return settle(() => {
      const counts = emptyDeliveryCounts();
      const rows = records(
        this.db
          .prepare(
            `SELECT delivery_state, COUNT(*) AS n FROM results
             WHERE run_id = ? AND delivery_state IS NOT NULL GROUP BY delivery_state`,
          )
          .all(runId),
      );
      for (const row of rows)
        if (isDeliveryState(row.delivery_state)) counts[row.delivery_state] = Number(row.n);
      return counts;
    });
  }

  listRuns(): Promise<RunSummary[]> {
    return settle(() => {
      const rows = records(
        this.db
          .prepare(
            `SELECT run_id, COUNT(*) AS total,
             SUM(CASE WHEN outcome = 'ok' THEN 1 ELSE 0 END) AS ok,
             SUM(CASE WHEN outcome = 'rejected' THEN 1 ELSE 0 END) AS rejected,
             SUM(CASE WHEN outcome = 'failed' THEN 1 ELSE 0 END) AS failed,
             MIN(created_at) AS first_created_at, MAX(updated_at) AS last_updated_at
           FROM results GROUP BY run_id ORDER BY last_updated_at DESC, run_id`,
          )
          .all(),
      );
      return rows.map((row) => ({
        runId: String(row.run_id),
        total: Number(row.total),
        byOutcome: { ok: Number(row.ok), rejected: Number(row.rejected), failed: Number(row.failed) },
        firstCreatedAt: String(row.first_created_at),
        lastUpdatedAt: String(row.last_updated_at),
      }));
    });
  }

  resultColumns(): Promise<string[]> {
    return settle(() => {
      const rows = records(this.db.prepare("SELECT name FROM pragma_table_info('results')").all());
      return rows.map((row) => String(row.name));
    });
  }

  close(): Promise<void> {
    return settle(() => {
      this.db.close();
    });
  }
}
