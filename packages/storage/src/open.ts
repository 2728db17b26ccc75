/** Chooses an ObjectSource adapter by URI scheme, and routes fetches by scheme. */
import { statSync, type Stats } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Logger } from '@cxr/config/log';
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
import type { DicomwebHttp } from './dicomweb/http.js';
import {
  DEFAULT_DICOMWEB_SETTINGS,
  DicomwebObjectSource,
  createDicomwebHttp,
  fetchDicomwebInstance,
  type DicomwebSettings,
} from './dicomweb/source.js';
import { isDicomwebUri, parseDicomwebInstanceUri, parseDicomwebSourceUri } from './dicomweb/uri.js';
import { MemoryRequestBudget, type PacsObserver, type RequestBudget } from './pacs/budget.js';
import {
  PACS_FILTER_NAMES,
  isPacsUri,
  mergePacsFilterInput,
  pacsFilterInputFromQuery,
  parsePacsFilters,
  type PacsFilterInput,
} from './pacs/filters.js';

export interface ObjectSourceDeps {
  /** Environment as read by @cxr/config (see S3_ENV_VARIABLES); this package never reads process.env. */
  readonly env: Env;
  /** Explicit S3 settings; override the environment. */
  readonly s3?: S3Options;
  /** Our DIMSE side (calling AE title, retrieve mode, the SCP's storage): needed for dimse:// URIs. */
  readonly dimse?: DimseSettings;
  /** DICOMweb credentials, CA, limits (@cxr/config's `dicomweb`); default DEFAULT_DICOMWEB_SETTINGS. */
  readonly dicomweb?: DicomwebSettings;
  /** The request budget shared with every process talking to the same PACS; default: this process's own. */
  readonly requestBudget?: RequestBudget;
  /** Where PACS request measurements go (the services' CxrMetrics). */
  readonly pacsObserver?: PacsObserver;
  /** PACS filters given outside the URI (command-line flags); refused for sources that are no PACS. */
  readonly pacsFilters?: PacsFilterInput;
  /** Gets the PACS sources' structured lines (walk started, outages, windows not listed). */
  readonly log?: Logger;
}

/** The DIMSE settings a dimse:// source needs (the URI is not echoed: its query may hold patient filters). */
function dimseSettingsOf(deps: ObjectSourceDeps): DimseSettings {
  if (deps.dimse === undefined) throw new ObjectSourceConfigError('dimse:// sources need the DIMSE settings');
  return deps.dimse;
}

/** The budget from the deps, or one for this process sized by the DICOMweb settings. */
function budgetOf(deps: ObjectSourceDeps, settings: DicomwebSettings): RequestBudget {
  return (
    deps.requestBudget ??
    new MemoryRequestBudget({
      concurrency: settings.maxConcurrency,
      requestsPerSecond: settings.maxRequestsPerSecond,
    })
  );
}

function manifestFormatOf(path: string): ManifestFormat | undefined {
  const lower = path.toLowerCase();
  if (lower.endsWith('.csv')) return 'csv';
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson')) return 'jsonl';
  return undefined;
}

/**
 * Fetches by URI (s3://, file://, DICOMweb instances), creating one S3 client and one HTTP client
 * per PACS lazily on first use.
 */
