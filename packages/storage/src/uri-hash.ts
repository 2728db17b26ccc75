import { createHash } from 'node:crypto';

/**
 * A short, stable identifier of an object URI for logs: the first 16 hex digits (64 bits) of its
 * SHA-256. Object keys and file names may carry patient names, so logs at info level name an
 * object by this hash; whoever holds the URI can compute it and find the log lines.
 */
export function uriHash(uri: string): string {
  return createHash('sha256').update(uri).digest('hex').slice(0, 16);
}
