/**
 * Progress for people: on a terminal a single redrawn line (bar, counts, rate, ETA when the total
 * is known); otherwise (a log collector, CI, a pipe) an `ingest progress` log line every
 * `logIntervalMs`, in the shape of every other log line. Output, logger and clock are injected so
 * both modes are testable. Counts only: no URI is ever printed, since object keys and folder names
 * may carry patient data.
 */
import { formatDuration, type Logger, type ProgressOutput } from '@cxr/config/log';

/** Counters of one ingest, as `enqueueSource` reports them. */
export interface IngestProgress {
  /** Objects listed from the source so far (this call; a resumed ingest starts again from 0). */
  readonly listed: number;
  /** New jobs added to the queue. */
  readonly enqueued: number;
  /** Jobs that already existed (queued or done within retention). */
  readonly duplicates: number;
  /** Objects skipped because the store already holds a final result for them. */
  readonly skipped: number;
  /** Entries the source passed over (links, loops, unreadable folders), each logged with its reason. */
  readonly sourceSkipped: number;
  /** True while listing is paused because too many jobs wait (backpressure). */
  readonly paused: boolean;
}

export interface ProgressReporterOptions {
  /** The progress line, when it `drawsProgress`; otherwise progress goes to `log`. */
  readonly output: ProgressOutput;
  readonly log: Logger;
  /** Milliseconds clock; default `Date.now`. */
  readonly now?: () => number;
  /** Source kind for the line and the logs (`s3`, `file`, `manifest`); never a path. */
  readonly source: string;
  /** Objects expected, when known: draws a percentage bar and an ETA; otherwise an activity bar. */
  readonly total?: number;
  /** Minimum time between terminal redraws (default 100 ms: smooth, cheap). */
  readonly drawIntervalMs?: number;
  /** Time between log lines when no line is drawn (default 10 s). */
  readonly logIntervalMs?: number;
}

const BAR_WIDTH = 20;

const formatCount = (n: number): string => n.toLocaleString('en-US');

/** Draws or logs ingest progress; call `update` often (it throttles) and `finish` once. */
export class ProgressReporter {
  readonly #output: ProgressOutput;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #source: string;
  readonly #total: number | undefined;
  readonly #drawIntervalMs: number;
  readonly #logIntervalMs: number;
  readonly #startedAt: number;
  #lastOutputAt = -Infinity;
  #frames = 0;
  #finished = false;

  constructor(options: ProgressReporterOptions) {
    this.#output = options.output;
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
    this.#source = options.source;
    this.#total = options.total;
    this.#drawIntervalMs = options.drawIntervalMs ?? 100;
    this.#logIntervalMs = options.logIntervalMs ?? 10_000;
    this.#startedAt = this.#now();
  }

  /** True when drawing a terminal line, false when writing log lines. */
  get isTty(): boolean {
    return this.#output.drawsProgress;
  }

  /** Reports the current counters; output only when the draw/log interval has passed. */
  update(progress: IngestProgress): void {
    if (this.#finished) return;
    const now = this.#now();
    const interval = this.isTty ? this.#drawIntervalMs : this.#logIntervalMs;
    if (now - this.#lastOutputAt < interval) return;
    this.#lastOutputAt = now;
    if (this.isTty) this.#draw(progress, now);
    else this.#logProgress('ingest progress', progress, now);
  }

  /** Final output: the last line, ended, on a terminal; an `ingest finished` log line otherwise. */
  finish(progress: IngestProgress): void {
    if (this.#finished) return;
    this.#finished = true;
    const now = this.#now();
    if (this.isTty) {
      this.#draw(progress, now);
      this.#output.endProgress();
    } else {
      this.#logProgress('ingest finished', progress, now);
    }
  }

  /** Listed objects per second since the reporter started. */
  #rate(progress: IngestProgress, now: number): number {
    const seconds = (now - this.#startedAt) / 1000;
    return seconds > 0 ? progress.listed / seconds : 0;
  }

  #bar(progress: IngestProgress): string {
    if (this.#total !== undefined && this.#total > 0) {
      const share = Math.min(1, progress.listed / this.#total);
      const filled = Math.round(share * BAR_WIDTH);
      const percent = String(Math.floor(share * 100)).padStart(3);
      return `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${percent}%`;
    }
    // Unknown total (a streamed listing): a moving block shows activity.
    const at = this.#frames % BAR_WIDTH;
    const cells = Array.from({ length: BAR_WIDTH }, (_, i) => (Math.abs(i - at) <= 1 ? '#' : '-'));
    return `[${cells.join('')}]`;
  }

  #draw(progress: IngestProgress, now: number): void {
    this.#frames += 1;
    const parts = [
      `ingest ${this.#source}`,
      this.#bar(progress),
      `listed ${formatCount(progress.listed)}`,
      `new ${formatCount(progress.enqueued)}`,
      `dup ${formatCount(progress.duplicates)}`,
      `done ${formatCount(progress.skipped)}`,
      ...(progress.sourceSkipped > 0 ? [`not listed ${formatCount(progress.sourceSkipped)}`] : []),
      `${formatCount(Math.round(this.#rate(progress, now)))} keys/s`,
    ];
    const rate = this.#rate(progress, now);
    if (this.#total !== undefined && rate > 0 && progress.listed < this.#total) {
      parts.push(`ETA ${formatDuration((this.#total - progress.listed) / rate)}`);
    }
    if (progress.paused) parts.push('(paused: queue above high water)');
    this.#output.progress(parts.join('  '));
  }

  #logProgress(msg: string, progress: IngestProgress, now: number): void {
    this.#log('info', msg, {
      source: this.#source,
      listed: progress.listed,
      enqueued: progress.enqueued,
      duplicates: progress.duplicates,
      skipped: progress.skipped,
      sourceSkipped: progress.sourceSkipped,
      paused: progress.paused,
      keysPerSecond: Math.round(this.#rate(progress, now)),
      elapsedSeconds: Math.round((now - this.#startedAt) / 100) / 10,
    });
  }
}
