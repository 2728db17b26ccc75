import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import type { ResourceLimits } from 'node:worker_threads';

import { deserializeError } from './decode-protocol.js';
import type { DecodeWorkerData, TaskMessage, WorkerMessage } from './decode-protocol.js';
import type { DecodeOutput, DecodeRequest, DecodeResult } from './decode-task.js';

/** Options for a DecodePool. */
export interface DecodePoolOptions {
  /** Worker threads; defaults to os.availableParallelism(). */
  readonly threads?: number;
  /**
   * Move the caller's input ArrayBuffer to the worker instead of copying it (the caller's array
   * is then detached and reads as empty). Per-task `transfer` overrides it. Default false.
   */
  readonly transferInput?: boolean;
  /** V8 heap limits per worker, so one hostile file cannot exhaust the process; a breach crashes only that task. */
  readonly resourceLimits?: ResourceLimits;
  /**
   * libvips threads for resizing (sharp.concurrency, which is process-wide). Default: the cores
   * left per pool thread, at least 1, so pool threads x libvips threads does not exceed the cores.
   */
  readonly vipsConcurrency?: number;
  /**
   * libvips' operation cache (sharp.cache, process-wide): false turns it off (each image is
   * resized once, so the cache holds memory that is never reused). Unset keeps sharp's default.
   */
  readonly vipsCache?: boolean;
  /** Worker entry speaking the decode-protocol messages; for tests. Defaults to the real decode worker. */
  readonly workerUrl?: URL;
}

/** Options of one `decode` call beyond the request itself. */
export interface DecodeCallOptions {
  /** Overrides the pool's `transferInput` for this task. */
  readonly transfer?: boolean;
}

/** A pool result plus the time the task waited for a free thread. */
export type PoolDecodeResult<O extends DecodeOutput> = DecodeResult<O> & {
  /** Milliseconds between `decode()` and the task being handed to a worker. */
  readonly queueMs: number;
};

/** A worker thread died (uncaught error, out of memory, process.exit) while running a task. */
export class DecodeWorkerCrashedError extends Error {
  override readonly name = 'DecodeWorkerCrashedError';
}

/** `decode()` was called on, or a queued task was dropped by, a closed pool. */
export class DecodePoolClosedError extends Error {
  override readonly name = 'DecodePoolClosedError';
}

/** A worker could not start (its module failed to load); the pool stops rather than respawn in a loop. */
export class DecodePoolBrokenError extends Error {
  override readonly name = 'DecodePoolBrokenError';
}

interface Task {
  readonly id: number;
  readonly bytes: Uint8Array;
  readonly transfer: boolean;
  readonly request: DecodeRequest;
  readonly enqueuedAt: number;
  readonly resolve: (result: PoolDecodeResult<DecodeOutput>) => void;
  readonly reject: (error: Error) => void;
  dispatchedAt?: number;
}

interface Slot {
  readonly worker: Worker;
  task: Task | undefined;
  /** Set by the worker's 'ready' message; a worker that exits before it failed to start. */
  ready: boolean;
  /** Last 'error' event of the worker, used as the cause when it exits mid-task. */
  lastError: Error | undefined;
  /** Input memory shared with this slot's worker, reused for every task whose result cannot alias it. */
  input: SharedArrayBuffer | undefined;
}

// Inputs larger than this are not kept in a slot's shared buffer (a rare huge file should not
// pin its memory for the pool's lifetime).
const MAX_SHARED_INPUT_BYTES = 256 * 1024 * 1024;

// There is no build step: this file runs as TypeScript under tsx or vitest, and a worker thread
// starts as plain Node without either. So the worker begins with a tiny CommonJS bootstrap that
// registers tsx's ESM loader (harmless when the parent's loader was inherited) and then imports
// the TypeScript entry. Were the package ever compiled, the .js entry loads without tsx.
const OWN_EXTENSION = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
const DEFAULT_WORKER_URL = new URL(`./decode-worker${OWN_EXTENSION}`, import.meta.url);
const WORKER_BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
const { entry, tsxApi } = workerData.bootstrap;
(tsxApi === undefined ? Promise.resolve() : import(tsxApi).then((api) => api.register()))
  .then(() => import(entry))
  .catch((error) => setImmediate(() => { throw error; }));
