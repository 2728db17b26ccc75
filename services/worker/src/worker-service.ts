/**
 * The worker service: wires config, the model runtime, the decode pool, the object fetcher and
 * the queues around a `ScreenProcessor`, and shuts them down in dependency order.
 *
 * Batching: ScreenWorker (concurrency 2 x maxBatch) feeds the DynamicBatcher; why this and not
 * manual `getNextJob` fetching is explained in @cxr/queue's screen-worker.ts (lock renewal).
 */
import type { AppConfig } from '@cxr/config';
import { DecodePool } from '@cxr/imaging';
import { createMetrics, type CxrMetrics } from '@cxr/metrics';
import { loadBundle, loadRuntime, type ModelRuntime } from '@cxr/model';
import { RedisRequestBudget, redisConnectionFromUrl, ResultQueue, ScreenWorker } from '@cxr/queue';
import { createObjectFetcher, dimseSettingsFromConfig, type ObjectFetcher } from '@cxr/storage';
import { errorSummary, silentLogger, type Logger } from '@cxr/config/log';
import { ScreenProcessor, type ModelInputDecoder } from './screen-processor.js';

/** Options of `WorkerService`. */
export interface WorkerServiceOptions {
  /** From `loadConfig()`: Redis, batching, decode threads, runtime, salt, S3 environment. */
  readonly config: AppConfig;
  /** Model bundle folder (CXR_MODEL_DIR is not in @cxr/config yet: passed in by main.ts). */
  readonly modelDir: string;
  /** Redis key prefix of the queues (tests); default `config.queue.prefix`, else BullMQ's. */
  readonly queuePrefix?: string;
  /** Shared registry when the worker runs beside other services in one process (`cxr screen`). */
  readonly metrics?: CxrMetrics;
  readonly log?: Logger;
  /** Replaces the fetcher built from `config.s3Env` (tests with a fault-injecting fetcher). */
  readonly fetcher?: ObjectFetcher;
  /**
   * Replaces the decode pool (benchmarks: pre-decoded synthetic inputs, so that a run measures the
   * orchestration only). The caller owns it: stop() does not close it.
   */
  readonly decoder?: ModelInputDecoder;
  /** Overrides the screen worker's concurrency (default 2 x CXR_MAX_BATCH). */
  readonly concurrency?: number;
  /** Lock overrides (tests); else config.queue's lock settings; else @cxr/queue's workerLockOptions. */
  readonly lock?: { readonly lockDuration?: number; readonly stalledInterval?: number };
}

interface Running {
  readonly runtime: ModelRuntime;
  readonly pool: DecodePool | undefined;
  readonly fetcher: ObjectFetcher;
  readonly budget: RedisRequestBudget;
  readonly results: ResultQueue;
  readonly processor: ScreenProcessor;
  readonly worker: ScreenWorker;
}

/** Consumes `cxr-screen`, publishes to `cxr-results`; `start()` then `stop()` (SIGTERM). */
export class WorkerService {
  readonly metrics: CxrMetrics;
  readonly #options: WorkerServiceOptions;
  readonly #log: Logger;
  #running: Running | undefined;
  #stopping: Promise<void> | undefined;

  constructor(options: WorkerServiceOptions) {
    this.#options = options;
    this.metrics = options.metrics ?? createMetrics();
    this.#log = options.log ?? silentLogger;
  }

