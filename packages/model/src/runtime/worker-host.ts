import { Worker } from 'node:worker_threads';
import type { ManifestInput } from '../manifest.js';
import { checkBatch } from './bundle-check.js';
import type { EngineInfo, EngineSpec } from './engine-types.js';
import { deserializeError, type HostMessage, type WorkerMessage } from './worker-protocol.js';
import { ModelRuntimeError, type ModelRuntime, type RuntimeDescription, type RuntimeName } from './types.js';

// There is no build step: this file runs as TypeScript under tsx or vitest, and a worker thread
// starts as plain Node without either. As in @cxr/imaging's decode pool, the worker begins with a
// tiny CommonJS bootstrap that registers tsx's ESM loader and then imports the TypeScript entry.
// Were the package ever compiled, the .js entry loads without tsx.
const OWN_EXTENSION = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
const WORKER_URL = new URL(`./runtime-worker${OWN_EXTENSION}`, import.meta.url);
const WORKER_BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
const { entry, tsxApi } = workerData.bootstrap;
(tsxApi === undefined ? Promise.resolve() : import(tsxApi).then((api) => api.register()))
  .then(() => import(entry))
  .catch((error) => setImmediate(() => { throw error; }));
`;
// A worker that does not answer `close` in time is terminated anyway.
const CLOSE_TIMEOUT_MS = 10_000;

interface Pending {
  readonly resolve: (scores: Float32Array) => void;
  readonly reject: (error: Error) => void;
}

/** How WorkerRuntime.start describes the runtime beyond what the engine reports. */
export type RuntimeIdentity = Pick<RuntimeDescription, 'name' | 'bundle' | 'selection'>;

/**
 * A ModelRuntime whose engine lives on its own worker thread, so `predict` never blocks the
 * caller's event loop (BullMQ lock renewal and metrics keep running during a batch). The batch
 * is copied to the worker (structured clone; ~3 MB per 512x512x3 image, well under 1% of the
 * inference time), so the caller keeps its array.
 */
export class WorkerRuntime implements ModelRuntime {
  readonly name: RuntimeName;
  private readonly worker: Worker;
  private readonly input: ManifestInput;
  private readonly identity: RuntimeIdentity;
  private readonly info: EngineInfo;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closing: Promise<void> | undefined;
  private failure: ModelRuntimeError | undefined;
  private alive = true;
  private closedByWorker: (() => void) | undefined;

  private constructor(worker: Worker, identity: RuntimeIdentity, input: ManifestInput, info: EngineInfo) {
    this.worker = worker;
    this.name = identity.name;
    this.identity = identity;
    this.input = input;
    this.info = info;
    worker.on('message', (message: WorkerMessage) => {
      this.onMessage(message);
    });
    worker.on('error', (error) => {
      this.fail(
        new ModelRuntimeError('worker_crashed', `${this.name} worker failed: ${error.message}`, {
          cause: error,
        }),
      );
    });
    worker.on('exit', (code) => {
      this.alive = false;
      this.closedByWorker?.();
      if (this.closing === undefined) {
        this.fail(new ModelRuntimeError('worker_crashed', `${this.name} worker exited with code ${code}`));
      }
    });
  }

  /** Starts a worker, loads the engine in it, and resolves once it is ready to predict. */
  static async start(spec: EngineSpec, identity: RuntimeIdentity): Promise<WorkerRuntime> {
    const entry = WORKER_URL.href;
    const worker = new Worker(WORKER_BOOTSTRAP, {
      eval: true,
      workerData: {
        // Resolved here: the eval'd bootstrap has no module location to resolve a bare name from.
        bootstrap: entry.endsWith('.ts') ? { entry, tsxApi: import.meta.resolve('tsx/esm/api') } : { entry },
      },
    });
    let info: EngineInfo;
    let detach = (): void => {};
    try {
      info = await new Promise<EngineInfo>((resolve, reject) => {
        const onMessage = (message: WorkerMessage): void => {
          if (message.type === 'loaded') resolve(message.info);
          else if (message.type === 'load-failed')
            reject(deserializeError(message.error, 'runtime_unavailable'));
        };
        const onError = (error: Error): void => {
          reject(
            new ModelRuntimeError(
              'runtime_unavailable',
              `${identity.name}: worker failed to start: ${error.message}`,
              {
                cause: error,
              },
            ),
          );
        };
        const onExit = (code: number): void => {
          reject(
            new ModelRuntimeError(
              'runtime_unavailable',
              `${identity.name}: worker exited (code ${code}) while loading`,
            ),
          );
        };
        // Only our own listeners come off afterwards: Worker keeps internal ones (removeAllListeners
        // silently stops message delivery).
        detach = () => {
          worker.off('message', onMessage);
          worker.off('error', onError);
          worker.off('exit', onExit);
        };
        worker.on('message', onMessage);
        worker.on('error', onError);
        worker.on('exit', onExit);
        const load: HostMessage = { type: 'load', spec };
        worker.postMessage(load);
      });
    } catch (error) {
      detach();
      await worker.terminate();
      throw error;
    }
    detach();
    const runtime = new WorkerRuntime(worker, identity, spec.manifest.input, info);
    // An idle runtime does not keep the process alive; a running batch refs the worker.
    worker.unref();
    return runtime;
  }

  /** False once the worker thread has exited (after close(), or a crash). */
  get workerAlive(): boolean {
    return this.alive;
  }

  describe(): RuntimeDescription {
    return {
      name: this.name,
      version: this.info.version,
      backend: this.info.backend,
      threads: this.info.threads,
      workerThread: true,
      details: this.info.details,
      bundle: this.identity.bundle,
      selection: this.identity.selection,
    };
  }

  predict(batch: Float32Array, batchSize: number): Promise<Float32Array> {
    if (this.closing !== undefined) {
      return Promise.reject(new ModelRuntimeError('runtime_closed', `${this.name}: predict after close()`));
    }
    if (this.failure !== undefined) return Promise.reject(this.failure);
    try {
      checkBatch(this.input, batch, batchSize);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    // A view into a larger buffer would clone the whole buffer: send exactly the batch.
    const exact =
      batch.byteOffset === 0 && batch.byteLength === batch.buffer.byteLength ? batch : batch.slice();
    const id = this.nextId++;
    return new Promise<Float32Array>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.pending.size === 1) this.worker.ref();
      const message: HostMessage = { type: 'predict', id, batch: exact, batchSize };
      this.worker.postMessage(message);
    });
  }

  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    if (this.alive) {
      // The worker answers `close` after the batches already posted, so they complete first.
      const exited = new Promise<void>((resolve) => {
        this.closedByWorker = resolve;
      });
      this.worker.ref();
      const message: HostMessage = { type: 'close' };
      this.worker.postMessage(message);
      const timer = setTimeout(() => void this.worker.terminate(), CLOSE_TIMEOUT_MS);
      await Promise.race([exited, this.waitFor('closed')]);
      clearTimeout(timer);
      await this.worker.terminate();
    }
    this.alive = false;
    const closed = new ModelRuntimeError('runtime_closed', `${this.name}: closed before the batch completed`);
    for (const p of this.pending.values()) p.reject(closed);
    this.pending.clear();
  }

  private waitFor(type: WorkerMessage['type']): Promise<void> {
    return new Promise((resolve) => {
      const listener = (message: WorkerMessage): void => {
        if (message.type === type) {
          this.worker.off('message', listener);
          resolve();
        }
      };
      this.worker.on('message', listener);
    });
  }

  private onMessage(message: WorkerMessage): void {
    if (message.type !== 'result' && message.type !== 'failed') return;
    const p = this.pending.get(message.id);
    if (p === undefined) return;
    this.pending.delete(message.id);
    if (this.pending.size === 0 && this.closing === undefined) this.worker.unref();
    if (message.type === 'result') p.resolve(message.scores);
    else p.reject(deserializeError(message.error, 'inference_failed'));
  }

  private fail(error: ModelRuntimeError): void {
    this.failure ??= error;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }
}
