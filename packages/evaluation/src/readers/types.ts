/**
 * Input and output of the reader-study statistics (issue 17 §1). The input is what the store holds
 * (one reading per reader x case x arm x label, plus the truth); the output, `ReaderStudyReport`,
 * is JSON-serialisable (snake_case keys, like `cxr evaluate`'s report.json) and is what
 * `renderReaderStudyHtml` renders and `cxr study report` writes as report.json.
 */
import type { Estimate } from '../report.js';

/**
 * A point estimate with a two-sided (1 - alpha) interval. `wilson` and `delong` as in `cxr
 * evaluate`'s report; `obuchowski-rockette`: the reader-averaged value with the single-arm OR
 * interval (readers and cases random; Hillis 2007); `none` when there is no interval.
 */
export interface StudyEstimate {
  readonly value: number | null;
  readonly ci_low: number | null;
  readonly ci_high: number | null;
  readonly method: Estimate['method'] | 'obuchowski-rockette';
}

/** The two arms of a reader study: the reader's call without, then with, the AI's output shown. */
export type StudyArm = 'without_ai' | 'with_ai';

/** The arms, in the order every table shows them. */
export const STUDY_ARMS: readonly StudyArm[] = ['without_ai', 'with_ai'];

/** One reader's call on one label of one case in one arm. */
export interface ReaderReading {
  readonly readerId: string;
  readonly caseId: string;
  readonly arm: StudyArm;
  readonly label: string;
  /** Finding present? */
  readonly decision: boolean;
  /** Confidence in that decision, 1 (guess) to 5 (certain). */
  readonly confidence: 1 | 2 | 3 | 4 | 5;
  /** Time from image shown to decision recorded, per case x arm (the same for all labels). */
  readonly readingTimeMs: number;
  /** What the AI said (with_ai arm; optional). */
  readonly aiDecision?: boolean;
}

export interface ReaderStudyInput {
  readonly studyId: string;
  readonly design: 'crossover' | 'sequential';
  readonly labels: readonly string[];
  /** caseId -> label -> truth (undefined or missing: unknown, the case is left out for that label). */
  readonly truth: ReadonlyMap<string, Readonly<Record<string, boolean | undefined>>>;
  readonly readings: readonly ReaderReading[];
  /** Two-sided significance level of every interval and test; default 0.05. */
  readonly alpha?: number;
  /** Seed of the reading-time bootstrap; default 1. */
  readonly seed?: number;
  /** Bootstrap resamples of the reading-time interval; default 2000. */
  readonly bootstrapSamples?: number;
}

/** Sensitivity, specificity (Wilson intervals) and AUROC (from the 10-point rating, DeLong interval). */
export interface ArmMetrics {
  /** Readings with a known truth. */
  readonly readings: number;
  readonly positives: number;
  readonly negatives: number;
  readonly true_positives: number;
  readonly true_negatives: number;
  readonly sensitivity: StudyEstimate;
  readonly specificity: StudyEstimate;
  /** Trapezoidal (Wilcoxon) AUROC of the 10-point rating. Pooled: the mean of the readers' AUROCs. */
  readonly auroc: StudyEstimate;
}

/** One reader's metrics for one label. */
export interface ReaderLabelMetrics {
  readonly reader_id: string;
  readonly without_ai: ArmMetrics;
  readonly with_ai: ArmMetrics;
  /** Paired DeLong test of this reader's AUROC with minus without AI (cases read in both arms). */
  readonly auroc_difference: {
    readonly value: number | null;
    readonly ci_low: number | null;
    readonly ci_high: number | null;
    readonly p: number | null;
  };
}

/**
 * The multi-reader multi-case test of a figure of merit, with AI minus without AI, readers and
 * cases both random: Obuchowski & Rockette (1995) with Hillis's (2007) denominator degrees of
 * freedom. Computed on the cases read by every reader in both arms.
 */
