import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import { restoreBackend, selectTrainingBackend, type TrainingBackend } from './backend.js';
import { classWeightsFor, type ClassWeightsSetting, type HeadActivation } from './class-weights.js';
import {
  buildHeadModel,
  DEFAULT_DROPOUT,
  DEFAULT_HEAD_UNITS,
  headWeightsOf,
  type HeadWeights,
} from './head.js';
import { sigmoidLossTensor, softmaxLossTensor, type LossKind, type LossSpec } from './losses.js';
import { aurocOf, sensitivitySpecificity, thresholdAtSensitivity } from './metrics.js';
import { oversampleIndices } from './oversample.js';
import { deriveSeed, mulberry32, shuffledRange } from './random.js';

export interface LabelEpochMetrics {
  readonly auroc: number | null;
  readonly sensitivity: number | null;
  readonly specificity: number | null;
}

export interface EpochReport {
  /** 1-based. */
  readonly epoch: number;
  /** Mean training loss over the epoch's batches (class weights and dropout applied). */
  readonly loss: number;
  /** Mean validation loss: the same loss kind, without class weights or dropout. */
  readonly valLoss: number;
  readonly perLabel: Readonly<Record<string, LabelEpochMetrics>>;
  /** Mean of the labels' non-null AUROCs; null when no label has both classes in validation. */
  readonly meanAuroc: number | null;
  /** This epoch is the best so far (its weights are the ones kept). */
  readonly best: boolean;
  readonly seconds: number;
  /** Per-label score thresholds used for sensitivity/specificity (0.5, or at thresholdSensitivity). */
  readonly thresholds: readonly number[];
}

export interface TrainHeadOptions {
  /** n x featureDim, row-major. */
  readonly features: Float32Array;
  /** n x L, row-major, 0/1 (one-hot rows for softmax). */
  readonly labels: Float32Array;
  readonly validation: { readonly features: Float32Array; readonly labels: Float32Array };
  readonly featureDim: number;
  readonly labelNames: readonly string[];
  readonly activation: HeadActivation;
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly loss: LossKind;
  /** Focal loss gamma (ignored for `ce`); Lin et al. use 2. */
  readonly focalGamma: number;
  readonly classWeights: ClassWeightsSetting;
  /** Balance each epoch by random oversampling (oversampleIndices) instead of one pass over the data. */
  readonly oversample: boolean;
  readonly seed: number;
  /** Epochs without a better mean validation AUROC before stopping (default 5). */
  readonly patience?: number;
  readonly headUnits?: number;
  readonly dropout?: number;
  /**
   * When set, each epoch's per-label sensitivity/specificity are taken at the threshold reaching
   * this validation sensitivity (thresholdsAtSensitivity); otherwise at the score threshold 0.5.
   * Softmax heads are thresholded per class probability the same way (one-vs-rest, not argmax).
   */
  readonly thresholdSensitivity?: number;
  /** tfjs backend to train on (default `wasm`); the previous backend is restored afterwards. */
  readonly backend?: TrainingBackend;
  readonly onEpoch?: (report: EpochReport) => void;
}

export interface TrainedHead {
  /** Weights of the best epoch. */
  readonly weights: HeadWeights;
  /** 1-based epoch whose weights were kept. */
  readonly bestEpoch: number;
  readonly history: readonly EpochReport[];
  /** n_val x L scores (after the activation) of the best epoch. */
  readonly validationScores: Float32Array;
  /** Class weights used, in classWeightsFor's layout. */
  readonly classWeights: readonly number[];
  readonly backend: TrainingBackend;
}

export const DEFAULT_PATIENCE = 5;
export const DEFAULT_TRAINING_BACKEND: TrainingBackend = 'wasm';
// Validation rows per forward pass: bounds memory (rows x headUnits floats) without slowing down.
const VALIDATION_CHUNK = 2048;
// Seed streams (deriveSeed): one per purpose and epoch, so changing one option (oversampling,
// dropout) does not shift the random numbers of the others.
const STREAM_INIT = 0;
const STREAM_ORDER = 1_000_000;
const STREAM_DROPOUT = 2_000_000;

function rowsOf(values: Float32Array, width: number, what: string): number {
  if (values.length === 0 || values.length % width !== 0) {
    throw new RangeError(
      `trainHead: ${what} has ${values.length} values, not a non-empty n x ${width} matrix`,
    );
  }
  return values.length / width;
}

