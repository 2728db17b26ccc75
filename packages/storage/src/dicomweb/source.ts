/**
 * The DICOMweb adapter: a PACS as an object source. Listing walks QIDO-RS instance queries over
 * study windows (pacs/walk.ts: split until every answer is complete, resumable after any
 * instance), one modality at a time; fetching is a WADO-RS retrieve of the stored instance
 * (never transcoded), read as a stream. Every request goes through the PACS's shared request
 * budget and is measured.
 *
 * Privacy: object URIs are the base URL plus UIDs (pacs/instance-uri.ts); the source's `uri` is
 * its base URL plus a hash of its filters, so that cursor keys and messages name no patient. QIDO
 * answers carry patient names: they are read for UIDs and dropped, never logged or echoed.
 */
import { readFileSync } from 'node:fs';
import { silentLogger, type Logger } from '@cxr/config/log';
import { describeError, isTransientError } from '../classify.js';
import { ObjectFetchError, ObjectListError, ObjectSourceConfigError } from '../errors.js';
import { sleep, type PacsObserver, type RequestBudget } from '../pacs/budget.js';
import { pacsFilterKey, pacsFilterNamesSet, pacsMatchingKeys, type PacsFilters } from '../pacs/filters.js';
import { isDicomUid, pacsInstanceUri, type InstanceUids } from '../pacs/instance-uri.js';
import {
  walkStudyWindows,
  type CapKnowledge,
  type StudyWalkCursor,
  type WindowAnswer,
} from '../pacs/walk.js';
import {
  addDays,
  describeStudyWindow,
  dicomDateOf,
  isStudyWindow,
  studyWindowMatch,
  type StudyWindow,
} from '../pacs/windows.js';
import type { FetchOptions, ListOptions, ObjectEntry, ObjectSource, SourceSkipReason } from '../types.js';
import { DicomwebHttp, DicomwebHttpError, backoffMs, type DicomwebResponse } from './http.js';
import { HeadCheckFailure, WADO_ACCEPT, printableType, readInstanceBody } from './instance-body.js';
import { parseMediaType } from './multipart.js';
import { parseDicomwebInstanceUri, type DicomwebLocation } from './uri.js';

/** DICOMweb settings (@cxr/config's `dicomweb` block has the same shape). */
export interface DicomwebSettings {
  /** Bearer token (CXR_DICOMWEB_TOKEN); never logged. */
  readonly token?: string;
  /** HTTP Basic credentials (CXR_DICOMWEB_USER / CXR_DICOMWEB_PASSWORD); never logged. */
  readonly user?: string;
  readonly password?: string;
  /** PEM file of the CA(s) that sign the PACS's certificate (CXR_DICOMWEB_CA_FILE). */
  readonly caFile?: string;
  /** Requests in flight per PACS, all processes together (CXR_DICOMWEB_MAX_CONCURRENCY). */
  readonly maxConcurrency: number;
  /** Requests started per second per PACS, all processes together; 0 = no limit (CXR_DICOMWEB_MAX_RPS). */
  readonly maxRequestsPerSecond: number;
  /** QIDO-RS `limit` per query (CXR_DICOMWEB_PAGE_SIZE); a full page is split further. */
  readonly pageSize: number;
  /** No bytes for this long ends a request (CXR_DICOMWEB_TIMEOUT_MS). */
  readonly timeoutMs: number;
  /** Whole-request deadline, waits for 429/503 included (default 120 s). */
  readonly requestDeadlineMs?: number;
  /** How long a listing rides out an unreachable PACS before it fails (CXR_DICOMWEB_LIST_RETRY_SECONDS). */
  readonly listRetrySeconds: number;
}

export const DEFAULT_DICOMWEB_SETTINGS: DicomwebSettings = {
  maxConcurrency: 4,
  maxRequestsPerSecond: 20,
  pageSize: 1000,
  timeoutMs: 30_000,
  listRetrySeconds: 600,
};

const DEFAULT_REQUEST_DEADLINE_MS = 120_000;
/** Tries of a QIDO-RS query whose answer cannot be read (HTML, not JSON) before the window is reported. */
const UNUSABLE_ANSWER_TRIES = 3;
/** Largest QIDO-RS answer read: far above a page of instances (a few KB each). */
const MAX_QIDO_ANSWER_BYTES = 256 * 1024 * 1024;
/** The PACS's own "more results than returned" warning (PS3.18 8.3.4.1, Warning: 299). */
const TRUNCATION_WARNING = /\b299\b/;

/** Reads a CA file for the HTTPS connections; a ConfigError naming the variable when it cannot be read. */
export function readCaFile(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new ObjectSourceConfigError(
      `CXR_DICOMWEB_CA_FILE cannot be read (${describeError(error)}): ${path}`,
      {
        cause: error,
      },
    );
  }
}

