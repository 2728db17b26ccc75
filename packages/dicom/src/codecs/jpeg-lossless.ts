// STUB: replaced by the codec implementation. JPEG lossless process 14 / SV1 (TypeScript)
import { DicomRejectedError } from '../errors.js';
import type { CodecOutput, EncodedFrameInfo } from '../types.js';

export function decodeJpegLossless(_encoded: Uint8Array, _info: EncodedFrameInfo): Promise<CodecOutput> {
  return Promise.reject(
    new DicomRejectedError(
      'unsupported_transfer_syntax',
      'JPEG lossless process 14 / SV1 (TypeScript) is not implemented yet',
    ),
  );
}
