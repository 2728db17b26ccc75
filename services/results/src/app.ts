/**
 * Wiring of the results service from a loaded configuration: store, consumer, queue gauges, the
 * upload area of /v1/predict (and its sweep) and HTTP. main.ts adds only the process concerns (environment, signals, exit code), so the whole
 * service can be started and stopped in-process by `cxr screen` and by tests.
 */
import { join } from 'node:path';
import type { AppConfig } from '@cxr/config';
import { createMetrics, type CxrMetrics } from '@cxr/metrics';
import { readManifest, type ModelManifest } from '@cxr/model/manifest';
import { openDashboardQueues, PredictClient, ScreenQueue, redisConnectionFromUrl } from '@cxr/queue';
import { createObjectFetcher, openUploadArea } from '@cxr/storage';
import { openStore, type ResultStore } from '@cxr/store';
import { apiAuthOnStart } from './auth.js';
import { DriftMonitor } from './drift-monitor.js';
import { buildHttpServer } from './http-server.js';
import { errorSummary, silentLogger, type Logger } from '@cxr/config/log';
import { QueueGaugeUpdater } from './queue-gauges.js';
import { ResultsService } from './results-service.js';
import type { PredictBackend, PredictModel } from './predict-route.js';
import { UploadSweeper, uploadMaxAgeMs } from './upload-sweep.js';
import { ThumbnailCache } from './worklist/thumbnail-cache.js';
import { ThumbnailService, poolThumbnailDecoder } from './worklist/thumbnails.js';
import { parseFindingsDestination } from './delivery/destination.js';
import type { FindingsDelivery } from './delivery/findings-delivery.js';
import { openFindingsDelivery, type OpenedFindingsDelivery } from './delivery/open.js';

/** Longest side in pixels of a reader-study image (the reading page shows it at diagnostic size). */
export const STUDY_IMAGE_SIZE = 2048;

/** HTTP port when none is given (main.ts passes CXR_HTTP_PORT from @cxr/config). */
export const DEFAULT_HTTP_PORT = 8080;

/** Options of `startResultsApp`. */
export interface ResultsAppOptions {
  readonly config: AppConfig;
  /** HTTP port (0 = any free port); default DEFAULT_HTTP_PORT. */
  readonly port?: number;
  /** Listen address; default `config.http.host` (CXR_HTTP_HOST). */
  readonly host?: string;
  /** BullMQ key prefix (tests); default `config.queue.prefix` (CXR_QUEUE_PREFIX), else BullMQ's. */
  readonly queuePrefix?: string;
  /** Store options passed to openStore (e.g. a PostgreSQL schema in tests). */
  readonly storeSchema?: string;
  readonly maxBatch?: number;
  readonly maxDelayMs?: number;
  readonly queueGaugeIntervalMs?: number;
  /** Shared registry when the results service runs beside the worker in one process (`cxr screen`). */
  readonly metrics?: CxrMetrics;
  /**
   * Model bundle whose id and version `/v1/predict` jobs carry and whose `reference` the drift
   * gauges compare with; default config.modelDir (unset = 503, no drift gauges).
   */
  readonly modelDir?: string;
  /** Drift gauge refresh period without new results (tests); default DEFAULT_DRIFT_PUBLISH_INTERVAL_MS. */
  readonly driftPublishIntervalMs?: number;
  /** Time between sweeps of abandoned uploads (tests); default DEFAULT_UPLOAD_SWEEP_INTERVAL_MS. */
  readonly uploadSweepIntervalMs?: number;
  readonly log?: Logger;
}

/** A running results service. */
export interface ResultsApp {
  /** The port the HTTP server listens on. */
  readonly port: number;
  readonly metrics: CxrMetrics;
  readonly store: ResultStore;
  /** True while the store refuses writes and result consumption is paused (see ResultsService). */
  readonly storeDown: boolean;
  /** The findings delivery when CXR_FINDINGS_TO is set and the model's manifest is known. */
  readonly findings: FindingsDelivery | undefined;
  /** Stops consuming, flushes the pending batch, then closes the server, Redis and the store. */
  stop(): Promise<void>;
}

/**
 * Opens the store, starts the consumer, the queue gauges and the HTTP server. Refuses to start
 * (UnauthenticatedBindError, before opening anything) without an API token on a non-loopback
 * address unless CXR_ALLOW_NO_AUTH=1; warns without one on loopback.
 */
