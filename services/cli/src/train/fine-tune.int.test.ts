/**
 * `cxr train --fine-tune-epochs` end to end as a real process on the synthetic opacity task (tiny
 * DenseNet base, 64 px, blocks 1/1/1/1): after a short head phase one fine-tuning epoch runs on
 * the images; the written classifier has new conv5_* / bn weights while conv1..conv4 are
 * untouched (frozen), every BatchNorm's moving statistics are the base's (inference mode), the
 * ONNX bundle loads and scores with `cxr predict`, and the validation AUROC stays high.
 * Options are validated before any work: a negative epoch count is a usage error.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initSeedModel, loadBundle, loadLayersModelFile, useCpuBackend } from '@cxr/model';
import {
  SYNTHETIC_LABEL,
  syntheticLabelsCsv,
  writeSyntheticTrainingSet,
  type SyntheticImage,
} from '@cxr/fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cxrWithEnv } from '../testing/run-cxr.js';
import type { TrainSummary } from '@cxr/training';

const IMAGES = 80;

type Weights = Map<string, Float32Array>;

/** Weights of a tfjs-layers bundle by `layer/weight` name (the model name prefix dropped). */
async function weightsOf(bundleDir: string): Promise<Weights> {
  await useCpuBackend();
  const bundle = await loadBundle(bundleDir);
  const model = await loadLayersModelFile(bundle.weightPaths[0]!);
  const out: Weights = new Map();
  for (const layer of model.layers) {
    for (const weight of layer.weights) {
      const name = `${layer.name}/${weight.originalName.slice(weight.originalName.lastIndexOf('/') + 1)}`;
      out.set(name, Float32Array.from(weight.read().dataSync()));
    }
  }
  model.dispose();
  return out;
}

const same = (a: Float32Array | undefined, b: Float32Array | undefined): boolean =>
  a !== undefined && b !== undefined && a.length === b.length && a.every((v, i) => v === b[i]);

