/**
 * `dimse://AET@HOST:PORT[?filters]`: a PACS reached by DIMSE (C-FIND to list, C-GET or C-MOVE to
 * fetch). Filters are query parameters:
 * - `since`, `until`: study date range (YYYY-MM-DD or YYYYMMDD, inclusive; `until` defaults to
 *   today), walked one day at a time;
 * - `modality`: comma-separated (default `CR,DX`); `bodyPart`, `station`, `institution`;
 * - `accession`, `patientId`, `patientName` (a retrospective cohort): patient identifiers, which
 *   never appear in a message, a log, a key or an object URI;
 * - `limit`: stop after this many instances;
 * - `retrieve=get|move` and `dest=AET` (the C-MOVE destination): how the fetching process
 *   retrieves, when that process is the one given the URI (`cxr screen`).
 * Object URIs are the base plus UIDs only:
 * `dimse://AET@HOST:PORT/studies/{study}/series/{series}/instances/{sop}`.
 */
import { ObjectSourceConfigError } from '../errors.js';

/** What the walk matches (see the module comment). */
export interface DimseFilters {
  /** First study date, YYYYMMDD; undefined = no date range (one query for the whole archive). */
  readonly since?: string;
  /** Last study date, YYYYMMDD. */
  readonly until?: string;
  readonly modalities: readonly string[];
  readonly bodyPart?: string;
  readonly station?: string;
  readonly institution?: string;
  readonly accession?: string;
  readonly patientId?: string;
  readonly patientName?: string;
  readonly limit?: number;
}

/** The retrieve a source URI asks for. */
export type DimseRetrieve =
  { readonly mode: 'get' } | { readonly mode: 'move'; readonly destination: string };

/** A parsed `dimse://` source URI. */
export interface DimseSourceSpec {
  readonly calledAeTitle: string;
  readonly host: string;
  readonly port: number;
  /** `dimse://AET@HOST:PORT`: no query, no credentials, no patient data. */
  readonly baseUri: string;
  readonly filters: DimseFilters;
  /** From `retrieve=`/`dest=`; undefined = the process's configuration decides. */
  readonly retrieve?: DimseRetrieve;
}

/** A parsed `dimse://` object URI. */
export interface DimseObjectLocation {
  readonly calledAeTitle: string;
  readonly host: string;
  readonly port: number;
  readonly studyInstanceUid: string;
  readonly seriesInstanceUid: string;
  readonly sopInstanceUid: string;
}

const PARAMETERS = new Set([
  'since',
  'until',
  'modality',
  'bodyPart',
  'station',
  'institution',
  'accession',
  'patientId',
  'patientName',
  'limit',
  'retrieve',
  'dest',
]);

const UID = /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/;

function usage(detail: string): ObjectSourceConfigError {
  return new ObjectSourceConfigError(
    `invalid dimse:// source: ${detail} (expected dimse://AET@HOST:PORT?since=YYYY-MM-DD&...)`,
  );
}

/** YYYY-MM-DD or YYYYMMDD -> YYYYMMDD, checked to be a real date. */
export function parseStudyDate(name: string, raw: string): string {
  const match = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(raw.trim());
  if (match === null) throw usage(`${name} must be a date YYYY-MM-DD`);
  const [, y, m, d] = match as unknown as [string, string, string, string];
  const date = new Date(Date.UTC(Number(y), Number(m) - 1, Number(d)));
  if (
    date.getUTCFullYear() !== Number(y) ||
    date.getUTCMonth() !== Number(m) - 1 ||
    date.getUTCDate() !== Number(d)
  ) {
    throw usage(`${name} is not a calendar date`);
  }
  return `${y}${m}${d}`;
}

/** An AE title from a URI's user part (PS3.5 6.2: 1-16 characters, no backslash). */
function aeTitleOf(url: URL): string {
  let aet: string;
  try {
    aet = decodeURIComponent(url.username);
  } catch {
    throw usage('the AE title is not valid percent-encoding');
  }
  if (aet.trim() === '' || aet.length > 16 || !/^[\x20-\x5b\x5d-\x7e]+$/.test(aet)) {
    throw usage('the PACS AE title must be 1-16 characters before the @');
  }
  if (url.password !== '') throw usage('credentials do not belong in the URI');
  return aet.trim();
}

function hostAndPort(url: URL): { host: string; port: number } {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw usage('no host');
  const port = Number(url.port);
  if (url.port === '' || !Number.isInteger(port) || port < 1 || port > 65535)
    throw usage('no port (DIMSE has no default port)');
  return { host, port };
}

function baseUriOf(aet: string, host: string, port: number): string {
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return `dimse://${encodeURIComponent(aet)}@${shownHost}:${port}`;
}

