/**
 * `cxr screen` as a function: ingest, worker and results in one process against Redis, the same
 * components the three services run (WorkerService, startResultsApp, runIngest), sharing one
 * metrics registry. The queues are drained when the screen queue has nothing waiting,
 * prioritized, delayed or active and every result message is stored: a screen job completes only
 * after its result message was published, and a result message only after its upsert committed,
 * so two empty counts read in that order mean every outcome is in the store. The run is complete
 * only when, after that, every object the source lists has its row (`verifyStored`): a result
 * that never reached the store makes the run incomplete (exit 1), and the next run screens it.
 */
import { performance } from 'node:perf_hooks';
import { ConfigError, type AppConfig } from '@cxr/config';
import { silentLogger, type Logger, type ProgressOutput } from '@cxr/config/log';
import { runIngest, verifyStored, type IngestResult } from '@cxr/ingest';
import { createMetrics, type CxrMetrics } from '@cxr/metrics';
import { readManifest } from '@cxr/model/manifest';
import { ResultQueue, ScreenQueue, redisConnectionFromUrl, type QueueLocation } from '@cxr/queue';
import { parseFindingsDestination, startResultsApp, type ResultsApp } from '@cxr/results';
import {
  dimseSettingsFromConfig,
  openObjectSource,
  parseDimseSourceUri,
  type ObjectSourceDeps,
  type PacsFilterInput,
} from '@cxr/storage';
import type { ResultStore } from '@cxr/store';
import { WorkerService } from '@cxr/worker';
import { ScreenProgress, type ScreenCounts } from './progress.js';
import { StageLatencyCollector, displayStoreUrl, unlistedWindows, type ScreenSummary } from './summary.js';

export interface RunScreenOptions {
  readonly config: AppConfig;
  readonly sourceUri: string;
  readonly modelDir: string;
  readonly runId: string;
  /** Re-screen objects already screened (new job ids, store not consulted). */
  readonly force?: boolean;
  /** Port of /metrics, /healthz, /readyz during the run; 0 (default) = any free port. */
  readonly httpPort?: number;
  /** The progress line (the CLI's stderr); without one, or off a terminal, progress is logged. */
  readonly output?: ProgressOutput;
  readonly log?: Logger;
  /** Stops the ingest and the wait; the worker then finishes its active jobs and everything closes. */
  readonly signal?: AbortSignal;
  /** How often the queues are polled for the end of the run (default 250 ms). */
  readonly pollMs?: number;
  /** Registry the three services share; default a new one (tests pass theirs to read it after the run). */
  readonly metrics?: CxrMetrics;
  /** PACS filters given as flags (`--modality`, `--study-date`, ...); refused for other sources. */
  readonly pacsFilters?: PacsFilterInput;
}

/** How `cxr screen` opens its source outside the ingest (the early check, the final verification). */
function sourceDeps(options: RunScreenOptions, log: Logger): ObjectSourceDeps {
  const { config } = options;
  return {
    env: config.s3Env,
    dicomweb: config.dicomweb,
    dimse: dimseSettingsFromConfig(config),
    log,
    ...(options.pacsFilters !== undefined ? { pacsFilters: options.pacsFilters } : {}),
  };
}

/** No progress line: progress goes to the log. */
const NO_PROGRESS_LINE: ProgressOutput = {
  drawsProgress: false,
  writeLine: () => undefined,
  progress: () => undefined,
  endProgress: () => undefined,
};

