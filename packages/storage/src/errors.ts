import { ConfigError } from '@cxr/config';

/**
 * Source errors carry `transient` so the worker can tell "retry with backoff" (S3 5xx,
 * throttling, timeouts, resets) from "fail now" (missing object, access denied). Messages name the
 * operation and the URI only: URIs are not patient data, object contents never appear here.
 */
export type ObjectOperation = 'list' | 'fetch' | 'write' | 'delete';

/** Base class of all storage errors; the original error is kept as `cause`. */
export class ObjectSourceError extends Error {
  override readonly name: string = 'ObjectSourceError';
  constructor(
    readonly operation: ObjectOperation,
    readonly uri: string,
    readonly transient: boolean,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A whole-object fetch failed. */
export class ObjectFetchError extends ObjectSourceError {
  override readonly name: string = 'ObjectFetchError';
  constructor(uri: string, transient: boolean, detail: string, options?: { cause?: unknown }) {
    super(
      'fetch',
      uri,
      transient,
      `fetch ${uri} failed (${transient ? 'transient' : 'permanent'}): ${detail}`,
      options,
    );
  }
}

/** Listing a source failed (a page request, a directory read, a manifest read). */
export class ObjectListError extends ObjectSourceError {
  override readonly name: string = 'ObjectListError';
  constructor(uri: string, transient: boolean, detail: string, options?: { cause?: unknown }) {
    super(
      'list',
      uri,
      transient,
      `list ${uri} failed (${transient ? 'transient' : 'permanent'}): ${detail}`,
      options,
    );
  }
}

/** Writing or deleting an object failed (the upload area of /v1/predict). */
export class ObjectWriteError extends ObjectSourceError {
  override readonly name = 'ObjectWriteError';
  constructor(
    operation: 'write' | 'delete',
    uri: string,
    transient: boolean,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(
      operation,
      uri,
      transient,
      `${operation} ${uri} failed (${transient ? 'transient' : 'permanent'}): ${detail}`,
      options,
    );
  }
}

/** An object larger than the fetch's `maxBytes`, refused from its size before its body was read. */
export class ObjectTooLargeError extends ObjectFetchError {
  override readonly name = 'ObjectTooLargeError';
  constructor(
    uri: string,
    readonly size: number,
    readonly maxBytes: number,
  ) {
    super(uri, false, `object of ${size} bytes exceeds the limit of ${maxBytes} bytes`);
  }
}

/** A manifest line that cannot be used; permanent (the file must be fixed). */
export class ManifestFormatError extends ObjectListError {
  override readonly name = 'ManifestFormatError';
  constructor(
    manifestUri: string,
    readonly line: number,
    detail: string,
  ) {
    super(manifestUri, false, `line ${line}: ${detail}`);
  }
}

/**
 * A source URI or option that cannot be used at all (unknown scheme, a folder that does not exist,
 * bad cursor). A ConfigError: the CLI reports it as a usage error (exit code 2). The message names
 * the URI or path as the operator gave it.
 */
export class ObjectSourceConfigError extends ConfigError {
  override readonly name = 'ObjectSourceConfigError';
}
