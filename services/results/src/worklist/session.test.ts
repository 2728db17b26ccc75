import { describe, expect, it } from 'vitest';
import { SESSION_SECONDS, cookieValue, issueSession, sessionCookie, sessionValid } from './session.js';

const TOKEN = 'worklist-test-token-0123456789';
const NOW = 1_765_000_000_000;

describe('worklist sessions', () => {
  it('are valid for SESSION_SECONDS under the token that signed them', () => {
    const value = issueSession(TOKEN, NOW);
    expect(sessionValid(value, TOKEN, NOW)).toBe(true);
    expect(sessionValid(value, TOKEN, NOW + SESSION_SECONDS * 1000 - 1)).toBe(true);
    expect(sessionValid(value, TOKEN, NOW + SESSION_SECONDS * 1000)).toBe(false);
    // A new token ends every session.
    expect(sessionValid(value, `${TOKEN}-rotated`, NOW)).toBe(false);
  });

  it('hold no token, and refuse any edit', () => {
    const value = issueSession(TOKEN, NOW);
    expect(value).not.toContain(TOKEN);
    const [expiry, mac] = value.split('.') as [string, string];
    const later = `${Number(expiry) + 3600}.${mac}`;
    const flipped = `${expiry}.${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`;
    for (const bad of [later, flipped, `${expiry}.`, '', 'garbage', `${value}x`, undefined]) {
      expect(sessionValid(bad, TOKEN, NOW), String(bad)).toBe(false);
    }
  });

  it('travel as an HttpOnly, SameSite=Strict cookie of /worklist, Secure on HTTPS', () => {
    expect(sessionCookie('v', false)).toBe(
      `cxr_worklist=v; Path=/worklist; Max-Age=${SESSION_SECONDS}; HttpOnly; SameSite=Strict`,
    );
    expect(sessionCookie('v', true)).toMatch(/; Secure$/);
    expect(cookieValue('a=1; cxr_worklist=abc.def ; b=2', 'cxr_worklist')).toBe('abc.def');
    expect(cookieValue('xcxr_worklist=1', 'cxr_worklist')).toBeUndefined();
    expect(cookieValue(undefined, 'cxr_worklist')).toBeUndefined();
  });
});
