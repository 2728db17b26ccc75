/**
 * The API token check shared by `/v1/predict` and the queue dashboard (CXR_API_TOKEN). Tokens are
 * compared in constant time; nothing here logs or echoes a credential.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** Compares tokens in constant time (hashing first makes the lengths equal too). */
export function tokenMatches(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The token of `Authorization: Bearer TOKEN`, else undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  return header?.startsWith('Bearer ') === true ? header.slice('Bearer '.length).trim() : undefined;
}

/**
 * The credential of a bearer header, or the password of `Authorization: Basic` (any user name):
 * a browser can send Basic credentials from its own prompt, but not a bearer token.
 */
export function bearerOrBasicToken(header: string | undefined): string | undefined {
  const bearer = bearerToken(header);
  if (bearer !== undefined) return bearer;
  if (header?.startsWith('Basic ') !== true) return undefined;
  const decoded = Buffer.from(header.slice('Basic '.length).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? undefined : decoded.slice(colon + 1);
}