/** The HTTP client of one PACS with these settings. */
export function createDicomwebHttp(
  location: DicomwebLocation,
  settings: DicomwebSettings,
  deps: { readonly budget: RequestBudget; readonly observer?: PacsObserver },
): DicomwebHttp {
  const ca = readCaFile(settings.caFile);
  return new DicomwebHttp(
    location,
    {
      ...(settings.token !== undefined ? { token: settings.token } : {}),
      ...(settings.user !== undefined ? { user: settings.user } : {}),
      ...(settings.password !== undefined ? { password: settings.password } : {}),
      ...(ca !== undefined ? { ca } : {}),
      timeoutMs: settings.timeoutMs,
      maxSockets: settings.maxConcurrency,
    },
    deps,
  );
}

/** A QIDO-RS answer that cannot be used (not JSON, not a list of instances): retried, then reported. */
class UnusableAnswerError extends Error {
  override readonly name = 'UnusableAnswerError';
}

/** Reads a body whole, refusing more than `limit` bytes. */
async function readAll(body: AsyncIterable<Uint8Array>, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > limit) throw new UnusableAnswerError('QIDO-RS answer too large');
    chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }
  return Buffer.concat(chunks);
}

/** The first string value of a DICOM JSON attribute (PS3.18 F.2), e.g. `0020000D`. */
function firstString(dataset: Record<string, unknown>, tag: string): string | undefined {
  const attribute = dataset[tag] as { Value?: unknown } | undefined;
  const value = Array.isArray(attribute?.Value) ? (attribute.Value as unknown[])[0] : undefined;
  return typeof value === 'string' ? value.trim() : undefined;
}

/** One instance of a QIDO-RS answer: its UIDs, and its Study Time (which time window owns it). */
interface QidoInstance {
  readonly uids: InstanceUids;
  readonly studyTime: string | undefined;
}

/** The UIDs and Study Times of a QIDO-RS answer (application/dicom+json); the rest is dropped unread. */
async function readQidoAnswer(
  response: DicomwebResponse,
  pageSize: number,
): Promise<WindowAnswer<QidoInstance>> {
  const warning: unknown = response.headers.warning;
  const warnings = Array.isArray(warning) ? (warning as unknown[]) : [warning];
  const warned = warnings.some((w) => typeof w === 'string' && TRUNCATION_WARNING.test(w));
  if (response.status === 204) {
    response.body.resume();
    return { entries: [], truncated: warned };
  }
  const type = parseMediaType(response.headers['content-type'] ?? '').type;
  if (type !== 'application/dicom+json' && type !== 'application/json') {
    response.body.resume();
    throw new UnusableAnswerError(`QIDO-RS answered ${printableType(type)}, not application/dicom+json`);
  }
  const text = (await readAll(response.body, MAX_QIDO_ANSWER_BYTES)).toString('utf8');
  let parsed: unknown;
  try {
    parsed = text.trim() === '' ? [] : JSON.parse(text);
  } catch {
    throw new UnusableAnswerError('QIDO-RS answer is not valid JSON');
  }
  if (!Array.isArray(parsed)) throw new UnusableAnswerError('QIDO-RS answer is not a JSON array');
  const entries: QidoInstance[] = [];
  for (const item of parsed as unknown[]) {
    if (typeof item !== 'object' || item === null)
      throw new UnusableAnswerError('QIDO-RS answer holds a non-object');
    const dataset = item as Record<string, unknown>;
    const uids = {
      studyInstanceUid: firstString(dataset, '0020000D') ?? '',
      seriesInstanceUid: firstString(dataset, '0020000E') ?? '',
      sopInstanceUid: firstString(dataset, '00080018') ?? '',
    };
    if (![uids.studyInstanceUid, uids.seriesInstanceUid, uids.sopInstanceUid].every(isDicomUid)) {
      throw new UnusableAnswerError(
        'QIDO-RS answer lists an instance without valid Study, Series and SOP Instance UIDs',
      );
    }
    entries.push({ uids, studyTime: firstString(dataset, '00080030') });
  }
  return { entries, truncated: warned || entries.length >= pageSize };
}

/** The listing cursor: the modality being walked, what was listed before it, and the walk's own cursor. */
interface DicomwebCursor {
  readonly v: 1;
  /** Index into the filter's modalities. */
  readonly m: number;
  /** Instances listed by the walks of earlier modalities (for the limit). */
  readonly t: number;
  readonly w: StudyWalkCursor;
}

