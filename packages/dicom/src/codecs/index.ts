import type { FrameCodec } from '../types.js';
import { TransferSyntax, type TransferSyntaxUid } from '../uids.js';
import { decodeHtj2k } from './htj2k.js';
import { decodeJpeg2000 } from './jpeg2000.js';
import { decodeJpegBaseline } from './jpeg-baseline.js';
import { decodeJpegExtended } from './jpeg-extended.js';
import { decodeJpegLossless } from './jpeg-lossless.js';
import { decodeJpegLs } from './jpeg-ls.js';
import { decodeRle } from './rle.js';

/** How a transfer syntax's Pixel Data becomes samples: read in place ('native') or through a codec. */
export type FrameDecoder = FrameCodec | 'native';

/**
 * One entry per supported transfer syntax (PS3.5 Annex A). A Record keyed by the UID union makes
 * the compiler flag a syntax added to uids.ts without a decoder here.
 */
export const FRAME_DECODERS: Readonly<Record<TransferSyntaxUid, FrameDecoder>> = {
  [TransferSyntax.ImplicitVRLittleEndian]: 'native',
  [TransferSyntax.ExplicitVRLittleEndian]: 'native',
  [TransferSyntax.DeflatedExplicitVRLittleEndian]: 'native',
  [TransferSyntax.ExplicitVRBigEndian]: 'native',
  [TransferSyntax.JpegBaseline8Bit]: decodeJpegBaseline,
  [TransferSyntax.JpegExtended12Bit]: decodeJpegExtended,
  [TransferSyntax.JpegLossless]: decodeJpegLossless,
  [TransferSyntax.JpegLosslessSV1]: decodeJpegLossless,
  [TransferSyntax.JpegLsLossless]: decodeJpegLs,
  [TransferSyntax.JpegLsNearLossless]: decodeJpegLs,
  [TransferSyntax.Jpeg2000Lossless]: decodeJpeg2000,
  [TransferSyntax.Jpeg2000]: decodeJpeg2000,
  [TransferSyntax.Htj2kLossless]: decodeHtj2k,
  [TransferSyntax.Htj2kLosslessRpcl]: decodeHtj2k,
  [TransferSyntax.Htj2k]: decodeHtj2k,
  [TransferSyntax.RleLossless]: decodeRle,
};

/** The decoder for a transfer syntax UID. */
export function frameDecoderFor(uid: TransferSyntaxUid): FrameDecoder {
  return FRAME_DECODERS[uid];
}
