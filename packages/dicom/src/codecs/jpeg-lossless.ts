// JPEG lossless process 14 (DICOM 1.2.840.10008.1.2.4.57 and .70 SV1; ITU-T T.81 Annex H).
import { DicomRejectedError } from '../errors.js';
import type { CodecOutput, EncodedFrameInfo, FrameCodec, SampleAllocator } from '../types.js';
import { decodeDctImage } from './jpeg/dct.js';
import { decodeLosslessImage } from './jpeg/lossless.js';
import { findFrameProcess } from './jpeg/markers.js';

/**
 * Decodes a JPEG lossless frame to interleaved samples (Uint16Array above 8 bits, Int16Array over
 * the same bits when Pixel Representation is 1, else Uint8Array), colour 'as-stored'. A frame
 * that is really DCT-coded (a mislabelled transfer syntax, seen in archives) is decoded as such.
 */
export const decodeJpegLossless: FrameCodec = (encoded, info, buffers) => {
  try {
    return Promise.resolve(decodeJpegLosslessSync(encoded, info, buffers));
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
};

/** Synchronous form of decodeJpegLossless, for callers already on a worker thread. */
export function decodeJpegLosslessSync(
  encoded: Uint8Array,
  info: EncodedFrameInfo,
  buffers?: SampleAllocator,
): CodecOutput {
  const process = findFrameProcess(encoded);
  if (process === 0 || process === 1) return decodeDctImage(encoded, info, buffers);
  if (process >= 0 && process !== 3) {
    throw new DicomRejectedError(
      'unsupported_transfer_syntax',
      `JPEG process SOF${process} is not supported`,
    );
  }
  return decodeLosslessImage(encoded, info, buffers);
}
