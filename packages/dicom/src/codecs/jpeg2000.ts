// STUB: replaced by the codec implementation. JPEG 2000 (OpenJPEG wasm)
import { DicomRejectedError } from '../errors.js';
import type { CodecOutput, EncodedFrameInfo } from '../types.js';

export function decodeJpeg2000(_encoded: Uint8Array, _info: EncodedFrameInfo): Promise<CodecOutput> {
  return Promise.reject(
    new DicomRejectedError('unsupported_transfer_syntax', 'JPEG 2000 (OpenJPEG wasm) is not implemented yet'),
  );
}
