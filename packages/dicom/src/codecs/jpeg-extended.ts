// STUB: replaced by the codec implementation. JPEG extended 12-bit DCT (TypeScript)
import { DicomRejectedError } from '../errors.js';
import type { CodecOutput, EncodedFrameInfo } from '../types.js';

export function decodeJpegExtended(_encoded: Uint8Array, _info: EncodedFrameInfo): Promise<CodecOutput> {
  return Promise.reject(
    new DicomRejectedError(
      'unsupported_transfer_syntax',
      'JPEG extended 12-bit DCT (TypeScript) is not implemented yet',
    ),
  );
}
