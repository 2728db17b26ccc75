/** Why `cxr model import` refused a graph or its arguments; stable codes, one-line messages. */
export const MODEL_IMPORT_ERROR_CODES = [
  /** The file cannot be read or is not an ONNX model. */
  'not_onnx',
  /** The graph is not an image classifier the pipeline can run (inputs, rank, channels, output). */
  'unsupported_graph',
  /** The graph's height and width are dynamic and no size was given. */
  'size_required',
  /** The size given disagrees with the graph's fixed height and width. */
  'size_conflict',
  /** The preset does not fit the graph (e.g. `xrv` for a 3-channel input). */
  'preset_mismatch',
  /** The labels are not usable: unreadable file, duplicates, empty names, wrong count. */
  'labels_invalid',
  /** The output folder already holds files. */
  'out_not_empty',
  /** The written bundle failed its test run (load, output shape or activation range). */
  'check_failed',
] as const;
export type ModelImportErrorCode = (typeof MODEL_IMPORT_ERROR_CODES)[number];

/** An import that cannot go on; the message names the file and the reason on one line. */
export class ModelImportError extends Error {
  override readonly name = 'ModelImportError';
  readonly code: ModelImportErrorCode;

  constructor(code: ModelImportErrorCode, message: string, options?: { cause?: unknown }) {
    super(message.replace(/\s*\n\s*/g, ' '), options);
    this.code = code;
  }
}
