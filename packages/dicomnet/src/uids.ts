/**
 * What the pipeline's DIMSE services take and ask for: storage SOP classes of the images the
 * model screens (PS3.4 Annex B.5), the Query/Retrieve SOP classes (PS3.4 C.6), and the transfer
 * syntaxes the decoder reads, accepted as sent (no transcoding).
 */
import { TransferSyntax, type TransferSyntaxUid } from '@cxr/dicom';

/** Verification (C-ECHO), PS3.4 A.4. */
export const VERIFICATION_SOP_CLASS = '1.2.840.10008.1.1';

/** Storage SOP classes the C-STORE SCP accepts: chest radiographs and the captures that carry them. */
export const STORAGE_SOP_CLASSES = {
  ComputedRadiography: '1.2.840.10008.5.1.4.1.1.1',
  DigitalXRayForPresentation: '1.2.840.10008.5.1.4.1.1.1.1',
  DigitalXRayForProcessing: '1.2.840.10008.5.1.4.1.1.1.1.1',
  SecondaryCapture: '1.2.840.10008.5.1.4.1.1.7',
  MultiFrameGrayscaleByteSecondaryCapture: '1.2.840.10008.5.1.4.1.1.7.2',
  MultiFrameGrayscaleWordSecondaryCapture: '1.2.840.10008.5.1.4.1.1.7.3',
} as const;

const STORAGE_SOP_CLASS_SET: ReadonlySet<string> = new Set(Object.values(STORAGE_SOP_CLASSES));

/** Whether the SCP takes instances of this SOP class. */
export function isAcceptedStorageSopClass(uid: string): boolean {
  return STORAGE_SOP_CLASS_SET.has(uid);
}

/** Study Root Query/Retrieve Information Model FIND, GET and MOVE (PS3.4 C.6.2). */
export const STUDY_ROOT_FIND = '1.2.840.10008.5.1.4.1.2.2.1';
export const STUDY_ROOT_MOVE = '1.2.840.10008.5.1.4.1.2.2.2';
export const STUDY_ROOT_GET = '1.2.840.10008.5.1.4.1.2.2.3';

/**
 * Transfer syntaxes the decoder reads, in the order the SCP prefers when a proposer offers several
 * in one presentation context: the encapsulated ones first (a sender offering its own compressed
 * syntax beside the uncompressed ones keeps its bytes), then explicit before implicit VR little
 * endian, big endian last.
 */
export const ACCEPTED_TRANSFER_SYNTAXES: readonly TransferSyntaxUid[] = [
  TransferSyntax.JpegLosslessSV1,
  TransferSyntax.JpegLossless,
  TransferSyntax.JpegLsLossless,
  TransferSyntax.Jpeg2000Lossless,
  TransferSyntax.Htj2kLossless,
  TransferSyntax.Htj2kLosslessRpcl,
  TransferSyntax.RleLossless,
  TransferSyntax.JpegLsNearLossless,
  TransferSyntax.Jpeg2000,
  TransferSyntax.Htj2k,
  TransferSyntax.JpegExtended12Bit,
  TransferSyntax.JpegBaseline8Bit,
  TransferSyntax.DeflatedExplicitVRLittleEndian,
  TransferSyntax.ExplicitVRLittleEndian,
  TransferSyntax.ImplicitVRLittleEndian,
  // Retired (PS3.5 A.3); taken when it is all a sender offers.
  TransferSyntax.ExplicitVRBigEndian,
];

/** Uncompressed syntaxes offered for C-FIND and the Q/R contexts (every SCP must take implicit VR). */
export const UNCOMPRESSED_TRANSFER_SYNTAXES: readonly string[] = [
  TransferSyntax.ExplicitVRLittleEndian,
  TransferSyntax.ImplicitVRLittleEndian,
];

/** The syntax the SCP accepts from those proposed in one presentation context, or undefined (none readable). */
export function chooseTransferSyntax(proposed: readonly string[]): string | undefined {
  return ACCEPTED_TRANSFER_SYNTAXES.find((uid) => proposed.includes(uid));
}

/**
 * A DICOM UID (PS3.5 9.1): at most 64 characters of digits and dots, components without leading
 * zeros. Checked before a UID names a stored file: a sender's UID must never be a path.
 */
export function isValidUid(uid: string): boolean {
  return uid.length > 0 && uid.length <= 64 && /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/.test(uid);
}

/** An AE title (PS3.5 6.2): 1-16 characters of the default repertoire, no backslash or control character. */
export function isValidAeTitle(aet: string): boolean {
  return aet.trim().length > 0 && aet.length <= 16 && /^[\x20-\x5b\x5d-\x7e]+$/.test(aet);
}
