/**
 * A hand-made EvaluationReport for the HTML report tests: plausible numbers (not computed from
 * data), every optional part present (multiclass, groups, a group flagged too small), nulls where
 * the contract allows them, and names that need escaping (`<`, `&`, quotes, dots in a label and a
 * group value), so rendering and the data-key paths are exercised on the awkward cases.
 */
import type {
  Calibration,
  Curves,
  Estimate,
  EvaluationReport,
  GroupReport,
  LabelReport,
  OperatingPoint,
  ReliabilityBin,
} from '../report.js';

/** A label name with markup, an ampersand, a quote and a dot. */
export const TRICKY_LABEL = 'effusion <b>"left" & right</b> v1.2';
/** A group value with markup, an apostrophe and a dot. */
export const TRICKY_GROUP = "St. <Mary>'s & Co";

function wilson(value: number | null, halfWidth: number): Estimate {
  if (value === null) return { value: null, ci_low: null, ci_high: null, method: 'none' };
  return {
    value,
    ci_low: Math.max(0, value - halfWidth),
    ci_high: Math.min(1, value + halfWidth),
    method: 'wilson',
  };
}

function point(
  name: OperatingPoint['name'],
  threshold: number,
  confusion: OperatingPoint['confusion'],
  target?: number,
): OperatingPoint {
  const { tp, fp, tn, fn } = confusion;
  const ratio = (a: number, b: number): number | null => (a + b === 0 ? null : a / (a + b));
  const sensitivity = ratio(tp, fn);
  const specificity = ratio(tn, fp);
  const ppv = ratio(tp, fp);
  const npv = ratio(tn, fn);
  const f1 = ppv === null || sensitivity === null ? null : (2 * ppv * sensitivity) / (ppv + sensitivity);
  return {
    name,
    threshold,
    sensitivity,
    specificity,
    ppv,
    npv,
    f1,
    ci: {
      sensitivity: wilson(sensitivity, 0.05),
      specificity: wilson(specificity, 0.03),
      ppv: wilson(ppv, 0.06),
      npv: wilson(npv, 0.02),
    },
    confusion,
    ...(target === undefined ? {} : { target }),
  };
}

function bins(count: number, skew: number, withEmpty: boolean): ReliabilityBin[] {
  return Array.from({ length: count }, (_, i): ReliabilityBin => {
    const lower = i / count;
    const upper = (i + 1) / count;
    if (withEmpty && i === count - 1) {
      return { lower, upper, count: 0, mean_score: null, observed_rate: null };
    }
    const mean = (lower + upper) / 2;
    return {
      lower,
      upper,
      count: 40 + ((i * 37) % 90),
      mean_score: mean,
      observed_rate: Math.min(1, Math.max(0, mean + skew * Math.sin(i))),
    };
  });
}

function calibration(skew: number): Calibration {
  return {
    ece: 0.041 + skew,
    ece_equal_mass: 0.038 + skew,
    brier: 0.112 + skew,
    slope: 0.93,
    intercept: -0.071,
    bins: bins(10, skew, true),
    bins_equal_mass: bins(10, skew / 2, false),
  };
}

function curves(strength: number): Curves {
  const roc = Array.from({ length: 51 }, (_, i) => {
    const fpr = i / 50;
    return { fpr, tpr: Math.pow(fpr, 1 / strength), threshold: 1 - fpr };
  });
  const pr = Array.from({ length: 51 }, (_, i) => {
    const recall = i / 50;
    return { recall, precision: 1 - 0.6 * Math.pow(recall, strength), threshold: 1 - recall };
  });
  const edges = Array.from({ length: 21 }, (_, i) => i / 20);
  return {
    roc,
    pr,
    histogram: {
      edges,
      positives: edges.slice(1).map((_, i) => Math.round(3 + 20 * Math.pow(i / 19, strength))),
      negatives: edges.slice(1).map((_, i) => Math.round(60 * Math.pow(1 - i / 19, strength))),
    },
  };
}

