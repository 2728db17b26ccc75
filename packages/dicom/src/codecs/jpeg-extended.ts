// JPEG DCT sequential Huffman (DICOM 1.2.840.10008.1.2.4.51 extended 12-bit; also 8-bit .50
// baseline as a fallback). ITU-T T.81 Annex F; IJG-compatible IDCT, upsampling and colour.
import { DicomRejectedError } from '../errors.js';
import type { CodecOutput, EncodedFrameInfo, FrameCodec, SampleAllocator } from '../types.js';
import { decodeDctImage } from './jpeg/dct.js';
import { decodeLosslessImage } from './jpeg/lossless.js';
import { findFrameProcess } from './jpeg/markers.js';

/**
 * Decodes a JPEG baseline/extended frame (8- or 12-bit). Samples come back interleaved; three
 * components come back as RGB (colorSpace 'RGB'), converted from YCbCr when the stream's markers
 * say YCbCr, as libjpeg does (jpeg/color.ts). A frame that is really lossless (SOF3, a
 * mislabelled transfer syntax) is decoded as such.
 */
export const decodeJpegExtended: FrameCodec = (encoded, info, buffers) => {
  try {
    return Promise.resolve(decodeJpegExtendedSync(encoded, info, buffers));
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
};

/** Synchronous form of decodeJpegExtended, for callers already on a worker thread. */
export function decodeJpegExtendedSync(
  encoded: Uint8Array,
  info: EncodedFrameInfo,
  buffers?: SampleAllocator,
): CodecOutput {
  const process = findFrameProcess(encoded);
  if (process === 3) return decodeLosslessImage(encoded, info, buffers);
  if (process > 1) {
    throw new DicomRejectedError(
      'unsupported_transfer_syntax',
      `JPEG process SOF${process} is not supported`,
    );
  }
  return decodeDctImage(encoded, info, buffers);
}
