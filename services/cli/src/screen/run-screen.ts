/**
 * `cxr screen` as a function: ingest, worker and results in one process against Redis, the same
 * components the three services run (WorkerService, startResultsApp, runIngest), sharing one
 * metrics registry. The run is done when the screen queue has nothing waiting, prioritized,
 * delayed or active and every result message is stored: a screen job completes only after its
 * result message was published, and a result message only after its upsert committed, so two
 * empty counts read in that order mean every outcome is in the store.
 */
import { performance } from 'node:perf_hooks';
import type { AppConfig } from '@cxr/config';
import { silentLogger, type Logger } from '@cxr/config/log';
import { runIngest, type IngestResult } from '@cxr/ingest';
import { createMetrics, type CxrMetrics } from '@cxr/metrics';
import { readManifest } from '@cxr/model/manifest';
import { ResultQueue, ScreenQueue, redisConnectionFromUrl, type QueueLocation } from '@cxr/queue';
import { startResultsApp, type ResultsApp } from '@cxr/results';
import type { ResultStore } from '@cxr/store';
import { openObjectSource } from '@cxr/storage';
import { WorkerService } from '@cxr/worker';
import { StageLatencyCollector, displayStoreUrl, type ScreenSummary } from './summary.js';

export interface RunScreenOptions {
  readonly config: AppConfig;
  readonly sourceUri: string;
  readonly modelDir: string;
  readonly runId: string;
  /** Re-screen objects already screened (new job ids, store not consulted). */
  readonly force?: boolean;
  /** Port of /metrics, /healthz, /readyz during the run; 0 (default) = any free port. */
  readonly httpPort?: number;
  /** Where ingest and screening progress go (the CLI passes process.stderr). */
  readonly progressStream?: NodeJS.WritableStream & { readonly isTTY?: boolean };
  readonly log?: Logger;
  /** Stops the ingest and the wait; the worker then finishes its active jobs and everything closes. */
  readonly signal?: AbortSignal;
  /** How often the queues are polled for the end of the run (default 250 ms). */
  readonly pollMs?: number;
}

/** Time between screening-progress lines when the progress stream is not a terminal. */
const PROGRESS_LOG_MS = 10_000;

/** Runs one screening of `sourceUri` and returns its summary (also for an interrupted run). */
export async function runScreen(options: RunScreenOptions): Promise<ScreenSummary> {
  const { config, runId } = options;
  if (/^sqlite::memory:/.test(config.store.url)) {
    throw new Error('cxr screen needs a durable store: sqlite::memory: would lose every result at exit');
  }
  const log = options.log ?? silentLogger;
  // A source that cannot be opened (a mistyped path) fails before the model and services start.
  await openObjectSource(options.sourceUri, { env: config.s3Env }).close();
  const manifest = await readManifest(options.modelDir);
  const metrics = createMetrics({ collectDefault: true });
  const prefix = config.queue.prefix;
  const location: QueueLocation = {
    connection: redisConnectionFromUrl(config.queue.redisUrl),
    ...(prefix !== undefined ? { prefix } : {}),
  };

  let results: ResultsApp | undefined;
  let worker: WorkerService | undefined;
  const screenQueue = new ScreenQueue(location);
  const resultQueue = new ResultQueue(location);
  try {
    results = await startResultsApp({
      config,
      port: options.httpPort ?? 0,
      host: '127.0.0.1',
      metrics,
      log,
    });
    worker = new WorkerService({
      config,
      modelDir: options.modelDir,
      metrics,
      log,
    });
    await worker.start();
    const startedAt = performance.now();

    const ingest: IngestResult = await runIngest({
      config,
      sourceUri: options.sourceUri,
      runId,
      modelId: manifest.id,
      modelVersion: manifest.version,
      metrics,
      log,
      ...(options.force !== undefined ? { force: options.force } : {}),
      ...(options.progressStream !== undefined ? { progressStream: options.progressStream } : {}),
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
    });
    const drained =
      ingest.complete &&
      (await waitForIdle(screenQueue, resultQueue, {
        pollMs: options.pollMs ?? 250,
        ...(options.signal !== undefined ? { signal: options.signal } : {}),
        ...(options.progressStream !== undefined ? { progress: options.progressStream } : {}),
      }));
    const wallSeconds = (performance.now() - startedAt) / 1000;

    // Graceful: active jobs finish and their results are stored before the summary is read.
    await worker.stop();
    const runtime = (await modelInfoRuntime(metrics)) ?? config.runtime.runtime;
    const summary = await summarise(results.store, {
      runId,
      ingest,
      wallSeconds,
      complete: drained,
      inferred: await imagesInferred(metrics),
      model: { id: manifest.id, version: manifest.version, runtime },
      store: displayStoreUrl(config.store.url),
    });
    log('info', 'screening finished', { runId, complete: drained, ...summary.outcomes });
    return summary;
  } finally {
    await worker?.stop();
    await results?.stop();
    await Promise.allSettled([screenQueue.close(), resultQueue.close()]);
  }
}

