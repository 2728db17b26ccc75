/**
 * The `cxr deidentify` run: lists a source, de-identifies each object (@cxr/deid) and writes it
 * into the output folder under a name made of its new SOP Instance UID, then records the run in
 * the map. Bad input is an outcome (rejected, with its reason), never the end of the run.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { AppConfig } from '@cxr/config';
import { errorSummary, type Logger, type ProgressOutput } from '@cxr/config/log';
import { DICOM_PREFIX_BYTES, checkDicomPrefix, isDicomRejectedError } from '@cxr/dicom';
import {
  deidentifyObject,
  DeidRejectedError,
  ephemeralSession,
  isDeidRejectedError,
  isInside,
  MapFileError,
  openMapFile,
  saveMapFile,
  type DeidRejectReason,
  type DeidSession,
  type MapInstance,
  type OpenMap,
  type ProfileOptions,
} from '@cxr/deid';
import {
  fetchFileObject,
  fileSystemPathFromUri,
  fileUriFromPath,
  isTransientError,
  ObjectTooLargeError,
  openObjectSource,
  type ObjectEntry,
  type ObjectSource,
  type SourceSkipReason,
} from '@cxr/storage';
import { UsageError } from '../output.js';
import type { DeidentifySummary } from './summary.js';

export interface DeidentifyRunOptions {
  readonly config: AppConfig;
  readonly sourceUri: string;
  /** The output folder (created when missing). */
  readonly out: string;
  readonly profile: ProfileOptions;
  /** The re-identification map (created when missing); none: a key for this run only. */
  readonly mapPath?: string;
  readonly rejectBurnedIn: boolean;
  readonly log: Logger;
  readonly output: ProgressOutput;
  readonly signal: AbortSignal;
}

/** Objects de-identified at once: enough to overlap reads and writes, few enough for memory. */
const CONCURRENCY = 4;
/** Attempts for a read that fails for a transient reason (an S3 timeout, a network file system). */
const READ_ATTEMPTS = 3;

const MANIFEST_EXTENSIONS = new Set(['.csv', '.jsonl', '.ndjson']);

/** A source of one local file: `cxr deidentify scan.dcm --out DIR`. */
function singleFileSource(path: string): ObjectSource {
  const uri = fileUriFromPath(Buffer.from(path));
  return {
    uri,
    async *list() {
      await Promise.resolve();
      yield { uri, cursor: uri };
    },
    fetch: (objectUri, options) => fetchFileObject(objectUri, options),
    close: () => Promise.resolve(),
  };
}

/** The local folder a source names, if it is one (a plain path or file://). */
function localFolder(sourceUri: string): string | undefined {
  if (sourceUri.startsWith('file://')) {
    const path = fileSystemPathFromUri(sourceUri);
    return typeof path === 'string' ? path : undefined;
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(sourceUri)) return undefined;
  return resolve(sourceUri);
}

/** Opens the source: a single local file, or anything @cxr/storage opens. */
async function openSource(sourceUri: string, config: AppConfig): Promise<ObjectSource> {
  const local = localFolder(sourceUri);
  if (
    local !== undefined &&
    !sourceUri.startsWith('file://') &&
    !MANIFEST_EXTENSIONS.has(extname(local).toLowerCase())
  ) {
    const info = await stat(local).catch(() => undefined);
    if (info?.isFile() === true) return singleFileSource(local);
  }
  return openObjectSource(sourceUri, { env: config.s3Env });
}

/** Checks where the output and the map go, before anything is read or written. */
async function checkPlaces(options: DeidentifyRunOptions): Promise<string> {
  const out = resolve(options.out);
  const info = await stat(out).catch(() => undefined);
  if (info !== undefined && !info.isDirectory()) throw new UsageError(`--out ${options.out} is not a folder`);
  const source = localFolder(options.sourceUri);
  if (source !== undefined && (isInside(out, source) || isInside(source, out))) {
    // Writing into the folder being listed would list (and de-identify) the output again.
    throw new UsageError(`--out ${options.out} must not be inside the source folder, nor contain it`);
  }
  if (options.mapPath !== undefined && isInside(options.mapPath, out)) {
    throw new UsageError(
      `--map ${options.mapPath} must not be inside --out ${options.out}: the map re-identifies the output and must not be shared with it`,
    );
  }
  await mkdir(out, { recursive: true });
  return out;
}