  /** Loads the model, starts the decode pool and begins consuming jobs. */
  async start(): Promise<void> {
    if (this.#running !== undefined) throw new Error('worker service already started');
    if (this.#stopping !== undefined) throw new Error('worker service was stopped');
    const { config, modelDir } = this.#options;
    const bundle = await loadBundle(modelDir);
    const runtime = await loadRuntime(bundle, {
      runtime: config.runtime.runtime,
      threads: config.runtime.threads,
      nullLatencyMs: config.runtime.nullLatencyMs,
      onnx: {
        executionProviders: config.runtime.onnxExecutionProviders,
        allowSpinning: config.runtime.onnxAllowSpinning,
        enableCpuMemArena: config.runtime.onnxMemArena,
        enableMemPattern: config.runtime.onnxMemPattern,
        cpuRunBatch: config.runtime.onnxCpuRunBatch,
      },
      log: (message, data) => {
        this.#log('info', message, data);
      },
    });
    const { manifest } = bundle;
    this.metrics.setModelInfo(manifest.id, manifest.version, runtime.name);

    let pool: DecodePool | undefined;
    let results: ResultQueue | undefined;
    let processor: ScreenProcessor | undefined;
    let worker: ScreenWorker | undefined;
    const location = {
      connection: redisConnectionFromUrl(config.queue.redisUrl),
      ...prefixOption(this.#options.queuePrefix ?? config.queue.prefix),
    };
    // Every worker and ingest talking to one PACS shares its request budget through Redis.
    const budget = new RedisRequestBudget(location.connection, {
      limits: {
        concurrency: config.dicomweb.maxConcurrency,
        requestsPerSecond: config.dicomweb.maxRequestsPerSecond,
      },
      ...(location.prefix !== undefined ? { prefix: location.prefix } : {}),
    });
    // `/v1/predict` uploads are file:// or s3:// objects of the upload area: fetched like the archive.
    const fetcher =
      this.#options.fetcher ??
      createObjectFetcher({
        env: config.s3Env,
        dimse: dimseSettingsFromConfig(config, (operation, outcome, seconds) => {
          this.metrics.observePacsRequest(operation, outcome, seconds);
        }),
        dicomweb: config.dicomweb,
        requestBudget: budget,
        pacsObserver: this.metrics,
        log: this.#log,
      });
    try {
      const decoder: ModelInputDecoder =
        this.#options.decoder ??
        (pool = new DecodePool({ threads: config.decode.threads, vipsCache: config.decode.sharpCache }));
      results = new ResultQueue(location);
      processor = new ScreenProcessor({
        fetcher,
        pool: decoder,
        runtime,
        manifest,
        results,
        metrics: this.metrics,
        maxBatch: config.queue.maxBatch,
        maxDelayMs: config.queue.maxDelayMs,
        maxObjectBytes: config.decode.maxObjectBytes,
        maxImagePixels: config.decode.maxImagePixels,
        patientIdSalt: config.store.patientIdSalt,
        log: this.#log,
      });
      worker = new ScreenWorker({
        ...location,
        process: processor.process,
        processGroup: processor.processGroup,
        maxBatch: config.queue.maxBatch,
        concurrency:
          this.#options.concurrency ??
          config.queue.workerConcurrency ??
          screenConcurrency(config.queue.maxBatch, config.queue.objectsPerJob),
        // Option (tests) over CXR_LOCK_DURATION_MS / CXR_STALLED_INTERVAL_MS over @cxr/queue's policy.
        ...definedOnly({
          lockDuration: this.#options.lock?.lockDuration ?? config.queue.lockDurationMs,
          stalledInterval: this.#options.lock?.stalledInterval ?? config.queue.stalledIntervalMs,
        }),
      });
    } catch (error) {
      // Half-started: release what exists so the process can exit with the start-up error.
      await worker?.close();
      await results?.close();
      await pool?.close({ drain: false });
      await fetcher.close();
      await budget.close();
      await runtime.close();
      throw error;
    }
    // Connection errors are the outage reporter's (reportRedisConnectionErrors): one line per
    // outage, not one per reconnect attempt. Class name and code only: no patient data.
    worker.onError((error) => {
      this.#log('warn', 'screen worker error', errorSummary(error));
    });
    this.#running = { runtime, pool, fetcher, budget, results, processor, worker };
    const description = runtime.describe();
    this.#log('info', 'worker started', {
      model: manifest.id,
      version: manifest.version,
      runtime: runtime.name,
      backend: description.backend,
      maxBatch: config.queue.maxBatch,
      maxDelayMs: config.queue.maxDelayMs,
      decodeThreads: pool?.threads ?? 0,
      maxObjectBytes: config.decode.maxObjectBytes,
      maxImagePixels: config.decode.maxImagePixels,
    });
  }

  /** Readiness: started, not stopping, and the queue's Redis connection answers. */
  async ready(): Promise<void> {
    if (this.#running === undefined || this.#stopping !== undefined) throw new Error('worker not running');
    await this.#running.worker.ping();
  }

  /**
   * Graceful shutdown: stop taking jobs and wait for the active ones (their batches still run,
   * the batcher's delay timer flushes partial batches), drain the batcher, then close the runtime,
   * the decode pool, the fetcher and the Redis connections. Idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    const running = this.#running;
    if (running === undefined) return;
    this.#log('info', 'worker stopping', {});
    await running.worker.close();
    await running.processor.close();
    await running.runtime.close();
    await running.pool?.close();
    await running.fetcher.close();
    await running.budget.close();
    await running.results.close();
    this.#running = undefined;
    this.#log('info', 'worker stopped', {});
  }
}

/**
 * Screen jobs active at once: 2 x maxBatch images in flight lets one batch run while the next one
 * fills (see @cxr/queue's screen-worker.ts). With several objects per job, that many images take
 * ceil(2 x maxBatch / objectsPerJob) jobs, plus one so that a job's last slow object does not
 * leave the batcher short.
 */
export function screenConcurrency(maxBatch: number, objectsPerJob: number): number {
  return objectsPerJob <= 1 ? 2 * maxBatch : Math.ceil((2 * maxBatch) / objectsPerJob) + 1;
}

function prefixOption(prefix: string | undefined): { prefix?: string } {
  return prefix !== undefined ? { prefix } : {};
}

/** The entries whose value is defined (exactOptionalPropertyTypes-friendly spreading). */
function definedOnly<T extends Record<string, number | undefined>>(
  values: T,
): Partial<Record<keyof T, number>> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as Partial<
    Record<keyof T, number>
  >;
}
