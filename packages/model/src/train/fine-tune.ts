import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import { useCpuBackend } from '../tfjs-io.js';
import { resolveModule, TFJS_NATIVE_MODULES } from '../runtime/select.js';
import { restoreBackend } from './backend.js';
import type { HeadActivation } from './class-weights.js';
import { assembleClassifier, DEFAULT_DROPOUT, headWeightsOf, type HeadWeights } from './head.js';
import { sigmoidLossTensor, softmaxLossTensor, type LossKind, type LossSpec } from './losses.js';
import { oversampleIndices } from './oversample.js';
import { deriveSeed, mulberry32, shuffledRange } from './random.js';
import { dropoutMask, validationMetricsOf, type EpochReport } from './train-head.js';

/**
 * Optional fine-tuning phase of `cxr train` (issue 7): after the head is trained on cached
 * features, the full classifier (base + head) is trained on the images themselves with only the
 * last dense block (`conv5_*`), the final `bn` and the head trainable.
 *
 * BatchNormalization stays in inference mode throughout (the base is called with
 * `training: false`): its moving mean and variance are neither used as batch statistics nor
 * updated, only gamma/beta of the trainable BN layers learn. This is what the Keras transfer
 * learning guide recommends for fine-tuning: small batches' statistics would destroy the
 * pretrained ones. Dropout of the head stays active (seeded inverted masks, as in trainHead).
 *
 * Backend: tfjs-node-gpu (`tensorflow`) when that package is installed, else cpu. The wasm backend
 * has no Conv2DBackpropFilter kernel (tfjs-backend-wasm 4.22), so it cannot train convolutions.
 */

/** Layers of a Keras DenseNet121 base the fine-tuning phase trains (besides the head). */
export function isFineTunedLayer(name: string): boolean {
  return name.startsWith('conv5_') || name === 'bn';
}

/** Backends the fine-tuning phase runs on. */
export type FineTuneBackend = 'tensorflow' | 'cpu';

/** One split as the fine-tuning phase reads it: labels in memory, pixels loaded per batch. */
export interface FineTuneData {
  /** n x L, row-major, 0/1. */
  readonly labels: Float32Array;
  /** Pixels of the given rows, NHWC, rows.length x H x W x C row-major (decoded on demand). */
  readonly load: (rows: Uint32Array) => Promise<Float32Array>;
}

export interface FineTuneOptions {
  /** input -> avg_pool (denseNetBaseOf): its conv5_* and bn layers are trained in place. */
  readonly base: tf.LayersModel;
  /** The head trained on cached features (the starting point, "epoch 0"). */
  readonly head: HeadWeights;
  readonly activation: HeadActivation;
  readonly labelNames: readonly string[];
  readonly train: FineTuneData;
  readonly validation: FineTuneData;
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly loss: LossKind;
  readonly focalGamma: number;
  /** Class weights in classWeightsFor's layout (trainHead's `classWeights`), or undefined for none. */
  readonly classWeights: readonly number[] | undefined;
  readonly oversample: boolean;
  readonly seed: number;
  /** Validation of the head-only model: the bar to beat (see isBetter). */
  readonly initial: ValidationScore;
  readonly thresholdSensitivity?: number;
  readonly dropout?: number;
  readonly onEpoch?: (report: EpochReport) => void;
  /** Told why tfjs-node-gpu, installed, was not used. */
  readonly log?: (msg: string, data?: Record<string, unknown>) => void;
}

export interface FineTuneResult {
  /** 0 when no fine-tuning epoch beat the head-only model (its weights are then restored). */
  readonly bestEpoch: number;
  readonly history: readonly EpochReport[];
  /** Head weights of the kept model. */
  readonly head: HeadWeights;
  /** n_val x L scores of the best fine-tuning epoch; undefined when bestEpoch is 0. */
  readonly validationScores: Float32Array | undefined;
  readonly backend: FineTuneBackend;
}

/** What the phases are compared by. */
export interface ValidationScore {
  readonly meanAuroc: number | null;
  readonly valLoss: number;
}

