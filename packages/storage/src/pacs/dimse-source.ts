/**
 * The `dimse://` object source and fetcher: lists a PACS with C-FIND (see dimse-walk.ts) and
 * fetches each instance by C-GET, or by C-MOVE to this pipeline's own C-STORE SCP.
 *
 * How a C-MOVE-fetched job finds its bytes: the worker asks the PACS to move the instance to the
 * move destination (our SCP, CXR_DIMSE_MOVE_DESTINATION) with our calling AE title. The PACS's
 * C-STORE sub-operation carries that title as Move Originator (0000,1030), so the SCP writes the
 * instance durably to the `retrieved/` area of CXR_SCP_STORE_TO instead of enqueuing it as a push,
 * and acknowledges it; the PACS then answers the C-MOVE, and the worker reads the instance from
 * that area (its CXR_SCP_STORE_TO must be the same folder or bucket) and deletes it. The job's
 * URI stays the `dimse://` one: the same identity whether the instance came by C-GET or C-MOVE.
 *
 * Entries carry no size (C-FIND does not say), so a job's identity is its URI (the PACS, the
 * UIDs) and the model. Errors: an association the PACS rejects is permanent (configuration); a
 * network failure, timeout or Out of Resources is transient (the queue retries); an instance the
 * PACS no longer has ends `failed` at once.
 */
import { performance } from 'node:perf_hooks';
import {
  DimseError,
  cFind,
  cGetInstance,
  cMoveInstance,
  type DimseOutcome,
  type DimsePeer,
} from '@cxr/dicomnet';
import {
  ObjectFetchError,
  ObjectListError,
  ObjectSourceConfigError,
  ObjectTooLargeError,
} from '../errors.js';
import type { FetchOptions, ListOptions, ObjectEntry, ObjectSource } from '../types.js';
import type { AppConfig } from '@cxr/config';
import type { Env } from '../s3.js';
import { openReceivedInstanceStore, type ReceivedInstanceStore } from './dimse-received-store.js';
import {
  dimseObjectUri,
  parseDimseObjectUri,
  parseDimseSourceUri,
  type DimseRetrieve,
  type DimseSourceSpec,
} from './dimse-uri.js';
import {
  DimseWalkError,
  decodeWalkCursor,
  encodeWalkCursor,
  walkDimse,
  type WalkFind,
} from './dimse-walk.js';

/** DIMSE operations as the PACS request metrics name them. */
export type DimseOperation = 'c_find' | 'c_get' | 'c_move';

/** Our side of DIMSE (from @cxr/config's `dimse` block) and where the metrics go. */
export interface DimseSettings {
  /** Our calling AE title. */
  readonly callingAeTitle: string;
  readonly timeoutMs?: number;
  /** How objects are fetched: C-GET, or C-MOVE to `moveDestination`. */
  readonly retrieve: 'get' | 'move';
  readonly moveDestination?: string;
  /** The SCP's storage, where C-MOVE retrieves land (required for `retrieve: 'move'`). */
  readonly received?: ReceivedInstanceStore;
  /** A study query answering this many matches is split (default 1000, see dimse-walk.ts). */
  readonly maxFindMatches?: number;
  /** Waits before each retry of a C-FIND that failed transiently (default FIND_RETRY_DELAYS_MS). */
  readonly findRetryDelaysMs?: readonly number[];
  /** Called after every DIMSE request with how it ended and how long it took. */
  readonly onRequest?: (operation: DimseOperation, outcome: DimseOutcome, seconds: number) => void;
}

/**
 * Pauses before the retries of a C-FIND that failed transiently (PACS restarting, network blip,
 * Out of Resources): about a minute in all, so that a PACS restart mid-walk costs a pause, not the
 * listing (which would otherwise end, to be resumed from its cursor by the next run or pass).
 */
export const FIND_RETRY_DELAYS_MS: readonly number[] = [1000, 2000, 4000, 8000, 15_000, 30_000];

/** Runs `attempt`, again after each delay while it fails with a transient DimseError. */
async function retryTransient<T>(delaysMs: readonly number[], attempt: () => Promise<T>): Promise<T> {
  for (let retry = 0; ; retry++) {
    try {
      return await attempt();
    } catch (error) {
      const delay = delaysMs[retry];
      if (!(error instanceof DimseError) || !error.transient || delay === undefined) throw error;
      // Jitter: workers and ingests that failed together do not come back together.
      await new Promise((resolve) => setTimeout(resolve, delay * (0.8 + Math.random() * 0.4)));
    }
  }
}

