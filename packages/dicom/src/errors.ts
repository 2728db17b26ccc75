/**
 * Why a DICOM object cannot be turned into pixels, or must not be scored. These codes are stored
 * with rejected items, exported as the `reason` metric label and printed by the CLI: they are a
 * contract.
 */
export const REJECT_REASONS = [
  'not_dicom',
  'truncated',
  'no_pixel_data',
  'pixel_data_short',
  'unsupported_transfer_syntax',
  'unsupported_photometric',
  'unsupported_pixel_module',
  'corrupt_stream',
  'frame_out_of_range',
  // A readable image the model was not made for (CT, ultrasound, a test pattern...): the model
  // manifest's `accept` rules, checked on the header before any pixel is decoded.
  'not_applicable',
  'nesting_too_deep',
  'image_too_large',
  'object_too_large',
] as const;

export type RejectReason = (typeof REJECT_REASONS)[number];

/**
 * An input the decoder refuses for a reason that retrying cannot fix. The message is one line,
 * names the reason in words and never contains patient data (only structural facts such as
 * transfer syntax UIDs, sizes and tag numbers).
 */
export class DicomRejectedError extends Error {
  override readonly name = 'DicomRejectedError';
  readonly reason: RejectReason;

  constructor(reason: RejectReason, message: string, options?: { cause?: unknown }) {
    super(message.replace(/\s*\n\s*/g, ' '), options);
    this.reason = reason;
  }
}

export function isDicomRejectedError(error: unknown): error is DicomRejectedError {
  return error instanceof DicomRejectedError;
}
