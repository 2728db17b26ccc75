/**
 * Training of the classifier head on cached base features (issue 7): losses, class weights,
 * oversampling, patient-level splits, thresholds, the feature cache and the trainer itself.
 */
export { TRAINING_BACKENDS, type TrainingBackend } from './backend.js';
export {
  classWeightsFor,
  inferActivation,
  type ClassWeightsSetting,
  type HeadActivation,
} from './class-weights.js';
export { FeatureCache, type FeatureCacheStats } from './feature-cache.js';
export {
  assembleClassifier,
  buildHeadModel,
  DEFAULT_DROPOUT,
  DEFAULT_HEAD_UNITS,
  headWeightsOf,
  setHeadWeights,
  type HeadModelOptions,
  type HeadWeights,
} from './head.js';
export {
  fineTune,
  isBetter,
  isFineTunedLayer,
  selectFineTuneBackend,
  type FineTuneBackend,
  type FineTuneData,
  type FineTuneOptions,
  type FineTuneResult,
  type ValidationScore,
} from './fine-tune.js';
export {
  focalLossGradient,
  focalLossValue,
  sigmoidLossTensor,
  softmaxFocalLossValue,
  softmaxLossTensor,
  weightedBceValue,
  type LossKind,
  type LossSpec,
} from './losses.js';
export {
  aurocOf,
  aurocPerLabel,
  sensitivitySpecificity,
  thresholdAtSensitivity,
  thresholdsAtSensitivity,
  type SensitivitySpecificity,
} from './metrics.js';
export { oversampleIndices } from './oversample.js';
export { deriveSeed, mulberry32 } from './random.js';
export { patientSplit, type Split, type SplitCase, type SplitOptions } from './split.js';
export {
  DEFAULT_PATIENCE,
  DEFAULT_TRAINING_BACKEND,
  trainHead,
  validationMetricsOf,
  type EpochReport,
  type LabelEpochMetrics,
  type TrainedHead,
  type TrainHeadOptions,
} from './train-head.js';
