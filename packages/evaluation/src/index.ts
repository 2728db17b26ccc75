export * from './report.js';
export { CI_METHODS, PREDICTION_TAGS, type CiMethod, type PredictionTag } from './names.js';
export { evaluate, DEFAULT_SETTINGS, MISSING_GROUP } from './evaluate.js';
export type { EvaluationCase, EvaluationInput, EvaluationSettings } from './evaluate.js';
export {
  auroc,
  bootstrapAuroc,
  delong,
  delongInterval,
  delongTest,
  delongVariance,
  erfc,
  quantile,
} from './auroc.js';
export type { BootstrapOptions, DelongResult, DelongTest } from './auroc.js';
export { Z_95, ratio, wilson } from './proportion.js';
export { confusionAt, operatingPoint, thresholdForSensitivity, youden } from './operating.js';
export { averagePrecision, downsample, prCurve, rocCurve, scoreHistogram } from './curves.js';
export type { PrPoint, RocPoint } from './curves.js';
export {
  LOGIT_EPSILON,
  brierScore,
  calibration,
  equalMassBins,
  equalWidthBins,
  expectedCalibrationError,
  isProbability,
  recalibrationFit,
} from './calibration.js';
export type { RecalibrationFit } from './calibration.js';
export { argmax, multiclassReport } from './multiclass.js';
export { countAtLeast, lowerBound, nextUp, sortClasses, thresholdTable, upperBound } from './ranking.js';
export type { SortedClasses, ThresholdTable } from './ranking.js';
export { mulberry32 } from './random.js';
