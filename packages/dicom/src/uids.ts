/** Transfer syntax UIDs (PS3.5 Section 10 and Annex A) this package reads. */
export const TransferSyntax = {
  ImplicitVRLittleEndian: '1.2.840.10008.1.2',
  ExplicitVRLittleEndian: '1.2.840.10008.1.2.1',
  DeflatedExplicitVRLittleEndian: '1.2.840.10008.1.2.1.99',
  ExplicitVRBigEndian: '1.2.840.10008.1.2.2',
  JpegBaseline8Bit: '1.2.840.10008.1.2.4.50',
  JpegExtended12Bit: '1.2.840.10008.1.2.4.51',
  JpegLossless: '1.2.840.10008.1.2.4.57',
  JpegLosslessSV1: '1.2.840.10008.1.2.4.70',
  JpegLsLossless: '1.2.840.10008.1.2.4.80',
  JpegLsNearLossless: '1.2.840.10008.1.2.4.81',
  Jpeg2000Lossless: '1.2.840.10008.1.2.4.90',
  Jpeg2000: '1.2.840.10008.1.2.4.91',
  Htj2kLossless: '1.2.840.10008.1.2.4.201',
  Htj2kLosslessRpcl: '1.2.840.10008.1.2.4.202',
  Htj2k: '1.2.840.10008.1.2.4.203',
  RleLossless: '1.2.840.10008.1.2.5',
} as const;

export type TransferSyntaxUid = (typeof TransferSyntax)[keyof typeof TransferSyntax];

/** Human-readable names for logs, `cxr dicom inspect` and metric labels. */
export const TRANSFER_SYNTAX_NAMES: Record<TransferSyntaxUid, string> = {
  [TransferSyntax.ImplicitVRLittleEndian]: 'Implicit VR Little Endian',
  [TransferSyntax.ExplicitVRLittleEndian]: 'Explicit VR Little Endian',
  [TransferSyntax.DeflatedExplicitVRLittleEndian]: 'Deflated Explicit VR Little Endian',
  [TransferSyntax.ExplicitVRBigEndian]: 'Explicit VR Big Endian',
  [TransferSyntax.JpegBaseline8Bit]: 'JPEG Baseline (Process 1)',
  [TransferSyntax.JpegExtended12Bit]: 'JPEG Extended (Process 2 & 4)',
  [TransferSyntax.JpegLossless]: 'JPEG Lossless (Process 14)',
  [TransferSyntax.JpegLosslessSV1]: 'JPEG Lossless SV1 (Process 14, Selection Value 1)',
  [TransferSyntax.JpegLsLossless]: 'JPEG-LS Lossless',
  [TransferSyntax.JpegLsNearLossless]: 'JPEG-LS Near-Lossless',
  [TransferSyntax.Jpeg2000Lossless]: 'JPEG 2000 Lossless',
  [TransferSyntax.Jpeg2000]: 'JPEG 2000',
  [TransferSyntax.Htj2kLossless]: 'HTJ2K Lossless',
  [TransferSyntax.Htj2kLosslessRpcl]: 'HTJ2K Lossless RPCL',
  [TransferSyntax.Htj2k]: 'HTJ2K',
  [TransferSyntax.RleLossless]: 'RLE Lossless',
};

export function isKnownTransferSyntax(uid: string): uid is TransferSyntaxUid {
  return Object.hasOwn(TRANSFER_SYNTAX_NAMES, uid);
}

/** Syntaxes whose Pixel Data is encapsulated (PS3.5 A.4): one or more fragments per frame. */
export function isEncapsulated(uid: TransferSyntaxUid): boolean {
  switch (uid) {
    case TransferSyntax.ImplicitVRLittleEndian:
    case TransferSyntax.ExplicitVRLittleEndian:
    case TransferSyntax.DeflatedExplicitVRLittleEndian:
    case TransferSyntax.ExplicitVRBigEndian:
      return false;
    default:
      return true;
  }
}
