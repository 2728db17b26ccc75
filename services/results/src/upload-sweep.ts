/**
 * Removal of `/v1/predict` uploads that outlived their request: a request deletes its upload when
 * its job ends, but a results process killed in between leaves the file behind. Every results
 * replica sweeps the upload area at start and then every minute, deleting uploads older than the
 * request timeout plus a margin (deleting is idempotent, so replicas need no coordination).
 */
import { errorSummary, silentLogger, type Logger } from '@cxr/config/log';
import type { UploadArea } from '@cxr/storage';

/** How long an upload outlives its request's timeout at most before a sweep may delete it. */
export const UPLOAD_MAX_AGE_MARGIN_MS = 60_000;

/** Time between two sweeps. */
export const DEFAULT_UPLOAD_SWEEP_INTERVAL_MS = 60_000;

/**
 * Age after which an upload is abandoned: the `/v1/predict` timeout plus a minute. By then its
 * request has answered (504 at the latest) and the job had its only attempt.
 */
export function uploadMaxAgeMs(predictTimeoutMs: number): number {
  return predictTimeoutMs + UPLOAD_MAX_AGE_MARGIN_MS;
}

/** Options of `UploadSweeper`. */
export interface UploadSweeperOptions {
  readonly uploads: UploadArea;
  readonly maxAgeMs: number;
  /** Default DEFAULT_UPLOAD_SWEEP_INTERVAL_MS. */
  readonly intervalMs?: number;
  readonly log?: Logger;
}

/** Sweeps the upload area now and then every interval until stopped. */
export class UploadSweeper {
  readonly #options: UploadSweeperOptions;
  readonly #log: Logger;
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<void> | undefined;

  constructor(options: UploadSweeperOptions) {
    this.#options = options;
    this.#log = options.log ?? silentLogger;
  }

  /** Starts sweeping (the first sweep at once). */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => {
      void this.sweep();
    }, this.#options.intervalMs ?? DEFAULT_UPLOAD_SWEEP_INTERVAL_MS);
    this.#timer.unref();
    void this.sweep();
  }

  /** One sweep (skipped while one is running); failures are logged, never thrown. */
  sweep(): Promise<void> {
    this.#running ??= this.#sweepOnce().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** Stops the timer and waits for a sweep in progress. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  async #sweepOnce(): Promise<void> {
    try {
      const deleted = await this.#options.uploads.sweep(new Date(Date.now() - this.#options.maxAgeMs));
      if (deleted > 0) this.#log('info', 'abandoned uploads deleted', { count: deleted });
    } catch (error) {
      this.#log('warn', 'upload sweep failed', errorSummary(error));
    }
  }
}