function checkOptions(o: TrainHeadOptions): { n: number; nVal: number; outputs: number } {
  const outputs = o.labelNames.length;
  if (outputs < 1) throw new RangeError('trainHead: labelNames is empty');
  if (new Set(o.labelNames).size !== outputs) throw new RangeError('trainHead: labelNames has duplicates');
  if (o.activation === 'softmax' && outputs < 2) {
    throw new RangeError('trainHead: a softmax head needs at least 2 labels');
  }
  const positiveIntegers: [string, number][] = [
    ['featureDim', o.featureDim],
    ['epochs', o.epochs],
    ['batchSize', o.batchSize],
    ['patience', o.patience ?? DEFAULT_PATIENCE],
  ];
  for (const [name, value] of positiveIntegers) {
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(`trainHead: ${name} must be a positive integer, got ${value}`);
    }
  }
  if (!(o.learningRate > 0))
    throw new RangeError(`trainHead: learningRate must be > 0, got ${o.learningRate}`);
  if (!(o.focalGamma >= 0)) throw new RangeError(`trainHead: focalGamma must be >= 0, got ${o.focalGamma}`);
  const target = o.thresholdSensitivity;
  if (target !== undefined && !(target > 0 && target <= 1)) {
    throw new RangeError(`trainHead: thresholdSensitivity must be in (0, 1], got ${target}`);
  }
  const n = rowsOf(o.features, o.featureDim, 'features');
  const nVal = rowsOf(o.validation.features, o.featureDim, 'validation features');
  for (const [what, labels, rows] of [
    ['labels', o.labels, n],
    ['validation labels', o.validation.labels, nVal],
  ] as const) {
    if (labels.length !== rows * outputs) {
      throw new RangeError(`trainHead: ${what} has ${labels.length} values, expected ${rows} x ${outputs}`);
    }
    for (let row = 0; row < rows; row++) {
      let sum = 0;
      for (let l = 0; l < outputs; l++) {
        const v = labels[row * outputs + l]!;
        if (v !== 0 && v !== 1)
          throw new RangeError(`trainHead: ${what} row ${row} has a value other than 0/1`);
        sum += v;
      }
      if (o.activation === 'softmax' && sum !== 1) {
        throw new RangeError(`trainHead: ${what} row ${row} is not one-hot (softmax head)`);
      }
    }
  }
  return { n, nVal, outputs };
}

/** Copies the given rows of an n x width matrix into a new (rows x width) array. */
function gatherRows(values: Float32Array, width: number, rows: Uint32Array): Float32Array {
  const out = new Float32Array(rows.length * width);
  for (let r = 0; r < rows.length; r++) {
    const start = rows[r]! * width;
    out.set(values.subarray(start, start + width), r * width);
  }
  return out;
}

/** The same rows as gatherRows, transposed: a (width x rows.length) array. */
function gatherColumns(values: Float32Array, width: number, rows: Uint32Array): Float32Array {
  const count = rows.length;
  const out = new Float32Array(width * count);
  for (let r = 0; r < count; r++) {
    const start = rows[r]! * width;
    for (let f = 0; f < width; f++) out[f * count + r] = values[start + f]!;
  }
  return out;
}

/** Inverted dropout mask (Srivastava et al. 2014): 0 with probability `rate`, else 1 / (1 - rate). */
export function dropoutMask(size: number, rate: number, random: () => number): Float32Array {
  const mask = new Float32Array(size);
  const keep = 1 / (1 - rate);
  for (let i = 0; i < size; i++) mask[i] = random() < rate ? 0 : keep;
  return mask;
}

export interface Head {
  readonly fc1Kernel: tf.Variable;
  readonly fc1Bias: tf.Variable;
  readonly predictionsKernel: tf.Variable;
  readonly predictionsBias: tf.Variable;
}

function logitsOf(head: Head, x: tf.Tensor2D, mask?: tf.Tensor2D): tf.Tensor2D {
  let hidden = tf.relu(tf.add(tf.matMul(x, head.fc1Kernel as tf.Tensor2D), head.fc1Bias));
  if (mask !== undefined) hidden = tf.mul(hidden, mask);
  return tf.add(tf.matMul(hidden, head.predictionsKernel as tf.Tensor2D), head.predictionsBias);
}

/** One mini-batch: x (B x D), the same rows transposed (D x B), labels (B x L), dropout mask (B x H). */
export interface TrainingBatch {
  readonly x: tf.Tensor2D;
  readonly xT: tf.Tensor2D;
  readonly y: tf.Tensor2D;
  readonly mask: tf.Tensor2D | undefined;
}

export interface HeadGradients {
  readonly fc1Kernel: tf.Tensor2D;
  readonly fc1Bias: tf.Tensor1D;
  readonly predictionsKernel: tf.Tensor2D;
  readonly predictionsBias: tf.Tensor1D;
}

