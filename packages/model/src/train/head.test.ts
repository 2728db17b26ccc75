import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildDenseNetBase, buildDenseNetClassifier, countParameters } from '../densenet.js';
import { deserializeLayersModel, serializeLayersModel, useCpuBackend } from '../tfjs-io.js';
import { assembleClassifier, buildHeadModel, headWeightsOf, type HeadWeights } from './head.js';
import { mulberry32 } from './random.js';

function randomHead(featureDim: number, headUnits: number, outputs: number, seed: number): HeadWeights {
  const random = mulberry32(seed);
  const fill = (n: number) => Float32Array.from({ length: n }, () => (random() - 0.5) * 0.2);
  return {
    fc1Kernel: fill(featureDim * headUnits),
    fc1Bias: fill(headUnits),
    predictionsKernel: fill(headUnits * outputs),
    predictionsBias: fill(outputs),
    featureDim,
    headUnits,
    outputs,
  };
}

describe('classifier head', () => {
  beforeAll(async () => {
    await useCpuBackend();
  });

  it('buildHeadModel: fc1 (relu) -> dropout -> predictions, seeded', () => {
    const model = buildHeadModel(1024, 3, 'softmax', { seed: 1 });
    expect(model.layers.map((l) => l.name)).toEqual(['features', 'fc1', 'dropout', 'predictions']);
    // 1024 x 256 + 256 + 256 x 3 + 3, as the head of buildDenseNetClassifier.
    expect(countParameters(model)).toBe(262_400 + 771);
    expect(model.outputs[0]!.shape).toEqual([null, 3]);
    const again = buildHeadModel(1024, 3, 'softmax', { seed: 1 });
    const other = buildHeadModel(1024, 3, 'softmax', { seed: 2 });
    expect(headWeightsOf(again)).toEqual(headWeightsOf(model));
    expect(headWeightsOf(other).fc1Kernel).not.toEqual(headWeightsOf(model).fc1Kernel);
    const small = buildHeadModel(8, 1, 'sigmoid', { seed: 1, headUnits: 4, dropout: 0.2 });
    expect(headWeightsOf(small)).toMatchObject({ featureDim: 8, headUnits: 4, outputs: 1 });
    expect(() => buildHeadModel(8, 1, 'sigmoid', { seed: 1, dropout: 1 })).toThrow(/dropout/);
    for (const m of [model, again, other, small]) m.dispose();
  });

  it('assembleClassifier: base + head equals head(base(x)) and has buildDenseNetClassifier layer names', async () => {
    const options = { inputSize: 32, blocks: [1, 1, 1, 1] as const, seed: 3 };
    const base = buildDenseNetBase(options);
    const featureDim = base.outputs[0]!.shape[1]!;
    const head = randomHead(featureDim, 16, 2, 9);
    const full = assembleClassifier(base, head, 'sigmoid');
    const reference = buildDenseNetClassifier({
      ...options,
      outputs: 2,
      activation: 'sigmoid',
      headUnits: 16,
    });
    expect(full.layers.map((l) => l.name)).toEqual(reference.layers.map((l) => l.name));
    expect(full.layers.map((l) => l.getClassName())).toEqual(reference.layers.map((l) => l.getClassName()));
    expect(full.weights.map((w) => w.shape)).toEqual(reference.weights.map((w) => w.shape));
    expect(headWeightsOf(full)).toEqual(head);

    const headModel = buildHeadModel(featureDim, 2, 'sigmoid', { seed: 0, headUnits: 16 });
    const split = assembleClassifier(
      tf.model({ inputs: headModel.inputs, outputs: headModel.inputs[0]! }),
      head,
      'sigmoid',
    );
    const random = mulberry32(5);
    const x = tf.tensor4d(
      Float32Array.from({ length: 2 * 32 * 32 * 3 }, () => random()),
      [2, 32, 32, 3],
    );
    const [direct, composed] = tf.tidy(() => [
      (full.predict(x) as tf.Tensor).dataSync(),
      (split.predict(base.predict(x) as tf.Tensor) as tf.Tensor).dataSync(),
    ]);
    expect(direct).toHaveLength(4);
    direct.forEach((v, i) => {
      expect(Math.abs(v - composed[i]!)).toBeLessThan(1e-5);
    });
    // The scores are not constant (the head is really applied).
    expect(Math.abs(direct[0]! - direct[1]!)).toBeGreaterThan(1e-7);
    // The assembled classifier survives the model.json + weights.bin round trip of a bundle.
    const files = await serializeLayersModel(full);
    const loaded = await deserializeLayersModel(files.modelJson, () => Promise.resolve(files.weightsBin));
    const reloaded = tf.tidy(() => (loaded.predict(x) as tf.Tensor).dataSync());
    reloaded.forEach((v, i) => {
      expect(v).toBe(direct[i]);
    });
    x.dispose();
    for (const m of [full, reference, headModel, loaded]) m.dispose();
  });

  it('assembleClassifier rejects a head of the wrong size', () => {
    const base = buildDenseNetBase({ inputSize: 32, blocks: [1, 1, 1, 1], seed: 1 });
    const featureDim = base.outputs[0]!.shape[1]!;
    expect(() => assembleClassifier(base, randomHead(featureDim + 1, 4, 1, 1), 'sigmoid')).toThrow(
      /expects \[null, /,
    );
    expect(() =>
      assembleClassifier(
        base,
        { ...randomHead(featureDim, 4, 1, 1), fc1Bias: new Float32Array(3) },
        'sigmoid',
      ),
    ).toThrow(/fc1Bias has 3 values/);
    base.dispose();
  });
});