/** Runs one screening of `sourceUri` and returns its summary (also for an interrupted run). */
export async function runScreen(options: RunScreenOptions): Promise<ScreenSummary> {
  const { runId } = options;
  const config = withSourceRetrieve(options.config, options.sourceUri);
  if (/^sqlite::memory:/.test(config.store.url)) {
    throw new Error('cxr screen needs a durable store: sqlite::memory: would lose every result at exit');
  }
  const log = options.log ?? silentLogger;
  // A source that cannot be opened (a mistyped path) fails before the model and services start.
  await openObjectSource(options.sourceUri, sourceDeps(options, log)).close();
  const manifest = await readManifest(options.modelDir);
  const metrics = options.metrics ?? createMetrics({ collectDefault: true });
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
      // The bundle the worker serves, not CXR_MODEL_DIR: its `reference` turns drift gauges on.
      modelDir: options.modelDir,
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
    const pollMs = options.pollMs ?? 250;
    const progress = new ScreenProgress({ output: options.output ?? NO_PROGRESS_LINE, log });
    let listing = { listed: 0, listing: true, paused: false };
    const counts = async (): Promise<ScreenCounts> => ({
      ...listing,
      ...(await queueCounts(screenQueue, resultQueue)),
      done: await resultsStored(metrics),
    });

    // The worker screens while the ingest lists: one progress line covers both.
    const listingRun = runIngest({
      config,
      sourceUri: options.sourceUri,
      runId,
      modelId: manifest.id,
      modelVersion: manifest.version,
      metrics,
      log,
      onProgress: (p) => {
        listing = { listed: p.listed, listing: true, paused: p.paused };
      },
      ...(options.pacsFilters !== undefined ? { pacsFilters: options.pacsFilters } : {}),
      ...(options.force !== undefined ? { force: options.force } : {}),
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
    });
    // Settles either way; a failed listing is rethrown by the `await listingRun` below.
    const listingOver = listingRun.then(
      () => true,
      () => true,
    );
    do {
      progress.update(await counts());
    } while (!(await Promise.race([listingOver, sleep(pollMs).then(() => false)])));
    const ingest: IngestResult = await listingRun;
    listing = { listed: ingest.listed, listing: false, paused: false };
    const drained =
      ingest.complete &&
      (await waitForIdle(screenQueue, resultQueue, {
        pollMs,
        ...(options.signal !== undefined ? { signal: options.signal } : {}),
        onPoll: async () => {
          progress.update(await counts());
        },
      }));
    progress.finish(await counts());
    const wallSeconds = (performance.now() - startedAt) / 1000;

    // Graceful: active jobs finish and publish their results, which are stored before the
    // summary is read (an interrupted run's summary must not lag the store).
    await worker.stop();
    await waitForResultsStored(resultQueue, results, log, options.pollMs ?? 250);
    const verified = drained
      ? await verifySource(options, results.store, manifest.id, manifest.version, log)
      : { missing: 0, complete: false };
    const interrupted = !drained || !verified.complete;
    const findings = await waitForFindings(
      results,
      config,
      runId,
      options.signal,
      options.pollMs ?? 250,
      log,
    );
    const runtime = (await modelInfoRuntime(metrics)) ?? config.runtime.runtime;
    let summary = await summarise(results.store, {
      runId,
      ingest,
      wallSeconds,
      interrupted,
      missing: verified.missing,
      inferred: await imagesInferred(metrics),
      model: {
        id: manifest.id,
        version: manifest.version,
        runtime,
        ...(manifest.provenance?.warning === undefined ? {} : { warning: manifest.provenance.warning }),
      },
      store: displayStoreUrl(config.store.url),
    });
    if (findings !== undefined) summary = { ...summary, findings };
    if (verified.missing > 0) {
      log('error', 'listed objects have no result row', { runId, missing: verified.missing });
    }
    log('info', 'screening finished', { runId, complete: summary.complete, ...summary.outcomes });
    return summary;
  } finally {
    await worker?.stop();
    await results?.stop();
    await Promise.allSettled([screenQueue.close(), resultQueue.close()]);
  }
}

/**
 * With `--findings-to`: waits until no SR of the run is pending (sent or failed), at most
 * CXR_FINDINGS_WAIT_SECONDS or until interrupted, and returns the run's delivery counts.
 * Deliveries still pending stay queued in Redis for the next process that delivers findings.
 */
async function waitForFindings(
  results: ResultsApp,
  config: AppConfig,
  runId: string,
  signal: AbortSignal | undefined,
  pollMs: number,
  log: Logger,
): Promise<ScreenSummary['findings']> {
  const to = config.findings.to;
  if (results.findings === undefined || to === undefined) return undefined;
  const deadline = Date.now() + config.findings.waitSeconds * 1000;
  let counts = await results.store.deliveryCounts(runId);
  while (counts.pending > 0 && Date.now() < deadline && signal?.aborted !== true) {
    await sleep(pollMs);
    counts = await results.store.deliveryCounts(runId);
  }
  if (counts.pending > 0) log('warn', 'findings still pending at exit', { runId, pending: counts.pending });
  return { to: parseFindingsDestination(to).uri, ...counts };
}

