/**
 * Decision thresholds and the metrics at one threshold. A case is called positive iff
 * score >= threshold, everywhere in this package (the manifest's rule too).
 */
import { ratio, wilson } from './proportion.js';
import { countAtLeast } from './ranking.js';
import type { SortedClasses, ThresholdTable } from './ranking.js';
import type { ConfusionMatrix, OperatingPoint } from './report.js';

/** The confusion matrix at `threshold` (score >= threshold is positive). */
export function confusionAt(sorted: SortedClasses, threshold: number): ConfusionMatrix {
  const tp = countAtLeast(sorted.positives, threshold);
  const fp = countAtLeast(sorted.negatives, threshold);
  return { tp, fp, fn: sorted.positives.length - tp, tn: sorted.negatives.length - fp };
}

/**
 * The Youden-optimal threshold: the distinct score maximising sensitivity + specificity - 1;
 * among equal maxima the highest threshold (fewest positive calls). Null when a class is empty.
 */
export function youden(table: ThresholdTable): number | null {
  const { positives: m, negatives: n } = table;
  if (m === 0 || n === 0 || table.thresholds.length === 0) return null;
  let best = -Infinity;
  let bestThreshold: number | null = null;
  for (let k = 0; k < table.thresholds.length; k++) {
    // tp/m - fp/n compared exactly as the integer n tp - m fp: no rounding decides a tie.
    const j = n * (table.tp[k] as number) - m * (table.fp[k] as number);
    if (j > best) {
      best = j;
      bestThreshold = table.thresholds[k] as number;
    }
  }
  return bestThreshold;
}

/**
 * The highest distinct score whose sensitivity is >= `target` (screening: the most specific
 * threshold that still finds the asked share of positives). Null when there are no positives.
 */
export function thresholdForSensitivity(table: ThresholdTable, target: number): number | null {
  if (!(target >= 0 && target <= 1))
    throw new RangeError(`thresholdForSensitivity: target ${String(target)} outside [0, 1]`);
  if (table.positives === 0) return null;
  for (let k = 0; k < table.thresholds.length; k++) {
    if ((table.tp[k] as number) / table.positives >= target) return table.thresholds[k] as number;
  }
  return null; // unreachable: the lowest threshold calls every positive
}

/** The metrics at one threshold, with Wilson 95% intervals of the four proportions. */
export function operatingPoint(
  name: OperatingPoint['name'],
  threshold: number,
  sorted: SortedClasses,
  target?: number,
): OperatingPoint {
  const confusion = confusionAt(sorted, threshold);
  const { tp, fp, tn, fn } = confusion;
  const ci = {
    sensitivity: wilson(tp, tp + fn),
    specificity: wilson(tn, tn + fp),
    ppv: wilson(tp, tp + fp),
    npv: wilson(tn, tn + fn),
  };
  return {
    name,
    threshold,
    sensitivity: ci.sensitivity.value,
    specificity: ci.specificity.value,
    ppv: ci.ppv.value,
    npv: ci.npv.value,
    // 2TP / (2TP + FP + FN): the harmonic mean of PPV and sensitivity, defined (0) even when
    // nothing is called positive, as long as there is a positive or a positive call.
    f1: ratio(2 * tp, 2 * tp + fp + fn),
    ci,
    confusion,
    ...(target === undefined ? {} : { target }),
  };
}
