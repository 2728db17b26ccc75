/**
 * JPEG baseline 8-bit (PS3.5 A.4.1, transfer syntax 1.2.840.10008.1.2.4.50; ISO/IEC 10918-1
 * process 1) with the libjpeg-turbo wasm build.
 */
import type { CodecOutput, EncodedFrameInfo, SampleAllocator } from '../types.js';
import { decodeJpegExtendedSync } from './jpeg-extended.js';
import { jpegStreamWarnings, readJpegStreamFacts } from './jpeg/color.js';
import { loadCodec, runWasmDecoder, toCodecOutput } from './wasm.js';

const LABEL = 'JPEG baseline';

/**
 * Whether libjpeg(-turbo) treats a 3-component stream as YCbCr and so converts it to RGB
 * (jpeg/color.ts: JFIF APP0, else Adobe APP14 transform, else component ids). Only markers
 * before the first SOS are read.
 */
export function jpegStreamIsYcbcr(bytes: Uint8Array): boolean {
  return readJpegStreamFacts(bytes).ycbcr;
}

/**
 * Decodes a JPEG baseline frame to 8-bit interleaved samples. Three components come back as RGB
 * whatever Photometric Interpretation says: libjpeg converts them when the stream's markers say
 * YCbCr and leaves them alone when they say RGB (an Adobe APP14 transform 0 in a YBR_FULL_422
 * file is RGB, PS3.5 8.2.1 notwithstanding), and a warning says so when the two disagree.
 */
export async function decodeJpegBaseline(
  encoded: Uint8Array,
  info: EncodedFrameInfo,
  buffers?: SampleAllocator,
): Promise<CodecOutput> {
  const facts = readJpegStreamFacts(encoded);
  const warnings = jpegStreamWarnings(facts, info);
  if (facts.invalidSequentialScan !== undefined || facts.colorEvidence === 'Adobe APP14 unknown transform') {
    // TurboJPEG fails on any libjpeg warning where dcmtk and gdcm decode through it; our port of
    // IJG's decoder (jpeg/dct.ts) decodes these streams to the same samples, and says why.
    return decodeJpegExtendedSync(encoded, info, buffers);
  }
  const codec = await loadCodec('libjpegTurbo');
  const decoded = runWasmDecoder(codec, 'JPEGDecoder', LABEL, encoded, undefined, buffers);
  const output = toCodecOutput(
    LABEL,
    decoded,
    info,
    info.samplesPerPixel === 3 ? 'RGB' : 'as-stored',
    buffers,
  );
  return warnings.length === 0 ? output : { ...output, warnings };
}
