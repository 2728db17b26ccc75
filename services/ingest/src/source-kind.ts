/**
 * The `source` label of the ingest metrics: the kind of source (URI scheme), never a path, so the
 * label stays low-cardinality and carries no folder or file names (they can hold patient data).
 */
export type SourceKind = 's3' | 'file' | 'manifest' | 'other';

const MANIFEST_SUFFIX = /\.(csv|jsonl|ndjson)$/i;

/** The kind of a source URI as `openObjectSource` would open it. */
export function sourceKindOf(uri: string): SourceKind {
  if (uri.startsWith('s3://')) return 's3';
  if (uri.startsWith('manifest:')) return 'manifest';
  if (MANIFEST_SUFFIX.test(uri)) return 'manifest';
  if (uri.startsWith('file://')) return 'file';
  return 'other';
}
