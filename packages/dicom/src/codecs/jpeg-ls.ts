/**
 * JPEG-LS lossless and near-lossless (PS3.5 A.4.3, transfer syntaxes 1.2.840.10008.1.2.4.80 /
 * .81) with the CharLS wasm build. Near-lossless needs nothing special: the NEAR parameter is in
 * the stream's SOF-55/SOS and CharLS reconstructs within +-NEAR of the source.
 */
import type { CodecOutput, EncodedFrameInfo, SampleAllocator } from '../types.js';
import { interleavePlanes, loadCodec, runWasmDecoder, toCodecOutput, type WasmDecoder } from './wasm.js';

const LABEL = 'JPEG-LS';

interface JpegLsDecoder extends WasmDecoder {
  /** 0 = none (planes one after another), 1 = line, 2 = sample (ISO/IEC 14495-1 Annex B). */
  getInterleaveMode(): number;
  getNearLossless(): number;
}

/** Decodes a JPEG-LS frame (.80 lossless, .81 near-lossless) to interleaved samples. */
export async function decodeJpegLs(
  encoded: Uint8Array,
  info: EncodedFrameInfo,
  buffers?: SampleAllocator,
): Promise<CodecOutput> {
  const codec = await loadCodec('charls');
  const decoded = runWasmDecoder(
    codec,
    'JpegLSDecoder',
    LABEL,
    encoded,
    (decoder) => (decoder as JpegLsDecoder).getInterleaveMode(),
    buffers,
  );
  const { frameInfo, bytes, extra: interleaveMode } = decoded;
  // CharLS returns colour data in the stream's own layout; interleave mode "none" is planar.
  if (interleaveMode === 0 && frameInfo.componentCount > 1 && bytes.length > 0) {
    const pixels = frameInfo.width * frameInfo.height;
    const bytesPerSample = frameInfo.bitsPerSample <= 8 ? 1 : 2;
    if (bytes.length === pixels * frameInfo.componentCount * bytesPerSample) {
      const interleaved = interleavePlanes(bytes, pixels, frameInfo.componentCount, bytesPerSample, buffers);
      return toCodecOutput(LABEL, { frameInfo, bytes: interleaved }, info, 'as-stored', buffers);
    }
  }
  // DICOM JPEG-LS streams carry no colour transform (PS3.5 8.2.3 uses Part 1 only), so the
  // samples are in the photometric the header states.
  return toCodecOutput(LABEL, decoded, info, 'as-stored', buffers);
}