function label(n: number, positives: number, auroc: number, skew: number, strength: number): LabelReport {
  const negatives = n - positives;
  const tpAt = (rate: number): number => Math.round(positives * rate);
  const tnAt = (rate: number): number => Math.round(negatives * rate);
  const confusion = (sens: number, spec: number): OperatingPoint['confusion'] => ({
    tp: tpAt(sens),
    fn: positives - tpAt(sens),
    tn: tnAt(spec),
    fp: negatives - tnAt(spec),
  });
  return {
    n,
    positives,
    prevalence: positives / n,
    auroc: { value: auroc, ci_low: auroc - 0.031, ci_high: Math.min(1, auroc + 0.027), method: 'delong' },
    average_precision: auroc - 0.12,
    brier: 0.112 + skew,
    ece: 0.041 + skew,
    operating_points: [
      point('manifest', 0.5, confusion(0.81, 0.87)),
      point('youden', 0.4213, confusion(0.86, 0.84)),
      point('target_sensitivity', 0.1875, confusion(0.95, 0.61), 0.95),
    ],
    calibration: calibration(skew),
    curves: curves(strength),
    notes: ['ties: 12 tied scores, AUROC counts ties as one half'],
  };
}

/** A label with no positives: AUROC and the positive-class proportions undefined (null). */
function noPositives(n: number): LabelReport {
  return {
    n,
    positives: 0,
    prevalence: 0,
    auroc: { value: null, ci_low: null, ci_high: null, method: 'none' },
    average_precision: null,
    brier: 0.02,
    ece: 0.019,
    operating_points: [point('manifest', 0.5, { tp: 0, fn: 0, tn: n - 3, fp: 3 })],
    calibration: { ...calibration(0), slope: null, intercept: null },
    curves: { roc: [], pr: [], histogram: { edges: [0, 0.5, 1], positives: [0, 0], negatives: [n - 3, 3] } },
    notes: ['no positives: AUROC undefined'],
  };
}

function group(n: number, tooSmall: boolean): GroupReport {
  return {
    n,
    labels: {
      pneumonia: label(n, Math.round(n * 0.3), 0.874, 0.01, 2.4),
      [TRICKY_LABEL]: tooSmall ? noPositives(n) : label(n, Math.round(n * 0.2), 0.812, 0.02, 1.9),
    },
    too_small: tooSmall,
    notes: tooSmall ? [`fewer than 30 cases (${n})`] : [],
  };
}

/** The fixture report. */
export function reportFixture(): EvaluationReport {
  return {
    version: 1,
    created_at: '2026-11-27T03:00:00.000Z',
    model: { id: 'seed-densenet121', version: '1.0.0', activation: 'sigmoid' },
    inputs: {
      predictions: '/data/run-2026-11.parquet',
      labels: '/data/labels & <truth>.csv',
      predictions_total: 1210,
      labels_total: 1195,
      matched: 1180,
      unmatched_predictions: 12,
      unmatched_labels: 9,
      not_scored: 18,
    },
    settings: {
      ci_method: 'delong',
      bootstrap_samples: null,
      seed: null,
      target_sensitivity: 0.95,
      calibration_bins: 10,
      min_group_size: 30,
      group_by: 'institution',
    },
    labels: {
      pneumonia: label(1180, 354, 0.912, 0, 3),
      [TRICKY_LABEL]: label(1180, 236, 0.803, 0.015, 1.8),
    },
    multiclass: {
      n: 1180,
      accuracy: { value: 0.842, ci_low: 0.82, ci_high: 0.862, method: 'wilson' },
      per_class: {
        pneumonia: { precision: 0.81, recall: 0.79, f1: 0.8, support: 354 },
        [TRICKY_LABEL]: { precision: null, recall: 0, f1: null, support: 236 },
      },
      macro: { precision: 0.805, recall: 0.395, f1: 0.4 },
      weighted: { precision: 0.808, recall: 0.474, f1: 0.48 },
      confusion: {
        pneumonia: { pneumonia: 280, [TRICKY_LABEL]: 74 },
        [TRICKY_LABEL]: { pneumonia: 236, [TRICKY_LABEL]: 0 },
      },
    },
    groups: {
      institution: {
        'Site A': group(900, false),
        [TRICKY_GROUP]: group(21, true),
      },
    },
    notes: ['12 scored predictions have no label row', 'activation sigmoid: per-label binary metrics'],
  };
}
