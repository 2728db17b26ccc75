import { createHash } from 'node:crypto';

/** Prefix that marks a screen job id; keeps ids readable in Redis and in BullMQ's UI. */
const SCREEN_JOB_ID_PREFIX = 'scr_';

/**
 * Deterministic BullMQ job id for screening one object version with one model version.
 *
 * BullMQ deduplicates `add`/`addBulk` by job id while the job exists, so re-running an ingest over
 * the same objects adds nothing already queued (or completed within `removeOnComplete.age`). A
 * changed object (new ETag or size) or a new model version gives a new id, i.e. a re-screen.
 * `forceNonce` (the run id of a `--force` ingest) deliberately defeats the dedupe.
 * The id is `scr_` + 40 hex chars of a sha256 (160 bits: collisions are not a concern at archive
 * scale) and never contains ':' (BullMQ forbids it in custom ids; it separates key parts).
 */
export function screenJobId(
  uri: string,
  etagOrSize: string | number,
  modelId: string,
  modelVersion: string,
  forceNonce?: string,
): string {
  // Length-prefixed fields so that no two different tuples serialise to the same string
  // (e.g. uri "a|b" + etag "c" versus uri "a" + etag "b|c").
  const version = typeof etagOrSize === 'number' ? `size:${etagOrSize}` : `etag:${normalizeEtag(etagOrSize)}`;
  const hash = createHash('sha256');
  const fields = [uri, version, modelId, modelVersion];
  // `--force`: a nonce (e.g. the run id) gives a fresh id so the object is screened again.
  if (forceNonce !== undefined) fields.push(`force:${forceNonce}`);
  for (const field of fields) {
    hash.update(`${Buffer.byteLength(field)}:${field};`);
  }
  return SCREEN_JOB_ID_PREFIX + hash.digest('hex').slice(0, 40);
}

/**
 * S3 returns ETags quoted (`"abc"`), some listers strip the quotes, and weak validators carry
 * `W/` (RFC 9110 8.8.3): normalise so that the same object gets the same id whoever listed it.
 */
function normalizeEtag(etag: string): string {
  return etag.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

/** Prefix of a `screen-results` message id (see `resultBatchJobId`). */
const RESULT_BATCH_ID_PREFIX = 'res_';

/**
 * Deterministic id of the `screen-results` message that a `screen-objects` job publishes: a hash
 * of the screen job's id and of its objects' ids (sorted). A redelivered screen job (killed
 * worker, stall) that publishes the same objects' outcomes again gets the same id, which BullMQ
 * deduplicates while the first message exists (the store's upsert absorbs the rest). A retry of the
 * job carries other objects (those without an outcome), and a re-enqueued object goes into a new
 * job (`grp_` ids are never reused), so a new screening never collides with an old message.
 */
export function resultBatchJobId(screenJobId: string, objectIds: readonly string[]): string {
  const hash = createHash('sha256');
  for (const field of [screenJobId, ...[...objectIds].sort()]) {
    hash.update(`${Buffer.byteLength(field)}:${field};`);
  }
  return RESULT_BATCH_ID_PREFIX + hash.digest('hex').slice(0, 40);
}
