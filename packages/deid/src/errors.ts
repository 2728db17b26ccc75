/**
 * Why an object is not de-identified. These codes are printed by `cxr deidentify` and recorded
 * in its summary: they are a contract. Messages never contain patient data (structure only).
 */
export const DEID_REJECT_REASONS = [
  // From the shared DICOM parser (@cxr/dicom), with the same meaning.
  'not_dicom',
  'truncated',
  'corrupt_stream',
  'nesting_too_deep',
  /** The data set has a structure the rewriter cannot follow (a length past its end, an unknown VR). */
  'malformed',
  /** No SOP Instance UID (0008,0018): the output is named and referenced by it. */
  'no_sop_instance_uid',
  /** A DICOMDIR lists the original files by name and path: build a new one from the output instead. */
  'dicomdir',
  /** Burned In Annotation (0028,0301) is YES and the run rejects such images (`--reject-burned-in`). */
  'burned_in_annotation',
  /** Larger than the object size limit (CXR_MAX_OBJECT_BYTES). */
  'object_too_large',
  /** Another object of the run has the same SOP Instance UID (a copy): only the first is written. */
  'duplicate_sop_instance_uid',
] as const;

export type DeidRejectReason = (typeof DEID_REJECT_REASONS)[number];

/** An object that is not de-identified (and so not written), for a reason retrying cannot fix. */
export class DeidRejectedError extends Error {
  override readonly name = 'DeidRejectedError';
  readonly reason: DeidRejectReason;

  constructor(reason: DeidRejectReason, message: string, options?: { cause?: unknown }) {
    super(message.replace(/\s*\n\s*/g, ' '), options);
    this.reason = reason;
  }
}

export function isDeidRejectedError(error: unknown): error is DeidRejectedError {
  return error instanceof DeidRejectedError;
}
