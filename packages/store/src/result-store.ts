/** The results store port: what ingest, results and the CLI need, independent of the database. */
import type { Outcome, ResultKey, ResultRow, StoredResult } from './result-row.js';
import type { ReaderStudyStore } from './reader-study.js';
import type { UpsertOptions } from './replacement.js';
import type { WorklistPage, WorklistQuery } from './worklist.js';
import type { DeliveryState, DeliveryUpdate } from './delivery.js';

export interface UpsertSummary {
  /** Keys that had no row. */
  readonly inserted: number;
  /** Rows replaced under the replacement rule (replacement.ts). */
  readonly updated: number;
  /** Rows left as they were (a final result re-delivered), including duplicates inside the batch. */
  readonly unchanged: number;
}

export interface ExistingResult extends ResultKey {
  readonly outcome: Outcome;
}

export interface ReasonCount {
  readonly outcome: Outcome;
  readonly reason: string;
  readonly count: number;
}

export interface RunSummary {
  readonly runId: string;
  readonly total: number;
  readonly byOutcome: Readonly<Record<Outcome, number>>;
  readonly firstCreatedAt: string;
  readonly lastUpdatedAt: string;
}

export interface IterateOptions {
  /** Rows per database round trip (keyset page); default 500, at most MAX_PAGE_SIZE. */
  readonly batchSize?: number;
}

/** Ceiling of {@link RecentResultsQuery.limit}: the rows are returned in one array. */
export const MAX_RECENT_RESULTS = 100_000;

/** Which rows {@link ResultStore.recentResults} returns. */
export interface RecentResultsQuery {
  readonly modelId: string;
  readonly modelVersion: string;
  /** The newest `limit` rows at most (1 .. MAX_RECENT_RESULTS). */
  readonly limit: number;
  /** Only rows last written (updated_at) at or after this instant. */
  readonly since?: Date;
}

export interface ResultStore {
  /** `sqlite` or `postgres`, for logs. */
  readonly dialect: 'sqlite' | 'postgres';
  /** Applies pending migrations; a no-op when the schema is current. */
  migrate(): Promise<{ applied: number[] }>;
  /** Versions recorded in the migrations table, ascending. */
  appliedMigrations(): Promise<number[]>;
  /** Validated, batched, idempotent upsert: one transaction per call. */
  upsertResults(rows: readonly ResultRow[], options?: UpsertOptions): Promise<UpsertSummary>;
  /** Whether a row exists for the key (any outcome). */
  hasResult(key: ResultKey): Promise<boolean>;
  /** The keys among `keys` that have a row, with their outcome (ingest skips final ones). */
  existingKeys(keys: readonly ResultKey[]): Promise<ExistingResult[]>;
  /** Rows of a run per outcome (zeros included). */
  countByOutcome(runId: string): Promise<Record<Outcome, number>>;
  /** Rows of a run per (outcome, reason) for rejected and failed rows, most frequent first. */
  countByReason(runId: string): Promise<ReasonCount[]>;
  /** Streams a run ordered by (uri, model_id, model_version), one keyset page at a time. */
  iterateRun(runId: string, options?: IterateOptions): AsyncIterable<StoredResult>;
  /**
   * The most recent ok rows of one model version (by updated_at, the time the row was last
   * written), at most `limit` of them, returned OLDEST FIRST: the order in which they entered
   * the store, so a sliding window can be refilled from them (the results service on start).
   */
  recentResults(query: RecentResultsQuery): Promise<StoredResult[]>;
  /**
   * One page of the worklist (worklist.ts): rows filtered by run, decision, outcome, a label's
   * score and a time range, sorted by suspicion or time, keyset-paginated. Throws RangeError for
   * a bad query, InvalidWorklistCursorError for a cursor it did not issue.
   */
  worklist(query: WorklistQuery): Promise<WorklistPage>;
  /** The row with this row key (row-key.ts), or undefined: how a worklist thumbnail finds its object. */
  resultByRowKey(rowKey: string): Promise<StoredResult | undefined>;
  /**
   * Marks the ok rows among `rowKeys` as queued for delivery (state pending, 0 attempts, no
   * reason, time `at`); resolves with the number of rows marked. Rows not ok are left alone.
   */
  markDeliveryPending(rowKeys: readonly string[], at: Date): Promise<number>;
  /** Writes the delivery state of one row; false when no row has this key. */
  recordDelivery(rowKey: string, update: DeliveryUpdate): Promise<boolean>;
  /** Rows of a run per delivery state (rows never queued are not counted). */
  deliveryCounts(runId: string): Promise<Record<DeliveryState, number>>;
  /** Every run with counts, most recently updated first. */
  listRuns(): Promise<RunSummary[]>;
  /** Reader studies (reader-study.ts): studies, readers, cases, assignments, readings. */
  readonly studies: ReaderStudyStore;
  /** Column names of the `results` table (the privacy test asserts no patient-name column). */
  resultColumns(): Promise<string[]>;
  close(): Promise<void>;
}

/** Validates a RecentResultsQuery limit (an integer in 1..MAX_RECENT_RESULTS). */
export function recentLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_RECENT_RESULTS) {
    throw new RangeError(`recentResults: limit must be an integer from 1 to ${MAX_RECENT_RESULTS}`);
  }
  return limit;
}

/** Clamps a requested page size to [1, max]. */
export function pageSize(requested: number | undefined, max: number): number {
  if (requested === undefined) return 500;
  if (!Number.isInteger(requested) || requested < 1) throw new Error('batchSize must be a positive integer');
  return Math.min(requested, max);
}

/** Zeroed outcome counts. */
export function emptyOutcomeCounts(): Record<Outcome, number> {
  return { ok: 0, rejected: 0, failed: 0 };
}

export { StoreNotFoundError } from './errors.js';
