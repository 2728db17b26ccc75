/** Single-label (softmax / argmax) metrics: accuracy, per-class and averaged precision/recall/F1. */
import { ratio, wilson } from './proportion.js';
import type { MulticlassReport } from './report.js';

type Averages = MulticlassReport['macro'];

/**
 * Index of the highest score (the first one on ties), or -1 when a score is missing or not finite.
 * This is the manifest's `argmax` decision.
 */
export function argmax(scores: ArrayLike<number | null>): number {
  let best = -1;
  let bestScore = -Infinity;
  for (let k = 0; k < scores.length; k++) {
    const s = scores[k] ?? Number.NaN;
    if (!Number.isFinite(s)) return -1;
    if (s > bestScore) {
      best = k;
      bestScore = s;
    }
  }
  return best;
}

/**
 * The multiclass report of `truth[i]` against `predicted[i]` (class indices into `classes`).
 * Precision of a class is null when it was never predicted, recall null when it has no cases;
 * F1 = 2TP / (2TP + FP + FN) (0, not null, for a class with cases that is never predicted).
 * Macro averages are the unweighted means over the classes where the metric is defined;
 * weighted averages weight each class by its support (classes without cases weigh 0).
 */
export function multiclassReport(
  classes: readonly string[],
  truth: ArrayLike<number>,
  predicted: ArrayLike<number>,
): MulticlassReport {
  if (truth.length !== predicted.length)
    throw new RangeError('multiclassReport: truth and predicted differ in length');
  const k = classes.length;
  const matrix = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  let correct = 0;
  for (let i = 0; i < truth.length; i++) {
    const t = truth[i] as number;
    const p = predicted[i] as number;
    const row = matrix[t];
    if (row === undefined || p < 0 || p >= k)
      throw new RangeError(
        `multiclassReport: case ${String(i)} has a class index outside the ${String(k)} classes`,
      );
    row[p] = (row[p] as number) + 1;
    if (t === p) correct++;
  }
  const n = truth.length;
  const perClass: Record<
    string,
    { precision: number | null; recall: number | null; f1: number | null; support: number }
  > = {};
  const confusion: Record<string, Record<string, number>> = {};
  const macroSum = { precision: 0, recall: 0, f1: 0 };
  const macroCount = { precision: 0, recall: 0, f1: 0 };
  const weightedSum = { precision: 0, recall: 0, f1: 0 };
  const weightedSupport = { precision: 0, recall: 0, f1: 0 };
  classes.forEach((name, c) => {
    const row = matrix[c] as number[];
    const tp = row[c] as number;
    const support = row.reduce((s, v) => s + v, 0);
    let predictedCount = 0;
    for (const other of matrix) predictedCount += other[c] as number;
    const metrics = {
      precision: ratio(tp, predictedCount),
      recall: ratio(tp, support),
      f1: ratio(2 * tp, support + predictedCount),
      support,
    };
    perClass[name] = metrics;
    confusion[name] = Object.fromEntries(classes.map((other, p) => [other, row[p] as number]));
    for (const key of ['precision', 'recall', 'f1'] as const) {
      const value = metrics[key];
      if (value === null) continue;
      macroSum[key] += value;
      macroCount[key]++;
      weightedSum[key] += value * support;
      weightedSupport[key] += support;
    }
  });
  const average = (sum: typeof macroSum, count: typeof macroCount): Averages => ({
    precision: ratio(sum.precision, count.precision),
    recall: ratio(sum.recall, count.recall),
    f1: ratio(sum.f1, count.f1),
  });
  return {
    n,
    accuracy: wilson(correct, n),
    per_class: perClass,
    macro: average(macroSum, macroCount),
    weighted: average(weightedSum, weightedSupport),
    confusion,
  };
}
