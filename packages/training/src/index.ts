/**
 * `@cxr/training`: training a classifier head (and optionally the last dense block) on the frozen
 * base of a model bundle from labelled DICOMs, as `cxr train` does; a service or a script calls
 * runTrain the same way. Progress goes out as TrainEvents for the caller to render.
 */
export {
  runTrain,
  unmatchedTrainingLines,
  type TrainDeps,
  type TrainSettings,
  type TrainSummary,
} from './run-train.js';
export { DEFAULT_CACHE_DIR } from './defaults.js';
export { TrainingInputError } from './errors.js';
export type { EpochLine, ExtractionProgress, TrainEvent } from './events.js';
export {
  LABEL_KEY_COLUMNS,
  LabelsFileError,
  readLabelsFile,
  type LabelKeyColumn,
  type LabelRow,
  type LabelsFile,
  type ReadLabelsOptions,
} from './labels.js';
export {
  extractTrainingFeatures,
  objectKeyOf,
  patientKeyOf,
  type DriftFacts,
  type ExtractOptions,
  type ExtractionCounts,
  type LabelSource,
  type TrainingImage,
  type UnmatchedTrainingKeys,
} from './extract.js';
export { baseModelKey, loadBaseModel, type BaseModel, type LayersModel } from './base-model.js';
export {
  TFJS_BUNDLE_DIR,
  TRAIN_REPORT_FILE,
  writeTrainedBundles,
  type LabelMetrics,
  type TrainedBundleOptions,
  type ValidationMetrics,
} from './bundle.js';
export { runFineTunePhase, type FineTunePhaseOptions, type FineTuneSettings } from './fine-tune.js';
