/**
 * Composition root of a one-shot ingest: opens the source, queue, cursor store, result store and
 * progress reporter from the application config, runs `enqueueSource`, and closes everything.
 * The CLI (`cxr ingest`) and `cxr screen` call this; nothing here reads the environment.
 */
import type { AppConfig } from '@cxr/config';
import { silentLogger, type Logger, type ProgressOutput } from '@cxr/config/log';
import type { CxrMetrics } from '@cxr/metrics';
import { RedisRequestBudget, ScreenQueue, redisConnectionFromUrl } from '@cxr/queue';
import {
  dimseSettingsFromConfig,
  openObjectSource,
  sourceKindOf,
  type PacsFilterInput,
  type PacsObserver,
} from '@cxr/storage';
import { StoreNotFoundError, openStore, type ResultStore } from '@cxr/store';
import { RedisCursorStore } from './cursor-store.js';
import { enqueueSource, type IngestResult } from './enqueue-source.js';
import { ProgressReporter, type IngestProgress } from './progress.js';

export interface RunIngestOptions {
  readonly config: Pick<AppConfig, 'queue' | 'store' | 's3Env' | 'dicomweb' | 'dimse' | 'scp'>;
  readonly sourceUri: string;
  readonly runId: string;
  readonly modelId: string;
  readonly modelVersion: string;
  readonly force?: boolean;
  /** Default: `config.queue.ingestHighWater`. */
  readonly highWater?: number;
  /** Skip objects with a final result in `config.store.url` (default true; ignored with `force`). */
  readonly skipDone?: boolean;
  /** Redis key prefix of the queue; default `config.queue.prefix`, else BullMQ's. */
  readonly queuePrefix?: string;
  readonly metrics?: Pick<CxrMetrics, 'countEnqueued' | 'countDuplicates'> & Partial<PacsObserver>;
  /** PACS filters given as flags (`--modality CR`); refused for sources that are no PACS. */
  readonly pacsFilters?: PacsFilterInput;
  /** Progress for people: a line on `output` when it draws one, else `ingest progress` lines on `log`. */
  readonly output?: ProgressOutput;
  /** Gets the counters as the listing goes (`cxr screen` draws its own progress line from them). */
  readonly onProgress?: (progress: IngestProgress) => void;
  readonly signal?: AbortSignal;
  /** Gets a line per source entry that is not listed (see `enqueueSource`), and the progress lines. */
  readonly log?: Logger;
}

/** Runs one ingest of `sourceUri` onto `cxr-screen` and returns its counts. */
export async function runIngest(options: RunIngestOptions): Promise<IngestResult> {
  const { config } = options;
  const connection = redisConnectionFromUrl(config.queue.redisUrl);
  const queuePrefix = options.queuePrefix ?? config.queue.prefix;
  const prefix = queuePrefix !== undefined ? { prefix: queuePrefix } : {};
  // The PACS's request budget is shared with every worker through Redis (politeness).
  const budget = new RedisRequestBudget(connection, {
    limits: {
      concurrency: config.dicomweb.maxConcurrency,
      requestsPerSecond: config.dicomweb.maxRequestsPerSecond,
    },
    ...prefix,
  });
  const observer = pacsObserverOf(options.metrics);
  let source;
  try {
    source = openObjectSource(options.sourceUri, {
      env: config.s3Env,
      dicomweb: config.dicomweb,
      dimse: dimseSettingsFromConfig(config, (operation, outcome, seconds) => {
        observer?.observePacsRequest(operation, outcome, seconds);
      }),
      requestBudget: budget,
      ...(observer !== undefined ? { pacsObserver: observer } : {}),
      ...(options.pacsFilters !== undefined ? { pacsFilters: options.pacsFilters } : {}),
      ...(options.log !== undefined ? { log: options.log } : {}),
    });
  } catch (error) {
    await budget.close();
    throw error;
  }
  const { screenAttempts, screenBackoffMs, screenRetrySeconds } = config.queue;
  const queue = new ScreenQueue({
    connection,
    ...prefix,
    retry: {
      ...(screenAttempts !== undefined ? { attempts: screenAttempts } : {}),
      ...(screenBackoffMs !== undefined ? { backoffDelayMs: screenBackoffMs } : {}),
      ...(screenRetrySeconds !== undefined ? { budgetSeconds: screenRetrySeconds } : {}),
    },
  });
  const cursorStore = new RedisCursorStore(connection, prefix);
  let store: ResultStore | undefined;
  try {
    if (options.force !== true && options.skipDone !== false) store = await openDoneStore(config.store.url);
    const reporter =
      options.output !== undefined
        ? new ProgressReporter({
            output: options.output,
            log: options.log ?? silentLogger,
            source: sourceKindOf(options.sourceUri),
          })
        : undefined;
    const onProgress = options.onProgress;
    const result = await enqueueSource({
      source,
      queue,
      cursorStore,
      runId: options.runId,
      modelId: options.modelId,
      modelVersion: options.modelVersion,
      highWater: options.highWater ?? config.queue.ingestHighWater,
      objectsPerJob: config.queue.objectsPerJob,
      ...(options.force !== undefined ? { force: options.force } : {}),
      ...(store !== undefined ? { store } : {}),
      ...(options.metrics !== undefined ? { metrics: options.metrics } : {}),
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
      ...(options.log !== undefined ? { log: options.log } : {}),
      ...(reporter !== undefined || onProgress !== undefined
        ? {
            onProgress: (p: IngestProgress) => {
              reporter?.update(p);
              onProgress?.(p);
            },
          }
        : {}),
    });
    reporter?.finish({ ...result, paused: false });
    return result;
  } finally {
    await Promise.allSettled([
      source.close(),
      queue.close(),
      cursorStore.close(),
      store?.close(),
      budget.close(),
    ]);
  }
}

/**
 * The store consulted for objects already screened, never created here (the results service or
 * `cxr screen` creates it when it first writes): a store that does not exist yet holds no result,
 * so nothing is skipped.
 */
async function openDoneStore(url: string): Promise<ResultStore | undefined> {
  try {
    return await openStore(url, { mustExist: true });
  } catch (error) {
    if (error instanceof StoreNotFoundError) return undefined;
    throw error;
  }
}

/** The PACS measurements of a metrics object that has them (the services' CxrMetrics). */
export function pacsObserverOf(metrics: Partial<PacsObserver> | undefined): PacsObserver | undefined {
  if (metrics?.observePacsRequest === undefined || metrics.countPacsThrottled === undefined) return undefined;
  return {
    observePacsRequest: (operation, statusClass, seconds) =>
      metrics.observePacsRequest?.(operation, statusClass, seconds),
    countPacsThrottled: (reason) => metrics.countPacsThrottled?.(reason),
  };
}
