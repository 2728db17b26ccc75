/**
 * Composition root of a one-shot ingest: opens the source, queue, cursor store, result store and
 * progress reporter from the application config, runs `enqueueSource`, and closes everything.
 * The CLI (`cxr ingest`) and `cxr screen` call this; nothing here reads the environment.
 */
import type { AppConfig } from '@cxr/config';
import type { Logger } from '@cxr/config/log';
import type { CxrMetrics } from '@cxr/metrics';
import { RedisRequestBudget, ScreenQueue, redisConnectionFromUrl } from '@cxr/queue';
import { openObjectSource, type PacsFilterInput, type PacsObserver } from '@cxr/storage';
import { openStore, type ResultStore } from '@cxr/store';
import { RedisCursorStore } from './cursor-store.js';
import { enqueueSource, type IngestResult } from './enqueue-source.js';
import { ProgressReporter, type ProgressStream } from './progress.js';
import { sourceKindOf } from './source-kind.js';

export interface RunIngestOptions {
  readonly config: Pick<AppConfig, 'queue' | 'store' | 's3Env' | 'dicomweb'>;
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
  /** Where progress goes (the CLI passes process.stderr). */
  readonly progressStream?: ProgressStream;
  readonly signal?: AbortSignal;
  /** Gets a line per source entry that is not listed (see `enqueueSource`). */
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
    if (options.force !== true && options.skipDone !== false) store = await openStore(config.store.url);
    const reporter =
      options.progressStream !== undefined
        ? new ProgressReporter({ stream: options.progressStream, source: sourceKindOf(options.sourceUri) })
        : undefined;
    const result = await enqueueSource({
      source,
      queue,
      cursorStore,
      runId: options.runId,
      modelId: options.modelId,
      modelVersion: options.modelVersion,
      highWater: options.highWater ?? config.queue.ingestHighWater,
      ...(options.force !== undefined ? { force: options.force } : {}),
      ...(store !== undefined ? { store } : {}),
      ...(options.metrics !== undefined ? { metrics: options.metrics } : {}),
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
      ...(options.log !== undefined ? { log: options.log } : {}),
      ...(reporter !== undefined
        ? {
            onProgress: (p) => {
              reporter.update(p);
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

/** The PACS measurements of a metrics object that has them (the services' CxrMetrics). */
export function pacsObserverOf(metrics: Partial<PacsObserver> | undefined): PacsObserver | undefined {
  if (metrics?.observePacsRequest === undefined || metrics.countPacsThrottled === undefined) return undefined;
  return {
    observePacsRequest: (operation, statusClass, seconds) =>
      metrics.observePacsRequest?.(operation, statusClass, seconds),
    countPacsThrottled: (reason) => metrics.countPacsThrottled?.(reason),
  };
}
