import * as tf from '@tensorflow/tfjs';
import type { OutputActivation } from './manifest.js';

/**
 * DenseNet121 (Huang et al. 2017) with the Keras `applications.DenseNet121` topology and layer
 * names (BN-ReLU-conv order, bottleneck 4 x growth, compression 0.5), so weights converted from
 * Keras line up by name. Every initializer is seeded: the same options give byte-identical weights.
 */

export const DENSENET121_BLOCKS = [6, 12, 24, 16] as const;
export const DENSENET_GROWTH_RATE = 32;
/** Keras DenseNet121 base (include_top=False) parameter count, BN moving statistics included. */
export const DENSENET121_BASE_PARAMETERS = 7_037_504;
// Keras uses 1.001e-5, not the default 1e-3; converted weights are only exact with the same value.
const BN_EPSILON = 1.001e-5;

export interface DenseNetOptions {
  /** Square input side in pixels (>= 32: the network downsamples by 32). */
  readonly inputSize: number;
  /** Input channels (the model sees 1 or 3; grey is replicated to 3 by preprocessing). */
  readonly channels?: 1 | 3;
  /** Conv blocks per dense block; DenseNet121 is [6, 12, 24, 16]. Smaller values are for tests. */
  readonly blocks?: readonly [number, number, number, number];
  /** Channels each conv block adds; 32 for DenseNet121. */
  readonly growthRate?: number;
  /** Seed of every initializer. */
  readonly seed: number;
}

export interface DenseNetClassifierOptions extends DenseNetOptions {
  /** Output units, one per label. */
  readonly outputs: number;
  /** Applied inside the graph by the `predictions` layer (`none` = linear logits). */
  readonly activation: OutputActivation;
  /** Units of the hidden head layer; 256 for the seed model. */
  readonly headUnits?: number;
}

// One deterministic, distinct seed per initializer: a 32-bit mix of the model seed and a counter
// (Knuth multiplicative hash), so adding a layer does not shift the seed of unrelated layers less
// than it must and two model seeds do not share initializer streams.
class SeedSequence {
  private counter = 0;
  constructor(private readonly seed: number) {}

  next(): number {
    this.counter += 1;
    let h = Math.imul(this.seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(this.counter, 0xc2b2ae35);
    h ^= h >>> 16;
    h = Math.imul(h, 0x27d4eb2f);
    h ^= h >>> 15;
    return h >>> 0;
  }
}

function conv(
  x: tf.SymbolicTensor,
  filters: number,
  kernelSize: number,
  name: string,
  seeds: SeedSequence,
  options: { strides?: number; padding?: 'same' | 'valid' } = {},
): tf.SymbolicTensor {
  return tf.layers
    .conv2d({
      filters,
      kernelSize,
      strides: options.strides ?? 1,
      padding: options.padding ?? 'valid',
      useBias: false,
      name,
      kernelInitializer: tf.initializers.heNormal({ seed: seeds.next() }),
    })
    .apply(x) as tf.SymbolicTensor;
}

// Moving statistics are random (not 0/1) so that BN folding in the ONNX exporter is exercised by
// the equivalence tests; a trained model has arbitrary statistics too.
function batchNorm(x: tf.SymbolicTensor, name: string, seeds: SeedSequence): tf.SymbolicTensor {
  return tf.layers
    .batchNormalization({
      axis: 3,
      epsilon: BN_EPSILON,
      name,
      gammaInitializer: tf.initializers.randomUniform({ minval: 0.8, maxval: 1.2, seed: seeds.next() }),
      betaInitializer: tf.initializers.randomNormal({ mean: 0, stddev: 0.05, seed: seeds.next() }),
      movingMeanInitializer: tf.initializers.randomNormal({ mean: 0, stddev: 0.1, seed: seeds.next() }),
      movingVarianceInitializer: tf.initializers.randomUniform({
        minval: 0.5,
        maxval: 1.5,
        seed: seeds.next(),
      }),
    })
    .apply(x) as tf.SymbolicTensor;
}

function relu(x: tf.SymbolicTensor, name: string): tf.SymbolicTensor {
  return tf.layers.activation({ activation: 'relu', name }).apply(x) as tf.SymbolicTensor;
}

function channelsOf(x: tf.SymbolicTensor): number {
  const c = x.shape[3];
  if (c === undefined || c === null)
    throw new Error(`densenet: tensor ${x.name} has no static channel count`);
  return c;
}

// Keras conv_block: BN-ReLU-Conv1x1(4k)-BN-ReLU-Conv3x3(k), concatenated onto the input.
function convBlock(
  x: tf.SymbolicTensor,
  growth: number,
  name: string,
  seeds: SeedSequence,
): tf.SymbolicTensor {
  let y = batchNorm(x, `${name}_0_bn`, seeds);
  y = relu(y, `${name}_0_relu`);
  y = conv(y, 4 * growth, 1, `${name}_1_conv`, seeds);
  y = batchNorm(y, `${name}_1_bn`, seeds);
  y = relu(y, `${name}_1_relu`);
  y = conv(y, growth, 3, `${name}_2_conv`, seeds, { padding: 'same' });
  return tf.layers.concatenate({ axis: 3, name: `${name}_concat` }).apply([x, y]) as tf.SymbolicTensor;
}

// Keras transition_block: BN-ReLU-Conv1x1(compression 0.5)-AvgPool 2x2.
function transitionBlock(x: tf.SymbolicTensor, name: string, seeds: SeedSequence): tf.SymbolicTensor {
  let y = batchNorm(x, `${name}_bn`, seeds);
  y = relu(y, `${name}_relu`);
  y = conv(y, Math.floor(channelsOf(y) * 0.5), 1, `${name}_conv`, seeds);
  return tf.layers
    .averagePooling2d({ poolSize: 2, strides: 2, name: `${name}_pool` })
    .apply(y) as tf.SymbolicTensor;
}

function features(
  input: tf.SymbolicTensor,
  options: DenseNetOptions,
  seeds: SeedSequence,
): tf.SymbolicTensor {
  const blocks = options.blocks ?? DENSENET121_BLOCKS;
  const growth = options.growthRate ?? DENSENET_GROWTH_RATE;
  let x = tf.layers
    .zeroPadding2d({
      padding: [
        [3, 3],
        [3, 3],
      ],
      name: 'zero_padding2d',
    })
    .apply(input) as tf.SymbolicTensor;
  x = conv(x, 64, 7, 'conv1/conv', seeds, { strides: 2 });
  x = batchNorm(x, 'conv1/bn', seeds);
  x = relu(x, 'conv1/relu');
  x = tf.layers
    .zeroPadding2d({
      padding: [
        [1, 1],
        [1, 1],
      ],
      name: 'zero_padding2d_1',
    })
    .apply(x) as tf.SymbolicTensor;
  x = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, name: 'pool1' }).apply(x) as tf.SymbolicTensor;
  blocks.forEach((count, stage) => {
    for (let i = 1; i <= count; i++) x = convBlock(x, growth, `conv${stage + 2}_block${i}`, seeds);
    if (stage < blocks.length - 1) x = transitionBlock(x, `pool${stage + 2}`, seeds);
  });
  x = batchNorm(x, 'bn', seeds);
  x = relu(x, 'relu');
  return tf.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as tf.SymbolicTensor;
}

