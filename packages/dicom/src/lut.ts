// Grayscale and colour display pipeline (PS3.4 Annex N, PS3.3 C.11): see lut/*.ts.
export { applyModalityLut } from './lut/modality.js';
export {
  applyVoiTable,
  applyWindow,
  invertMonochrome1,
  isValidLookupTable,
  isValidWindow,
  selectVoiWindow,
  selectVoiWindowIndex,
  type OutputRange,
  type WindowPreference,
} from './lut/voi.js';
export {
  APPROXIMATE_HISTOGRAM_BINS,
  EXACT_HISTOGRAM_MAX_BINS,
  minMaxRange,
  minMaxWindow,
  percentileRange,
  percentileWindow,
  windowFromRange,
  type ValueRange,
} from './lut/statistics.js';
export {
  renderMonochromeShrunk,
  renderToDisplay,
  type DisplayImage,
  type FrameRegion,
  type ShrunkDisplayImage,
  type RenderInfo,
  type RenderOptions,
  type StatisticalReason,
  type StatisticalVoi,
  type VoiChoice,
  type VoiUsed,
} from './lut/render.js';
