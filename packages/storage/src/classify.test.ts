import { describe, expect, it } from 'vitest';
import { describeError, isTransientError } from './classify.js';

function withCode(code: string, message = 'x'): Error {
  return Object.assign(new Error(message), { code });
}

describe('isTransientError', () => {
  it('treats 5xx, 429, throttling, timeouts and socket faults as transient', () => {
    expect(isTransientError({ name: 'InternalError', $metadata: { httpStatusCode: 500 } })).toBe(true);
    expect(isTransientError({ name: 'SlowDown', $metadata: { httpStatusCode: 503 } })).toBe(true);
    expect(isTransientError({ name: 'X', $metadata: { httpStatusCode: 429 } })).toBe(true);
    expect(isTransientError(Object.assign(new Error('t'), { name: 'TimeoutError' }))).toBe(true);
    expect(isTransientError(withCode('ECONNRESET'))).toBe(true);
    expect(isTransientError(withCode('ECONNREFUSED'))).toBe(true);
    expect(isTransientError(new Error('socket hang up'))).toBe(true);
    expect(isTransientError(new Error('wrapped', { cause: withCode('ETIMEDOUT') }))).toBe(true);
  });

  it('treats 4xx, missing objects and unknown errors as permanent', () => {
    expect(isTransientError({ name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } })).toBe(false);
    expect(isTransientError({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } })).toBe(false);
    expect(isTransientError(withCode('ENOENT'))).toBe(false);
    expect(isTransientError(new Error('something else'))).toBe(false);
    expect(isTransientError('a string')).toBe(false);
  });

  it('stops on cyclic cause chains', () => {
    const a: { cause?: unknown } = {};
    a.cause = a;
    expect(isTransientError(a)).toBe(false);
  });
});

describe('describeError', () => {
  it('names the error, code and status without the message', () => {
    expect(describeError({ name: 'NoSuchKey', $metadata: { httpStatusCode: 404 }, message: 'secret' })).toBe(
      'NoSuchKey HTTP 404',
    );
    expect(describeError(withCode('ENOENT'))).toBe('Error ENOENT');
  });
});
