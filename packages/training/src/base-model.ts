/**
 * The frozen base of `cxr train`: the `--base` bundle's DenseNet up to `avg_pool`, identified by a
 * hash of its weights and input spec (the feature cache key), and exported once to ONNX in the
 * cache folder so that feature extraction runs on the fastest runtime (onnxruntime, on its worker
 * thread, through the same ModelRuntime port and session options as inference).
 */
import { createHash } from 'node:crypto';
import { access } from 'node:fs/promises';
import path from 'node:path';
import {
  DENSENET_FEATURES_LAYER,
  MANIFEST_FILE,
  ONNX_MODEL_FILE,
  denseNetBaseOf,
  exportLayersModelToOnnx,
  loadBundle,
  loadLayersModelFile,
  onnxManifestFrom,
  useCpuBackend,
  writeBundle,
  type ModelBundle,
  type ModelManifest,
} from '@cxr/model';
import { TrainingInputError } from './errors.js';

/** Bumped when what a cached feature vector means changes (preprocessing path, layer). */
const FEATURE_FORMAT = 'features-v1';

export type LayersModel = Awaited<ReturnType<typeof loadLayersModelFile>>;

/** The loaded base: its bundle, the base sub-model, and the features bundle for extraction. */
export interface BaseModel {
  readonly bundle: ModelBundle;
  /** The full model of the base bundle (owns the weights). */
  readonly classifier: LayersModel;
  /** input -> avg_pool, sharing the classifier's layers. */
  readonly base: LayersModel;
  readonly featureDim: number;
  /** Cache key: `<format>-<sha256 of weights + input spec, 32 hex>`. */
  readonly key: string;
  /** An onnx bundle whose "labels" are the feature components (output = the feature vector). */
  readonly featuresBundle: ModelBundle;
}

/** sha256 over the base's weights (name, shape, values, in order) and the manifest input spec. */
export function baseModelKey(base: LayersModel, input: ModelManifest['input']): string {
  const hash = createHash('sha256');
  hash.update(`${FEATURE_FORMAT}\0${DENSENET_FEATURES_LAYER}\0${JSON.stringify(input)}\0`);
  for (const weight of base.weights) {
    const values = weight.read().dataSync();
    hash.update(
      `${weight.originalName.slice(weight.originalName.indexOf('/') + 1)}\0${weight.shape.join('x')}\0`,
    );
    hash.update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  }
  return `${FEATURE_FORMAT}-${hash.digest('hex').slice(0, 32)}`;
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

/** Loads `--base`, derives the cache key and exports (or reuses) the features bundle in `cacheDir`. */
export async function loadBaseModel(baseDir: string, cacheDir: string): Promise<BaseModel> {
  const bundle = await loadBundle(baseDir);
  if (bundle.manifest.format !== 'tfjs-layers') {
    throw new TrainingInputError(
      `--base ${baseDir}: format "${bundle.manifest.format}": training needs a tfjs-layers bundle (its weights are rebuilt into the trained classifier)`,
    );
  }
  await useCpuBackend();
  const classifier = await loadLayersModelFile(bundle.weightPaths[0]!);
  let base: LayersModel;
  try {
    base = denseNetBaseOf(classifier);
  } catch (error) {
    classifier.dispose();
    throw new TrainingInputError(`--base ${baseDir}: ${(error as Error).message}`);
  }
  const featureDim = base.outputs[0]?.shape[1];
  if (typeof featureDim !== 'number') {
    classifier.dispose();
    throw new TrainingInputError(`--base ${baseDir}: ${DENSENET_FEATURES_LAYER} has no static width`);
  }
  const key = baseModelKey(base, bundle.manifest.input);
  const featuresDir = path.join(cacheDir, key, 'onnx-base');
  let featuresBundle: ModelBundle;
  if (await exists(path.join(featuresDir, MANIFEST_FILE))) {
    featuresBundle = await loadBundle(featuresDir);
  } else {
    const result = exportLayersModelToOnnx(base, {
      metadata: { 'cxr.model_id': bundle.manifest.id, 'cxr.model_version': bundle.manifest.version },
    });
    const source = bundle.manifest;
    const manifest: ModelManifest = onnxManifestFrom(
      {
        id: `${source.id}-features`,
        version: source.version,
        architecture: source.architecture,
        format: source.format,
        weights: source.weights,
        input: source.input,
        output: {
          activation: 'none',
          labels: Array.from({ length: featureDim }, (_, i) => `feature_${i}`),
          decision: 'argmax',
        },
        provenance: {
          trainingData: `base of ${source.id}@${source.version} up to ${DENSENET_FEATURES_LAYER}`,
        },
      },
      result,
    );
    featuresBundle = await writeBundle(featuresDir, manifest, { [ONNX_MODEL_FILE]: result.bytes });
  }
  return { bundle, classifier, base, featureDim, key, featuresBundle };
}
