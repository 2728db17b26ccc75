/**
 * The output of `cxr train`: the trained classifier (base + head) as two bundles with one
 * manifest content: `--out` is the ONNX bundle (what `cxr screen` / `cxr predict` / the workers
 * load, fastest runtime) and `--out/tfjs-layers` the tfjs-layers bundle (the input of a further
 * `cxr train --base`). The manifest carries the labels, the thresholds chosen on validation, the
 * drift reference of the validation set and the provenance of the training.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DriftReferenceBuilder } from '@cxr/metrics';
import {
  LAYERS_MODEL_FILE,
  LAYERS_WEIGHTS_FILE,
  ONNX_MODEL_FILE,
  acceptRulesOf,
  exportLayersModelToOnnx,
  onnxManifestFrom,
  serializeLayersModel,
  writeBundle,
  type ModelManifest,
} from '@cxr/model';
import { assembleClassifier, type HeadActivation, type TrainedHead } from '@cxr/model/train';
import type { BaseModel } from './base-model.js';
import type { TrainingImage } from './extract.js';

/** Sub-folder of --out holding the tfjs-layers bundle. */
export const TFJS_BUNDLE_DIR = 'tfjs-layers';
/** The training report next to the manifest (history, counts, split). */
export const TRAIN_REPORT_FILE = 'train-report.json';

export interface LabelMetrics {
  readonly auroc: number | null;
  readonly sensitivity: number | null;
  readonly specificity: number | null;
}

/** Validation metrics of the kept epoch; sensitivity/specificity at the chosen thresholds. */
export interface ValidationMetrics {
  readonly meanAuroc: number | null;
  readonly perLabel: Readonly<Record<string, LabelMetrics>>;
}

export interface TrainedBundleOptions {
  readonly outDir: string;
  readonly base: BaseModel;
  readonly head: TrainedHead;
  readonly activation: HeadActivation;
  readonly labelNames: readonly string[];
  readonly thresholds: Readonly<Record<string, number>>;
  readonly id: string;
  readonly version: string;
  /** Run id of the training (the drift reference's source.runId). */
  readonly runId: string;
  readonly date: Date;
  /** Validation images, in the order of head.validationScores' rows. */
  readonly validationImages: readonly TrainingImage[];
  readonly validationMetrics: ValidationMetrics;
  /** Extra provenance members (data hash, settings, split, ...). */
  readonly provenance: Readonly<Record<string, unknown>>;
}

/** provenance.metrics: finite numbers only (the schema's record). */
function flatMetrics(m: ValidationMetrics, bestEpoch: number): Record<string, number> {
  const out: Record<string, number> = { best_epoch: bestEpoch };
  if (m.meanAuroc !== null) out.val_mean_auroc = m.meanAuroc;
  for (const [label, v] of Object.entries(m.perLabel)) {
    if (v.auroc !== null) out[`val_auroc_${label}`] = v.auroc;
    if (v.sensitivity !== null) out[`val_sensitivity_${label}`] = v.sensitivity;
    if (v.specificity !== null) out[`val_specificity_${label}`] = v.specificity;
  }
  return out;
}

/** The drift reference of the validation set: the head's scores and the images' input features. */
function validationReference(options: TrainedBundleOptions): ModelManifest['reference'] {
  const { labelNames, head, validationImages } = options;
  const outputs = labelNames.length;
  const builder = new DriftReferenceBuilder({
    labels: labelNames,
    scoreBins: 'unit',
    source: {
      kind: 'run',
      runId: options.runId,
      modelId: options.id,
      modelVersion: options.version,
      computedAt: options.date.toISOString(),
    },
  });
  validationImages.forEach((image, i) => {
    const scores = Object.fromEntries(labelNames.map((l, k) => [l, head.validationScores[i * outputs + k]!]));
    const d = image.drift;
    builder.add({
      scores,
      positives: [],
      numeric: {
        image_mean: d.imageMean,
        image_std: d.imageStd,
        rows: d.rows,
        columns: d.columns,
        bits_stored: d.bitsStored,
      },
      categorical: {
        manufacturer: d.manufacturer ?? null,
        modality: d.modality ?? null,
        view_position: d.viewPosition ?? null,
        photometric_interpretation: d.photometricInterpretation,
        transfer_syntax: d.transferSyntaxUid,
      },
    });
  });
  return builder.build() as ModelManifest['reference'];
}

/** Writes both bundles; returns their folders and a writer for the training report. */
export async function writeTrainedBundles(options: TrainedBundleOptions): Promise<{
  onnxDir: string;
  tfjsDir: string;
  writeReport: (report: unknown) => Promise<void>;
}> {
  const { base, head, activation } = options;
  const source = base.bundle.manifest;
  const manifest: ModelManifest = {
    id: options.id,
    version: options.version,
    architecture: source.architecture,
    format: 'tfjs-layers',
    weights: [LAYERS_MODEL_FILE, LAYERS_WEIGHTS_FILE],
    // Trained on the images the base accepts, so it applies to those and no others.
    accept: acceptRulesOf(source),
    input: source.input,
    output: {
      activation,
      labels: [...options.labelNames],
      thresholds: { ...options.thresholds },
      // Multi-label models decide per label at its threshold; single-label ones by argmax (the
      // thresholds are then the operating points reported per label).
      decision: activation === 'sigmoid' ? 'thresholds' : 'argmax',
    },
    reference: validationReference(options),
    provenance: {
      ...options.provenance,
      metrics: flatMetrics(options.validationMetrics, head.bestEpoch),
      date: options.date.toISOString(),
    },
  };
  const classifier = assembleClassifier(base.base, head.weights, activation);
  const tfjsDir = path.join(options.outDir, TFJS_BUNDLE_DIR);
  const files = await serializeLayersModel(classifier);
  await writeBundle(tfjsDir, manifest, {
    [LAYERS_MODEL_FILE]: files.modelJson,
    [LAYERS_WEIGHTS_FILE]: files.weightsBin,
  });
  const exported = exportLayersModelToOnnx(classifier, {
    metadata: { 'cxr.model_id': manifest.id, 'cxr.model_version': manifest.version },
  });
  if (exported.finalActivation !== activation) {
    throw new Error(`onnx export: the graph applies "${exported.finalActivation}", the head "${activation}"`);
  }
  await writeBundle(options.outDir, onnxManifestFrom(manifest, exported), {
    [ONNX_MODEL_FILE]: exported.bytes,
  });
  return {
    onnxDir: options.outDir,
    tfjsDir,
    writeReport: (report) =>
      writeFile(path.join(options.outDir, TRAIN_REPORT_FILE), `${JSON.stringify(report, null, 2)}\n`),
  };
}