/** Runs one DIMSE request and reports it to `onRequest`. */
async function observed<T>(
  settings: DimseSettings,
  operation: DimseOperation,
  run: () => Promise<T>,
): Promise<T> {
  const started = performance.now();
  let outcome: DimseOutcome = 'success';
  try {
    return await run();
  } catch (error) {
    outcome = error instanceof DimseError ? error.outcome : 'failure';
    throw error;
  } finally {
    settings.onRequest?.(operation, outcome, (performance.now() - started) / 1000);
  }
}

function peerOf(
  settings: DimseSettings,
  target: { calledAeTitle: string; host: string; port: number },
): DimsePeer {
  return {
    host: target.host,
    port: target.port,
    calledAeTitle: target.calledAeTitle,
    callingAeTitle: settings.callingAeTitle,
    ...(settings.timeoutMs !== undefined ? { timeoutMs: settings.timeoutMs } : {}),
  };
}

/** The settings a source URI's `retrieve=`/`dest=` asks for, over the configured ones. */
export function withRetrieve(settings: DimseSettings, retrieve: DimseRetrieve | undefined): DimseSettings {
  if (retrieve === undefined) return settings;
  return retrieve.mode === 'get'
    ? { ...settings, retrieve: 'get' }
    : { ...settings, retrieve: 'move', moveDestination: retrieve.destination };
}

/** Lists a DIMSE archive by C-FIND; fetches like `fetchDimseObject`. */
export class DimseObjectSource implements ObjectSource {
  readonly #spec: DimseSourceSpec;
  readonly #settings: DimseSettings;

  constructor(
    readonly uri: string,
    settings: DimseSettings,
  ) {
    this.#spec = parseDimseSourceUri(uri);
    this.#settings = withRetrieve(settings, this.#spec.retrieve);
  }

