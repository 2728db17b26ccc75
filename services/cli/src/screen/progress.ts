/**
 * Progress of `cxr screen` for people: on a terminal one line, redrawn in place below the log
 * lines, with the images done of the total known so far, the rate and the time left; otherwise
 * (a pipe, CI, a log collector, CXR_LOG_FORMAT=json) a `screening progress` log line every 10 s,
 * in the shape of every other log line. Counts only: never a URI.
 */
import { formatDuration, type Logger, type ProgressOutput } from '@cxr/config/log';

/** What the progress line is computed from, read by `cxr screen` from its queues and metrics. */
export interface ScreenCounts {
  /** Results this process stored so far. */
  readonly done: number;
  /** Screen jobs not finished: waiting, prioritized, active, delayed (retries). */
  readonly remaining: number;
  /** Results published by the worker and not stored yet. */
  readonly unstored: number;
  /** Objects the ingest listed so far. */
  readonly listed: number;
  /** True while the ingest is still listing: the total can still grow, so no ETA yet. */
  readonly listing: boolean;
  /** True while listing waits for the queue to drain below the high-water mark. */
  readonly paused: boolean;
}

export interface ScreenProgressOptions {
  readonly output: ProgressOutput;
  readonly log: Logger;
  /** Milliseconds clock; default `Date.now`. */
  readonly now?: () => number;
  /** Minimum time between terminal redraws (default 200 ms). */
  readonly drawIntervalMs?: number;
  /** Time between log lines when no line is drawn (default 10 s). */
  readonly logIntervalMs?: number;
}

const formatCount = (n: number): string => n.toLocaleString('en-US');

/** Draws or logs screening progress; call `update` on every poll (it throttles) and `finish` once. */
export class ScreenProgress {
  readonly #output: ProgressOutput;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #drawIntervalMs: number;
  readonly #logIntervalMs: number;
  readonly #startedAt: number;
  #lastOutputAt = -Infinity;
  #finished = false;

  constructor(options: ScreenProgressOptions) {
    this.#output = options.output;
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
    this.#drawIntervalMs = options.drawIntervalMs ?? 200;
    this.#logIntervalMs = options.logIntervalMs ?? 10_000;
    this.#startedAt = this.#now();
  }

  update(counts: ScreenCounts): void {
    if (this.#finished) return;
    const now = this.#now();
    const interval = this.#output.drawsProgress ? this.#drawIntervalMs : this.#logIntervalMs;
    if (now - this.#lastOutputAt < interval) return;
    this.#lastOutputAt = now;
    this.#report(counts, now);
  }

  /** The last line, ended, on a terminal (the summary follows it); nothing more otherwise. */
  finish(counts: ScreenCounts): void {
    if (this.#finished) return;
    this.#finished = true;
    if (!this.#output.drawsProgress) return;
    this.#report(counts, this.#now());
    this.#output.endProgress();
  }

  #report(counts: ScreenCounts, now: number): void {
    // A result moves from `remaining` to `unstored` to `done`, so the three add up to every object
    // this run has to screen, as far as it is listed.
    const total = counts.done + counts.remaining + counts.unstored;
    const seconds = (now - this.#startedAt) / 1000;
    const rate = seconds > 0 ? counts.done / seconds : 0;
    const etaSeconds = !counts.listing && rate > 0 ? (total - counts.done) / rate : undefined;
    if (!this.#output.drawsProgress) {
      this.#log('info', 'screening progress', {
        done: counts.done,
        total,
        remaining: counts.remaining,
        unstored: counts.unstored,
        listed: counts.listed,
        listing: counts.listing,
        imagesPerSecond: Math.round(rate * 100) / 100,
        etaSeconds: etaSeconds === undefined ? null : Math.round(etaSeconds),
      });
      return;
    }
    const parts = [
      `screening ${formatCount(counts.done)}/${formatCount(total)}`,
      `${rate.toFixed(1)} images/s`,
      etaSeconds !== undefined ? `ETA ${formatDuration(etaSeconds)}` : 'ETA ?',
    ];
    if (counts.listing) {
      parts.push(
        `listing: ${formatCount(counts.listed)} listed${counts.paused ? ' (paused: queue above high water)' : ''}`,
      );
    }
    this.#output.progress(parts.join('  '));
  }
}
