/** Chooses an ObjectSource adapter by URI scheme, and routes fetches by scheme. */
import { statSync, type Stats } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { S3Client } from '@aws-sdk/client-s3';
import { describeError } from './classify.js';
import { ObjectFetchError, ObjectSourceConfigError } from './errors.js';
import { FileObjectSource, fetchFileObject, filePathFromUri, fileSystemPathFromUri } from './file.js';
import { ManifestObjectSource, type ManifestFormat } from './manifest.js';
import { DimseObjectSource, fetchDimseObject, type DimseSettings } from './pacs/dimse-source.js';
import {
  S3ObjectSource,
  createS3Client,
  fetchS3Object,
  resolveS3Settings,
  type Env,
  type S3Options,
} from './s3.js';
import type { FetchOptions, ObjectFetcher, ObjectSource } from './types.js';

export interface ObjectSourceDeps {
  /** Environment as read by @cxr/config (see S3_ENV_VARIABLES); this package never reads process.env. */
  readonly env: Env;
  /** Explicit S3 settings; override the environment. */
  readonly s3?: S3Options;
  /** Our DIMSE side (calling AE title, retrieve mode, the SCP's storage): needed for dimse:// URIs. */
  readonly dimse?: DimseSettings;
}

/** The DIMSE settings a dimse:// source needs (the URI is not echoed: its query may hold patient filters). */
function dimseSettingsOf(deps: ObjectSourceDeps): DimseSettings {
  if (deps.dimse === undefined) throw new ObjectSourceConfigError('dimse:// sources need the DIMSE settings');
  return deps.dimse;
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
    fetch(uri: string, options?: FetchOptions): Promise<Uint8Array> {
      if (uri.startsWith('s3://')) {
        client ??= createS3Client(settings);
        return fetchS3Object(client, uri, settings.fetchTimeoutMs ?? 120_000, options);
      }
      if (uri.startsWith('file://')) return fetchFileObject(uri, options);
      if (uri.startsWith('dimse://') && deps.dimse !== undefined)
        return fetchDimseObject(uri, deps.dimse, options);
      return Promise.reject(new ObjectFetchError(uri, false, 'unsupported URI scheme'));
    },
    close(): Promise<void> {
      client?.destroy();
      client = undefined;
      return Promise.resolve();
    },
  };
}

/** A URI scheme such as `s3:` or `dicomweb+https:` followed by `//`. */
const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

/** The file or folder at a local path, or an ObjectSourceConfigError naming the path. */
function statSource(path: string | Buffer): Stats {
  try {
    return statSync(path);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const shown = path.toString();
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new ObjectSourceConfigError(`source path not found: ${shown}`, { cause: error });
    }
    throw new ObjectSourceConfigError(`source path cannot be read (${describeError(error)}): ${shown}`, {
      cause: error,
    });
  }
}

/**
 * Opens a source: `s3://bucket/prefix`, `file:///abs/dir`, `manifest:/path/list.csv|.jsonl`
 * (`manifest:file:///...` too), a file:// URI ending in .csv/.jsonl (a manifest), or a plain
 * local path: a folder is walked like `file://`, a file must be a .csv/.jsonl manifest. A local
 * path that does not exist fails here with an ObjectSourceConfigError naming it.
 */
export function openObjectSource(uri: string, deps: ObjectSourceDeps): ObjectSource {
  if (uri.startsWith('s3://')) {
    const settings = resolveS3Settings(deps.env, deps.s3);
    return new S3ObjectSource(uri, createS3Client(settings), settings, true);
  }
  if (uri.startsWith('dimse://')) return new DimseObjectSource(uri, dimseSettingsOf(deps));
  let manifestPath: string;
  if (uri.startsWith('manifest:')) {
    const rest = uri.slice('manifest:'.length);
    manifestPath = rest.startsWith('file://') ? filePathFromUri(rest) : resolve(rest);
  } else if (uri.startsWith('file://')) {
    const path = fileSystemPathFromUri(uri);
    if (typeof path !== 'string' || manifestFormatOf(path) === undefined) {
      statSource(path);
      return new FileObjectSource(uri);
    }
    manifestPath = path;
  } else {
    const scheme = SCHEME.exec(uri)?.[1];
    if (scheme !== undefined) {
      throw new ObjectSourceConfigError(
        `unsupported source URI scheme "${scheme}:" (use s3://, file://, manifest:, dimse:// or a local path): ${uri}`,
      );
    }
    const path = resolve(uri);
    if (statSource(path).isDirectory()) return new FileObjectSource(pathToFileURL(path).href);
    manifestPath = path;
  }
  const format = manifestFormatOf(manifestPath);
  if (format === undefined) {
    throw new ObjectSourceConfigError(`manifest must end in .csv or .jsonl (or .ndjson): ${manifestPath}`);
  }
  statSource(manifestPath);
  return new ManifestObjectSource(uri, manifestPath, format, createObjectFetcher(deps));
}
