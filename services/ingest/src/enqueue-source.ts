/**
 * `enqueueSource`: lists an object source and puts one `screen-object` job per object on
 * `cxr-screen`, in chunks, with backpressure and a resumable cursor. The business logic of the
 * ingest service; the queue, store, cursor store and metrics come in as ports.
 */
import { silentLogger, uriHash, type Logger } from '@cxr/config/log';
import type { CxrMetrics } from '@cxr/metrics';
import { ENQUEUE_CHUNK, ENQUEUE_CHUNKS_IN_FLIGHT, type ScreenJobPayload, type ScreenQueue } from '@cxr/queue';
import {
  sourceKindOf,
  type ObjectEntry,
  type ObjectSource,
  type SkippedEntry,
  type SourceSkipReason,
} from '@cxr/storage';
import type { Outcome, ResultStore } from '@cxr/store';
import type { CursorStore } from './cursor-store.js';
import type { IngestProgress } from './progress.js';

/**
 * Default objects per chunk: the queue adapter sends 1,000-job script calls with 2 in flight,
 * so a 2,000-object chunk keeps its lanes busy while the cursor still advances every chunk.
 */
export const DEFAULT_INGEST_CHUNK = ENQUEUE_CHUNK * ENQUEUE_CHUNKS_IN_FLIGHT;

/** Chunks being enqueued at once; with the adapter's 2 lanes per chunk, 2 keep Redis busy. */
const CHUNKS_IN_FLIGHT = 2;

/** A backpressure wait longer than this is reported as paused. */
const PAUSED_REPORT_MS = 200;

/** Outcomes after which an object is not screened again unless forced (store replacement rule). */
const FINAL_OUTCOMES: ReadonlySet<Outcome> = new Set<Outcome>(['ok', 'rejected']);

export interface EnqueueSourceOptions {
  readonly source: ObjectSource;
  readonly queue: Pick<ScreenQueue, 'enqueueBulk' | 'waitUntilBelow'>;
  readonly runId: string;
  readonly modelId: string;
  readonly modelVersion: string;
  /** Listing pauses while at least this many jobs wait; chunks in flight can overshoot it by 2 x `chunkSize`. */
  readonly highWater: number;
  /** Re-screen: job ids get the run id as nonce and store results are not consulted. */
  readonly force?: boolean;
  /** Resume after this listing cursor; default: the cursor store's value, else from the start. */
  readonly cursor?: string;
  /** Persists the cursor after each enqueued chunk; cleared when the listing completes. */
  readonly cursorStore?: CursorStore;
  /** When given (and not `force`), objects with a final result for this model are skipped. */
  readonly store?: Pick<ResultStore, 'existingKeys'>;
  readonly metrics?: Pick<CxrMetrics, 'countEnqueued' | 'countDuplicates'>;
  /** Called after every chunk and when backpressure pauses the listing. */
  readonly onProgress?: (progress: IngestProgress) => void;
  /** Stops after the chunk in flight; the cursor of the last enqueued chunk is kept. */
  readonly signal?: AbortSignal;
  /**
   * CXR_OBJECTS_PER_JOB: objects per screen job (default 1). Dedupe, re-enqueue and outcomes stay
   * per object; the high-water mark, in objects, is compared with waiting jobs x this.
   */
  readonly objectsPerJob?: number;
  /** Objects per chunk (default `DEFAULT_INGEST_CHUNK`). */
  readonly chunkSize?: number;
  /** Poll interval of the backpressure wait (default 500 ms). */
  readonly pollMs?: number;
  /** Milliseconds clock for `enqueuedAt`; default `Date.now`. */
  readonly now?: () => number;
  /** Gets one `source entry skipped` line per entry the source passes over (URI hash, never the URI). */
  readonly log?: Logger;
}

/** Entries the source passed over, per reason (symlink loops, links leaving the root, ...). */
export type SourceSkipCounts = Readonly<Partial<Record<SourceSkipReason, number>>>;