export async function startResultsApp(options: ResultsAppOptions): Promise<ResultsApp> {
  const log = options.log ?? silentLogger;
  const { config } = options;
  const host = options.host ?? config.http.host;
  const auth = apiAuthOnStart({ token: config.api.token, host, allowNoAuth: config.api.allowNoAuth });
  if (auth === 'none') {
    log('warn', 'no API token: /v1/predict accepts unauthenticated requests', {
      host,
      allowNoAuth: config.api.allowNoAuth,
    });
  }
  const uploads = openUploadArea(config.api.uploadUrl, { env: config.s3Env });
  const prefix = options.queuePrefix ?? config.queue.prefix;
  const location = {
    connection: redisConnectionFromUrl(config.queue.redisUrl),
    ...(prefix !== undefined ? { prefix } : {}),
  };
  const store = await openStore(
    config.store.url,
    options.storeSchema !== undefined ? { schema: options.storeSchema } : {},
  );
  const metrics = options.metrics ?? createMetrics({ collectDefault: true });
  const { model, manifest } = await servedModel(options.modelDir ?? config.modelDir, log);
  const drift = DriftMonitor.create({
    manifest,
    metrics,
    windowCount: config.drift.windowCount,
    windowSeconds: config.drift.windowSeconds,
    minSamples: config.drift.minSamples,
    ...(options.driftPublishIntervalMs !== undefined
      ? { publishIntervalMs: options.driftPublishIntervalMs }
      : {}),
    log,
  });
  const findingsTo = config.findings.to;
  let findings: OpenedFindingsDelivery | undefined;
  if (findingsTo !== undefined) {
    // A mistyped destination fails the start, not every delivery.
    parseFindingsDestination(findingsTo);
    if (manifest === undefined) {
      log(
        'error',
        'CXR_FINDINGS_TO needs the model manifest (CXR_MODEL_DIR): findings are not delivered',
        {},
      );
    } else {
      findings = await openFindingsDelivery({ config, queue: location, store, manifest, metrics, log });
    }
  }
  const delivery = findings?.delivery;
  const screenQueue = new ScreenQueue(location);
  const service = new ResultsService({
    queue: location,
    store,
    metrics,
    log,
    ...(drift !== undefined ? { drift } : {}),
    ...(manifest !== undefined ? { manifest } : {}),
    ...(delivery !== undefined && findingsTo !== undefined
      ? {
          afterStore: async (rows, storedAt) => {
            await delivery.enqueue(rows, findingsTo, storedAt);
          },
        }
      : {}),
    ...(options.maxBatch !== undefined ? { maxBatch: options.maxBatch } : {}),
    ...(options.maxDelayMs !== undefined ? { maxDelayMs: options.maxDelayMs } : {}),
  });
  const gauges = new QueueGaugeUpdater({
    queue: screenQueue,
    metrics,
    log,
    ...(options.queueGaugeIntervalMs !== undefined ? { intervalMs: options.queueGaugeIntervalMs } : {}),
  });
  const sweeper = new UploadSweeper({
    uploads,
    maxAgeMs: uploadMaxAgeMs(config.api.predictTimeoutMs),
    ...(options.uploadSweepIntervalMs !== undefined ? { intervalMs: options.uploadSweepIntervalMs } : {}),
    log,
  });
  const predictClient = new PredictClient(location);
  const backend: PredictBackend = {
    store: (bytes) => uploads.put(bytes),
    predict: (payload, timeoutMs) => predictClient.predict(payload, timeoutMs),
    discard: async (uri) => {
      try {
        await uploads.delete(uri);
      } catch (error) {
        // The sweep deletes it later; the URI is a random name, no patient data.
        log('warn', 'upload delete failed', { uri, ...errorSummary(error) });
      }
    },
  };
  // Worklist thumbnails: their own fetcher and decode threads (started on first use).
  const thumbnailFetcher = createObjectFetcher({ env: config.s3Env });
  const thumbnailDecoder = poolThumbnailDecoder({
    threads: config.worklist.thumbnailThreads,
    maxImagePixels: config.decode.maxImagePixels,
  });
  const thumbnails = new ThumbnailService({
    fetcher: thumbnailFetcher,
    decode: thumbnailDecoder.decode,
    cache: new ThumbnailCache({
      dir: config.worklist.thumbnailDir,
      maxBytes: config.worklist.thumbnailCacheBytes,
      log,
    }),
    size: config.worklist.thumbnailSize,
    // One fetch may overlap each render; a page's worth of requests may wait.
    concurrency: 2 * config.worklist.thumbnailThreads,
    maxQueue: 4 * config.worklist.maxPageSize,
    maxObjectBytes: config.decode.maxObjectBytes,
    log,
  });
  // Reader-study images: the thumbnail renderer (same decode pool) at reading size, cached in a
  // folder of the thumbnail cache of their own.
  const studyImages = new ThumbnailService({
    fetcher: thumbnailFetcher,
    decode: thumbnailDecoder.decode,
    cache: new ThumbnailCache({
      dir: join(config.worklist.thumbnailDir, 'study'),
      maxBytes: config.worklist.thumbnailCacheBytes,
      log,
    }),
    size: STUDY_IMAGE_SIZE,
    concurrency: config.worklist.thumbnailThreads,
    maxQueue: 16,
    maxObjectBytes: config.decode.maxObjectBytes,
    log,
  });
  // The dashboard can retry and delete jobs: only behind a configured token.
  const dashboard = config.api.token !== undefined ? openDashboardQueues(location) : undefined;
  if (dashboard === undefined)
    log('info', 'queue dashboard off: set CXR_API_TOKEN to serve /admin/queues', {});
  const http = buildHttpServer({
    metrics,
    timeouts: config.http,
    ...(dashboard !== undefined && config.api.token !== undefined
      ? { queueDashboard: { queues: dashboard.queues, token: config.api.token } }
      : {}),
    predict: {
      backend,
      model,
      token: config.api.token,
      maxBytes: config.api.predictMaxBytes,
      timeoutMs: config.api.predictTimeoutMs,
      log,
    },
    worklist: {
      store,
      token: config.api.token,
      manifest,
      viewerUrlTemplate: config.worklist.viewerUrlTemplate,
      pageSize: config.worklist.pageSize,
      maxPageSize: config.worklist.maxPageSize,
      thumbnails,
      thumbnailSize: config.worklist.thumbnailSize,
      log,
    },
    study: { studies: store.studies, store, images: studyImages, log },
    readiness: [
      // getJobCounts is a real Redis round trip on the queue's own connection.
      { name: 'redis', check: () => screenQueue.counts() },
      { name: 'store', check: () => store.appliedMigrations() },
    ],
  });

  const closeAll = async (): Promise<void> => {
    // Each step runs even if an earlier one failed: a shutdown must release everything it can.
    const steps: [string, () => Promise<unknown>][] = [
      ['consumer', () => service.stop()],
      ['findings', async () => findings?.close()],
      ['drift', () => Promise.resolve(drift?.stop())],
      ['gauges', () => gauges.stop()],
      ['http', () => http.close()],
      ['predict-client', () => predictClient.close()],
      ['thumbnails', () => thumbnailDecoder.close()],
      ['thumbnail-fetcher', () => thumbnailFetcher.close()],
      ['queue-dashboard', async () => dashboard?.close()],
      ['upload-sweeper', () => sweeper.stop()],
      ['uploads', () => uploads.close()],
      ['screen-queue', () => screenQueue.close()],
      ['store', () => store.close()],
    ];
    let failure: unknown;
    for (const [step, run] of steps) {
      try {
        await run();
      } catch (error) {
        log('error', 'shutdown step failed', { step, ...errorSummary(error) });
        failure ??= error;
      }
    }
    if (failure !== undefined) {
      throw failure instanceof Error
        ? failure
        : new Error('results service shutdown failed', { cause: failure });
    }
  };

  try {
    if (drift !== undefined) {
      // Before consuming, so the window holds the stored rows first and the new ones after them.
      try {
        await drift.rebuild(store);
      } catch (error) {
        // Drift is advisory: a failed refill leaves an empty window, never a stopped service.
        log('warn', 'drift window rebuild failed', errorSummary(error));
      }
      drift.start();
    }
    // A folder that cannot be written fails the start, not every upload.
    await uploads.prepare();
    sweeper.start();
    service.start();
    delivery?.start();
    gauges.start();
    await http.listen({ port: options.port ?? DEFAULT_HTTP_PORT, host });
  } catch (error) {
    await closeAll().catch(() => undefined);
    throw error;
  }
  const address = http.server.address();
  const port =
    typeof address === 'object' && address !== null ? address.port : (options.port ?? DEFAULT_HTTP_PORT);
  log('info', 'results http listening', { host, port });

  let stopping: Promise<void> | undefined;
  return {
    port,
    metrics,
    store,
    get storeDown() {
      return service.storeDown;
    },
    findings: delivery,
    stop: () => (stopping ??= closeAll()),
  };
}

/**
 * The model `/v1/predict` names in its jobs (and the manifest drift monitoring reads), from the
 * manifest in CXR_MODEL_DIR. Without one the endpoint answers 503, there are no drift gauges and
 * everything else keeps running: the results service does not need a model for its main job, so
 * a missing or broken bundle must not stop the consumer.
 */
async function servedModel(
  modelDir: string | undefined,
  log: Logger,
): Promise<{ model: PredictModel; manifest?: ModelManifest }> {
  if (modelDir === undefined) {
    return {
      model: {
        available: false,
        reason: 'no model configured (set CXR_MODEL_DIR to the bundle the worker serves)',
      },
    };
  }
  try {
    const manifest = await readManifest(modelDir);
    return { model: { available: true, id: manifest.id, version: manifest.version }, manifest };
  } catch (error) {
    log('error', 'model manifest unreadable; /v1/predict disabled', { modelDir, ...errorSummary(error) });
    return {
      model: {
        available: false,
        reason: 'model manifest in CXR_MODEL_DIR is unreadable (see the service log)',
      },
    };
  }
}
