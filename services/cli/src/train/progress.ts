/**
 * Progress of `cxr train` on stderr, rendered from @cxr/training's events in the style of
 * `cxr ingest`'s reporter: on a terminal a redrawn line for feature extraction (bar, done/total,
 * rate, ETA) and one line per epoch, below the log lines; otherwise (a pipe, CI, a log collector,
 * CXR_LOG_FORMAT=json) log lines of the usual shape with a fixed `msg` and a data object. Counts
 * and metrics only: never a URI or a patient key (the training's notices, which may name
 * unmatched keys, are plain stderr lines, never log lines).
 */
import { formatDuration, type Logger, type ProgressOutput } from '@cxr/config/log';
import type { EpochLine, ExtractionProgress, TrainEvent } from '@cxr/training';

export type { EpochLine, ExtractionProgress };

const BAR_WIDTH = 20;

function bar(done: number, total: number): string {
  const share = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(share * BAR_WIDTH);
  return `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${String(Math.floor(share * 100)).padStart(3)}%`;
}

const fixed = (x: number | null, digits = 3): string =>
  x !== null && Number.isFinite(x) ? x.toFixed(digits) : 'n/a';

/** JSON-ready number: non-finite values (an AUROC with one class absent) become null. */
const finiteOrNull = (x: number | null): number | null => (x !== null && Number.isFinite(x) ? x : null);

export interface TrainProgressOptions {
  /** The progress line, when it `drawsProgress`; otherwise progress goes to `log`. */
  readonly output: ProgressOutput;
  readonly log: Logger;
  readonly now?: () => number;
  /** Minimum time between terminal redraws (default 100 ms). */
  readonly drawIntervalMs?: number;
  /** Time between extraction log lines off a terminal (default 10 s). */
  readonly logIntervalMs?: number;
}

/** Draws or logs extraction progress and epoch lines. */
export class TrainProgress {
  readonly #output: ProgressOutput;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #drawIntervalMs: number;
  readonly #logIntervalMs: number;
  #extractionStartedAt: number;
  #lastOutputAt = -Infinity;

  constructor(options: TrainProgressOptions) {
    this.#output = options.output;
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
    this.#drawIntervalMs = options.drawIntervalMs ?? 100;
    this.#logIntervalMs = options.logIntervalMs ?? 10_000;
    // Rates count from here, or from the training's extraction-started event.
    this.#extractionStartedAt = this.#now();
  }

  /** Renders one event of the training. */
  render(event: TrainEvent): void {
    switch (event.kind) {
      case 'extraction-started':
        this.#extractionStartedAt = this.#now();
        return;
      case 'extraction':
        this.extraction(event.progress);
        return;
      case 'extraction-finished':
        this.extractionFinished(event.progress);
        return;
      case 'notice':
        this.#output.writeLine(`${event.message}\n`);
        return;
      case 'epoch':
        this.epoch(event.epoch);
        return;
    }
  }

  get isTty(): boolean {
    return this.#output.drawsProgress;
  }

  /** Extraction counters; throttled. */
  extraction(progress: ExtractionProgress): void {
    const now = this.#now();
    if (now - this.#lastOutputAt < (this.isTty ? this.#drawIntervalMs : this.#logIntervalMs)) return;
    this.#lastOutputAt = now;
    this.#extractionLine(progress, now, 'features progress');
  }

  /** The final extraction line (ended, on a terminal: the epoch lines follow it). */
  extractionFinished(progress: ExtractionProgress): void {
    const now = this.#now();
    this.#extractionLine(progress, now, 'features finished');
    this.#output.endProgress();
  }

  /** One line per epoch: loss, validation loss, and AUROC, sensitivity, specificity per label. */
  epoch(line: EpochLine): void {
    if (this.isTty) {
      const labels = Object.entries(line.perLabel)
        .map(
          ([label, m]) =>
            `${label} auc ${fixed(m.auroc)} sens ${fixed(m.sensitivity)} spec ${fixed(m.specificity)}`,
        )
        .join(' | ');
      const parts = [
        ...(line.phase === undefined ? [] : [line.phase]),
        `epoch ${String(line.epoch).padStart(String(line.epochs).length)}/${line.epochs}`,
        bar(line.epoch, line.epochs),
        `loss ${fixed(line.loss, 4)}`,
        `val_loss ${fixed(line.valLoss, 4)}`,
        `auc ${fixed(line.meanAuroc)}`,
        labels,
        `${line.seconds.toFixed(1)}s`,
      ];
      if (line.best) parts.push('*best');
      // Drawn, then ended: it stays on screen as a line of its own.
      this.#output.progress(parts.join('  '));
      this.#output.endProgress();
      return;
    }
    this.#log('info', 'train epoch', {
      epoch: line.epoch,
      epochs: line.epochs,
      ...(line.phase === undefined ? {} : { phase: line.phase }),
      loss: finiteOrNull(line.loss),
      valLoss: finiteOrNull(line.valLoss),
      meanAuroc: finiteOrNull(line.meanAuroc),
      best: line.best,
      seconds: Math.round(line.seconds * 1000) / 1000,
      perLabel: Object.fromEntries(
        Object.entries(line.perLabel).map(([label, m]) => [
          label,
          {
            auroc: finiteOrNull(m.auroc),
            sensitivity: finiteOrNull(m.sensitivity),
            specificity: finiteOrNull(m.specificity),
          },
        ]),
      ),
    });
  }

  #extractionLine(progress: ExtractionProgress, now: number, msg: string): void {
    const seconds = (now - this.#extractionStartedAt) / 1000;
    const rate = seconds > 0 ? progress.done / seconds : 0;
    if (this.isTty) {
      const parts = [
        'features',
        bar(progress.done, progress.total),
        `${progress.done}/${progress.total}`,
        `computed ${progress.computed}`,
        `cached ${progress.cached}`,
        `skipped ${progress.skipped}`,
        `${rate.toFixed(1)} images/s`,
      ];
      if (rate > 0 && progress.done < progress.total) {
        parts.push(`ETA ${formatDuration((progress.total - progress.done) / rate)}`);
      }
      this.#output.progress(parts.join('  '));
      return;
    }
    this.#log('info', msg, {
      ...progress,
      imagesPerSecond: Math.round(rate * 10) / 10,
      elapsedSeconds: Math.round(seconds * 10) / 10,
    });
  }
}