function parseUrl(uri: string): URL {
  try {
    return new URL(uri);
  } catch {
    throw usage('not a URI');
  }
}

/** Parses a `dimse://` source URI; errors name the parameter, never its value. */
export function parseDimseSourceUri(uri: string): DimseSourceSpec {
  if (!uri.startsWith('dimse://')) throw usage('not a dimse:// URI');
  const url = parseUrl(uri);
  const calledAeTitle = aeTitleOf(url);
  const { host, port } = hostAndPort(url);
  if (url.pathname !== '' && url.pathname !== '/') throw usage('a source URI has no path');
  const params = url.searchParams;
  for (const name of new Set(params.keys())) {
    if (!PARAMETERS.has(name)) throw usage(`unknown parameter "${name}"`);
    if (params.getAll(name).length > 1) throw usage(`parameter "${name}" given twice`);
  }
  const text = (name: string): string | undefined => {
    const value = params.get(name)?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const since = text('since');
  const until = text('until');
  const filters: DimseFilters = {
    ...(since !== undefined ? { since: parseStudyDate('since', since) } : {}),
    ...(until !== undefined ? { until: parseStudyDate('until', until) } : {}),
    modalities: (text('modality') ?? 'CR,DX')
      .split(',')
      .map((m) => m.trim().toUpperCase())
      .filter((m) => m !== ''),
    ...optional('bodyPart', text('bodyPart')),
    ...optional('station', text('station')),
    ...optional('institution', text('institution')),
    ...optional('accession', text('accession')),
    ...optional('patientId', text('patientId')),
    ...optional('patientName', text('patientName')),
  };
  if (filters.until !== undefined && filters.since === undefined) throw usage('until needs since');
  if (filters.since !== undefined && filters.until !== undefined && filters.since > filters.until) {
    throw usage('since is after until');
  }
  if (filters.modalities.some((m) => !/^[A-Z0-9_]{1,16}$/.test(m)))
    throw usage('modality must be codes such as CR,DX');
  const limitText = text('limit');
  let limit: number | undefined;
  if (limitText !== undefined) {
    limit = Number(limitText);
    if (!Number.isInteger(limit) || limit < 1) throw usage('limit must be a positive integer');
  }
  const retrieveText = text('retrieve');
  const dest = text('dest');
  let retrieve: DimseRetrieve | undefined;
  if (retrieveText === 'get') {
    if (dest !== undefined) throw usage('dest is for retrieve=move');
    retrieve = { mode: 'get' };
  } else if (retrieveText === 'move') {
    if (dest === undefined || dest.length > 16 || !/^[\x20-\x5b\x5d-\x7e]+$/.test(dest)) {
      throw usage('retrieve=move needs dest=AET, our SCP as the PACS knows it');
    }
    retrieve = { mode: 'move', destination: dest };
  } else if (retrieveText !== undefined) {
    throw usage('retrieve must be get or move');
  } else if (dest !== undefined) {
    throw usage('dest needs retrieve=move');
  }
  return {
    calledAeTitle,
    host,
    port,
    baseUri: baseUriOf(calledAeTitle, host, port),
    filters: { ...filters, ...(limit !== undefined ? { limit } : {}) },
    ...(retrieve !== undefined ? { retrieve } : {}),
  };
}

function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}

/** The object URI of one instance: the source's base plus UIDs. */
export function dimseObjectUri(
  baseUri: string,
  uids: { study: string; series: string; sop: string },
): string {
  return `${baseUri}/studies/${uids.study}/series/${uids.series}/instances/${uids.sop}`;
}

const OBJECT_PATH = /^\/studies\/([0-9.]+)\/series\/([0-9.]+)\/instances\/([0-9.]+)$/;

/** Parses an object URI; undefined when it is not one (the caller reports it). */
export function parseDimseObjectUri(uri: string): DimseObjectLocation | undefined {
  if (!uri.startsWith('dimse://')) return undefined;
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return undefined;
  }
  if (url.search !== '' || url.hash !== '') return undefined;
  const match = OBJECT_PATH.exec(url.pathname);
  if (match === null) return undefined;
  const [, study, series, sop] = match as unknown as [string, string, string, string];
  if (![study, series, sop].every((uid) => uid.length <= 64 && UID.test(uid))) return undefined;
  try {
    const calledAeTitle = aeTitleOf(url);
    const { host, port } = hostAndPort(url);
    return {
      calledAeTitle,
      host,
      port,
      studyInstanceUid: study,
      seriesInstanceUid: series,
      sopInstanceUid: sop,
    };
  } catch {
    return undefined;
  }
}