export interface IngestResult {
  readonly listed: number;
  /** Jobs created, re-enqueued ones included. */
  readonly enqueued: number;
  /**
   * Of `enqueued`: objects whose job the queue remembered as finished but that have no final row
   * in the store (a result lost on its way, e.g. through a long store outage): screened again.
   */
  readonly requeued: number;
  readonly duplicates: number;
  /** Objects skipped because the store already held a final result. */
  readonly skipped: number;
  /** Entries of the source that were not listed at all, each logged with its reason. */
  readonly sourceSkipped: number;
  readonly sourceSkipReasons: SourceSkipCounts;
  /** Cursor after the last enqueued chunk (undefined if nothing was enqueued by this call). */
  readonly cursor: string | undefined;
  /** False when the signal stopped the ingest before the listing ended. */
  readonly complete: boolean;
}

/** Lists `source` and enqueues one screen job per object; see `EnqueueSourceOptions`. */
export async function enqueueSource(options: EnqueueSourceOptions): Promise<IngestResult> {
  const { source, queue, runId, modelId, modelVersion, signal } = options;
  const chunkSize = options.chunkSize ?? DEFAULT_INGEST_CHUNK;
  if (!Number.isInteger(chunkSize) || chunkSize < 1)
    throw new RangeError('chunkSize must be a positive integer');
  if (!Number.isInteger(options.highWater) || options.highWater < 1) {
    throw new RangeError('highWater must be a positive integer');
  }
  const now = options.now ?? Date.now;
  const objectsPerJob = options.objectsPerJob ?? 1;
  const kind = sourceKindOf(source.uri);
  const startCursor = options.cursor ?? (await options.cursorStore?.load(source.uri, runId));

  // A function, not a narrowed property read: the signal flips between awaits.
  const aborted = (): boolean => signal?.aborted === true;
  let listed = 0;
  let enqueued = 0;
  let requeued = 0;
  let duplicates = 0;
  let skipped = 0;
  let sourceSkipped = 0;
  const sourceSkipReasons: Partial<Record<SourceSkipReason, number>> = {};
  let cursor = startCursor;
  const progress = (paused: boolean): IngestProgress => ({
    listed,
    enqueued,
    duplicates,
    skipped,
    sourceSkipped,
    paused,
  });
  const result = (complete: boolean): IngestResult => ({
    listed,
    enqueued,
    requeued,
    duplicates,
    skipped,
    sourceSkipped,
    sourceSkipReasons: { ...sourceSkipReasons },
    cursor,
    complete,
  });
  const log = options.log ?? silentLogger;
  const onSkip = ({ reason, uri }: SkippedEntry): void => {
    sourceSkipped += 1;
    sourceSkipReasons[reason] = (sourceSkipReasons[reason] ?? 0) + 1;
    // The hash only: a file name may be a patient's name.
    log('warn', 'source entry skipped', { source: kind, reason, uriHash: uriHash(uri) });
  };

  // With the store consulted, every object enqueued has no final row: whatever the queue
  // remembers (a finished job whose result never reached the store), it must be screened again.
  const requeueFinished = options.store !== undefined && options.force !== true;
  const finalKeys = async (chunk: readonly ObjectEntry[]): Promise<Set<string>> => {
    if (!requeueFinished) return new Set();
    const existing = await options.store.existingKeys(
      chunk.map(({ uri }) => ({ uri, modelId, modelVersion })),
    );
    return new Set(existing.filter((row) => FINAL_OUTCOMES.has(row.outcome)).map((row) => row.uri));
  };

  const waitForRoom = async (): Promise<void> => {
    // Report "paused" only when the wait outlasts a normal counts round trip.
    const pausedReport = setTimeout(() => options.onProgress?.(progress(true)), PAUSED_REPORT_MS);
    try {
      await queue.waitUntilBelow(Math.ceil(options.highWater / objectsPerJob), {
        ...(options.pollMs !== undefined ? { pollMs: options.pollMs } : {}),
        ...(signal !== undefined ? { signal } : {}),
      });
    } finally {
      clearTimeout(pausedReport);
    }
  };

  const enqueueChunk = async (
    chunk: readonly ObjectEntry[],
  ): Promise<{ added: number; requeued: number; repeated: number }> => {
    const done = await finalKeys(chunk);
    const enqueuedAt = now();
    const payloads: ScreenJobPayload[] = [];
    for (const entry of chunk) {
      if (done.has(entry.uri)) continue;
      payloads.push({
        uri: entry.uri,
        ...(entry.etag !== undefined ? { etag: entry.etag } : {}),
        // A manifest line may omit the size: 0 then, so the job id falls back to URI + ETag or
        // to the URI alone (an object changed in place is then not re-screened without --force).
        size: entry.size ?? 0,
        runId,
        modelId,
        modelVersion,
        enqueuedAt,
        ...(options.force === true ? { force: true as const } : {}),
      });
    }
    if (payloads.length === 0) return { added: 0, requeued: 0, repeated: 0 };
    const enqueuedChunk = await queue.enqueueBulk(
      payloads,
      options.force === true ? { forceNonce: runId, objectsPerJob } : { requeueFinished, objectsPerJob },
    );
    return {
      added: enqueuedChunk.added,
      requeued: enqueuedChunk.requeued,
      repeated: enqueuedChunk.duplicates,
    };
  };

  // Chunks are enqueued up to CHUNKS_IN_FLIGHT at a time (listing and hashing the next chunk
  // overlap the Redis round trips of the previous one) but committed in listing order: a chunk's
  // counts, cursor and progress are recorded only after every earlier chunk's.
  let tail: Promise<void> = Promise.resolve();
  const inFlight: Promise<void>[] = [];
  const start = (chunk: readonly ObjectEntry[]): void => {
    const last = chunk.at(-1);
    if (last === undefined) return;
    const previous = tail;
    const committed = (async (): Promise<void> => {
      const { added, requeued: again, repeated } = await enqueueChunk(chunk);
      await previous;
      const alreadyDone = chunk.length - added - repeated;
      enqueued += added;
      requeued += again;
      duplicates += repeated;
      skipped += alreadyDone;
      if (added > 0) options.metrics?.countEnqueued(kind, added);
      if (repeated + alreadyDone > 0) options.metrics?.countDuplicates(kind, repeated + alreadyDone);
      // Only now is everything up to `last` on the queue: a crash before this line re-lists the
      // chunk on resume, which job-id dedupe absorbs (at-least-once listing, exactly-once jobs).
      cursor = last.cursor;
      await options.cursorStore?.save(source.uri, runId, cursor);
      options.onProgress?.(progress(false));
    })();
    // Awaited later (window or drain); this handler only keeps an early rejection from being
    // reported as unhandled while the listing loop is busy.
    committed.catch(() => undefined);
    tail = committed;
    inFlight.push(committed);
  };
  const drain = async (): Promise<void> => {
    await Promise.all(inFlight.splice(0));
  };

  try {
    let chunk: ObjectEntry[] = [];
    // for-await pulls the next entry only after the loop body: while the window is full (or the
    // queue is above high water) the listing is paused, with one page at most buffered.
    for await (const entry of source.list({
      ...(startCursor !== undefined ? { cursor: startCursor } : {}),
      onSkip,
    })) {
      if (aborted()) break;
      listed += 1;
      chunk.push(entry);
      if (chunk.length >= chunkSize) {
        while (inFlight.length >= CHUNKS_IN_FLIGHT) await inFlight.shift();
        if (aborted()) break;
        await waitForRoom();
        start(chunk);
        chunk = [];
      }
    }
    if (!aborted() && chunk.length > 0) {
      await waitForRoom();
      start(chunk);
    }
    await drain();
  } catch (error) {
    await Promise.allSettled(inFlight);
    if (signal !== undefined && signal.aborted && error === signal.reason) return result(false);
    throw error;
  }
  if (aborted()) return result(false);
  await options.cursorStore?.clear(source.uri, runId);
  return result(true);
}
