/** One listed object. `cursor` is opaque: pass it back as `list({ cursor })` to resume after it. */
export interface ObjectEntry {
  /** Fetchable URI of the object (`s3://bucket/key` or `file:///abs/path`). */
  readonly uri: string;
  /** Entity tag without surrounding quotes, when the source knows one (S3, manifests). */
  readonly etag?: string;
  /** Size in bytes; undefined only for manifest lines that carry no size. */
  readonly size?: number;
  readonly lastModified?: Date;
  /** Resumes the listing right after this entry. */
  readonly cursor: string;
}

export interface ListOptions {
  /** A cursor from a previously listed entry of the same source; omitted = from the start. */
  readonly cursor?: string;
}

/** Port: an object source chosen by URI scheme (S3 prefix, local directory, manifest file). */
export interface ObjectSource {
  /** The source URI as given (s3://bucket/prefix, file:///dir, manifest:/path.csv). */
  readonly uri: string;
  /** Streams the entries in a stable order; never holds the whole listing in memory. */
  list(options?: ListOptions): AsyncIterable<ObjectEntry>;
  /** Fetches a whole object; throws ObjectFetchError classified as transient or permanent. */
  fetch(uri: string): Promise<Uint8Array>;
  /** Releases sockets and handles held by the source. */
  close(): Promise<void>;
}

/** Fetches whole objects by URI, whatever the scheme (what a worker needs). */
export interface ObjectFetcher {
  fetch(uri: string): Promise<Uint8Array>;
  close(): Promise<void>;
}