  async *list(options: ListOptions = {}): AsyncIterable<ObjectEntry> {
    let cursor;
    try {
      cursor = options.cursor === undefined ? undefined : decodeWalkCursor(options.cursor);
    } catch (error) {
      throw new ObjectSourceConfigError(`invalid listing cursor for ${this.#spec.baseUri}`, { cause: error });
    }
    const peer = peerOf(this.#settings, this.#spec);
    const find: WalkFind = (level, keys) =>
      retryTransient(this.#settings.findRetryDelaysMs ?? FIND_RETRY_DELAYS_MS, () =>
        observed(this.#settings, 'c_find', () => cFind(peer, level, keys)),
      );
    try {
      for await (const instance of walkDimse(find, this.#spec.filters, {
        ...(cursor !== undefined ? { cursor } : {}),
        ...(this.#settings.maxFindMatches !== undefined ? { maxMatches: this.#settings.maxFindMatches } : {}),
      })) {
        yield {
          uri: dimseObjectUri(this.#spec.baseUri, instance),
          cursor: encodeWalkCursor(instance.cursor),
        };
      }
    } catch (error) {
      // The base URI only: the source URI's query may hold patient filters.
      if (error instanceof DimseError) {
        throw new ObjectListError(this.#spec.baseUri, error.transient, error.message, { cause: error });
      }
      if (error instanceof DimseWalkError)
        throw new ObjectListError(this.#spec.baseUri, false, error.message, { cause: error });
      throw error;
    }
  }

  fetch(uri: string, options?: FetchOptions): Promise<Uint8Array> {
    return fetchDimseObject(uri, this.#settings, options);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Applies the fetch options a stream would have applied, to bytes that arrived whole. */
async function applyFetchOptions(uri: string, bytes: Uint8Array, options: FetchOptions): Promise<Uint8Array> {
  if (options.maxBytes !== undefined && bytes.byteLength > options.maxBytes) {
    throw new ObjectTooLargeError(uri, bytes.byteLength, options.maxBytes);
  }
  options.head?.check(bytes.subarray(0, options.head.bytes));
  await options.beforeRead?.(bytes.byteLength);
  return bytes;
}

/** Fetches one `dimse://` object by C-GET or C-MOVE (see the module comment). */
export async function fetchDimseObject(
  uri: string,
  settings: DimseSettings,
  options: FetchOptions = {},
): Promise<Uint8Array> {
  const location = parseDimseObjectUri(uri);
  if (location === undefined) throw new ObjectFetchError(uri, false, 'not a dimse:// object URI');
  const peer = peerOf(settings, location);
  const failed = (error: unknown): ObjectFetchError =>
    error instanceof DimseError
      ? new ObjectFetchError(
          uri,
          error.transient,
          // A failure status for a single-instance retrieve: PACS answer it for a UID they do not hold.
          error.outcome === 'failure' && !error.transient
            ? `the PACS has no such instance or cannot send it (${error.message})`
            : error.message,
          { cause: error },
        )
      : new ObjectFetchError(uri, true, error instanceof Error ? error.name : 'unknown error', {
          cause: error,
        });
  if (settings.retrieve === 'get') {
    let result;
    try {
      result = await observed(settings, 'c_get', () =>
        cGetInstance(peer, location, { maxBytes: options.maxBytes ?? Number.MAX_SAFE_INTEGER }),
      );
    } catch (error) {
      throw failed(error);
    }
    if (result.tooLargeBytes !== undefined && options.maxBytes !== undefined) {
      throw new ObjectTooLargeError(uri, result.tooLargeBytes, options.maxBytes);
    }
    if (result.bytes === undefined) {
      const { completed, failed: subFailed } = result.counts;
      throw new ObjectFetchError(
        uri,
        false,
        subFailed > 0
          ? 'the PACS could not send the instance in a transfer syntax the pipeline reads'
          : `the PACS has no such instance (C-GET completed ${completed})`,
      );
    }
    return applyFetchOptions(uri, result.bytes, options);
  }
  const received = settings.received;
  const destination = settings.moveDestination;
  if (received === undefined || destination === undefined) {
    throw new ObjectFetchError(uri, false, 'retrieve=move needs CXR_SCP_STORE_TO and a move destination');
  }
  let counts;
  try {
    counts = await observed(settings, 'c_move', () => cMoveInstance(peer, location, destination));
  } catch (error) {
    throw failed(error);
  }
  if (counts.completed === 0) {
    // Sub-operations that failed are the destination's (our SCP's) trouble: worth another try.
    throw new ObjectFetchError(
      uri,
      counts.failed > 0,
      counts.failed > 0
        ? `the move to ${destination} failed (${counts.failed} sub-operation failed)`
        : 'the PACS has no such instance (C-MOVE completed 0)',
    );
  }
  try {
    return await received.takeRetrieved(location.sopInstanceUid, options);
  } catch (error) {
    if (error instanceof ObjectFetchError && !(error instanceof ObjectTooLargeError) && !error.transient) {
      // Moved, but not where this worker reads: the destination is not the SCP writing CXR_SCP_STORE_TO.
      throw new ObjectFetchError(
        uri,
        true,
        `moved to ${destination} but not found in CXR_SCP_STORE_TO's retrieved area (is ${destination} this pipeline's SCP, writing the same storage?)`,
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * The DIMSE settings of a process from its configuration: our AE title and timeout, the retrieve
 * mode and, when CXR_SCP_STORE_TO is set, the SCP's storage (where C-MOVE retrieves land).
 */
export function dimseSettingsFromConfig(
  config: {
    readonly dimse: Pick<AppConfig['dimse'], 'callingAeTitle' | 'timeoutMs' | 'retrieve' | 'moveDestination'>;
    readonly scp: Pick<AppConfig['scp'], 'storeTo'>;
    readonly s3Env: Env;
  },
  onRequest?: DimseSettings['onRequest'],
): DimseSettings {
  const { dimse, scp } = config;
  return {
    callingAeTitle: dimse.callingAeTitle,
    timeoutMs: dimse.timeoutMs,
    retrieve: dimse.retrieve,
    moveDestination: dimse.moveDestination,
    ...(scp.storeTo !== undefined
      ? { received: openReceivedInstanceStore(scp.storeTo, { env: config.s3Env }) }
      : {}),
    ...(onRequest !== undefined ? { onRequest } : {}),
  };
}
