/**
 * `@cxr/evaluation/study`: the I/O side of a retrospective study (readers of predictions and
 * labels, the join, runEvaluation and the report files). The package root stays pure statistics.
 */
export { StudyInputError } from './errors.js';
export {
  LABEL_KEY_KINDS,
  LabelsError,
  NIH_FINDINGS_COLUMN,
  NIH_IMAGE_COLUMN,
  NIH_NO_FINDING,
  readLabelMap,
  NIH_FINDINGS,
  readLabelsFile,
  type LabelKeyKind,
  type LabelMap,
  type LabelRow,
  type LabelsTable,
  type LabelValue,
  type ReadLabelsOptions,
} from './labels.js';
export { PREDICTION_TAGS, type PredictionTag } from '../names.js';
export {
  PredictionsError,
  detectPredictionsFormat,
  readPredictionsFile,
  readStorePredictions,
  type PredictionRow,
  type Predictions,
  type PredictionsFormat,
} from './predictions.js';
export {
  JoinError,
  joinPredictionsAndLabels,
  type JoinCounts,
  type JoinOptions,
  type JoinResult,
  type JoinedCase,
} from './join.js';
export {
  runEvaluation,
  unmatchedKeyLines,
  writeStudyReport,
  type StudyModel,
  type StudyOptions,
  type StudyPredictions,
  type StudyResult,
} from './run.js';