function checkOptions(options: DenseNetOptions): void {
  if (!Number.isInteger(options.inputSize) || options.inputSize < 32) {
    throw new RangeError(`densenet: inputSize must be an integer >= 32, got ${options.inputSize}`);
  }
  if (!Number.isInteger(options.seed))
    throw new RangeError(`densenet: seed must be an integer, got ${options.seed}`);
}

function inputFor(options: DenseNetOptions): tf.SymbolicTensor {
  // Keras names the first Input `input_1`; NHWC as tfjs layers require.
  return tf.input({ shape: [options.inputSize, options.inputSize, options.channels ?? 3], name: 'input_1' });
}

/** Builds the DenseNet base with global average pooling (Keras include_top=False, pooling='avg'). */
export function buildDenseNetBase(options: DenseNetOptions): tf.LayersModel {
  checkOptions(options);
  const input = inputFor(options);
  return tf.model({
    inputs: input,
    outputs: features(input, options, new SeedSequence(options.seed)),
    name: 'densenet121',
  });
}

/**
 * Builds the classifier: DenseNet base + avg pool + Dense(headUnits, relu) + Dropout(0.5) +
 * Dense(outputs, activation), all layers flat in one model so Keras names stay top-level.
 */
export function buildDenseNetClassifier(options: DenseNetClassifierOptions): tf.LayersModel {
  checkOptions(options);
  if (!Number.isInteger(options.outputs) || options.outputs < 1) {
    throw new RangeError(`densenet: outputs must be a positive integer, got ${options.outputs}`);
  }
  const seeds = new SeedSequence(options.seed);
  const input = inputFor(options);
  let x = features(input, options, seeds);
  x = tf.layers
    .dense({
      units: options.headUnits ?? 256,
      activation: 'relu',
      name: 'fc1',
      kernelInitializer: tf.initializers.glorotUniform({ seed: seeds.next() }),
    })
    .apply(x) as tf.SymbolicTensor;
  x = tf.layers.dropout({ rate: 0.5, name: 'dropout', seed: seeds.next() }).apply(x) as tf.SymbolicTensor;
  x = tf.layers
    .dense({
      units: options.outputs,
      activation: options.activation === 'none' ? 'linear' : options.activation,
      name: 'predictions',
      kernelInitializer: tf.initializers.glorotUniform({ seed: seeds.next() }),
    })
    .apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: x, name: 'densenet121_classifier' });
}

/** Name of the base's last layer (global average pooling): the feature vector a head reads. */
export const DENSENET_FEATURES_LAYER = 'avg_pool';

/**
 * The base of a classifier built like buildDenseNetClassifier (or loaded from such a bundle):
 * input -> avg_pool, sharing the classifier's layers and weights (no copy).
 */
export function denseNetBaseOf(classifier: tf.LayersModel): tf.LayersModel {
  const features = classifier.layers.find((layer) => layer.name === DENSENET_FEATURES_LAYER);
  if (features === undefined) {
    throw new Error(`densenet: model ${classifier.name} has no "${DENSENET_FEATURES_LAYER}" layer`);
  }
  return tf.model({
    inputs: classifier.inputs,
    outputs: features.output,
    name: 'densenet121',
  });
}

/** Total parameter count (trainable and BN moving statistics), as Keras `count_params` reports. */
export function countParameters(model: tf.LayersModel): number {
  return model.weights.reduce((sum, w) => sum + w.shape.reduce<number>((a, b) => a * (b ?? 0), 1), 0);
}
