import * as tf from '@tensorflow/tfjs';
import type { OutputActivation } from '../manifest.js';
import { deriveSeed } from './random.js';

/**
 * The classifier head of the seed recipe, Dense(headUnits, relu) + Dropout + Dense(outputs,
 * activation), with the layer names of buildDenseNetClassifier (packages/model/src/densenet.ts):
 * fc1, dropout, predictions. Weights are kept as plain arrays (HeadWeights) so a head trained on
 * cached features can be written into a full classifier.
 */

/** Head weights, Keras layouts: kernels are input x output, row-major. */
export interface HeadWeights {
  /** featureDim x headUnits. */
  readonly fc1Kernel: Float32Array;
  readonly fc1Bias: Float32Array;
  /** headUnits x outputs. */
  readonly predictionsKernel: Float32Array;
  readonly predictionsBias: Float32Array;
  readonly featureDim: number;
  readonly headUnits: number;
  readonly outputs: number;
}

export interface HeadModelOptions {
  /** Units of fc1; 256 for the seed model. */
  readonly headUnits?: number;
  /** Dropout rate between fc1 and predictions; 0.5 for the seed model. */
  readonly dropout?: number;
  /** Seed of the initializers (Glorot uniform kernels, zero biases). */
  readonly seed: number;
}

export const DEFAULT_HEAD_UNITS = 256;
export const DEFAULT_DROPOUT = 0.5;

function checkPositiveInteger(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`head: ${what} must be a positive integer, got ${value}`);
  }
}

function checkDropout(rate: number): void {
  if (!(rate >= 0 && rate < 1)) throw new RangeError(`head: dropout must be in [0, 1), got ${rate}`);
}

function headLayers(
  x: tf.SymbolicTensor,
  outputs: number,
  activation: OutputActivation,
  headUnits: number,
  dropout: number,
  seed: number,
): tf.SymbolicTensor {
  let y = tf.layers
    .dense({
      units: headUnits,
      activation: 'relu',
      name: 'fc1',
      kernelInitializer: tf.initializers.glorotUniform({ seed: deriveSeed(seed, 1) }),
    })
    .apply(x) as tf.SymbolicTensor;
  y = tf.layers
    .dropout({ rate: dropout, name: 'dropout', seed: deriveSeed(seed, 2) })
    .apply(y) as tf.SymbolicTensor;
  return tf.layers
    .dense({
      units: outputs,
      activation: activation === 'none' ? 'linear' : activation,
      name: 'predictions',
      kernelInitializer: tf.initializers.glorotUniform({ seed: deriveSeed(seed, 3) }),
    })
    .apply(y) as tf.SymbolicTensor;
}

/** The head alone as a layers model on feature vectors (input `features`, shape [null, featureDim]). */
export function buildHeadModel(
  featureDim: number,
  outputs: number,
  activation: OutputActivation,
  options: HeadModelOptions,
): tf.LayersModel {
  checkPositiveInteger(featureDim, 'featureDim');
  checkPositiveInteger(outputs, 'outputs');
  const headUnits = options.headUnits ?? DEFAULT_HEAD_UNITS;
  checkPositiveInteger(headUnits, 'headUnits');
  const dropout = options.dropout ?? DEFAULT_DROPOUT;
  checkDropout(dropout);
  const input = tf.input({ shape: [featureDim], name: 'features' });
  const output = headLayers(input, outputs, activation, headUnits, dropout, options.seed);
  return tf.model({ inputs: input, outputs: output, name: 'classifier_head' });
}

function denseLayer(model: tf.LayersModel, name: string): tf.layers.Layer {
  const layer = model.layers.find((l) => l.name === name);
  if (layer === undefined) throw new Error(`head: model ${model.name} has no layer "${name}"`);
  return layer;
}

// A copy: on the cpu backend dataSync can return the tensor's own backing array.
function copyOf(tensor: tf.Tensor): Float32Array {
  return Float32Array.from(tensor.dataSync());
}

