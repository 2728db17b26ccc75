/**
 * `@cxr/evaluation/readers`: the statistics of a reader study (issue 17 §1): per reader and pooled
 * sensitivity, specificity and AUROC per arm, the multi-reader multi-case test of the AI effect
 * (Obuchowski-Rockette with Hillis's df), reading time and decision changes, and the HTML page.
 * Pure: no I/O.
 */
export * from './types.js';
export { ratingOf } from './rating.js';
export { analyzeReaderStudy, ReaderStudyError } from './analyze.js';
export { renderReaderStudyHtml } from './html.js';
export {
  aurocFom,
  dorfmanBerbaumMetz,
  obuchowskiRockette,
  proportionFom,
  type CovarianceMethod,
  type DbmTest,
  type FomValues,
  type OrArm,
  type OrComponents,
  type OrTest,
} from './mrmc.js';