/**
 * `a` beats `b`: a higher mean validation AUROC; on a tie (AUROC saturates at 1 on small or easy
 * validation sets) or when AUROC is undefined, a lower validation loss.
 */
export function isBetter(a: ValidationScore, b: ValidationScore): boolean {
  if (a.meanAuroc !== null && b.meanAuroc !== null && a.meanAuroc !== b.meanAuroc) {
    return a.meanAuroc > b.meanAuroc;
  }
  return a.valLoss < b.valLoss;
}

// Seed streams, disjoint from trainHead's (which uses 0, 1e6 + epoch, 2e6 + epoch).
const STREAM_ORDER = 3_000_000;
const STREAM_DROPOUT = 4_000_000;

/**
 * Selects the fine-tuning backend: tfjs-node-gpu when installed and it registers `tensorflow` on
 * this tfjs instance, else cpu. Returns the chosen backend and the previous one (to restore).
 */
export async function selectFineTuneBackend(
  log?: (msg: string, data?: Record<string, unknown>) => void,
): Promise<{ backend: FineTuneBackend; previous: string | undefined }> {
  const previous = tf.getBackend() as string | undefined;
  const gpu = resolveModule(TFJS_NATIVE_MODULES['tfjs-node-gpu']);
  if (gpu !== undefined) {
    try {
      await import(gpu);
      // Throws when the import registered no `tensorflow` backend on this tfjs instance.
      if (await tf.setBackend('tensorflow')) {
        await tf.ready();
        return { backend: 'tensorflow', previous };
      }
      log?.('fine-tune: tfjs-node-gpu did not register a tensorflow backend here; using cpu');
    } catch (error) {
      log?.('fine-tune: tfjs-node-gpu failed to load; using cpu', { error: (error as Error).message });
    }
  }
  await useCpuBackend();
  return { backend: 'cpu', previous };
}

function checkOptions(o: FineTuneOptions): { n: number; nVal: number; outputs: number } {
  const outputs = o.labelNames.length;
  for (const [name, value] of [
    ['epochs', o.epochs],
    ['batchSize', o.batchSize],
  ] as const) {
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(`fineTune: ${name} must be a positive integer, got ${value}`);
    }
  }
  if (!(o.learningRate > 0))
    throw new RangeError(`fineTune: learningRate must be > 0, got ${o.learningRate}`);
  if (outputs !== o.head.outputs) {
    throw new RangeError(`fineTune: ${outputs} labels, the head has ${o.head.outputs} outputs`);
  }
  const n = o.train.labels.length / outputs;
  const nVal = o.validation.labels.length / outputs;
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(nVal) || nVal < 1) {
    throw new RangeError(`fineTune: labels are not non-empty n x ${outputs} matrices`);
  }
  return { n, nVal, outputs };
}

function inputShapeOf(base: tf.LayersModel): [number, number, number] {
  const shape = base.inputs[0]?.shape;
  const [, h, w, c] = shape ?? [];
  if (shape?.length !== 4 || typeof h !== 'number' || typeof w !== 'number' || typeof c !== 'number') {
    throw new Error(`fineTune: base ${base.name} has no static NHWC input shape`);
  }
  return [h, w, c];
}

function lossOf(
  activation: HeadActivation,
  logits: tf.Tensor2D,
  labels: tf.Tensor2D,
  spec: LossSpec,
  weights: readonly number[] | undefined,
): tf.Scalar {
  return tf.tidy(() => {
    if (activation === 'sigmoid') {
      const w =
        weights === undefined
          ? undefined
          : {
              neg: tf.tensor1d(weights.filter((_, i) => i % 2 === 0)),
              pos: tf.tensor1d(weights.filter((_, i) => i % 2 === 1)),
            };
      return tf.mean(sigmoidLossTensor(logits, labels, spec, w));
    }
    const w = weights === undefined ? undefined : tf.tensor1d([...weights]);
    return tf.mean(softmaxLossTensor(logits, labels, spec, w));
  });
}

function rowsOf(labels: Float32Array, outputs: number, rows: Uint32Array): Float32Array {
  const out = new Float32Array(rows.length * outputs);
  rows.forEach((row, i) => {
    out.set(labels.subarray(row * outputs, (row + 1) * outputs), i * outputs);
  });
  return out;
}