/** Reads fc1 and predictions out of a head model (or a full classifier) as HeadWeights. */
export function headWeightsOf(model: tf.LayersModel): HeadWeights {
  const [fc1Kernel, fc1Bias] = denseLayer(model, 'fc1').getWeights();
  const [predictionsKernel, predictionsBias] = denseLayer(model, 'predictions').getWeights();
  if (!fc1Kernel || !fc1Bias || !predictionsKernel || !predictionsBias) {
    throw new Error(`head: model ${model.name}: fc1 or predictions has no kernel and bias`);
  }
  if (fc1Kernel.rank !== 2 || predictionsKernel.rank !== 2) {
    throw new Error(`head: model ${model.name}: fc1 or predictions kernel is not 2-D`);
  }
  const [featureDim, headUnits] = fc1Kernel.shape as [number, number];
  const outputs = (predictionsKernel.shape as [number, number])[1];
  return {
    fc1Kernel: copyOf(fc1Kernel),
    fc1Bias: copyOf(fc1Bias),
    predictionsKernel: copyOf(predictionsKernel),
    predictionsBias: copyOf(predictionsBias),
    featureDim,
    headUnits,
    outputs,
  };
}

function checkHeadWeights(head: HeadWeights): void {
  const sizes: [string, number, number][] = [
    ['fc1Kernel', head.fc1Kernel.length, head.featureDim * head.headUnits],
    ['fc1Bias', head.fc1Bias.length, head.headUnits],
    ['predictionsKernel', head.predictionsKernel.length, head.headUnits * head.outputs],
    ['predictionsBias', head.predictionsBias.length, head.outputs],
  ];
  for (const [name, actual, expected] of sizes) {
    if (actual !== expected) {
      throw new RangeError(
        `head: ${name} has ${actual} values, ${head.featureDim}/${head.headUnits}/${head.outputs} needs ${expected}`,
      );
    }
  }
}

/** Writes HeadWeights into the fc1 and predictions layers of `model`. */
export function setHeadWeights(model: tf.LayersModel, head: HeadWeights): void {
  checkHeadWeights(head);
  tf.tidy(() => {
    denseLayer(model, 'fc1').setWeights([
      tf.tensor2d(head.fc1Kernel, [head.featureDim, head.headUnits]),
      tf.tensor1d(head.fc1Bias),
    ]);
    denseLayer(model, 'predictions').setWeights([
      tf.tensor2d(head.predictionsKernel, [head.headUnits, head.outputs]),
      tf.tensor1d(head.predictionsBias),
    ]);
  });
}

/**
 * The full classifier: `base` (a buildDenseNetBase-compatible model whose output is avg_pool)
 * followed by fc1, dropout (0.5, inactive at inference) and predictions carrying `head`'s
 * weights. Layer names and order are those of buildDenseNetClassifier. The classifier shares the
 * base's layers (no copy): disposing one disposes the other's base weights.
 */
export function assembleClassifier(
  base: tf.LayersModel,
  head: HeadWeights,
  activation: OutputActivation,
): tf.LayersModel {
  checkHeadWeights(head);
  const [input] = base.inputs;
  const [features] = base.outputs;
  if (
    input === undefined ||
    features === undefined ||
    base.inputs.length !== 1 ||
    base.outputs.length !== 1
  ) {
    throw new Error(`assembleClassifier: base ${base.name} must have one input and one output`);
  }
  if (features.shape.length !== 2 || features.shape[1] !== head.featureDim) {
    throw new Error(
      `assembleClassifier: base ${base.name} outputs shape [${features.shape.join(', ')}], the head expects [null, ${head.featureDim}]`,
    );
  }
  const output = headLayers(features, head.outputs, activation, head.headUnits, DEFAULT_DROPOUT, 0);
  const model = tf.model({ inputs: input, outputs: output, name: 'densenet121_classifier' });
  setHeadWeights(model, head);
  return model;
}
