/**
 * The kind of a source (URI scheme), never a path: the `source` label of the ingest metrics and the
 * training provenance. Low-cardinality, and free of folder or file names (they can hold patient
 * data). `scp` counts the instances the C-STORE SCP received and enqueued.
 */
export type SourceKind = 's3' | 'file' | 'manifest' | 'dicomweb' | 'dimse' | 'scp' | 'other';

const MANIFEST_SUFFIX = /\.(csv|jsonl|ndjson)$/i;

/** A URI scheme such as `s3:` or `dicomweb+https:` followed by `//`. */
const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/** The kind of a source URI (or local path) as `openObjectSource` would open it. */
export function sourceKindOf(uri: string): SourceKind {
  if (uri.startsWith('s3://')) return 's3';
  if (uri.startsWith('dimse://')) return 'dimse';
  if (/^dicomweb\+https?:\/\//i.test(uri)) return 'dicomweb';
  if (uri.startsWith('manifest:')) return 'manifest';
  if (MANIFEST_SUFFIX.test(uri)) return 'manifest';
  if (uri.startsWith('file://')) return 'file';
  // A plain path not ending in a manifest suffix is a folder.
  if (!SCHEME.test(uri)) return 'file';
  return 'other';
}
