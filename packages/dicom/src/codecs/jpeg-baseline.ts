// STUB: replaced by the codec implementation. JPEG baseline 8-bit (libjpeg-turbo wasm)
import { DicomRejectedError } from '../errors.js';
import type { CodecOutput, EncodedFrameInfo } from '../types.js';

export function decodeJpegBaseline(_encoded: Uint8Array, _info: EncodedFrameInfo): Promise<CodecOutput> {
  return Promise.reject(
    new DicomRejectedError(
      'unsupported_transfer_syntax',
      'JPEG baseline 8-bit (libjpeg-turbo wasm) is not implemented yet',
    ),
  );
}
