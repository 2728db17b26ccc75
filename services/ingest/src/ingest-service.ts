/**
 * The long-running ingest service: lists every configured source, enqueues what is new, sleeps,
 * and lists again. Job-id dedupe and the store's "already screened" check make a pass over an
 * unchanged archive cheap (no job added), so new objects in a watched bucket or folder are picked
 * up within one interval. A failing source is logged and retried on the next pass; the other
 * sources go on. `cxr ingest SOURCE` is the one-shot form of the same `runIngest`.
 */
import type { AppConfig } from '@cxr/config';
import { errorSummary, silentLogger, type Logger } from '@cxr/config/log';
import type { CxrMetrics } from '@cxr/metrics';
import { runIngest, type RunIngestOptions } from './run-ingest.js';
import { sourceKindOf } from '@cxr/storage';

export interface IngestServiceOptions {
  readonly config: Pick<AppConfig, 'queue' | 'store' | 's3Env' | 'dicomweb' | 'dimse' | 'scp'>;
  readonly sources: readonly string[];
  readonly modelId: string;
  readonly modelVersion: string;
  /** Pause between passes. */
  readonly intervalMs: number;
  /** Fixed run id; default `ingest-YYYY-MM-DD`, the UTC day the pass starts. */
  readonly runId?: string;
  readonly metrics?: RunIngestOptions['metrics'] & Pick<CxrMetrics, 'countEnqueued'>;
  readonly log?: Logger;
  /** Milliseconds clock (tests); default Date.now. */
  readonly now?: () => number;
}

/** Counts of one pass over all sources. */
export interface PassSummary {
  readonly pass: number;
  readonly enqueued: number;
  readonly duplicates: number;
  readonly skipped: number;
  /** Entries the sources passed over without listing them (each logged with its reason). */
  readonly sourceSkipped: number;
  /** Sources whose listing or enqueue failed in this pass. */
  readonly failedSources: number;
}

/** Runs passes until `stop()`; `passes` resolves each pass's summary to listeners. */
export class IngestService {
  readonly #options: IngestServiceOptions;
  readonly #log: Logger;
  readonly #controller = new AbortController();
  readonly #listeners: ((summary: PassSummary) => void)[] = [];
  #loop: Promise<void> | undefined;
  #passes = 0;

  constructor(options: IngestServiceOptions) {
    if (options.sources.length === 0)
      throw new Error('the ingest service needs at least one source (CXR_INGEST_SOURCES)');
    if (!(options.intervalMs > 0)) throw new RangeError('intervalMs must be positive');
    this.#options = options;
    this.#log = options.log ?? silentLogger;
  }

  /** Calls `listener` after every pass. */
  onPass(listener: (summary: PassSummary) => void): void {
    this.#listeners.push(listener);
  }

  /** Starts the pass loop (returns at once). */
  start(): void {
    if (this.#loop !== undefined) throw new Error('ingest service already started');
    this.#loop = this.#run();
  }

  /** Stops after the chunk in flight (its cursor is saved) and waits for the loop to end. */
  async stop(): Promise<void> {
    this.#controller.abort();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const signal = this.#controller.signal;
    while (!signal.aborted) {
      const summary = await this.#pass(signal);
      for (const listener of this.#listeners) listener(summary);
      await sleep(this.#options.intervalMs, signal);
    }
  }

  async #pass(signal: AbortSignal): Promise<PassSummary> {
    const o = this.#options;
    const pass = ++this.#passes;
    const runId = o.runId ?? `ingest-${new Date((o.now ?? Date.now)()).toISOString().slice(0, 10)}`;
    let enqueued = 0;
    let duplicates = 0;
    let skipped = 0;
    let sourceSkipped = 0;
    let failedSources = 0;
    for (const sourceUri of o.sources) {
      if (signal.aborted) break;
      // The source kind only: a bucket or folder name may carry patient data.
      const source = sourceKindOf(sourceUri);
      try {
        const result = await runIngest({
          config: o.config,
          sourceUri,
          runId,
          modelId: o.modelId,
          modelVersion: o.modelVersion,
          signal,
          log: this.#log,
          ...(o.metrics !== undefined ? { metrics: o.metrics } : {}),
        });
        enqueued += result.enqueued;
        duplicates += result.duplicates;
        skipped += result.skipped;
        sourceSkipped += result.sourceSkipped;
        this.#log('info', 'source listed', { pass, source, runId, ...countsOf(result) });
      } catch (error) {
        failedSources += 1;
        this.#log('error', 'source ingest failed; retried next pass', {
          pass,
          source,
          ...errorSummary(error),
        });
      }
    }
    return { pass, enqueued, duplicates, skipped, sourceSkipped, failedSources };
  }
}

function countsOf(result: {
  listed: number;
  enqueued: number;
  duplicates: number;
  skipped: number;
  sourceSkipped: number;
  complete: boolean;
}) {
  const { listed, enqueued, duplicates, skipped, sourceSkipped, complete } = result;
  return { listed, enqueued, duplicates, skipped, sourceSkipped, complete };
}

/** Resolves after `ms`, or at once when the signal aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
