/**
 * The API token check shared by `/v1/predict` and the queue dashboard (CXR_API_TOKEN), and the
 * start-up rule for running without one. Tokens are compared in constant time; nothing here logs
 * or echoes a credential.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isLoopbackHost } from '@cxr/http';

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

/** The results service would serve the network without authentication (see `apiAuthOnStart`). */
export class UnauthenticatedBindError extends Error {
  override readonly name = 'UnauthenticatedBindError';
  readonly code = 'CXR_NO_AUTH_ON_NETWORK';

  constructor(host: string) {
    super(
      `CXR_API_TOKEN is not set and CXR_HTTP_HOST ${host} is reachable from the network: set CXR_API_TOKEN, listen on 127.0.0.1, or set CXR_ALLOW_NO_AUTH=1 behind an authenticating proxy`,
    );
  }
}

/** How `/v1/predict` will authenticate, as decided at start. */
export type ApiAuthMode = 'token' | 'none';

/**
 * The start-up rule for CXR_API_TOKEN. Unset on a loopback address (a developer's machine, `cxr
 * screen`): allowed, the caller warns. Unset on any other address: anyone who reaches the port
 * could screen images and read their scores, so it is refused (UnauthenticatedBindError) unless
 * CXR_ALLOW_NO_AUTH=1 says a proxy in front authenticates instead.
 */
export function apiAuthOnStart(options: {
  readonly token: string | undefined;
  readonly host: string;
  readonly allowNoAuth: boolean;
}): ApiAuthMode {
  if (options.token !== undefined) return 'token';
  if (!isLoopbackHost(options.host) && !options.allowNoAuth) throw new UnauthenticatedBindError(options.host);
  return 'none';
}
