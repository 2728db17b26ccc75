/**
 * The fixed choices of model bundles, in a module that imports nothing: the command line lists them
 * in its help without loading the manifest schema, tfjs or onnxruntime.
 */

export const MODEL_FORMATS = ['onnx', 'tfjs-layers'] as const;
export type ModelFormat = (typeof MODEL_FORMATS)[number];

export const ACTIVATIONS = ['softmax', 'sigmoid', 'none'] as const;
export type OutputActivation = (typeof ACTIVATIONS)[number];

/** The seed model's labels (`cxr model init`). */
export const SEED_MODEL_LABELS = ['normal', 'pneumonia', 'further_evaluation'] as const;

/** Preprocessing recipes of `cxr model import` (import/presets.ts). */
export const IMPORT_PRESETS = ['xrv', 'imagenet'] as const;
export type ImportPreset = (typeof IMPORT_PRESETS)[number];