describe('cxr train --fine-tune-epochs (synthetic opacities, tiny base)', () => {
  let dir: string;
  let images: SyntheticImage[];
  const env = {
    CXR_DECODE_THREADS: '1',
    CXR_RUNTIME_THREADS: '1',
    CXR_PATIENT_ID_SALT: 'fine-tune-salt-0123',
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-fine-tune-'));
    images = await writeSyntheticTrainingSet({ dir: join(dir, 'images'), count: IMAGES, seed: 21 });
    await writeFile(join(dir, 'labels.csv'), syntheticLabelsCsv(images));
    await initSeedModel({
      outDir: join(dir, 'base'),
      size: 64,
      blocks: [1, 1, 1, 1],
      format: 'tfjs-layers',
      labels: ['a', 'b'],
      seed: 5,
    });
  }, 120_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const train = (out: string, ...extra: string[]) =>
    cxrWithEnv(
      env,
      'train',
      '--data',
      join(dir, 'labels.csv'),
      '--images',
      `file://${join(dir, 'images')}`,
      '--base',
      join(dir, 'base'),
      '--out',
      join(dir, out),
      '--cache',
      join(dir, 'cache'),
      '--val-split',
      '0.3',
      '--json',
      ...extra,
    );

  it('a negative --fine-tune-epochs or a zero --fine-tune-lr is a usage error', async () => {
    const negative = await train('bad', '--fine-tune-epochs=-1');
    expect(negative.code).toBe(2);
    expect(negative.stderr).toContain('--fine-tune-epochs must be an integer');
    const zeroLr = await train('bad', '--fine-tune-epochs', '1', '--fine-tune-lr', '0');
    expect(zeroLr.code).toBe(2);
    expect(zeroLr.stderr).toContain('--fine-tune-lr must be a number > 0');
  }, 60_000);

  it('fine-tunes conv5_* and bn only, keeps BN statistics, and writes a bundle that scores', async () => {
    const run = await train(
      'model',
      '--epochs',
      '3',
      '--patience',
      '3',
      '--lr',
      '0.003',
      '--batch',
      '16',
      '--fine-tune-epochs',
      '1',
      '--fine-tune-lr',
      '0.0003',
    );
    expect(run.code, run.stderr.slice(-2000)).toBe(0);
    const summary = JSON.parse(run.stdout) as TrainSummary;
    expect(summary.fineTune).toMatchObject({
      epochs: 1,
      learningRate: 0.0003,
      chosen: 'fine-tune',
      bestEpoch: 1,
    });
    expect(summary.validation.perLabel[SYNTHETIC_LABEL]?.auroc).toBeGreaterThan(0.8);
    // The head alone already reaches AUROC 1 on this easy task: the fine-tuned model wins the tie
    // on its lower validation loss (deterministic: seeded order and dropout, cpu backend).
    expect(summary.validation.meanAuroc).toBeGreaterThanOrEqual(summary.fineTune?.headMeanAuroc ?? 1);
    // One progress line per fine-tuning epoch, in the head epochs' format, tagged with the phase.
    const fineTuneLines = run.stderr
      .split('\n')
      .filter((l) => l.includes('"msg":"train epoch"') && l.includes('"phase":"fine-tune"'));
    expect(fineTuneLines).toHaveLength(1);

    const base = await weightsOf(join(dir, 'base'));
    const tuned = await weightsOf(join(dir, 'model', 'tfjs-layers'));
    const baseNames = [...base.keys()].filter((n) => !/^(fc1|predictions)\//.test(n));
    expect(baseNames.length).toBeGreaterThan(20);
    let changed = 0;
    for (const name of baseNames) {
      const a = base.get(name);
      const b = tuned.get(name);
      expect(b, name).toBeDefined();
      const layer = name.slice(0, name.indexOf('/'));
      const movingStatistic = /moving_(mean|variance)$/.test(name);
      if (movingStatistic || !(layer.startsWith('conv5_') || layer === 'bn')) {
        // Frozen: conv1..conv4, pools, transitions; and every BN's moving statistics.
        expect(same(a, b), `${name} changed`).toBe(true);
      } else if (!same(a, b)) {
        changed += 1;
      }
    }
    // Every trainable conv5_* / bn weight (kernels, gamma, beta) moved.
    const trainable = baseNames.filter(
      (n) => (n.startsWith('conv5_') || n.startsWith('bn/')) && !/moving_(mean|variance)$/.test(n),
    );
    expect(trainable.length).toBeGreaterThan(4);
    expect(changed).toBe(trainable.length);

    const bundle = await loadBundle(join(dir, 'model'));
    expect(bundle.manifest.format).toBe('onnx');
    expect(bundle.manifest.provenance).toMatchObject({
      settings: { fineTuneEpochs: 1, fineTuneLearningRate: 0.0003, fineTuneBackend: 'cpu' },
      fineTune: { chosen: 'fine-tune', bestEpoch: 1 },
    });
    expect(bundle.manifest.output.thresholds?.[SYNTHETIC_LABEL]).toBe(summary.thresholds[SYNTHETIC_LABEL]);
    // The ONNX export of the fine-tuned classifier scores: a positive above a negative image.
    const probability = async (image: SyntheticImage | undefined): Promise<number> => {
      const predict = await cxrWithEnv(env, 'predict', image!.path, '--model', join(dir, 'model'), '--json');
      expect(predict.code, predict.stderr.slice(-2000)).toBe(0);
      const response = JSON.parse(predict.stdout) as { all_probabilities: Record<string, number> };
      const p = response.all_probabilities[SYNTHETIC_LABEL] ?? NaN;
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThanOrEqual(1);
      return p;
    };
    const positive = await probability(images.find((i) => i.positive));
    const negative = await probability(images.find((i) => !i.positive));
    expect(positive).toBeGreaterThan(negative);
  }, 120_000);
});
