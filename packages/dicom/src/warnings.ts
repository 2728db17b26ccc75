/**
 * Why a decode went on despite something unusual in the file. Codes are stable (logs, tests and
 * `cxr dicom decode` print them); each comes with a one-line message of structural facts only,
 * never patient data. A warning never fails a decode: anything that would make a pixel value
 * wrong is a rejection (errors.ts), not a warning.
 */
export const DECODE_WARNINGS = [
  /** A sequential JPEG scan header with spectral selection / approximation values (T.81 B.2.3) libjpeg ignores. */
  'jpeg_sos_parameters_ignored',
  /** The JPEG stream's own colour markers (JFIF, Adobe APP14, component ids) contradict Photometric Interpretation. */
  'jpeg_color_space_from_stream',
  /** Rescale Slope 0 or unparsable: the rescale was applied with slope 1. */
  'rescale_slope_ignored',
  /** A VOI LUT Sequence item without a usable LUT Descriptor / LUT Data was skipped. */
  'voi_lut_unreadable',
] as const;

export type DecodeWarningCode = (typeof DECODE_WARNINGS)[number];

/** One warning: its code and a one-line message. */
export interface DecodeWarning {
  readonly code: DecodeWarningCode;
  readonly message: string;
}

/** A warning with its message folded onto one line. */
export function decodeWarning(code: DecodeWarningCode, message: string): DecodeWarning {
  return { code, message: message.replace(/\s*\n\s*/g, ' ') };
}
