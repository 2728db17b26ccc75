import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildDenseNetClassifier } from '../densenet.js';
import { useCpuBackend } from '../tfjs-io.js';
import { exportLayersModelToOnnx } from './export.js';
import { readOnnxSummary } from './proto.js';
import { compareWithOrt } from './testing.js';

describe('exportLayersModelToOnnx', () => {
  beforeAll(async () => {
    await useCpuBackend();
  });

  it('matches tfjs on a small DenseNet (softmax, NCHW input) within 1e-4', async () => {
    const model = buildDenseNetClassifier({
      inputSize: 32,
      blocks: [2, 2, 2, 2],
      outputs: 3,
      activation: 'softmax',
      seed: 7,
    });
    const result = exportLayersModelToOnnx(model);
    const { tfjs, onnx, maxAbsDiff } = await compareWithOrt(model, result.bytes, 'NCHW', 2, 1);
    console.info(JSON.stringify({ msg: 'onnx export diff', size: 32, activation: 'softmax', maxAbsDiff }));
    expect(onnx).toHaveLength(6);
    expect(maxAbsDiff).toBeLessThanOrEqual(1e-4);
    // Not a trivial comparison: probabilities are not saturated and rows sum to 1.
    expect(Math.max(...tfjs)).toBeLessThan(0.999);
    expect(onnx[0]! + onnx[1]! + onnx[2]!).toBeCloseTo(1, 5);
    expect(result.finalActivation).toBe('softmax');
    model.dispose();
  });

  it('folds exactly the conv-fed batch norms and turns the others into Mul + Add', () => {
    const model = buildDenseNetClassifier({
      inputSize: 32,
      blocks: [2, 2, 2, 2],
      outputs: 3,
      activation: 'softmax',
      seed: 7,
    });
    const result = exportLayersModelToOnnx(model);
    const bnCount = model.layers.filter((l) => l.getClassName() === 'BatchNormalization').length;
    // conv1/bn + one *_1_bn per conv block.
    expect([...result.foldedBatchNorms].sort()).toEqual(
      ['conv1/bn', ...[2, 3, 4, 5].flatMap((s) => [1, 2].map((b) => `conv${s}_block${b}_1_bn`))].sort(),
    );
    const summary = readOnnxSummary(result.bytes);
    expect(summary.opTypes.filter((op) => op === 'Mul')).toHaveLength(
      bnCount - result.foldedBatchNorms.length,
    );
    expect(summary.opTypes).not.toContain('BatchNormalization');
    expect(summary.irVersion).toBe(8);
    expect(summary.opsetVersion).toBe(17);
    // elemType 1: float32.
    expect(summary.inputs).toEqual([
      { name: 'input', shape: ['batch', 3, 32, 32], elemType: 1, hasShape: true },
    ]);
    expect(summary.outputs).toEqual([{ name: 'scores', shape: ['batch', 3], elemType: 1, hasShape: true }]);
    model.dispose();
  });

  it('matches tfjs with logits (activation none) and sigmoid, and with an NHWC input + Transpose', async () => {
    for (const [activation, layout] of [
      ['none', 'NHWC'],
      ['sigmoid', 'NCHW'],
    ] as const) {
      const model = buildDenseNetClassifier({
        inputSize: 64,
        blocks: [1, 2, 2, 1],
        outputs: 14,
        activation,
        seed: 3,
      });
      const result = exportLayersModelToOnnx(model, { inputLayout: layout });
      expect(result.finalActivation).toBe(activation);
      const summary = readOnnxSummary(result.bytes);
      expect(summary.opTypes.includes('Transpose')).toBe(layout === 'NHWC');
      const { tfjs, maxAbsDiff } = await compareWithOrt(model, result.bytes, layout, 1, 2);
      console.info(JSON.stringify({ msg: 'onnx export diff', size: 64, activation, layout, maxAbsDiff }));
      expect(maxAbsDiff).toBeLessThanOrEqual(1e-4);
      expect(new Set(tfjs).size).toBeGreaterThan(1);
      model.dispose();
    }
  });

  it('reports the activation through a trailing Dropout and handles same-padded strided pooling', async () => {
    const input = tf.input({ shape: [9, 9, 2] });
    let x = tf.layers
      .conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' })
      .apply(input);
    x = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(x);
    x = tf.layers.averagePooling2d({ poolSize: 2, strides: 1, padding: 'same' }).apply(x);
    x = tf.layers.globalAveragePooling2d({}).apply(x);
    x = tf.layers
      .dense({
        units: 5,
        activation: 'softmax',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
      })
      .apply(x);
    x = tf.layers.dropout({ rate: 0.5 }).apply(x);
    const model = tf.model({ inputs: input, outputs: x as tf.SymbolicTensor });
    const result = exportLayersModelToOnnx(model);
    expect(result.finalActivation).toBe('softmax');
    const { maxAbsDiff } = await compareWithOrt(model, result.bytes, 'NCHW', 3, 9);
    expect(maxAbsDiff).toBeLessThanOrEqual(1e-6);
    model.dispose();
  });

  it('refuses a layer it cannot translate, naming it', () => {
    const input = tf.input({ shape: [4, 4, 1] });
    const out = tf.layers.flatten({ name: 'flat' }).apply(input) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });
    expect(() => exportLayersModelToOnnx(model)).toThrow(/layer flat: Flatten is not supported/);
  });
});
