/** Why no findings object could be built for a result; stable codes for the delivery queue. */
export const FINDINGS_ERROR_CODES = [
  /** The source bytes are not a readable DICOM Part 10 object. */
  'source_unreadable',
  /** The source lacks a UID the report must reference (Study, Series, SOP Instance, SOP Class). */
  'source_missing_uid',
  /** The result is not `ok` (rejected and failed results have no findings). */
  'result_not_ok',
  /** The result was produced by another model id/version than the manifest describes. */
  'model_mismatch',
  /** The result's scores are not one finite number per manifest label. */
  'scores_mismatch',
  /** The stored decision differs from the manifest's decision rule applied to the scores. */
  'decision_mismatch',
  /** A label or code cannot be encoded in DICOM (too long, or a backslash/control character). */
  'unencodable_label',
  /** The source's pixels could not be decoded or rendered (summary image only). */
  'source_undecodable',
] as const;
export type FindingsErrorCode = (typeof FINDINGS_ERROR_CODES)[number];

/**
 * A findings object that cannot be built. The message is one line, names the reason and never
 * quotes a patient attribute (it names attributes, not their values); the caller adds which job.
 */
export class FindingsError extends Error {
  override readonly name = 'FindingsError';
  readonly code: FindingsErrorCode;

  constructor(code: FindingsErrorCode, message: string, options?: { cause?: unknown }) {
    super(message.replace(/\s*\n\s*/g, ' '), options);
    this.code = code;
  }
}