/** Jobs of the screen queue not finished, and result messages not stored yet. */
async function queueCounts(
  screenQueue: ScreenQueue,
  resultQueue: ResultQueue,
): Promise<{ remaining: number; unstored: number }> {
  // Screen queue first: once it is empty every result message has been published.
  const c = await screenQueue.counts();
  const remaining = c.waiting + c.prioritized + c.active + c.delayed;
  return { remaining, unstored: await resultQueue.pendingCount() };
}

/**
 * Polls until nothing of the screen queue is left to run and every result message is stored,
 * calling `onPoll` between polls. Returns false when the signal stopped the wait first.
 */
async function waitForIdle(
  screenQueue: ScreenQueue,
  resultQueue: ResultQueue,
  options: {
    readonly pollMs: number;
    readonly signal?: AbortSignal;
    readonly onPoll: () => Promise<void>;
  },
): Promise<boolean> {
  for (;;) {
    if (options.signal?.aborted === true) return false;
    const { remaining, unstored } = await queueCounts(screenQueue, resultQueue);
    if (remaining === 0 && unstored === 0) return true;
    await options.onPoll();
    await sleep(options.pollMs);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Results the results service of this process stored: the sum of `cxr_items_total`. */
async function resultsStored(metrics: CxrMetrics): Promise<number> {
  const { values } = await metrics.metrics.items.get();
  return values.reduce((sum, v) => sum + v.value, 0);
}

/** How often the wait for the last results logs that it is still waiting. */
const STORE_WAIT_LOG_MS = 30_000;

/**
 * Waits until every published result message is stored (none waiting, active or retrying on
 * `cxr-results`). Not bounded: while the store is down the results service retries it (and logs
 * so); a second Ctrl-C ends the process at once.
 */
async function waitForResultsStored(
  resultQueue: ResultQueue,
  results: ResultsApp,
  log: Logger,
  pollMs: number,
): Promise<void> {
  let lastLog = performance.now();
  for (
    let pending = await resultQueue.pendingCount();
    pending > 0;
    pending = await resultQueue.pendingCount()
  ) {
    if (performance.now() - lastLog >= STORE_WAIT_LOG_MS) {
      lastLog = performance.now();
      log('warn', 'waiting for results to be stored', { pending, storeDown: results.storeDown });
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/**
 * The configuration with a `dimse://` source's `retrieve=`/`dest=` applied: in `cxr screen` the
 * in-process worker fetches what this source lists, so the URI says how (the worker service
 * takes CXR_DIMSE_RETRIEVE and CXR_DIMSE_MOVE_DESTINATION instead).
 */
function withSourceRetrieve(config: AppConfig, sourceUri: string): AppConfig {
  if (!sourceUri.startsWith('dimse://')) return config;
  const retrieve = parseDimseSourceUri(sourceUri).retrieve;
  if (retrieve === undefined) return config;
  if (retrieve.mode === 'move' && config.scp.storeTo === undefined) {
    throw new ConfigError(
      'retrieve=move needs CXR_SCP_STORE_TO: the storage where our SCP writes what the PACS moves',
    );
  }
  return {
    ...config,
    dimse: {
      ...config.dimse,
      retrieve: retrieve.mode,
      ...(retrieve.mode === 'move' ? { moveDestination: retrieve.destination } : {}),
    },
  };
}

/** Lists the source again and counts objects without a row (see `verifyStored`). */
async function verifySource(
  options: RunScreenOptions,
  store: ResultStore,
  modelId: string,
  modelVersion: string,
  log: Logger,
): Promise<{ missing: number; complete: boolean }> {
  const source = openObjectSource(options.sourceUri, sourceDeps(options, log));
  try {
    return await verifyStored({
      source,
      store,
      modelId,
      modelVersion,
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
    });
  } finally {
    await source.close();
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
    'runId' | 'ingest' | 'wallSeconds' | 'interrupted' | 'missing' | 'inferred' | 'model' | 'store'
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
    // A PACS window that could not be listed hides objects nobody counted: not complete.
    complete:
      !facts.interrupted && facts.missing === 0 && unlistedWindows(facts.ingest.sourceSkipReasons) === 0,
    interrupted: facts.interrupted,
    missing: facts.missing,
    model: facts.model,
    ingest: {
      listed: ingest.listed,
      enqueued: ingest.enqueued,
      requeued: ingest.requeued,
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