export interface MrmcResult {
  /** `obuchowski-rockette`. */
  readonly method: 'obuchowski-rockette';
  /** How the error covariances were estimated: jackknife over cases, or DeLong (AUROC only). */
  readonly covariance: 'jackknife' | 'delong';
  /** The figure of merit: trapezoidal AUROC of the rating, or sensitivity / specificity of the decision. */
  readonly figure_of_merit: 'auroc' | 'sensitivity' | 'specificity';
  readonly readers: number;
  readonly cases: number;
  readonly positives: number;
  readonly negatives: number;
  /** Reader-averaged figure of merit in each arm. */
  readonly without_ai: number;
  readonly with_ai: number;
  /** with_ai - without_ai. */
  readonly difference: number;
  /** (1 - alpha) interval of the difference: difference ± t(1 - alpha/2; df2) · standard error. */
  readonly ci_low: number;
  readonly ci_high: number;
  readonly standard_error: number;
  /** F statistic of H0: no difference (numerator df 1). */
  readonly f: number | null;
  readonly df1: number;
  /** Hillis (2007) denominator degrees of freedom. */
  readonly df2: number | null;
  readonly p: number | null;
  /** The OR variance components: MS(T), MS(T×R), Var(error), Cov1 (same reader, different arms), Cov2 (different readers, same arm), Cov3 (different readers and arms). */
  readonly components: {
    readonly ms_t: number;
    readonly ms_tr: number;
    readonly var_error: number;
    readonly cov1: number;
    readonly cov2: number;
    readonly cov3: number;
  };
}

/** How often the reader's call changed between arms (pairs read in both arms, truth known). */
export interface DecisionChanges {
  /** Reader x case pairs read in both arms. */
  readonly pairs: number;
  readonly changed: number;
  /** changed / pairs, Wilson interval. */
  readonly change_rate: StudyEstimate;
  /** Changes from a wrong call to the right one (truth known). */
  readonly towards_truth: number;
  /** Changes from the right call to a wrong one. */
  readonly away_from_truth: number;
  /** Changes on a case whose truth is unknown. */
  readonly truth_unknown: number;
  /** Changes whose new (with-AI) call equals the AI's decision (where the AI's decision is known). */
  readonly towards_ai: number;
  /** Agreement of the reader's call with the AI's (pairs where the AI's decision is known), per arm. */
  readonly agreement_with_ai: {
    readonly pairs: number;
    readonly without_ai: StudyEstimate;
    readonly with_ai: StudyEstimate;
  };
}

/** Everything for one label. */
export interface ReaderLabelReport {
  readonly label: string;
  /** Cases with a known truth for this label and at least one reading. */
  readonly cases: number;
  readonly positives: number;
  readonly negatives: number;
  readonly readers: readonly ReaderLabelMetrics[];
  /** Cases in the MRMC analysis: truth known and read by every reader in both arms. */
  readonly complete_cases: number;
  /**
   * All readers together. When the MRMC analysis runs: the readers' mean over the complete block
   * (cases read by every reader in both arms) with the single-arm OR interval; otherwise
   * sensitivity and specificity over all readings (Wilson, which ignores the correlation of
   * readings of one case) and the readers' mean AUROC without an interval.
   */
  readonly pooled: { readonly without_ai: ArmMetrics; readonly with_ai: ArmMetrics };
  /** The AI effect on the AUROC (OR, jackknife covariances); null when it cannot be computed (see notes). */
  readonly mrmc_auroc: MrmcResult | null;
  /** The same with DeLong covariances. */
  readonly mrmc_auroc_delong: MrmcResult | null;
  readonly mrmc_sensitivity: MrmcResult | null;
  readonly mrmc_specificity: MrmcResult | null;
  readonly decision_changes: DecisionChanges;
}

/** Reading time of one arm. */
export interface ArmTime {
  /** Reader x case readings with a time. */
  readonly readings: number;
  readonly median_ms: number | null;
}

/** Reading time: per arm, and the paired difference (with minus without AI, per reader x case). */
export interface ReadingTimeReport {
  readonly without_ai: ArmTime;
  readonly with_ai: ArmTime;
  /** Reader x case pairs with a time in both arms. */
  readonly pairs: number;
  /**
   * Median of the paired differences (ms), with a two-way (readers and cases resampled) seeded
   * percentile bootstrap interval.
   */
  readonly median_difference_ms: {
    readonly value: number | null;
    readonly ci_low: number | null;
    readonly ci_high: number | null;
  };
  readonly per_reader: readonly {
    readonly reader_id: string;
    readonly pairs: number;
    readonly median_without_ai_ms: number | null;
    readonly median_with_ai_ms: number | null;
    readonly median_difference_ms: number | null;
  }[];
  readonly bootstrap: { readonly samples: number; readonly seed: number };
}

/** The whole analysis (report.json of `cxr study report`). */
export interface ReaderStudyReport {
  readonly study_id: string;
  readonly design: 'crossover' | 'sequential';
  readonly alpha: number;
  readonly labels: readonly string[];
  readonly readers: readonly string[];
  /** Distinct cases with at least one reading. */
  readonly cases: number;
  readonly readings: number;
  readonly per_label: readonly ReaderLabelReport[];
  readonly reading_time: ReadingTimeReport;
  /** Why something is null or was left out (one sentence each). */
  readonly notes: readonly string[];
}
