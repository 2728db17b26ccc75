import { describe, expect, it } from 'vitest';
import { UnauthenticatedBindError, apiAuthOnStart, bearerOrBasicToken, tokenMatches } from './auth.js';

const TOKEN = 'a-token-of-24-characters';

describe('apiAuthOnStart', () => {
  it('uses the token wherever the service listens', () => {
    for (const host of ['127.0.0.1', '0.0.0.0', '::', '10.1.2.3']) {
      expect(apiAuthOnStart({ token: TOKEN, host, allowNoAuth: false })).toBe('token');
    }
  });

  it('runs without a token on loopback addresses (the caller warns)', () => {
    for (const host of ['127.0.0.1', '::1', 'localhost']) {
      expect(apiAuthOnStart({ token: undefined, host, allowNoAuth: false })).toBe('none');
    }
  });

  it('refuses no token on an address reachable from the network, unless CXR_ALLOW_NO_AUTH=1', () => {
    for (const host of ['0.0.0.0', '::', '10.1.2.3', 'results.cxr.svc']) {
      expect(() => apiAuthOnStart({ token: undefined, host, allowNoAuth: false })).toThrow(
        UnauthenticatedBindError,
      );
      expect(apiAuthOnStart({ token: undefined, host, allowNoAuth: true })).toBe('none');
    }
    const error = new UnauthenticatedBindError('0.0.0.0');
    expect(error.code).toBe('CXR_NO_AUTH_ON_NETWORK');
    expect(error.message).toMatch(/CXR_API_TOKEN.*CXR_HTTP_HOST 0\.0\.0\.0.*CXR_ALLOW_NO_AUTH=1/);
  });
});

describe('token checks', () => {
  it('compares tokens and reads bearer and Basic credentials', () => {
    expect(tokenMatches(TOKEN, TOKEN)).toBe(true);
    expect(tokenMatches(`${TOKEN}x`, TOKEN)).toBe(false);
    expect(bearerOrBasicToken(`Bearer ${TOKEN}`)).toBe(TOKEN);
    expect(bearerOrBasicToken(`Basic ${Buffer.from(`ops:${TOKEN}`).toString('base64')}`)).toBe(TOKEN);
    expect(bearerOrBasicToken(undefined)).toBeUndefined();
  });
});
