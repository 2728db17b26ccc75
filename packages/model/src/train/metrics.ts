/**
 * Validation metrics of the per-epoch reports: a rank-based AUROC and sensitivity/specificity at
 * a score threshold. Scores and labels are n x L row-major; a sample is positive for label l when
 * its label value is >= 0.5 and is called positive when its score is >= the threshold (the
 * manifest's `thresholds` decision rule, packages/model/src/decision.ts).
 */

function column(values: Float32Array, outputs: number, l: number): Float64Array {
  const n = values.length / outputs;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = values[i * outputs + l]!;
  return out;
}

function checkPair(scores: Float32Array, labels: Float32Array, outputs: number, caller: string): void {
  if (!Number.isInteger(outputs) || outputs < 1) {
    throw new RangeError(`${caller}: outputs must be a positive integer, got ${outputs}`);
  }
  if (scores.length !== labels.length || labels.length % outputs !== 0) {
    throw new RangeError(
      `${caller}: ${scores.length} scores and ${labels.length} labels do not form n x ${outputs} matrices`,
    );
  }
}

/**
 * AUROC as the Mann-Whitney statistic: the probability that a random positive scores above a
 * random negative, ties counting 1/2 (midranks). null without positives or without negatives.
 */
export function aurocOf(scores: ArrayLike<number>, labels: ArrayLike<number>): number | null {
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let positives = 0;
  let rankSum = 0;
  for (let start = 0; start < n;) {
    let end = start + 1;
    while (end < n && scores[order[end]!] === scores[order[start]!]) end++;
    // Ranks start..end-1 (1-based: start+1..end) share their mean.
    const midrank = (start + 1 + end) / 2;
    for (let k = start; k < end; k++) {
      if (labels[order[k]!]! >= 0.5) {
        positives++;
        rankSum += midrank;
      }
    }
    start = end;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) return null;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Per-label AUROC of n x L scores against n x L labels. */
export function aurocPerLabel(
  scores: Float32Array,
  labels: Float32Array,
  outputs: number,
): (number | null)[] {
  checkPair(scores, labels, outputs, 'aurocPerLabel');
  return Array.from({ length: outputs }, (_, l) =>
    aurocOf(column(scores, outputs, l), column(labels, outputs, l)),
  );
}

export interface SensitivitySpecificity {
  readonly sensitivity: number | null;
  readonly specificity: number | null;
}

/** Sensitivity and specificity of label l at `threshold` (null when the class is absent). */
export function sensitivitySpecificity(
  scores: Float32Array,
  labels: Float32Array,
  outputs: number,
  l: number,
  threshold: number,
): SensitivitySpecificity {
  let tp = 0;
  let fn = 0;
  let tn = 0;
  let fp = 0;
  for (let i = l; i < labels.length; i += outputs) {
    const called = scores[i]! >= threshold;
    if (labels[i]! >= 0.5) {
      if (called) tp++;
      else fn++;
    } else if (called) fp++;
    else tn++;
  }
  return {
    sensitivity: tp + fn === 0 ? null : tp / (tp + fn),
    specificity: tn + fp === 0 ? null : tn / (tn + fp),
  };
}

/**
 * Per label, the highest threshold whose sensitivity (score >= threshold) reaches `target` on
 * these scores: the k-th highest positive score, k = ceil(target x positives). Throws for a
 * label without positives (no threshold can be chosen) and for a target outside (0, 1].
 */
export function thresholdsAtSensitivity(
  scores: Float32Array,
  labels: Float32Array,
  outputs: number,
  target: number,
): number[] {
  checkPair(scores, labels, outputs, 'thresholdsAtSensitivity');
  if (!(target > 0 && target <= 1)) {
    throw new RangeError(`thresholdsAtSensitivity: target sensitivity must be in (0, 1], got ${target}`);
  }
  return Array.from({ length: outputs }, (_, l) => {
    const threshold = thresholdAtSensitivity(scores, labels, outputs, l, target);
    if (threshold === null) {
      throw new RangeError(`thresholdsAtSensitivity: label ${l} has no positive validation sample`);
    }
    return threshold;
  });
}

/** thresholdsAtSensitivity for label l alone; null when the label has no positive sample. */
export function thresholdAtSensitivity(
  scores: Float32Array,
  labels: Float32Array,
  outputs: number,
  l: number,
  target: number,
): number | null {
  const positives: number[] = [];
  for (let i = l; i < labels.length; i += outputs) if (labels[i]! >= 0.5) positives.push(scores[i]!);
  if (positives.length === 0) return null;
  positives.sort((a, b) => b - a);
  // The epsilon keeps e.g. 0.7 x 10 = 7.000000000000001 from asking for 8 positives.
  const k = Math.max(1, Math.ceil(target * positives.length - 1e-9));
  return positives[k - 1]!;
}
