/**
 * Class weights against class imbalance. Layout of the returned numbers:
 * - softmax: one weight per class (length L); a sample's loss is multiplied by its class's weight.
 * - sigmoid: a (negative, positive) pair per label (length 2L): weights[2l] multiplies label l's
 *   loss on samples where y_l = 0, weights[2l + 1] where y_l = 1 (alpha_t of the focal loss).
 */

export type ClassWeightsSetting = 'auto' | 'none' | readonly number[];
export type HeadActivation = 'softmax' | 'sigmoid';

function isOneHot(labels: Float32Array, outputs: number): boolean {
  for (let row = 0; row < labels.length; row += outputs) {
    let sum = 0;
    for (let l = 0; l < outputs; l++) {
      const v = labels[row + l]!;
      if (v !== 0 && v !== 1) return false;
      sum += v;
    }
    if (sum !== 1) return false;
  }
  return true;
}

/**
 * The label layout a head on these labels most likely uses: softmax when there are >= 2 outputs
 * and every row is one-hot, sigmoid otherwise. trainHead passes its activation explicitly.
 */
export function inferActivation(labels: Float32Array, outputs: number): HeadActivation {
  return outputs >= 2 && isOneHot(labels, outputs) ? 'softmax' : 'sigmoid';
}

function checkShape(labels: Float32Array, outputs: number, caller: string): number {
  if (!Number.isInteger(outputs) || outputs < 1) {
    throw new RangeError(`${caller}: outputs must be a positive integer, got ${outputs}`);
  }
  if (labels.length % outputs !== 0) {
    throw new RangeError(`${caller}: ${labels.length} label values are not a multiple of ${outputs} outputs`);
  }
  return labels.length / outputs;
}

/**
 * Class weights for a training set (layout in the module comment).
 * - `none`: all 1.
 * - `auto`, sigmoid: per label, n / (2 n_neg) for negatives and n / (2 n_pos) for positives, so
 *   both classes carry half of the total weight and the mean weight over the samples stays 1.
 * - `auto`, softmax: inverse class frequency 1 / n_c, normalised to mean 1 over the classes.
 * - explicit numbers: softmax, one per class; sigmoid, either one per label (the positive weight,
 *   negatives 1, like PyTorch's pos_weight) or a (negative, positive) pair per label.
 * `activation` defaults to inferActivation(labels, outputs). `auto` throws when a class (or a
 * label's positive or negative side) has no sample: its weight would be infinite.
 */
export function classWeightsFor(
  labels: Float32Array,
  outputs: number,
  setting: ClassWeightsSetting,
  activation: HeadActivation = inferActivation(labels, outputs),
): number[] {
  const n = checkShape(labels, outputs, 'classWeightsFor');
  const length = activation === 'softmax' ? outputs : 2 * outputs;
  if (setting === 'none') return new Array<number>(length).fill(1);
  if (setting !== 'auto') {
    for (const w of setting) {
      if (!Number.isFinite(w) || w <= 0) {
        throw new RangeError(`classWeightsFor: class weights must be finite and > 0, got ${w}`);
      }
    }
    if (setting.length === length) return [...setting];
    if (activation === 'sigmoid' && setting.length === outputs) return setting.flatMap((w) => [1, w]);
    const expected = activation === 'softmax' ? `${outputs}` : `${outputs} or ${2 * outputs}`;
    throw new RangeError(
      `classWeightsFor: ${setting.length} class weights given, a ${activation} head with ${outputs} outputs needs ${expected}`,
    );
  }
  const positives = new Array<number>(outputs).fill(0);
  for (let i = 0; i < labels.length; i++) if (labels[i]! >= 0.5) positives[i % outputs]! += 1;
  if (activation === 'softmax') {
    const inverse = positives.map((count, c) => {
      if (count === 0) throw new RangeError(`classWeightsFor: class ${c} has no training sample`);
      return 1 / count;
    });
    const mean = inverse.reduce((a, b) => a + b, 0) / outputs;
    return inverse.map((w) => w / mean);
  }
  return positives.flatMap((nPos, l) => {
    const nNeg = n - nPos;
    if (nPos === 0 || nNeg === 0) {
      throw new RangeError(
        `classWeightsFor: label ${l} has ${nPos} positive and ${nNeg} negative training samples; auto weights need both`,
      );
    }
    return [n / (2 * nNeg), n / (2 * nPos)];
  });
}
