import { buildDenseNetClassifier, DENSENET121_BLOCKS, type DenseNetOptions } from './densenet.js';
import {
  DEFAULT_ACCEPT,
  IMAGENET_NORMALIZATION,
  writeBundle,
  type ModelBundle,
  type ModelFormat,
  type ModelManifest,
  type OutputActivation,
} from './manifest.js';
import { SEED_MODEL_LABELS } from './names.js';
import { exportLayersModelToOnnx } from './onnx/export.js';
import { ONNX_MODEL_FILE, onnxManifestFrom } from './onnx/export-bundle.js';
import { LAYERS_MODEL_FILE, LAYERS_WEIGHTS_FILE, serializeLayersModel, useCpuBackend } from './tfjs-io.js';

export { SEED_MODEL_LABELS };

/** provenance.warning of every seed bundle: `cxr predict` and `cxr screen` print it. */
export const SEED_WEIGHTS_WARNING =
  'weights are random (seeded initialization, never trained): the scores carry no clinical meaning';

export interface InitSeedModelOptions {
  readonly outDir: string;
  /** Input side in pixels; 512 for the seed model. */
  readonly size?: number;
  readonly labels?: readonly string[];
  readonly activation?: OutputActivation;
  readonly seed?: number;
  readonly format?: ModelFormat;
  readonly id?: string;
  readonly version?: string;
  /** Smaller networks for tests; DenseNet121 by default. */
  readonly blocks?: DenseNetOptions['blocks'];
  /** provenance.date; defaults to now (weights never depend on it). */
  readonly date?: Date;
}

/**
 * The seed model's manifest. Single-label (softmax) models decide by argmax; multi-label
 * (sigmoid) models by per-label thresholds; all thresholds start at 0.5 until a validation set
 * sets operating points.
 */
export function seedManifest(
  options: Required<Pick<InitSeedModelOptions, 'size' | 'labels' | 'activation' | 'seed'>> & {
    id: string;
    version: string;
    date: Date;
    blocks: readonly number[];
  },
): ModelManifest {
  const thresholds =
    options.activation === 'none' ? undefined : Object.fromEntries(options.labels.map((l) => [l, 0.5]));
  return {
    id: options.id,
    version: options.version,
    architecture: 'densenet121',
    format: 'tfjs-layers',
    weights: [LAYERS_MODEL_FILE, LAYERS_WEIGHTS_FILE],
    // Written out, so the bundle says which images it is for rather than relying on a default.
    accept: structuredClone(DEFAULT_ACCEPT),
    input: {
      size: options.size,
      channels: 3,
      layout: 'NHWC',
      crop: 'none',
      resize: 'bilinear',
      intensity: { method: 'dicom-window' },
      normalization: {
        method: 'imagenet',
        mean: [...IMAGENET_NORMALIZATION.mean],
        std: [...IMAGENET_NORMALIZATION.std],
      },
    },
    output: {
      activation: options.activation,
      labels: [...options.labels],
      ...(thresholds === undefined ? {} : { thresholds }),
      decision: options.activation === 'sigmoid' ? 'thresholds' : 'argmax',
      // The seed's labels name their no-finding class `normal`.
      ...(options.labels.includes('normal') ? { normalLabel: 'normal' } : {}),
    },
    provenance: {
      warning: SEED_WEIGHTS_WARNING,
      trainingData: 'none: seeded random initialization (no pretrained weights are downloadable here)',
      metrics: {},
      date: options.date.toISOString(),
      seed: options.seed,
      blocks: options.blocks.join('/'),
    },
  };
}

/**
 * Builds the seed DenseNet121 classifier with seeded weights and writes it as a bundle
 * (`cxr model init`). For onnx the tfjs model is built, then exported with an NCHW input.
 */
export async function initSeedModel(options: InitSeedModelOptions): Promise<ModelBundle> {
  const size = options.size ?? 512;
  const labels = options.labels ?? SEED_MODEL_LABELS;
  const activation = options.activation ?? 'softmax';
  const seed = options.seed ?? 0;
  const format = options.format ?? 'onnx';
  const blocks = options.blocks ?? DENSENET121_BLOCKS;
  const manifest = seedManifest({
    size,
    labels,
    activation,
    seed,
    id: options.id ?? 'cxr-seed-densenet121',
    version: options.version ?? `0.0.0-seed.${seed}`,
    date: options.date ?? new Date(),
    blocks,
  });
  await useCpuBackend();
  const model = buildDenseNetClassifier({
    inputSize: size,
    outputs: labels.length,
    activation,
    seed,
    blocks,
  });
  try {
    switch (format) {
      case 'tfjs-layers': {
        const files = await serializeLayersModel(model);
        return await writeBundle(options.outDir, manifest, {
          [LAYERS_MODEL_FILE]: files.modelJson,
          [LAYERS_WEIGHTS_FILE]: files.weightsBin,
        });
      }
      case 'onnx': {
        const result = exportLayersModelToOnnx(model, {
          metadata: { 'cxr.model_id': manifest.id, 'cxr.model_version': manifest.version },
        });
        return await writeBundle(options.outDir, onnxManifestFrom(manifest, result), {
          [ONNX_MODEL_FILE]: result.bytes,
        });
      }
    }
  } finally {
    model.dispose();
  }
}
