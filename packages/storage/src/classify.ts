/**
 * Transient-or-permanent classification of errors thrown by the AWS SDK and node:fs/net. Pure:
 * looks at status codes, error names and errno codes along the `cause` chain.
 */

// Errors worth retrying: the server or network may answer differently a moment later.
const TRANSIENT_ERRNO = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
]);

const TRANSIENT_NAMES = new Set([
  'TimeoutError', // SDK request/connection timeout, AbortSignal.timeout()
  'AbortError',
  'RequestTimeout',
  'RequestTimeoutException',
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestThrottled',
  'InternalError',
  'ServiceUnavailable',
]);

interface ErrorLike {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  cause?: unknown;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

function asErrorLike(value: unknown): ErrorLike | undefined {
  return typeof value === 'object' && value !== null ? value : undefined;
}

/** Whether an error (or anything in its cause chain) is worth retrying later. */
export function isTransientError(error: unknown): boolean {
  let current = asErrorLike(error);
  // Bounded walk: cause chains are short, but a cycle must not hang the worker.
  for (let depth = 0; current !== undefined && depth < 8; depth++) {
    const status = current.$metadata?.httpStatusCode;
    if (typeof status === 'number') {
      if (status >= 500 || status === 429 || status === 408) return true;
      if (status >= 400) return false;
    }
    if (current.$retryable !== undefined && current.$retryable !== null) return true;
    if (typeof current.name === 'string' && TRANSIENT_NAMES.has(current.name)) return true;
    if (typeof current.code === 'string' && TRANSIENT_ERRNO.has(current.code)) return true;
    if (typeof current.message === 'string' && /socket hang up|ECONNRESET/i.test(current.message)) {
      return true;
    }
    current = asErrorLike(current.cause);
  }
  // Unknown errors are permanent: the worker's bounded retries are for faults we recognise.
  return false;
}

/** A short, data-free description of an error for messages: name, code, HTTP status. */
export function describeError(error: unknown): string {
  const e = asErrorLike(error);
  if (e === undefined) return String(error);
  const parts: string[] = [];
  if (typeof e.name === 'string') parts.push(e.name);
  if (typeof e.code === 'string' && e.code !== e.name) parts.push(e.code);
  const status = e.$metadata?.httpStatusCode;
  if (typeof status === 'number') parts.push(`HTTP ${status}`);
  if (parts.length === 0 && typeof e.message === 'string') parts.push(e.message);
  return parts.join(' ');
}
