/**
 * The shape of `report.json` written by `cxr evaluate` (issue 6), the contract between the
 * statistics (this package), the HTML report and anyone reading the file. snake_case keys: the
 * file is read by researchers' scripts (Python, R) as much as by this code. Every proportion is a
 * number in [0, 1]; a value that is undefined for the data (AUROC of a label with no positives,
 * PPV with no predicted positives) is `null`, and `notes` says why.
 */

/** A point estimate with a two-sided 95% confidence interval. */
export interface Estimate {
  readonly value: number | null;
  readonly ci_low: number | null;
  readonly ci_high: number | null;
  /** How the interval was computed: `delong`, `bootstrap`, `wilson`, or `none` when undefined. */
  readonly method: 'delong' | 'bootstrap' | 'wilson' | 'none';
}

export interface ConfusionMatrix {
  readonly tp: number;
  readonly fp: number;
  readonly tn: number;
  readonly fn: number;
}

/** The metrics at one decision threshold (score >= threshold is positive). */
export interface OperatingPoint {
  /** `manifest` (the model's own threshold), `youden`, `target_sensitivity`. */
  readonly name: 'manifest' | 'youden' | 'target_sensitivity';
  readonly threshold: number;
  /** Point values, as in the issue: `operating_points[i].sensitivity` is a number (or null). */
  readonly sensitivity: number | null;
  readonly specificity: number | null;
  readonly ppv: number | null;
  readonly npv: number | null;
  readonly f1: number | null;
  /** Wilson 95% intervals of the four proportions. */
  readonly ci: {
    readonly sensitivity: Estimate;
    readonly specificity: Estimate;
    readonly ppv: Estimate;
    readonly npv: Estimate;
  };
  readonly confusion: ConfusionMatrix;
  /** For `target_sensitivity`: the sensitivity that was asked for. */
  readonly target?: number;
}

/** One bin of a reliability diagram. */
export interface ReliabilityBin {
  readonly lower: number;
  readonly upper: number;
  readonly count: number;
  readonly mean_score: number | null;
  readonly observed_rate: number | null;
}

export interface Calibration {
  /** Expected calibration error with equal-width bins. */
  readonly ece: number | null;
  /** Expected calibration error with equal-mass (quantile) bins. */
  readonly ece_equal_mass: number | null;
  readonly brier: number | null;
  /** Logistic recalibration fit logit(p_obs) = intercept + slope * logit(score). */
  readonly slope: number | null;
  readonly intercept: number | null;
  readonly bins: readonly ReliabilityBin[];
  readonly bins_equal_mass: readonly ReliabilityBin[];
}

/** Curves for the pictures (downsampled to at most a few hundred points). */
export interface Curves {
  /** ROC: false positive rate, true positive rate, threshold per point. */
  readonly roc: readonly { readonly fpr: number; readonly tpr: number; readonly threshold: number }[];
  /** Precision-recall. */
  readonly pr: readonly { readonly recall: number; readonly precision: number; readonly threshold: number }[];
  /** Score histograms by true class (shared bin edges). */
  readonly histogram: {
    readonly edges: readonly number[];
    readonly positives: readonly number[];
    readonly negatives: readonly number[];
  };
}

/** Everything about one binary label. */
export interface LabelReport {
  readonly n: number;
  readonly positives: number;
  readonly prevalence: number | null;
  readonly auroc: Estimate;
  readonly average_precision: number | null;
  readonly brier: number | null;
  readonly ece: number | null;
  readonly operating_points: readonly OperatingPoint[];
  readonly calibration: Calibration;
  readonly curves: Curves;
  /** Defined-behaviour notes: `no positives: AUROC undefined`, `constant score`, `ties: ...`. */
  readonly notes: readonly string[];
}

/** Single-label (softmax) models: accuracy and per-class metrics. */
export interface MulticlassReport {
  readonly n: number;
  readonly accuracy: Estimate;
  readonly per_class: Readonly<
    Record<
      string,
      {
        readonly precision: number | null;
        readonly recall: number | null;
        readonly f1: number | null;
        readonly support: number;
      }
    >
  >;
  readonly macro: {
    readonly precision: number | null;
    readonly recall: number | null;
    readonly f1: number | null;
  };
  readonly weighted: {
    readonly precision: number | null;
    readonly recall: number | null;
    readonly f1: number | null;
  };
  /** confusion[true][predicted] counts. */
  readonly confusion: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

/** The metrics of one group (a site, a manufacturer ...). */
export interface GroupReport {
  readonly n: number;
  readonly labels: Readonly<Record<string, LabelReport>>;
  readonly multiclass?: MulticlassReport;
  /** True when the group is too small to say anything (fewer than `min_group_size` cases, or no positives / no negatives for some label). */
  readonly too_small: boolean;
  readonly notes: readonly string[];
}

export interface EvaluationReport {
  readonly version: 1;
  readonly created_at: string;
  readonly model: {
    readonly id: string | null;
    readonly version: string | null;
    readonly activation: string | null;
  };
  /** Where the predictions and labels came from, and the matching counts. */
  readonly inputs: {
    readonly predictions: string;
    readonly labels: string;
    readonly predictions_total: number;
    readonly labels_total: number;
    readonly matched: number;
    /** Prediction rows with no label row, and label rows with no prediction: counted, never silently dropped. */
    readonly unmatched_predictions: number;
    readonly unmatched_labels: number;
    /** Predictions that were not `ok` (rejected / failed): excluded from the metrics, counted here. */
    readonly not_scored: number;
  };
  readonly settings: {
    readonly ci_method: 'delong' | 'bootstrap';
    readonly bootstrap_samples: number | null;
    readonly seed: number | null;
    readonly target_sensitivity: number;
    readonly calibration_bins: number;
    readonly min_group_size: number;
    readonly group_by: string | null;
  };
  readonly labels: Readonly<Record<string, LabelReport>>;
  readonly multiclass?: MulticlassReport;
  /** groups[key][value] when grouping. */
  readonly groups?: Readonly<Record<string, Readonly<Record<string, GroupReport>>>>;
  readonly notes: readonly string[];
}