/** Writes a file atomically: a temporary name in the same folder, then a rename. */
async function writeAtomically(folder: string, name: string, bytes: Uint8Array): Promise<void> {
  const temporary = join(folder, `.${name}.${randomBytes(4).toString('hex')}.partial`);
  try {
    await writeFile(temporary, bytes);
    await rename(temporary, join(folder, name));
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/** What reading an object came to. */
type ReadOutcome =
  { readonly bytes: Uint8Array } | { readonly rejected: DeidRejectedError } | { readonly failed: unknown };

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

/** Runs a de-identification; resolves with its summary (throws UsageError on bad options). */
export async function runDeidentify(options: DeidentifyRunOptions): Promise<DeidentifySummary> {
  const { config, log, output, signal } = options;
  const out = await checkPlaces(options);
  let map: OpenMap | undefined;
  let session: DeidSession;
  if (options.mapPath === undefined) {
    session = ephemeralSession(options.profile);
  } else {
    try {
      map = await openMapFile(options.mapPath, options.profile);
    } catch (error) {
      if (error instanceof MapFileError) throw new UsageError(error.message);
      throw error;
    }
    session = map.session;
    if (map.created) log('info', 'map created', { map: options.mapPath });
  }
  const source = await openSource(options.sourceUri, config);

  const started = performance.now();
  const rejected: Partial<Record<DeidRejectReason, number>> = {};
  const sourceSkipped: Partial<Record<SourceSkipReason, number>> = {};
  const instances: MapInstance[] = [];
  const written = new Set<string>();
  let listed = 0;
  let failed = 0;
  let burnedIn = 0;
  let lastProgress = 0;

  const progress = (force = false): void => {
    const now = performance.now();
    if (!force && now - lastProgress < 200) return;
    lastProgress = now;
    const rejectedCount = Object.values(rejected).reduce((sum, n) => sum + n, 0);
    output.progress(
      `deidentify: ${listed} listed, ${written.size} written, ${rejectedCount} rejected, ${failed} failed`,
    );
  };

  const reject = (entry: ObjectEntry, error: DeidRejectedError): void => {
    rejected[error.reason] = (rejected[error.reason] ?? 0) + 1;
    // The logger writes the URI as its hash (object names may hold patient names) unless CXR_LOG_URIS=1.
    log('warn', 'object rejected', { uri: entry.uri, reason: error.reason, detail: error.message });
  };

  const read = async (entry: ObjectEntry): Promise<Uint8Array> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await source.fetch(entry.uri, {
          maxBytes: config.decode.maxObjectBytes,
          head: { bytes: DICOM_PREFIX_BYTES, check: checkDicomPrefix },
        });
      } catch (error) {
        if (attempt >= READ_ATTEMPTS || !isTransientError(error) || signal.aborted) throw error;
        await sleep(200 * 4 ** (attempt - 1));
      }
    }
  };

  /** Reads an object; never throws: a rejection or a failure is what it resolves to then. */
  const readOutcome = async (entry: ObjectEntry): Promise<ReadOutcome> => {
    try {
      return { bytes: await read(entry) };
    } catch (error) {
      if (isDicomRejectedError(error)) return { rejected: new DeidRejectedError('not_dicom', error.message) };
      if (error instanceof ObjectTooLargeError) {
        return { rejected: new DeidRejectedError('object_too_large', `larger than ${error.maxBytes} bytes`) };
      }
      return { failed: error };
    }
  };

  /** De-identifies and writes one object that was read (in listing order: see below). */
  const finish = async (entry: ObjectEntry, outcome: ReadOutcome): Promise<void> => {
    if ('rejected' in outcome) {
      reject(entry, outcome.rejected);
      return;
    }
    if ('failed' in outcome) {
      failed += 1;
      log('error', 'object not read', { uri: entry.uri, ...errorSummary(outcome.failed) });
      return;
    }
    let result;
    try {
      result = deidentifyObject(outcome.bytes, session, { rejectBurnedIn: options.rejectBurnedIn });
    } catch (error) {
      if (isDeidRejectedError(error)) {
        reject(entry, error);
        return;
      }
      // A fault of ours on one object must not stop the others: it is counted (exit code 1).
      failed += 1;
      log('error', 'object not de-identified', { uri: entry.uri, ...errorSummary(error) });
      return;
    }
    if (written.has(result.fileName)) {
      reject(
        entry,
        new DeidRejectedError(
          'duplicate_sop_instance_uid',
          'an object listed before it has the same SOP Instance UID: that one was written, this one is not',
        ),
      );
      return;
    }
    written.add(result.fileName);
    try {
      await writeAtomically(out, result.fileName, result.bytes);
    } catch (error) {
      written.delete(result.fileName);
      failed += 1;
      log('error', 'object not written', { uri: entry.uri, ...errorSummary(error) });
      return;
    }
    if (result.burnedInAnnotation) {
      burnedIn += 1;
      log('debug', 'burned-in annotation', { uri: entry.uri });
    }
    instances.push({
      source: entry.uri,
      file: result.fileName,
      original: result.originalUids,
      deidentified: result.uids,
    });
  };

  // Reads run ahead (up to CONCURRENCY objects), but objects are de-identified and written in
  // listing order, so that which of two copies of one object is written never depends on timing.
  const queue: { readonly entry: ObjectEntry; readonly outcome: Promise<ReadOutcome> }[] = [];
  const finishNext = async (): Promise<void> => {
    const next = queue.shift();
    if (next === undefined) return;
    await finish(next.entry, await next.outcome);
    progress();
  };
  let interrupted = false;
  try {
    for await (const entry of source.list({
      onSkip: ({ reason }) => {
        sourceSkipped[reason] = (sourceSkipped[reason] ?? 0) + 1;
      },
    })) {
      if (signal.aborted) {
        interrupted = true;
        break;
      }
      listed += 1;
      queue.push({ entry, outcome: readOutcome(entry) });
      if (queue.length >= CONCURRENCY) await finishNext();
    }
    while (queue.length > 0) await finishNext();
  } finally {
    // Reads already started settle before the source closes under them.
    await Promise.allSettled(queue.map((item) => item.outcome));
    await source.close();
    if (map !== undefined) map = await saveMapFile(map, instances);
    progress(true);
  }
  const wallSeconds = (performance.now() - started) / 1000;
  log('info', 'deidentify finished', { listed, written: written.size, failed, burnedIn });
  return {
    out,
    profile: session.options,
    map: options.mapPath === undefined ? null : resolve(options.mapPath),
    listed,
    written: written.size,
    rejected,
    failed,
    burnedIn,
    sourceSkipped,
    wallSeconds,
    instancesPerSecond: wallSeconds > 0 ? written.size / wallSeconds : 0,
    interrupted,
    complete: !interrupted && failed === 0,
  };
}