/**
 * Loss and gradients of one batch, back-propagated by hand through the two dense layers (autodiff
 * only from the loss to the logits). tfjs's own matMul gradient multiplies with transposeA = true,
 * which the wasm backend runs about 40x slower than a plain product (0.3 vs 12 GFLOPS measured):
 * the fc1 kernel gradient x^T dPre is therefore taken from the batch transposed in JS beforehand,
 * and the small transposes of the second layer are explicit.
 */
export function headGradients(
  head: Head,
  batch: TrainingBatch,
  lossOf: (logits: tf.Tensor2D, labels: tf.Tensor2D) => tf.Scalar,
): { loss: tf.Scalar; gradients: HeadGradients } {
  return tf.tidy(() => {
    const pre = tf.add<tf.Tensor2D>(tf.matMul(batch.x, head.fc1Kernel), head.fc1Bias);
    const activated = tf.relu(pre);
    const hidden = batch.mask === undefined ? activated : tf.mul(activated, batch.mask);
    const logits = tf.add<tf.Tensor2D>(tf.matMul(hidden, head.predictionsKernel), head.predictionsBias);
    const { value, grad } = tf.valueAndGrad((z: tf.Tensor2D) => lossOf(z, batch.y))(logits);
    const dLogits = grad;
    let dHidden = tf.matMul(dLogits, tf.transpose(head.predictionsKernel as tf.Tensor2D));
    if (batch.mask !== undefined) dHidden = tf.mul(dHidden, batch.mask);
    // relu'(pre) = step(pre): 1 above 0, else 0 (as tfjs's own Relu gradient).
    const dPre = tf.mul(dHidden, tf.step(pre));
    return {
      loss: value,
      gradients: {
        fc1Kernel: tf.matMul<tf.Tensor2D>(batch.xT, dPre),
        fc1Bias: tf.sum<tf.Tensor1D>(dPre, 0),
        predictionsKernel: tf.matMul<tf.Tensor2D>(tf.transpose(hidden), dLogits),
        predictionsBias: tf.sum<tf.Tensor1D>(dLogits, 0),
      },
    };
  });
}

type LossWeights =
  | { readonly kind: 'sigmoid'; readonly pos: tf.Tensor1D; readonly neg: tf.Tensor1D }
  | { readonly kind: 'softmax'; readonly perClass: tf.Tensor1D };

function meanLoss(
  activation: HeadActivation,
  logits: tf.Tensor2D,
  labels: tf.Tensor2D,
  spec: LossSpec,
  weights: LossWeights | undefined,
): tf.Scalar {
  // sigmoid: mean over labels, then over samples (Keras binary_crossentropy), i.e. over elements.
  return activation === 'sigmoid'
    ? tf.mean(sigmoidLossTensor(logits, labels, spec, weights?.kind === 'sigmoid' ? weights : undefined))
    : tf.mean(
        softmaxLossTensor(logits, labels, spec, weights?.kind === 'softmax' ? weights.perClass : undefined),
      );
}

function lossWeightsFor(activation: HeadActivation, classWeights: readonly number[]): LossWeights {
  return activation === 'sigmoid'
    ? {
        kind: 'sigmoid',
        neg: tf.tensor1d(classWeights.filter((_, i) => i % 2 === 0)),
        pos: tf.tensor1d(classWeights.filter((_, i) => i % 2 === 1)),
      }
    : { kind: 'softmax', perClass: tf.tensor1d([...classWeights]) };
}

function disposeLossWeights(weights: LossWeights | undefined): void {
  if (weights === undefined) return;
  if (weights.kind === 'sigmoid') tf.dispose([weights.pos, weights.neg]);
  else weights.perClass.dispose();
}

function snapshot(head: Head, featureDim: number, headUnits: number, outputs: number): HeadWeights {
  return {
    fc1Kernel: Float32Array.from(head.fc1Kernel.dataSync()),
    fc1Bias: Float32Array.from(head.fc1Bias.dataSync()),
    predictionsKernel: Float32Array.from(head.predictionsKernel.dataSync()),
    predictionsBias: Float32Array.from(head.predictionsBias.dataSync()),
    featureDim,
    headUnits,
    outputs,
  };
}

