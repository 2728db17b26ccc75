// STUB: replaced by the codec implementation. HTJ2K (OpenJPH wasm)
import { DicomRejectedError } from '../errors.js';
import type { CodecOutput, EncodedFrameInfo } from '../types.js';

export function decodeHtj2k(_encoded: Uint8Array, _info: EncodedFrameInfo): Promise<CodecOutput> {
  return Promise.reject(
    new DicomRejectedError('unsupported_transfer_syntax', 'HTJ2K (OpenJPH wasm) is not implemented yet'),
  );
}