export function createObjectFetcher(deps: ObjectSourceDeps): ObjectFetcher {
  const settings = resolveS3Settings(deps.env, deps.s3);
  let client: S3Client | undefined;
  const dicomweb = deps.dicomweb ?? DEFAULT_DICOMWEB_SETTINGS;
  let budget: RequestBudget | undefined;
  const pacs = new Map<string, DicomwebHttp>();
  const httpFor = (uri: string): DicomwebHttp => {
    const { location } = parseDicomwebInstanceUri(uri);
    let http = pacs.get(location.base);
    if (http === undefined) {
      budget ??= budgetOf(deps, dicomweb);
      http = createDicomwebHttp(location, dicomweb, {
        budget,
        ...(deps.pacsObserver !== undefined ? { observer: deps.pacsObserver } : {}),
      });
      pacs.set(location.base, http);
    }
    return http;
  };
  return {
    fetch(uri: string, options?: FetchOptions): Promise<Uint8Array> {
      if (uri.startsWith('s3://')) {
        client ??= createS3Client(settings);
        return fetchS3Object(client, uri, settings.fetchTimeoutMs ?? 120_000, options);
      }
      if (uri.startsWith('file://')) return fetchFileObject(uri, options);
      if (uri.startsWith('dimse://') && deps.dimse !== undefined)
        return fetchDimseObject(uri, deps.dimse, options);
      // Inside an async function: a URI that does not parse becomes a rejection, not a throw.
      if (isDicomwebUri(uri))
        return (async () => fetchDicomwebInstance(httpFor(uri), uri, dicomweb, options))();
      return Promise.reject(new ObjectFetchError(uri, false, 'unsupported URI scheme'));
    },
    close(): Promise<void> {
      client?.destroy();
      client = undefined;
      for (const http of pacs.values()) http.close();
      pacs.clear();
      // A budget passed in belongs to the caller; one made here is in-process and holds nothing.
      return Promise.resolve();
    },
  };
}

/** Opens a `dicomweb+http(s)://` source: its filters from the URI's query and the flags. */
function openDicomwebSource(uri: string, deps: ObjectSourceDeps): ObjectSource {
  const { location, query } = parseDicomwebSourceUri(uri);
  const filters = parsePacsFilters(mergePacsFilterInput(pacsFilterInputFromQuery(query), deps.pacsFilters));
  const settings = deps.dicomweb ?? DEFAULT_DICOMWEB_SETTINGS;
  const http = createDicomwebHttp(location, settings, {
    budget: budgetOf(deps, settings),
    ...(deps.pacsObserver !== undefined ? { observer: deps.pacsObserver } : {}),
  });
  return new DicomwebObjectSource(location, filters, {
    http,
    settings,
    ownsHttp: true,
    ...(deps.log !== undefined ? { log: deps.log } : {}),
  });
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
 * path that does not exist fails here with an ObjectSourceConfigError naming it. A PACS:
 * `dicomweb+http(s)://HOST:PORT/ROOT?filters` (QIDO-RS list, WADO-RS fetch), filters also from
 * `deps.pacsFilters`.
 */
export function openObjectSource(uri: string, deps: ObjectSourceDeps): ObjectSource {
  const flags = deps.pacsFilters ?? {};
  if (!isPacsUri(uri) && PACS_FILTER_NAMES.some((name) => flags[name] !== undefined)) {
    throw new ObjectSourceConfigError(
      'PACS filters (--study-date, --modality, --body-part, --station, --institution, --accession, --patient-id, --limit) apply to dicomweb+http(s):// and dimse:// sources only',
    );
  }
  if (isDicomwebUri(uri)) return openDicomwebSource(uri, deps);
  if (uri.startsWith('s3://')) {
    const settings = resolveS3Settings(deps.env, deps.s3);
    return new S3ObjectSource(uri, createS3Client(settings), settings, true);
  }
  if (uri.startsWith('dimse://')) {
    // The DIMSE source reads its filters from its URI's query only: refuse flags rather than
    // list more than was asked for.
    if (PACS_FILTER_NAMES.some((name) => flags[name] !== undefined)) {
      throw new ObjectSourceConfigError(
        'dimse:// sources take their filters as query parameters (since, until, modality, bodyPart, station, institution, accession, patientId, patientName, limit), not as --study-date/--modality/... flags',
      );
    }
    return new DimseObjectSource(uri, dimseSettingsOf(deps));
  }
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
        `unsupported source URI scheme "${scheme}:" (use s3://, file://, manifest:, dicomweb+http(s)://, dimse:// or a local path): ${uri.split('?')[0] ?? ''}`,
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
