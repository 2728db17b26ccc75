/**
 * When a result for a key that already has a row replaces it. The store applies this rule in SQL
 * (so concurrent writers agree); this module is its single statement in code and the rule used to
 * collapse duplicates inside one batch.
 *
 * Rule:
 * - `ok` and `rejected` are final: re-delivery of the same object (a worker killed mid-batch, a
 *   re-run ingest) changes nothing, so the first final result and its timestamps stay.
 * - `failed` is provisional: any later result (ok, rejected, or a newer failure with a fresher
 *   reason and timings) replaces it.
 * - A different ETag means the object at that URI was overwritten: the new bytes deserve a new
 *   result, so a result carrying another ETag replaces whatever is stored.
 * - `force` (a deliberate re-screen) replaces everything.
 * Known limit: a stale re-delivery of an *older* ETag after a newer one would flip the row back;
 * ingest keys jobs by URI + ETag, so this needs two versions of one object in flight at once.
 */
import { resultKeyString, type ResultRow } from './result-row.js';

export interface UpsertOptions {
  /** Replace final results too (an explicit re-screen). */
  readonly force?: boolean;
}

/** Whether `incoming` replaces the stored `existing` result under the rule above. */
export function replacesExisting(
  existing: Pick<ResultRow, 'outcome' | 'etag'>,
  incoming: Pick<ResultRow, 'etag'>,
  options: UpsertOptions = {},
): boolean {
  if (options.force === true) return true;
  if (existing.outcome === 'failed') return true;
  return incoming.etag !== null && incoming.etag !== existing.etag;
}

/**
 * Collapses rows with the same key inside one batch, keeping what the store would keep had they
 * arrived one by one (PostgreSQL refuses to update one row twice in a single INSERT ... ON CONFLICT).
 */
export function collapseBatch(rows: readonly ResultRow[], options: UpsertOptions = {}): ResultRow[] {
  const kept = new Map<string, ResultRow>();
  for (const row of rows) {
    const key = resultKeyString(row);
    const previous = kept.get(key);
    if (previous === undefined || replacesExisting(previous, row, options)) kept.set(key, row);
  }
  return [...kept.values()];
}
