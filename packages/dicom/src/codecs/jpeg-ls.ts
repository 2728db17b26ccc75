// STUB: replaced by the codec implementation. JPEG-LS lossless and near-lossless (CharLS wasm)
import { DicomRejectedError } from '../errors.js';
import type { CodecOutput, EncodedFrameInfo } from '../types.js';

export function decodeJpegLs(_encoded: Uint8Array, _info: EncodedFrameInfo): Promise<CodecOutput> {
  return Promise.reject(
    new DicomRejectedError(
      'unsupported_transfer_syntax',
      'JPEG-LS lossless and near-lossless (CharLS wasm) is not implemented yet',
    ),
  );
}
