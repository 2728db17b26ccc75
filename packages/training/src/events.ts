/**
 * What a training reports while it runs, as events: the caller renders them (the command line
 * draws a progress line on a terminal and logs otherwise). Counts and metrics only, except
 * `notice`, whose text may name unmatched keys (URIs, file names): for a person at a terminal,
 * never for a log collector.
 */

/** Counters of feature extraction. */
export interface ExtractionProgress {
  /** Objects looked at (fetched and read), of `total`. */
  readonly done: number;
  readonly total: number;
  /** Feature vectors read from the cache. */
  readonly cached: number;
  /** Feature vectors computed by the base model. */
  readonly computed: number;
  /** Objects without a label row, rejected or failed. */
  readonly skipped: number;
}

/** One finished epoch (a subset of the training core's EpochReport, with the epoch count). */
export interface EpochLine {
  readonly epoch: number;
  readonly epochs: number;
  /** Absent for the head phase; `fine-tune` for the optional fine-tuning phase (epochs count from 1). */
  readonly phase?: 'fine-tune';
  readonly loss: number;
  readonly valLoss: number;
  readonly meanAuroc: number | null;
  readonly best: boolean;
  readonly seconds: number;
  readonly perLabel: Readonly<
    Record<
      string,
      {
        readonly auroc: number | null;
        readonly sensitivity: number | null;
        readonly specificity: number | null;
      }
    >
  >;
}

export type TrainEvent =
  /** Feature extraction begins over `total` listed objects (rates count from here). */
  | { readonly kind: 'extraction-started'; readonly total: number }
  /** Extraction counters, after each chunk of objects and each runtime batch. */
  | { readonly kind: 'extraction'; readonly progress: ExtractionProgress }
  | { readonly kind: 'extraction-finished'; readonly progress: ExtractionProgress }
  /** A line for the person running the training (unmatched keys, unusable objects). */
  | { readonly kind: 'notice'; readonly message: string }
  | { readonly kind: 'epoch'; readonly epoch: EpochLine };
