/**
 * Where findings go: `dicomweb+http(s)://HOST[:PORT]/ROOT` (STOW-RS to ROOT/studies) or
 * `dimse://AET@HOST:PORT` (C-STORE). Parsed with @cxr/storage's source URI parsers, so a
 * destination is spelled like the same PACS as a source (without filters). Messages never repeat
 * the URI's query nor credentials (refused).
 */
import { parseDicomwebSourceUri, parseDimseSourceUri } from '@cxr/storage';

export type FindingsDestination =
  | {
      readonly kind: 'dicomweb';
      /** The destination as given, normalised (no trailing slash): the job payload and log form. */
      readonly uri: string;
      /** `http(s)://HOST[:PORT]/ROOT`. */
      readonly httpBase: string;
    }
  | {
      readonly kind: 'dimse';
      readonly uri: string;
      readonly calledAeTitle: string;
      readonly host: string;
      readonly port: number;
    };

/** A destination that cannot be used; the message names the rule broken, never a query value. */
export class FindingsDestinationError extends Error {
  override readonly name = 'FindingsDestinationError';
}

/** Parses a findings destination URI. */
export function parseFindingsDestination(uri: string): FindingsDestination {
  const text = uri.trim();
  const fail = (detail: string): FindingsDestinationError =>
    new FindingsDestinationError(
      `findings destination: ${detail} (expected dicomweb+http(s)://HOST[:PORT]/ROOT or dimse://AET@HOST:PORT)`,
    );
  if (text.includes('?')) throw fail('a destination has no query');
  if (/^dicomweb\+https?:\/\//i.test(text)) {
    try {
      const { location } = parseDicomwebSourceUri(text);
      return { kind: 'dicomweb', uri: location.base, httpBase: location.httpBase };
    } catch (error) {
      throw fail(error instanceof Error ? error.message : 'not a valid URI');
    }
  }
  if (text.startsWith('dimse://')) {
    try {
      const spec = parseDimseSourceUri(text);
      return {
        kind: 'dimse',
        uri: spec.baseUri,
        calledAeTitle: spec.calledAeTitle,
        host: spec.host,
        port: spec.port,
      };
    } catch (error) {
      throw fail(error instanceof Error ? error.message : 'not a valid URI');
    }
  }
  throw fail('unknown scheme');
}