type LayerSnapshot = Map<tf.layers.Layer, Float32Array[]>;

function snapshotLayers(layers: readonly tf.layers.Layer[]): LayerSnapshot {
  return new Map(
    layers.map((layer) => [layer, layer.getWeights().map((w) => Float32Array.from(w.dataSync()))]),
  );
}

function restoreLayers(snapshot: LayerSnapshot): void {
  for (const [layer, values] of snapshot) {
    tf.tidy(() => {
      const shapes = layer.getWeights().map((w) => w.shape);
      layer.setWeights(values.map((v, i) => tf.tensor(v, shapes[i])));
    });
  }
}

/**
 * Fine-tunes base (conv5_*, bn) and head on images streamed batch by batch (`load` is called per
 * batch and epoch: no image stays in memory beyond its batch and the next one, prefetched while
 * the current batch trains). Adam at `learningRate`, the same loss, class weights, oversampling
 * and seeded batch order as trainHead. After each epoch the validation set is scored; the best of
 * (head only, each epoch) by isBetter is kept: the base's conv5_* and bn layers are
 * left holding the kept weights (the head-only ones when no epoch is better) and its head returned.
 */
export async function fineTune(options: FineTuneOptions): Promise<FineTuneResult> {
  const o = options;
  const { n, nVal, outputs } = checkOptions(o);
  const [height, width, channels] = inputShapeOf(o.base);
  const pixels = height * width * channels;
  const spec: LossSpec = { kind: o.loss, gamma: o.focalGamma };
  const dropout = o.dropout ?? DEFAULT_DROPOUT;
  const { backend, previous } = await selectFineTuneBackend(o.log);
  // Logits out ('none'): the loss works on logits; the activation is applied for scoring.
  const model = assembleClassifier(o.base, o.head, 'none');
  const fc1 = model.getLayer('fc1');
  const predictions = model.getLayer('predictions');
  const trainableBefore = new Map(o.base.layers.map((layer) => [layer, layer.trainable]));
  const tuned = o.base.layers.filter((layer) => isFineTunedLayer(layer.name));
  if (!tuned.some((layer) => layer.name.startsWith('conv5_'))) {
    throw new Error(`fineTune: base ${o.base.name} has no conv5_* layers (not a Keras DenseNet)`);
  }
  for (const layer of o.base.layers) layer.trainable = isFineTunedLayer(layer.name);
  const variables = [...tuned, fc1, predictions].flatMap((layer) =>
    layer.trainableWeights.map((w) => {
      const v = w.read();
      if (!(v instanceof tf.Variable)) throw new Error(`fineTune: weight ${w.name} is not a variable`);
      return v;
    }),
  );
  const initial = snapshotLayers(tuned);
  const optimizer = tf.train.adam(o.learningRate);
  const lossWeights = o.classWeights;

  const forward = (x: tf.Tensor4D, mask: tf.Tensor2D | undefined): tf.Tensor2D => {
    // BatchNormalization in inference mode: moving statistics used, never updated.
    const features = o.base.apply(x, { training: false }) as tf.Tensor2D;
    let hidden = fc1.apply(features) as tf.Tensor2D;
    if (mask !== undefined) hidden = tf.mul(hidden, mask);
    return predictions.apply(hidden) as tf.Tensor2D;
  };

  const score = async (): Promise<{ scores: Float32Array; loss: number }> => {
    const scores = new Float32Array(nVal * outputs);
    let lossSum = 0;
    const batches: Uint32Array[] = [];
    for (let start = 0; start < nVal; start += o.batchSize) {
      batches.push(Uint32Array.from({ length: Math.min(o.batchSize, nVal - start) }, (_, i) => start + i));
    }
    let next = batches[0] === undefined ? undefined : o.validation.load(batches[0]);
    for (const [b, rows] of batches.entries()) {
      const data = await next!;
      const following = batches[b + 1];
      next = following === undefined ? undefined : o.validation.load(following);
      const [chunk, loss] = tf.tidy(() => {
        const x = tf.tensor4d(data, [rows.length, height, width, channels]);
        const y = tf.tensor2d(rowsOf(o.validation.labels, outputs, rows), [rows.length, outputs]);
        const logits = forward(x, undefined);
        const p = o.activation === 'sigmoid' ? tf.sigmoid(logits) : tf.softmax(logits);
        return [p.dataSync(), lossOf(o.activation, logits, y, spec, undefined).dataSync()[0]!];
      });
      scores.set(chunk, rows[0]! * outputs);
      lossSum += loss * rows.length;
    }
    return { scores, loss: lossSum / nVal };
  };

  const history: EpochReport[] = [];
  let best: {
    epoch: number;
    score: ValidationScore;
    layers: LayerSnapshot;
    head: HeadWeights;
    scores?: Float32Array;
  } = {
    epoch: 0,
    score: o.initial,
    layers: initial,
    head: o.head,
  };
  try {
    for (let epoch = 1; epoch <= o.epochs; epoch++) {
      const started = performance.now();
      const order = o.oversample
        ? oversampleIndices(o.train.labels, outputs, deriveSeed(o.seed, STREAM_ORDER + epoch))
        : shuffledRange(n, mulberry32(deriveSeed(o.seed, STREAM_ORDER + epoch)));
      const dropoutRandom = mulberry32(deriveSeed(o.seed, STREAM_DROPOUT + epoch));
      const batches: Uint32Array[] = [];
      for (let start = 0; start < order.length; start += o.batchSize) {
        batches.push(order.slice(start, Math.min(order.length, start + o.batchSize)));
      }
      let lossSum = 0;
      // The next batch decodes (decode pool threads) while this one trains.
      let next = batches[0] === undefined ? undefined : o.train.load(batches[0]);
      for (const [b, rows] of batches.entries()) {
        const data = await next!;
        const following = batches[b + 1];
        next = following === undefined ? undefined : o.train.load(following);
        if (data.length !== rows.length * pixels) {
          throw new Error(`fineTune: a batch has ${data.length} values, expected ${rows.length} x ${pixels}`);
        }
        const x = tf.tensor4d(data, [rows.length, height, width, channels]);
        const y = tf.tensor2d(rowsOf(o.train.labels, outputs, rows), [rows.length, outputs]);
        const mask =
          dropout > 0
            ? tf.tensor2d(dropoutMask(rows.length * o.head.headUnits, dropout, dropoutRandom), [
                rows.length,
                o.head.headUnits,
              ])
            : undefined;
        const cost = optimizer.minimize(
          () => lossOf(o.activation, forward(x, mask), y, spec, lossWeights),
          true,
          variables,
        );
        lossSum += (cost?.dataSync()[0] ?? NaN) * rows.length;
        tf.dispose([x, y, ...(mask === undefined ? [] : [mask]), ...(cost === null ? [] : [cost])]);
        // Let decode results and signal handlers through between batches.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      if (!Number.isFinite(lossSum)) {
        throw new Error(
          `fineTune: the training loss is not finite in epoch ${epoch} (learning rate too high?)`,
        );
      }
      const validation = await score();
      const { perLabel, meanAuroc, thresholds } = validationMetricsOf(
        validation.scores,
        o.validation.labels,
        o.labelNames,
        o.thresholdSensitivity,
      );
      const epochScore: ValidationScore = { meanAuroc, valLoss: validation.loss };
      const isBest = isBetter(epochScore, best.score);
      if (isBest) {
        best = {
          epoch,
          score: epochScore,
          layers: snapshotLayers(tuned),
          head: headWeightsOf(model),
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
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    restoreLayers(best.layers);
  } catch (error) {
    restoreLayers(initial);
    throw error;
  } finally {
    for (const [layer, trainable] of trainableBefore) layer.trainable = trainable;
    optimizer.dispose();
    // Only the head layers this function created: the base's layers are shared with the caller.
    fc1.dispose();
    predictions.dispose();
    await restoreBackend(previous);
  }
  return {
    bestEpoch: best.epoch,
    history,
    head: best.head,
    validationScores: best.scores,
    backend,
  };
}
