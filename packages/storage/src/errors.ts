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
  override readonly name = 'ObjectFetchError';
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

/** A source URI or option that cannot be used at all (unknown scheme, bad cursor). */
export class ObjectSourceConfigError extends Error {
  override readonly name = 'ObjectSourceConfigError';
}
