export {
  ACTIVATIONS,
  ARCHITECTURES,
  DECISION_RULES,
  DEFAULT_ACCEPT,
  IMAGENET_NORMALIZATION,
  INPUT_LAYOUTS,
  MANIFEST_FILE,
  MANIFEST_RESIZE_FILTERS,
  MODEL_BUNDLE_ERROR_CODES,
  MODEL_FORMATS,
  ModelBundleError,
  acceptRulesOf,
  loadBundle,
  modelManifestSchema,
  parseManifest,
  readManifest,
  writeBundle,
  type InputLayout,
  type ManifestAccept,
  type ManifestInput,
  type ManifestOutput,
  type ModelBundle,
  type ModelBundleErrorCode,
  type ModelFormat,
  type ModelManifest,
  type OutputActivation,
} from './manifest.js';
export {
  DENSENET121_BASE_PARAMETERS,
  DENSENET121_BLOCKS,
  DENSENET_FEATURES_LAYER,
  DENSENET_GROWTH_RATE,
  buildDenseNetBase,
  buildDenseNetClassifier,
  countParameters,
  denseNetBaseOf,
  type DenseNetClassifierOptions,
  type DenseNetOptions,
} from './densenet.js';
export {
  LAYERS_MODEL_FILE,
  LAYERS_WEIGHTS_FILE,
  countLayersModelParameters,
  deserializeLayersModel,
  loadLayersModelFile,
  saveLayersModel,
  serializeLayersModel,
  useCpuBackend,
  type LayersModelFiles,
} from './tfjs-io.js';
export {
  ONNX_INPUT_NAME,
  ONNX_OUTPUT_NAME,
  exportLayersModelToOnnx,
  type OnnxExportOptions,
  type OnnxExportResult,
} from './onnx/export.js';
export { ONNX_MODEL_FILE, exportBundleToOnnx, onnxManifestFrom } from './onnx/export-bundle.js';
export {
  ONNX_IR_VERSION,
  ONNX_OPSET_VERSION,
  countOnnxParameters,
  graphInputs,
  readOnnxSummary,
  type OnnxNodeSummary,
  type OnnxSummary,
  type OnnxValueInfoSummary,
} from './onnx/proto.js';
export { MODEL_IMPORT_ERROR_CODES, ModelImportError, type ModelImportErrorCode } from './import/errors.js';
export {
  DENSENET121_CONVOLUTIONS,
  architectureDoubt,
  describeClassifierGraph,
  finalActivation,
  type ClassifierGraph,
} from './import/graph.js';
export {
  IMPORT_PRESETS,
  XRV_PATHOLOGIES,
  defaultPreset,
  presetInput,
  presetLabels,
  presetRecipe,
  type ImportPreset,
} from './import/presets.js';
export {
  checkLabelNames,
  parseLabelsText,
  readLabelsOption,
  resolveImportLabels,
  type ImportLabels,
} from './import/labels.js';
export {
  checkImportedScores,
  importOnnxModel,
  importedManifest,
  importedModelId,
  type ImportCheck,
  type ImportOnnxModelOptions,
  type ImportSource,
  type ImportTestInput,
  type ImportedModel,
} from './import/import.js';
export {
  SEED_MODEL_LABELS,
  SEED_WEIGHTS_WARNING,
  initSeedModel,
  seedManifest,
  type InitSeedModelOptions,
} from './init.js';
export { describeBundle, type BundleDescription } from './describe.js';
export * from './runtime/index.js';
export { NEGATIVE_DIAGNOSIS, decide, type Decision } from './decision.js';
export { predictionResponse, roundMs, type PredictionParts, type PredictionResponse } from './prediction.js';
