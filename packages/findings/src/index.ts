export { FINDINGS_ERROR_CODES, FindingsError, type FindingsErrorCode } from './errors.js';
export { Code, PRIVATE_SCHEME, PROBABILITY_UNIT, type CodedConcept } from './codes.js';
export { CXR_PIPELINE_VERSION, MANUFACTURER, NOT_A_DIAGNOSIS, findingsSeriesDescription } from './dataset.js';
export {
  interpretResult,
  labelConcept,
  type InterpretedResult,
  type LabelFinding,
  type ScreeningResult,
} from './interpret.js';
export {
  ENHANCED_SR_SOP_CLASS_UID,
  buildFindingsReport,
  type FindingsInput,
  type FindingsObject,
} from './report.js';
export { derivedUid, isValidUid, type UidPurpose } from './uids.js';
export {
  SECONDARY_CAPTURE_SOP_CLASS_UID,
  SUMMARY_IMAGE_SIZE,
  buildSummaryImage,
  summaryBanner,
  summaryImageWanted,
} from './summary.js';