/** Validation scores (after the activation) and the mean unweighted validation loss. */
function validate(
  head: Head,
  o: TrainHeadOptions,
  nVal: number,
  outputs: number,
  spec: LossSpec,
): { scores: Float32Array; loss: number } {
  const scores = new Float32Array(nVal * outputs);
  let lossSum = 0;
  for (let start = 0; start < nVal; start += VALIDATION_CHUNK) {
    const rows = Math.min(VALIDATION_CHUNK, nVal - start);
    const [chunkScores, chunkLoss] = tf.tidy(() => {
      const x = tf.tensor2d(
        o.validation.features.subarray(start * o.featureDim, (start + rows) * o.featureDim),
        [rows, o.featureDim],
      );
      const y = tf.tensor2d(o.validation.labels.subarray(start * outputs, (start + rows) * outputs), [
        rows,
        outputs,
      ]);
      const logits = logitsOf(head, x);
      const probabilities = o.activation === 'sigmoid' ? tf.sigmoid(logits) : tf.softmax(logits);
      return [probabilities.dataSync(), meanLoss(o.activation, logits, y, spec, undefined).dataSync()[0]!];
    });
    scores.set(chunkScores, start * outputs);
    lossSum += chunkLoss * rows;
  }
  return { scores, loss: lossSum / nVal };
}

/** Per-label AUROC and sensitivity/specificity (at thresholdSensitivity, else 0.5), for trainHead and fineTune. */
export function validationMetricsOf(
  scores: Float32Array,
  labels: Float32Array,
  labelNames: readonly string[],
  thresholdSensitivity: number | undefined,
): { perLabel: Record<string, LabelEpochMetrics>; meanAuroc: number | null; thresholds: number[] } {
  const outputs = labelNames.length;
  const perLabel: Record<string, LabelEpochMetrics> = {};
  const thresholds: number[] = [];
  const aurocs: number[] = [];
  labelNames.forEach((name, l) => {
    const column = new Float32Array(scores.length / outputs);
    const truth = new Float32Array(scores.length / outputs);
    for (let i = 0; i < column.length; i++) {
      column[i] = scores[i * outputs + l]!;
      truth[i] = labels[i * outputs + l]!;
    }
    const auroc = aurocOf(column, truth);
    if (auroc !== null) aurocs.push(auroc);
    const threshold =
      (thresholdSensitivity === undefined
        ? null
        : thresholdAtSensitivity(column, truth, 1, 0, thresholdSensitivity)) ?? 0.5;
    thresholds.push(threshold);
    perLabel[name] = { auroc, ...sensitivitySpecificity(column, truth, 1, 0, threshold) };
  });
  const meanAuroc = aurocs.length === 0 ? null : aurocs.reduce((a, b) => a + b, 0) / aurocs.length;
  return { perLabel, meanAuroc, thresholds };
}

/**
 * Trains the classifier head (fc1 relu -> inverted dropout -> predictions) on precomputed base
 * features with Adam and mini-batches in a seeded order, evaluating on the validation set after
 * every epoch. Early stopping: training ends after `patience` epochs without a higher mean
 * validation AUROC (lower validation loss when no label has both classes in validation), and the
 * best epoch's weights are returned. The same options (seed included) give byte-identical
 * weights on the same backend.
 */
export async function trainHead(options: TrainHeadOptions): Promise<TrainedHead> {
  const o = options;
  const { n, nVal, outputs } = checkOptions(o);
  const classWeights = classWeightsFor(o.labels, outputs, o.classWeights, o.activation);
  const spec: LossSpec = { kind: o.loss, gamma: o.focalGamma };
  const backend = o.backend ?? DEFAULT_TRAINING_BACKEND;
  const previousBackend = await selectTrainingBackend(backend);
  try {
    const result = await trainOnCurrentBackend(o, { n, nVal, outputs, classWeights, spec });
    return { ...result, classWeights, backend };
  } finally {
    await restoreBackend(previousBackend);
  }
}

