/**
 * The worklist's browser session. A browser cannot send the API token as a bearer header when it
 * navigates, so it signs in once (a form, or `?token=` on a link) and gets a cookie: an expiry
 * time and an HMAC of it under a key derived from CXR_API_TOKEN. The cookie is HttpOnly,
 * SameSite=Strict, Secure on HTTPS, scoped to /worklist; it holds no token and no user data, and
 * changing the token ends every session. Nothing here logs or echoes a credential.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'cxr_worklist';
/** How long a sign-in lasts: a working day (a shift), then the token is asked for again. */
export const SESSION_SECONDS = 12 * 3600;
/** The cookie's path: the page, its thumbnails, sign-in and sign-out. */
export const SESSION_PATH = '/worklist';

const KEY_LABEL = 'cxr worklist session v1';

/** The signing key of sessions: an HMAC of a fixed label under the token (never the token itself). */
function sessionKey(token: string): Buffer {
  return createHmac('sha256', token).update(KEY_LABEL).digest();
}

function signature(token: string, expiresAt: number): Buffer {
  return createHmac('sha256', sessionKey(token)).update(`v1.${expiresAt}`).digest();
}

/** A new session value, valid SESSION_SECONDS from `nowMs`. */
export function issueSession(token: string, nowMs: number): string {
  const expiresAt = Math.floor(nowMs / 1000) + SESSION_SECONDS;
  return `${expiresAt}.${signature(token, expiresAt).toString('base64url')}`;
}

/** Whether a cookie value is a session this token signed that has not expired. */
export function sessionValid(value: string | undefined, token: string, nowMs: number): boolean {
  const match = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(value ?? '');
  if (match === null) return false;
  const expiresAt = Number(match[1]);
  if (expiresAt * 1000 <= nowMs) return false;
  const given = Buffer.from(match[2]!, 'base64url');
  const expected = signature(token, expiresAt);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The value of one cookie in a Cookie header, or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The Set-Cookie header of a new session (Secure when the page was reached over HTTPS). */
export function sessionCookie(value: string, secure: boolean): string {
  return `${SESSION_COOKIE}=${value}; Path=${SESSION_PATH}; Max-Age=${SESSION_SECONDS}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

/** The Set-Cookie header that ends the session. */
export function clearedSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Path=${SESSION_PATH}; Max-Age=0; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}
