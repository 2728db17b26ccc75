/**
 * Progress for people: on a terminal a single redrawn line (bar, counts, rate); otherwise (a log
 * collector, CI, a pipe) a JSON line every `logIntervalMs` with a fixed message and a data object.
 * Stream and clock are injected so both modes are testable. Counts only: no URI is ever printed,
 * since object keys and folder names may carry patient data.
 */

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

/** The part of a writable stream the reporter uses; `isTTY` picks the mode. */
export interface ProgressStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

export interface ProgressReporterOptions {
  readonly stream: ProgressStream;
  /** Milliseconds clock; default `Date.now`. */
  readonly now?: () => number;
  /** Source kind for the line and the logs (`s3`, `file`, `manifest`); never a path. */
  readonly source: string;
  /** Objects expected, when known: draws a percentage bar; otherwise an activity bar. */
  readonly total?: number;
  /** Minimum time between terminal redraws (default 100 ms: smooth, cheap). */
  readonly drawIntervalMs?: number;
  /** Time between JSON log lines when not on a terminal (default 10 s). */
  readonly logIntervalMs?: number;
}

const BAR_WIDTH = 20;

const formatCount = (n: number): string => n.toLocaleString('en-US');

/** Draws or logs ingest progress; call `update` often (it throttles) and `finish` once. */
export class ProgressReporter {
  readonly #stream: ProgressStream;
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
    this.#stream = options.stream;
    this.#now = options.now ?? Date.now;
    this.#source = options.source;
    this.#total = options.total;
    this.#drawIntervalMs = options.drawIntervalMs ?? 100;
    this.#logIntervalMs = options.logIntervalMs ?? 10_000;
    this.#startedAt = this.#now();
  }

  /** True when drawing a terminal line, false when writing JSON log lines. */
  get isTty(): boolean {
    return this.#stream.isTTY === true;
  }

  /** Reports the current counters; output only when the draw/log interval has passed. */
  update(progress: IngestProgress): void {
    if (this.#finished) return;
    const now = this.#now();
    const interval = this.isTty ? this.#drawIntervalMs : this.#logIntervalMs;
    if (now - this.#lastOutputAt < interval) return;
    this.#lastOutputAt = now;
    if (this.isTty) this.#draw(progress, now);
    else this.#log('ingest progress', progress, now);
  }

  /** Final output: the last line plus a newline on a terminal, an `ingest finished` log line otherwise. */
  finish(progress: IngestProgress): void {
    if (this.#finished) return;
    this.#finished = true;
    const now = this.#now();
    if (this.isTty) {
      this.#draw(progress, now);
      this.#stream.write('\n');
    } else {
      this.#log('ingest finished', progress, now);
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
    if (progress.paused) parts.push('(paused: queue above high water)');
    // \r back to column 0, \x1b[K clears what a longer previous line left behind.
    this.#stream.write(`\r${parts.join('  ')}\x1b[K`);
  }

  #log(msg: string, progress: IngestProgress, now: number): void {
    const data = {
      source: this.#source,
      listed: progress.listed,
      enqueued: progress.enqueued,
      duplicates: progress.duplicates,
      skipped: progress.skipped,
      sourceSkipped: progress.sourceSkipped,
      paused: progress.paused,
      keysPerSecond: Math.round(this.#rate(progress, now)),
      elapsedSeconds: Math.round((now - this.#startedAt) / 100) / 10,
    };
    this.#stream.write(
      `${JSON.stringify({ level: 'info', time: new Date(now).toISOString(), msg, data })}\n`,
    );
  }
}