`;

/**
 * A fixed set of worker threads that decode DICOM frames off the caller's event loop. Tasks
 * queue FIFO while every thread is busy; a worker that dies fails only its own task and is
 * replaced.
 */
export class DecodePool {
  readonly threads: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Task[] = [];
  private readonly options: DecodePoolOptions;
  private nextId = 1;
  private closing = false;
  private terminating = false;
  private closed: Promise<void> | undefined;
  private broken: Error | undefined;
  private idleWaiters: (() => void)[] = [];

  constructor(options: DecodePoolOptions = {}) {
    const threads = options.threads ?? availableParallelism();
    if (!Number.isInteger(threads) || threads < 1) {
      throw new RangeError(`DecodePool: threads must be a positive integer, got ${threads}`);
    }
    this.threads = threads;
    this.options = options;
    for (let i = 0; i < threads; i++) this.slots.push(this.spawn());
  }

  /** Tasks waiting for a free thread (not counting the ones running). */
  get queueLength(): number {
    return this.queue.length;
  }

  /** Tasks currently running on a thread. */
  get activeCount(): number {
    return this.slots.filter((slot) => slot.task !== undefined).length;
  }

  /**
   * Decodes one frame in a worker thread. Rejects with DicomRejectedError (same reason and
   * message as in the worker) for bad input, DecodeWorkerCrashedError if the thread died.
   */
  decode<O extends DecodeOutput>(
    bytes: Uint8Array,
    request: DecodeRequest<O>,
    options: DecodeCallOptions = {},
  ): Promise<PoolDecodeResult<O>> {
    if (this.broken !== undefined) return Promise.reject(this.broken);
    if (this.closing) return Promise.reject(new DecodePoolClosedError('DecodePool is closed'));
    return new Promise<PoolDecodeResult<O>>((resolve, reject) => {
      this.queue.push({
        id: this.nextId++,
        bytes,
        transfer: options.transfer ?? this.options.transferInput ?? false,
        request,
        enqueuedAt: performance.now(),
        // The worker ran runDecodeTask with this very request, so the output type matches O.
        resolve: resolve as (result: PoolDecodeResult<DecodeOutput>) => void,
        reject,
      });
      this.dispatch();
    });
  }

  /**
   * Stops accepting tasks, lets queued and running tasks finish (or, with `drain: false`,
   * rejects them with DecodePoolClosedError), then terminates every worker.
   */
  close(options: { drain?: boolean } = {}): Promise<void> {
    if (this.closed !== undefined) return this.closed;
    this.closing = true;
    const drain = options.drain ?? true;
    this.closed = (async () => {
      if (drain) {
        await this.whenIdle();
      } else {
        for (const task of this.queue.splice(0)) task.reject(new DecodePoolClosedError('DecodePool closed'));
        for (const slot of this.slots) {
          this.finish(slot)?.reject(
            new DecodePoolClosedError('DecodePool closed while the task was running'),
          );
        }
      }
      this.terminating = true;
      await Promise.all(this.slots.map((slot) => slot.worker.terminate()));
    })();
    return this.closed;
  }

  private whenIdle(): Promise<void> {
    if (this.queue.length === 0 && this.activeCount === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private spawn(): Slot {
    const entry = (this.options.workerUrl ?? DEFAULT_WORKER_URL).href;
    const workerData: DecodeWorkerData & { bootstrap: { entry: string; tsxApi?: string } } = {
      vipsConcurrency:
        this.options.vipsConcurrency ?? Math.max(1, Math.floor(availableParallelism() / this.threads)),
      ...(this.options.vipsCache === undefined ? {} : { vipsCache: this.options.vipsCache }),
      // Resolved here: the eval'd bootstrap has no module location to resolve a bare name from.
      bootstrap: entry.endsWith('.ts') ? { entry, tsxApi: import.meta.resolve('tsx/esm/api') } : { entry },
    };
    const worker = new Worker(WORKER_BOOTSTRAP, {
      eval: true,
      workerData,
      ...(this.options.resourceLimits === undefined ? {} : { resourceLimits: this.options.resourceLimits }),
    });
    // An idle pool must not keep the process alive; a running task refs its worker.
    worker.unref();
    const slot: Slot = { worker, task: undefined, ready: false, lastError: undefined, input: undefined };
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'ready') {
        slot.ready = true;
        return;
      }
      this.settle(slot, message);
    });
    worker.on('error', (error: Error) => {
      // Always followed by 'exit'; keep the error as the cause of the crash.
      slot.lastError = error;
    });
    worker.on('messageerror', (error: Error) => {
      this.finish(slot)?.reject(new Error('decode result could not be deserialized', { cause: error }));
      this.afterTask();
    });
    worker.on('exit', (code: number) => {
      this.onExit(slot, code);
    });
    return slot;
  }

  /** Detaches the slot's running task, if any, and lets the worker stop holding the process. */
  private finish(slot: Slot): Task | undefined {
    const task = slot.task;
    slot.task = undefined;
    slot.worker.unref();
    return task;
  }

  private settle(slot: Slot, message: Extract<WorkerMessage, { type: 'result' }>): void {
    if (slot.task?.id !== message.id) return;
    const task = this.finish(slot)!;
    if (message.ok) {
      task.resolve({ ...message.result, queueMs: (task.dispatchedAt ?? task.enqueuedAt) - task.enqueuedAt });
    } else {
      task.reject(deserializeError(message.error));
    }
    this.afterTask();
  }

  private onExit(slot: Slot, code: number): void {
    const task = this.finish(slot);
    if (this.terminating) return;
    if (!slot.ready) {
      // The worker never loaded: respawning would fail the same way, forever.
      this.broken = new DecodePoolBrokenError(`decode worker failed to start (exit code ${code})`, {
        cause: slot.lastError,
      });
      task?.reject(this.broken);
      for (const queued of this.queue.splice(0)) queued.reject(this.broken);
      this.afterTask();
      return;
    }
    task?.reject(
      new DecodeWorkerCrashedError(`decode worker exited with code ${code} while running a task`, {
        cause: slot.lastError,
      }),
    );
    // Replace the thread in the same slot so the pool keeps its size.
    const index = this.slots.indexOf(slot);
    if (index !== -1) this.slots[index] = this.spawn();
    this.afterTask();
  }

  private afterTask(): void {
    this.dispatch();
    if (this.queue.length === 0 && this.activeCount === 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (slot.task !== undefined) continue;
      const task = this.queue.shift()!;
      slot.task = task;
      slot.lastError = undefined;
      task.dispatchedAt = performance.now();
      slot.worker.ref();
      try {
        this.post(slot, task);
      } catch (error) {
        this.finish(slot);
        task.reject(error instanceof Error ? error : new Error(String(error)));
      }
    }
  }

  /**
   * Structured clone copies a view's whole backing buffer, which for a slice of a large Buffer
   * is far more than the file. So transfer the caller's buffer only when allowed and it holds
   * exactly the file; otherwise copy it once: into the slot's shared input buffer when the
   * result cannot alias the input, else into a private exact-size buffer that is transferred.
   */
  private post(slot: Slot, task: Task): void {
    const { worker } = slot;
    const { bytes, request, id } = task;
    if (
      task.transfer &&
      bytes.buffer instanceof ArrayBuffer &&
      bytes.byteOffset === 0 &&
      bytes.byteLength === bytes.buffer.byteLength
    ) {
      try {
        worker.postMessage({ id, bytes, request } satisfies TaskMessage, [bytes.buffer]);
        return;
      } catch {
        // Node marks some buffers untransferable (e.g. its Buffer pool): fall back to a copy.
      }
    }
    // A fresh multi-megabyte copy per task is allocated here, page-faulted in, and freed (munmap,
    // with a TLB shootdown across the process's threads) by the worker's GC: the same cost that
    // made per-task output arrays scale badly (see @cxr/dicom's FrameBufferCache). Each slot runs
    // one task at a time, so one shared buffer per slot is safe, except for 'stored' output,
    // whose samples may be a view of the input and outlive the task.
    if (request.output !== 'stored' && bytes.byteLength <= MAX_SHARED_INPUT_BYTES) {
      if (slot.input === undefined || slot.input.byteLength < bytes.byteLength) {
        slot.input = new SharedArrayBuffer(bytes.byteLength);
      }
      const shared = new Uint8Array(slot.input, 0, bytes.byteLength);
      shared.set(bytes);
      worker.postMessage({ id, bytes: shared, request } satisfies TaskMessage);
      return;
    }
    const copy = new Uint8Array(bytes.byteLength);
    copy.set(bytes);
    worker.postMessage({ id, bytes: copy, request } satisfies TaskMessage, [copy.buffer]);
  }
}
