/**
 * `dicomweb+http://HOST:PORT/ROOT` and `dicomweb+https://...` URIs: the source form (filters as
 * query parameters) and the instance form (`.../studies/S/series/R/instances/I`). Messages never
 * repeat a URI's query (it may hold a Patient ID) nor credentials (refused outright). Pure.
 */
import { ObjectFetchError, ObjectSourceConfigError } from '../errors.js';
import { parsePacsInstanceUri, type InstanceUids } from '../pacs/instance-uri.js';

/** Where a DICOMweb service lives. */
export interface DicomwebLocation {
  /** `dicomweb+http(s)://host[:port]/root`: the start of every object URI of this PACS. */
  readonly base: string;
  /** `http(s)://host[:port]/root`: where requests go. */
  readonly httpBase: string;
}

/** Whether a URI has the DICOMweb scheme. */
export function isDicomwebUri(uri: string): boolean {
  return /^dicomweb\+https?:\/\//i.test(uri);
}

/** Parses the scheme, authority and path; `describe` names the URI in messages (never its query). */
function parseLocation(
  uri: string,
  fail: (detail: string) => Error,
): { location: DicomwebLocation; url: URL } {
  let url: URL;
  try {
    url = new URL(uri.replace(/^dicomweb\+/i, ''));
  } catch {
    throw fail('not a valid URI (expected dicomweb+http(s)://HOST[:PORT]/ROOT)');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw fail('scheme must be dicomweb+http or dicomweb+https');
  if (url.username !== '' || url.password !== '') {
    throw fail(
      'credentials do not belong in the URI: set CXR_DICOMWEB_TOKEN, or CXR_DICOMWEB_USER and CXR_DICOMWEB_PASSWORD',
    );
  }
  if (url.hostname === '') throw fail('the URI has no host');
  if (url.hash !== '') throw fail('the URI must not have a #fragment');
  const path = url.pathname.replace(/\/+$/, '');
  const httpBase = `${url.protocol}//${url.host}${path}`;
  return { location: { base: `dicomweb+${httpBase}`, httpBase }, url };
}

/** A source URI: its location and its query parameters (the filters). */
export function parseDicomwebSourceUri(uri: string): { location: DicomwebLocation; query: URLSearchParams } {
  const { location, url } = parseLocation(
    uri,
    (detail) => new ObjectSourceConfigError(`DICOMweb source URI: ${detail}`),
  );
  return { location, query: url.searchParams };
}

/** An instance URI: its location and UIDs. Throws a permanent ObjectFetchError for anything else. */
export function parseDicomwebInstanceUri(uri: string): { location: DicomwebLocation; uids: InstanceUids } {
  const fail = (detail: string): Error =>
    new ObjectFetchError(uri, false, `not a DICOMweb instance URI: ${detail}`);
  if (uri.includes('?')) throw fail('it has a query');
  const parsed = parsePacsInstanceUri(uri);
  if (parsed === undefined) throw fail('expected .../studies/UID/series/UID/instances/UID');
  const { location } = parseLocation(parsed.base, fail);
  return { location, uids: parsed.uids };
}
