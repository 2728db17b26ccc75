/** Chooses an ObjectSource adapter by URI scheme, and routes fetches by scheme. */
import { isAbsolute, resolve } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { ObjectFetchError, ObjectSourceConfigError } from './errors.js';
import { FileObjectSource, fetchFileObject, filePathFromUri } from './file.js';
import { ManifestObjectSource, type ManifestFormat } from './manifest.js';
import {
  S3ObjectSource,
  createS3Client,
  fetchS3Object,
  resolveS3Settings,
  type Env,
  type S3Options,
} from './s3.js';
import type { ObjectFetcher, ObjectSource } from './types.js';

export interface ObjectSourceDeps {
  /** Environment as read by @cxr/config (see S3_ENV_VARIABLES); this package never reads process.env. */
  readonly env: Env;
  /** Explicit S3 settings; override the environment. */
  readonly s3?: S3Options;
}

function manifestFormatOf(path: string): ManifestFormat | undefined {
  const lower = path.toLowerCase();
  if (lower.endsWith('.csv')) return 'csv';
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson')) return 'jsonl';
  return undefined;
}

/** Fetches by URI (s3:// or file://), creating one S3 client lazily on first use. */
export function createObjectFetcher(deps: ObjectSourceDeps): ObjectFetcher {
  const settings = resolveS3Settings(deps.env, deps.s3);
  let client: S3Client | undefined;
  return {
    fetch(uri: string): Promise<Uint8Array> {
      if (uri.startsWith('s3://')) {
        client ??= createS3Client(settings);
        return fetchS3Object(client, uri, settings.fetchTimeoutMs ?? 120_000);
      }
      if (uri.startsWith('file://')) return fetchFileObject(uri);
      return Promise.reject(new ObjectFetchError(uri, false, 'unsupported URI scheme'));
    },
    close(): Promise<void> {
      client?.destroy();
      client = undefined;
      return Promise.resolve();
    },
  };
}

/**
 * Opens a source: `s3://bucket/prefix`, `file:///abs/dir`, `manifest:/path/list.csv|.jsonl`,
 * or a file:// URI or path ending in .csv/.jsonl (treated as a manifest).
 */
export function openObjectSource(uri: string, deps: ObjectSourceDeps): ObjectSource {
  if (uri.startsWith('s3://')) {
    const settings = resolveS3Settings(deps.env, deps.s3);
    return new S3ObjectSource(uri, createS3Client(settings), settings, true);
  }
  let manifestPath: string | undefined;
  if (uri.startsWith('manifest:')) {
    const rest = uri.slice('manifest:'.length);
    manifestPath = rest.startsWith('file://') ? filePathFromUri(rest) : resolve(rest);
  } else if (uri.startsWith('file://')) {
    const path = filePathFromUri(uri);
    if (manifestFormatOf(path) === undefined) return new FileObjectSource(uri);
    manifestPath = path;
  } else if (!uri.includes('://') && manifestFormatOf(uri) !== undefined) {
    manifestPath = isAbsolute(uri) ? uri : resolve(uri);
  }
  if (manifestPath === undefined) {
    throw new ObjectSourceConfigError(`unsupported source URI (use s3://, file:// or manifest:): ${uri}`);
  }
  const format = manifestFormatOf(manifestPath);
  if (format === undefined) {
    throw new ObjectSourceConfigError(`manifest must end in .csv or .jsonl: ${uri}`);
  }
  return new ManifestObjectSource(uri, manifestPath, format, createObjectFetcher(deps));
}
