// STUB: replaced by the codec implementation. RLE lossless (PS3.5 Annex G)
import { DicomRejectedError } from '../errors.js';
import type { CodecOutput, EncodedFrameInfo } from '../types.js';

export function decodeRle(_encoded: Uint8Array, _info: EncodedFrameInfo): Promise<CodecOutput> {
  return Promise.reject(
    new DicomRejectedError(
      'unsupported_transfer_syntax',
      'RLE lossless (PS3.5 Annex G) is not implemented yet',
    ),
  );
}
