export * from './errors.js';
export * from './warnings.js';
export * from './types.js';
export * from './uids.js';
export * from './lut.js';
export * from './tags.js';
export { allocateSamples, FrameBufferCache, type FrameBufferCacheOptions } from './buffers.js';
export {
  DICOM_PREFIX_BYTES,
  MAX_SEQUENCE_DEPTH,
  checkDicomPrefix,
  parseDicomBytes,
  type ParsedDicom,
} from './parse.js';
export {
  applyPalette,
  extractFloatFrame,
  extractNativeFrame,
  interleavePlanes,
  maskHighBits,
  nativePixelDataLength,
  normalizeStoredValues,
  storedSamplesPerFrame,
  toDecodedFrame,
  ybrFullToRgb,
  type NativeLayout,
} from './pixels.js';
export {
  DEFAULT_MAX_IMAGE_PIXELS,
  decodeFrame,
  readDicomInfo,
  type DecodeFrameOptions,
  type DecodeFrameResult,
} from './decode.js';
export { FRAME_DECODERS, frameDecoderFor, type FrameDecoder } from './codecs/index.js';
export { decodeRle, decodeRleSync } from './codecs/rle.js';