/**
 * Polls until nothing of the screen queue is left to run and every result message is stored.
 * Returns false when the signal stopped the wait first.
 */
async function waitForIdle(
  screenQueue: ScreenQueue,
  resultQueue: ResultQueue,
  options: {
    readonly pollMs: number;
    readonly signal?: AbortSignal;
    readonly progress?: NodeJS.WritableStream & { readonly isTTY?: boolean };
  },
): Promise<boolean> {
  const started = performance.now();
  let lastLog = -Infinity;
  let first: number | undefined;
  for (;;) {
    if (options.signal?.aborted === true) return false;
    // Screen queue first: once it is empty every result message has been published.
    const c = await screenQueue.counts();
    const remaining = c.waiting + c.prioritized + c.active + c.delayed;
    const unstored = await resultQueue.pendingCount();
    if (remaining === 0 && unstored === 0) {
      if (options.progress?.isTTY === true) options.progress.write('\n');
      return true;
    }
    first ??= remaining;
    const now = performance.now();
    const done = Math.max(0, first - remaining);
    const rate = done / Math.max((now - started) / 1000, 1e-3);
    const stream = options.progress;
    if (stream?.isTTY === true) {
      stream.write(
        `\r\x1b[2Kscreening: ${remaining} to go, ${unstored} to store, ${rate.toFixed(1)} images/s`,
      );
    } else if (stream !== undefined && now - lastLog >= PROGRESS_LOG_MS) {
      lastLog = now;
      const data = { remaining, unstored, imagesPerSecond: Number(rate.toFixed(2)) };
      stream.write(`${JSON.stringify({ level: 'info', msg: 'screening progress', data })}\n`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs));
  }
}

/** Images run through the model by this process: the sum of the batch-size histogram. */
async function imagesInferred(metrics: CxrMetrics): Promise<number> {
  const { values } = await metrics.metrics.batchSize.get();
  return values.find((v) => v.metricName === 'cxr_batch_size_sum')?.value ?? 0;
}

/** The runtime the worker loaded, from the `cxr_model_info` gauge it sets at start. */
async function modelInfoRuntime(metrics: CxrMetrics): Promise<string | undefined> {
  const { values } = await metrics.metrics.modelInfo.get();
  const runtime = values.find((v) => v.value === 1)?.labels.runtime;
  return runtime === undefined ? undefined : String(runtime);
}

async function summarise(
  store: ResultStore,
  facts: Pick<
    ScreenSummary,
    'runId' | 'ingest' | 'wallSeconds' | 'complete' | 'inferred' | 'model' | 'store'
  >,
): Promise<ScreenSummary> {
  const outcomes = await store.countByOutcome(facts.runId);
  const reasons = await store.countByReason(facts.runId);
  const latency = new StageLatencyCollector();
  for await (const row of store.iterateRun(facts.runId, { batchSize: 2000 })) latency.add(row);
  const stored = outcomes.ok + outcomes.rejected + outcomes.failed;
  const { ingest } = facts;
  return {
    runId: facts.runId,
    complete: facts.complete,
    model: facts.model,
    ingest: {
      listed: ingest.listed,
      enqueued: ingest.enqueued,
      duplicates: ingest.duplicates,
      skipped: ingest.skipped,
      sourceSkipped: ingest.sourceSkipped,
      sourceSkipReasons: ingest.sourceSkipReasons,
      complete: ingest.complete,
    },
    outcomes,
    reasons,
    inferred: facts.inferred,
    wallSeconds: facts.wallSeconds,
    imagesPerSecond: facts.wallSeconds > 0 ? stored / facts.wallSeconds : 0,
    store: facts.store,
    stages: latency.result(),
  };
}
