import * as tf from '@tensorflow/tfjs';

/**
 * Training losses of the classifier head, twice: pure scalar reference functions (numbers in,
 * numbers out, used by the tests and the docs) and the tfjs tensors the trainer differentiates.
 * The tensor versions work on logits, never on probabilities, so that log(0) cannot occur:
 * log sigmoid(z) = -softplus(-z) and log(1 - sigmoid(z)) = -softplus(z).
 */

export type LossKind = 'ce' | 'focal';

/** What a loss needs besides logits and labels. gamma is ignored for `ce` (focal with gamma 0 is CE). */
export interface LossSpec {
  readonly kind: LossKind;
  readonly gamma: number;
}

/**
 * Binary focal loss (Lin et al. 2017, eq. 5): FL = -alpha_t (1 - p_t)^gamma log(p_t), where
 * p_t = p for y = 1 and 1 - p for y = 0, alpha_t = alpha for y = 1 and 1 - alpha for y = 0.
 * Without alpha, alpha_t = 1 (the trainer applies class weights as alpha_t instead).
 * gamma = 0 and no alpha is binary cross-entropy.
 */
export function focalLossValue(p: number, y: 0 | 1, gamma: number, alpha?: number): number {
  const pt = y === 1 ? p : 1 - p;
  const alphaT = alpha === undefined ? 1 : y === 1 ? alpha : 1 - alpha;
  // (1 - p_t)^0 is 1 even at p_t = 1 (JS: 0 ** 0 === 1).
  return -alphaT * (1 - pt) ** gamma * Math.log(pt);
}

/**
 * d FL / d z for the sigmoid focal loss without alpha, z the logit (p = sigmoid(z)).
 * With s = +1 for y = 1 and -1 for y = 0, p_t = sigmoid(s z) and d p_t / d z = s p_t (1 - p_t), so
 *   d FL / d z = s (1 - p_t)^gamma (gamma p_t log(p_t) - (1 - p_t)).
 * For gamma = 0 this is p - y, the cross-entropy gradient.
 */
export function focalLossGradient(logit: number, y: 0 | 1, gamma: number): number {
  const s = y === 1 ? 1 : -1;
  const pt = 1 / (1 + Math.exp(-s * logit));
  return s * (1 - pt) ** gamma * (gamma * pt * Math.log(pt) - (1 - pt));
}

/** Weighted binary cross-entropy: -(wPos y log p + wNeg (1 - y) log(1 - p)). */
export function weightedBceValue(p: number, y: 0 | 1, wPos: number, wNeg: number): number {
  return y === 1 ? -wPos * Math.log(p) : -wNeg * Math.log(1 - p);
}

/**
 * Multiclass focal loss on softmax probabilities: -alpha_c (1 - p_c)^gamma log(p_c) for the true
 * class c (alpha_c = 1 when absent); gamma = 0 is (weighted) categorical cross-entropy.
 */
export function softmaxFocalLossValue(
  probabilities: readonly number[],
  trueClass: number,
  gamma: number,
  alpha?: number,
): number {
  const pc = probabilities[trueClass];
  if (pc === undefined) {
    throw new RangeError(`softmaxFocalLossValue: class ${trueClass} outside ${probabilities.length} classes`);
  }
  return -(alpha ?? 1) * (1 - pc) ** gamma * Math.log(pc);
}

/**
 * Element-wise sigmoid loss (n x L) from logits and 0/1 labels: focal with gamma (gamma 0 for
 * `ce`), each element weighted by pos[l] when y = 1 and neg[l] when y = 0 (alpha_t).
 */
export function sigmoidLossTensor(
  logits: tf.Tensor2D,
  labels: tf.Tensor2D,
  loss: LossSpec,
  weights?: { readonly pos: tf.Tensor1D; readonly neg: tf.Tensor1D },
): tf.Tensor2D {
  return tf.tidy(() => {
    const gamma = loss.kind === 'focal' ? loss.gamma : 0;
    // s = 2y - 1; -log p_t = softplus(-s z); (1 - p_t)^gamma = exp(-gamma softplus(s z)).
    const sz = tf.mul(tf.sub(tf.mul(labels, 2), 1), logits);
    let perElement = tf.softplus(tf.neg(sz));
    if (gamma !== 0) perElement = tf.mul(perElement, tf.exp(tf.mul(tf.softplus(sz), -gamma)));
    if (weights !== undefined) {
      const alphaT = tf.add(tf.mul(labels, weights.pos), tf.mul(tf.sub(1, labels), weights.neg));
      perElement = tf.mul(perElement, alphaT);
    }
    return perElement as tf.Tensor2D;
  });
}

// Subtracted from the true class's logit to leave it out of a log-sum-exp: exp(-1e9) is 0 in float32.
const MASK_OUT = 1e9;

/**
 * Per-sample softmax loss (length n) from logits and one-hot labels: -alpha_c (1 - p_c)^gamma
 * log p_c for the true class c, alpha_c = classWeights[c] (1 when absent). log(1 - p_c) is taken
 * as logsumexp over the other classes minus logsumexp over all, so it stays finite as p_c -> 1.
 */
export function softmaxLossTensor(
  logits: tf.Tensor2D,
  labels: tf.Tensor2D,
  loss: LossSpec,
  classWeights?: tf.Tensor1D,
): tf.Tensor1D {
  return tf.tidy(() => {
    const gamma = loss.kind === 'focal' ? loss.gamma : 0;
    const logPt = tf.sum(tf.mul(labels, tf.logSoftmax(logits)), 1);
    let perSample = tf.neg(logPt);
    if (gamma !== 0) {
      const logOneMinusPt = tf.sub(
        tf.logSumExp(tf.sub(logits, tf.mul(labels, MASK_OUT)), 1),
        tf.logSumExp(logits, 1),
      );
      perSample = tf.mul(perSample, tf.exp(tf.mul(logOneMinusPt, gamma)));
    }
    if (classWeights !== undefined) perSample = tf.mul(perSample, tf.sum(tf.mul(labels, classWeights), 1));
    return perSample as tf.Tensor1D;
  });
}