function decodeCursor(text: string | undefined): DicomwebCursor | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  const c = value as Partial<DicomwebCursor> | undefined;
  const w = c?.w as Partial<StudyWalkCursor> | undefined;
  const valid =
    c?.v === 1 &&
    Number.isInteger(c.m) &&
    Number.isInteger(c.t) &&
    w !== undefined &&
    isStudyWindow(w.window) &&
    typeof w.after === 'string' &&
    Number.isInteger(w.listed) &&
    typeof w.knowledge?.proven === 'number';
  if (!valid)
    throw new ObjectSourceConfigError(
      'DICOMweb listing cursor was not written by this source (start a new run id)',
    );
  return c as DicomwebCursor;
}

export interface DicomwebSourceDeps {
  readonly http: DicomwebHttp;
  readonly settings: DicomwebSettings;
  readonly log?: Logger;
  /** Milliseconds clock (tests); closes open-ended walks at the day after today. */
  readonly now?: () => number;
  /** Whether `close` closes the HTTP client (the source created it). */
  readonly ownsHttp?: boolean;
}

/** A PACS reached over DICOMweb, as an ObjectSource; see the file comment. */
export class DicomwebObjectSource implements ObjectSource {
  /** The base URL and a hash of the filters (never their values): cursor keys and messages use it. */
  readonly uri: string;
  readonly #location: DicomwebLocation;
  readonly #filters: PacsFilters;
  readonly #deps: DicomwebSourceDeps;
  readonly #log: Logger;

  constructor(location: DicomwebLocation, filters: PacsFilters, deps: DicomwebSourceDeps) {
    this.#location = location;
    this.#filters = filters;
    this.#deps = deps;
    this.#log = deps.log ?? silentLogger;
    this.uri = `${location.base}#filters=${pacsFilterKey(filters)}`;
  }

  async *list(options: ListOptions = {}): AsyncIterable<ObjectEntry> {
    const filters = this.#filters;
    const start = decodeCursor(options.cursor);
    const modalities: (string | undefined)[] =
      filters.modalities.length > 0 ? [...filters.modalities] : [undefined];
    const lastDate = addDays(dicomDateOf((this.#deps.now ?? Date.now)()), 1);
    const limit = filters.limit ?? Infinity;
    let before = start?.t ?? 0;
    let knowledge: CapKnowledge | undefined = start?.w.knowledge;
    this.#log('info', 'pacs walk started', {
      source: 'dicomweb',
      filters: pacsFilterNamesSet(filters),
      filterKey: pacsFilterKey(filters),
      resumed: start !== undefined,
    });
    for (let m = start?.m ?? 0; m < modalities.length && before < limit; m++) {
      const modality = modalities[m];
      const resume = start !== undefined && m === start.m ? start.w : undefined;
      let listedHere = resume?.listed ?? 0;
      const walk = walkStudyWindows<QidoInstance>({
        range: filters.studyDate ?? {},
        lastDate,
        keyOf: (instance) => instance.uids.sopInstanceUid,
        timeOf: (instance) => instance.studyTime,
        query: (window, offset) => this.#query(window, modality, offset),
        onUnlisted: (window, reason) => {
          this.#reportUnlisted(window, modality, reason, options);
        },
        ...(resume !== undefined ? { cursor: resume } : {}),
        ...(resume === undefined && knowledge !== undefined ? { knowledge } : {}),
        ...(Number.isFinite(limit) ? { limit: limit - before } : {}),
      });
      for await (const { entry, cursor } of walk) {
        listedHere = cursor.listed;
        knowledge = cursor.knowledge;
        const next: DicomwebCursor = { v: 1, m, t: before, w: cursor };
        yield { uri: pacsInstanceUri(this.#location.base, entry.uids), cursor: JSON.stringify(next) };
      }
      before += listedHere;
    }
  }

  fetch(uri: string, options?: FetchOptions): Promise<Uint8Array> {
    if (!uri.startsWith(`${this.#location.base}/`)) {
      return Promise.reject(new ObjectFetchError(uri, false, 'not an instance of this DICOMweb source'));
    }
    return fetchDicomwebInstance(this.#deps.http, uri, this.#deps.settings, options);
  }

  close(): Promise<void> {
    if (this.#deps.ownsHttp === true) this.#deps.http.close();
    return Promise.resolve();
  }

  /** Reports a window the walk could not list (fully): a skipped entry with the window, hashed in logs. */
  #reportUnlisted(
    window: StudyWindow,
    modality: string | undefined,
    reason: SourceSkipReason,
    options: ListOptions,
  ): void {
    const where = `${this.#location.base}#window=${describeStudyWindow(window)}${modality === undefined ? '' : `&modality=${modality}`}`;
    this.#log('warn', 'pacs window not listed', {
      source: 'dicomweb',
      reason,
      window: describeStudyWindow(window),
      ...(modality !== undefined ? { modality } : {}),
    });
    options.onSkip?.({ reason, uri: where });
  }

  /**
   * One QIDO-RS query, retried: through an unreachable or failing PACS for listRetrySeconds (then
   * the listing fails, transiently: its cursor resumes it), through unusable answers a few times
   * (then undefined: the window is reported). Refusals (401, 404, 400) end the listing at once.
   */
  async #query(
    window: StudyWindow,
    modality: string | undefined,
    offset: number,
  ): Promise<WindowAnswer<QidoInstance> | undefined> {
    const { settings, http } = this.#deps;
    const params = new URLSearchParams();
    const match = studyWindowMatch(window);
    if (match.studyDate !== undefined) params.set('StudyDate', match.studyDate);
    if (match.studyTime !== undefined) params.set('StudyTime', match.studyTime);
    if (modality !== undefined) params.set('Modality', modality);
    for (const [keyword, value] of Object.entries(pacsMatchingKeys(this.#filters)))
      params.set(keyword, value);
    // Study Time decides which of two time windows sharing a boundary lists an instance.
    params.set('includefield', '00080030');
    params.set('limit', String(settings.pageSize));
    if (offset > 0) params.set('offset', String(offset));
    const path = `/instances?${params.toString()}`;
    let unusable = 0;
    let outageStart: number | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        return await http.request({
          operation: 'qido',
          path,
          accept: 'application/dicom+json',
          deadline: Date.now() + (settings.requestDeadlineMs ?? DEFAULT_REQUEST_DEADLINE_MS),
          read: (response) => readQidoAnswer(response, settings.pageSize),
        });
      } catch (error) {
        if (error instanceof UnusableAnswerError) {
          unusable += 1;
          this.#log('warn', 'qido answer unusable', {
            source: 'dicomweb',
            window: describeStudyWindow(window),
            detail: error.message,
            attempt: unusable,
          });
          if (unusable >= UNUSABLE_ANSWER_TRIES) return undefined;
          await sleep(backoffMs(unusable));
          continue;
        }
        const transient = error instanceof DicomwebHttpError ? error.transient : isTransientError(error);
        const detail = error instanceof DicomwebHttpError ? error.message : describeError(error);
        if (!transient) throw new ObjectListError(this.uri, false, `QIDO-RS: ${detail}`, { cause: error });
        outageStart ??= Date.now();
        if (Date.now() - outageStart >= settings.listRetrySeconds * 1000) {
          throw new ObjectListError(this.uri, true, `QIDO-RS: ${detail} for ${settings.listRetrySeconds} s`, {
            cause: error,
          });
        }
        this.#log('warn', 'pacs unavailable; retrying', {
          source: 'dicomweb',
          operation: 'qido',
          detail,
          attempt,
        });
        await sleep(backoffMs(Math.min(attempt, 5)));
      }
    }
  }
}