async function trainOnCurrentBackend(
  o: TrainHeadOptions,
  setup: {
    readonly n: number;
    readonly nVal: number;
    readonly outputs: number;
    readonly classWeights: readonly number[];
    readonly spec: LossSpec;
  },
): Promise<Pick<TrainedHead, 'weights' | 'bestEpoch' | 'history' | 'validationScores'>> {
  const { n, nVal, outputs, classWeights, spec } = setup;
  const headUnits = o.headUnits ?? DEFAULT_HEAD_UNITS;
  const dropout = o.dropout ?? DEFAULT_DROPOUT;
  const patience = o.patience ?? DEFAULT_PATIENCE;
  const initial = buildHeadModel(o.featureDim, outputs, o.activation, {
    headUnits,
    dropout,
    seed: deriveSeed(o.seed, STREAM_INIT),
  });
  const init = headWeightsOf(initial);
  initial.dispose();
  // Inside tidy: the initial-value tensors are released, the variables (never tidied) stay.
  // Unnamed: tfjs registers variable names globally, and two trainings may overlap.
  const head: Head = tf.tidy(() => ({
    fc1Kernel: tf.variable(tf.tensor2d(init.fc1Kernel, [o.featureDim, headUnits])),
    fc1Bias: tf.variable(tf.tensor1d(init.fc1Bias)),
    predictionsKernel: tf.variable(tf.tensor2d(init.predictionsKernel, [headUnits, outputs])),
    predictionsBias: tf.variable(tf.tensor1d(init.predictionsBias)),
  }));
  const variables = [head.fc1Kernel, head.fc1Bias, head.predictionsKernel, head.predictionsBias];
  const lossWeights = o.classWeights === 'none' ? undefined : lossWeightsFor(o.activation, classWeights);
  const optimizer = tf.train.adam(o.learningRate);
  const history: EpochReport[] = [];
  let best: { epoch: number; score: number; weights: HeadWeights; scores: Float32Array } | undefined;
  try {
    for (let epoch = 1; epoch <= o.epochs; epoch++) {
      const started = performance.now();
      const order = o.oversample
        ? oversampleIndices(o.labels, outputs, deriveSeed(o.seed, STREAM_ORDER + epoch))
        : shuffledRange(n, mulberry32(deriveSeed(o.seed, STREAM_ORDER + epoch)));
      const dropoutRandom = mulberry32(deriveSeed(o.seed, STREAM_DROPOUT + epoch));
      let lossSum = 0;
      for (let start = 0; start < order.length; start += o.batchSize) {
        const rows = order.subarray(start, Math.min(order.length, start + o.batchSize));
        const batch: TrainingBatch = {
          x: tf.tensor2d(gatherRows(o.features, o.featureDim, rows), [rows.length, o.featureDim]),
          xT: tf.tensor2d(gatherColumns(o.features, o.featureDim, rows), [o.featureDim, rows.length]),
          y: tf.tensor2d(gatherRows(o.labels, outputs, rows), [rows.length, outputs]),
          mask:
            dropout > 0
              ? tf.tensor2d(dropoutMask(rows.length * headUnits, dropout, dropoutRandom), [
                  rows.length,
                  headUnits,
                ])
              : undefined,
        };
        const { loss, gradients } = headGradients(head, batch, (logits, y) =>
          meanLoss(o.activation, logits, y, spec, lossWeights),
        );
        optimizer.applyGradients([
          { name: head.fc1Kernel.name, tensor: gradients.fc1Kernel },
          { name: head.fc1Bias.name, tensor: gradients.fc1Bias },
          { name: head.predictionsKernel.name, tensor: gradients.predictionsKernel },
          { name: head.predictionsBias.name, tensor: gradients.predictionsBias },
        ]);
        lossSum += loss.dataSync()[0]! * rows.length;
        tf.dispose([
          batch.x,
          batch.xT,
          batch.y,
          loss,
          gradients.fc1Kernel,
          gradients.fc1Bias,
          gradients.predictionsKernel,
          gradients.predictionsBias,
        ]);
        batch.mask?.dispose();
      }
      if (!Number.isFinite(lossSum)) {
        throw new Error(
          `trainHead: the training loss is not finite in epoch ${epoch} (learning rate too high?)`,
        );
      }
      const validation = validate(head, o, nVal, outputs, spec);
      const { perLabel, meanAuroc, thresholds } = validationMetricsOf(
        validation.scores,
        o.validation.labels,
        o.labelNames,
        o.thresholdSensitivity,
      );
      // Higher is better: mean AUROC, or minus the validation loss when AUROC is undefined (that
      // depends only on the validation labels, so it is the same for every epoch of a run).
      const score = meanAuroc ?? -validation.loss;
      const isBest = best === undefined || score > best.score;
      if (isBest) {
        best = {
          epoch,
          score,
          weights: snapshot(head, o.featureDim, headUnits, outputs),
          scores: validation.scores,
        };
      }
      const report: EpochReport = {
        epoch,
        loss: lossSum / order.length,
        valLoss: validation.loss,
        perLabel,
        meanAuroc,
        best: isBest,
        seconds: (performance.now() - started) / 1000,
        thresholds,
      };
      history.push(report);
      o.onEpoch?.(report);
      // Let progress output and signal handlers run between epochs.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (best !== undefined && epoch - best.epoch >= patience) break;
    }
  } finally {
    tf.dispose(variables);
    disposeLossWeights(lossWeights);
    optimizer.dispose();
  }
  if (best === undefined) throw new Error('trainHead: no epoch ran');
  return { weights: best.weights, bestEpoch: best.epoch, history, validationScores: best.scores };
}
