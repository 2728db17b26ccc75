/**
 * The row key: a short opaque id of one result row (one object under one model version), used
 * where the URI must not appear (worklist thumbnail URLs, page cursors: object names may carry
 * patient data) and resolved back to the row in the store. Computed in JavaScript on every upsert
 * and, for rows written before the column existed, in SQL by migration 3; both must agree, and
 * the store contract tests check that they do.
 */
import { createHash } from 'node:crypto';
import type { ResultKey } from './result-row.js';

/** Hex digits kept of the SHA-256: 128 bits, so two keys of one store never collide in practice. */
export const ROW_KEY_HEX_DIGITS = 32;

/** The shape of a row key: 32 lowercase hex digits. */
export const ROW_KEY_PATTERN = /^[0-9a-f]{32}$/;

/**
 * The hashed text: model id, model version and URI, the first two each preceded by its UTF-8
 * length and a colon, so that no two keys give the same text.
 */
function rowKeyText(modelId: string, modelVersion: string, uri: string): string {
  return `${Buffer.byteLength(modelId, 'utf8')}:${modelId}${Buffer.byteLength(modelVersion, 'utf8')}:${modelVersion}${uri}`;
}

/** The row key of a result key: the first 32 hex digits of SHA-256 over rowKeyText. */
export function rowKeyOf(key: ResultKey): string {
  return createHash('sha256')
    .update(rowKeyText(key.modelId, key.modelVersion, key.uri), 'utf8')
    .digest('hex')
    .slice(0, ROW_KEY_HEX_DIGITS);
}

/** Name of the SQLite function the SQLite adapter registers (migration 3 calls it). */
export const SQLITE_ROW_KEY_FUNCTION = 'cxr_row_key';

/** rowKeyOf for the SQLite function: three text arguments. */
export function sqliteRowKey(modelId: unknown, modelVersion: unknown, uri: unknown): string {
  if (typeof modelId !== 'string' || typeof modelVersion !== 'string' || typeof uri !== 'string') {
    throw new TypeError(`${SQLITE_ROW_KEY_FUNCTION} expects three text arguments`);
  }
  return rowKeyOf({ modelId, modelVersion, uri });
}

/** rowKeyOf in PostgreSQL (built-in sha256, PostgreSQL 11+), over the columns of `results`. */
export const POSTGRES_ROW_KEY_SQL = `left(encode(sha256(convert_to(
  octet_length(convert_to(model_id, 'UTF8'))::text || ':' || model_id
  || octet_length(convert_to(model_version, 'UTF8'))::text || ':' || model_version || uri, 'UTF8')), 'hex'), ${ROW_KEY_HEX_DIGITS})`;