/**
 * Retrieves one instance by WADO-RS as stored (`transfer-syntax=*`), under the fetch's limits.
 * Errors: ObjectFetchError (404/410, 401/403, HTML or an empty multipart: permanent; network,
 * 5xx, timeouts, a cut body: transient), ObjectTooLargeError, or the head check's own error.
 */
export async function fetchDicomwebInstance(
  http: DicomwebHttp,
  uri: string,
  settings: Pick<DicomwebSettings, 'requestDeadlineMs'>,
  options: FetchOptions = {},
): Promise<Uint8Array> {
  const { uids } = parseDicomwebInstanceUri(uri);
  const path = `/studies/${uids.studyInstanceUid}/series/${uids.seriesInstanceUid}/instances/${uids.sopInstanceUid}`;
  try {
    return await http.request({
      operation: 'wado',
      path,
      accept: WADO_ACCEPT,
      deadline: Date.now() + (settings.requestDeadlineMs ?? DEFAULT_REQUEST_DEADLINE_MS),
      read: (response) => {
        const compressed = response.headers['content-encoding'] !== undefined;
        return readInstanceBody(
          uri,
          response.headers['content-type'],
          compressed ? undefined : response.contentLength,
          response.consume !== undefined ? { consume: response.consume } : response.body,
          options,
        );
      },
    });
  } catch (error) {
    if (error instanceof HeadCheckFailure) throw error.cause;
    if (error instanceof ObjectFetchError) throw error;
    if (error instanceof DicomwebHttpError) {
      throw new ObjectFetchError(uri, error.transient, `WADO-RS: ${error.message}`, { cause: error });
    }
    throw new ObjectFetchError(uri, isTransientError(error), describeError(error), { cause: error });
  }
}
