/** One listed object. `cursor` is opaque: pass it back as `list({ cursor })` to resume after it. */
export interface ObjectEntry {
  /**
   * Fetchable URI of the object (`s3://bucket/key`, `file:///abs/path`, or a PACS instance:
   * `dicomweb+https://host/root/studies/S/series/R/instances/I`, UIDs only).
   */
  readonly uri: string;
  /** Entity tag without surrounding quotes, when the source knows one (S3, manifests). */
  readonly etag?: string;
  /** Size in bytes; undefined for manifest lines that carry no size and for PACS instances. */
  readonly size?: number;
  readonly lastModified?: Date;
  /** Resumes the listing right after this entry. */
  readonly cursor: string;
}

/**
 * Why a source passes over an entry instead of listing it. A contract like the reject reasons:
 * the ingest logs and counts skipped entries by these codes and `cxr screen` prints them.
 */
export const SOURCE_SKIP_REASONS = [
  /** A symbolic link to a folder that contains it, or a chain of links that never ends (ELOOP). */
  'symlink_loop',
  /** A symbolic link whose target lies outside the source folder. */
  'link_outside_root',
  /** A symbolic link to an object of the same source folder, which is listed under its own path. */
  'link_inside_root',
  /** A symbolic link whose target does not exist. */
  'broken_link',
  /** A FIFO, socket or device: no object to screen. */
  'not_regular_file',
  /** A folder or entry the source may not read (permissions): its content is not listed. */
  'unreadable',
  /**
   * A PACS query (QIDO-RS, C-FIND) for one study window kept answering with something unusable
   * (HTML, not JSON): the instances of that window are not listed. The run is incomplete.
   */
  'query_failed',
  /**
   * A PACS capped its answer for a window that cannot be split further (one study date and
   * second holding more instances than it answers at once): some may not be listed. The run is
   * incomplete.
   */
  'query_truncated',
] as const;

export type SourceSkipReason = (typeof SOURCE_SKIP_REASONS)[number];

/** An entry the listing passed over, and why. */
export interface SkippedEntry {
  readonly reason: SourceSkipReason;
  /** Where it is (`file://...`). May name a patient: log `uriHash(uri)`, never the URI itself. */
  readonly uri: string;
}

export interface ListOptions {
  /** A cursor from a previously listed entry of the same source; omitted = from the start. */
  readonly cursor?: string;
  /** Called for every entry the source passes over (a symlink loop, an unreadable folder); listing goes on. */
  readonly onSkip?: (skipped: SkippedEntry) => void;
}

/** Limits and checks applied while an object is read, so that bad input costs no more than its first bytes. */
export interface FetchOptions {
  /** A larger object fails with ObjectTooLargeError (permanent) before any of its body is read. */
  readonly maxBytes?: number;
  /**
   * Called with the object's first `bytes` bytes (all of them if it is shorter) before the rest is
   * read; what it throws ends the fetch and is rethrown unchanged (e.g. a `not_dicom` rejection).
   */
  readonly head?: { readonly bytes: number; readonly check: (head: Uint8Array) => void };
  /**
   * Awaited with the object's size after the size check and before the object is read in full,
   * so that a caller can hold reads back until it has memory for them (the worker's byte budget).
   */
  readonly beforeRead?: (size: number) => Promise<void>;
}

/** Port: an object source chosen by URI scheme (S3 prefix, local directory, manifest file). */
export interface ObjectSource {
  /**
   * The source URI as given (s3://bucket/prefix, file:///dir, manifest:/path.csv); for a PACS its
   * identity without patient filters: base URL and a hash of the filter set (`...#filters=HASH`).
   */
  readonly uri: string;
  /** Streams the entries in a stable order; never holds the whole listing in memory. */
  list(options?: ListOptions): AsyncIterable<ObjectEntry>;
  /** Fetches a whole object; throws ObjectFetchError classified as transient or permanent. */
  fetch(uri: string, options?: FetchOptions): Promise<Uint8Array>;
  /** Releases sockets and handles held by the source. */
  close(): Promise<void>;
}

/** Fetches whole objects by URI, whatever the scheme (what a worker needs). */
export interface ObjectFetcher {
  fetch(uri: string, options?: FetchOptions): Promise<Uint8Array>;
  close(): Promise<void>;
}
