/**
 * A study input that cannot be used (a labels file, a label map, predictions, or how they join):
 * the message names the file, the line or column and the reason, never a cell's content (label
 * files sit beside patient data). The command line exits with its usage code (2) on one.
 */
export class StudyInputError extends Error {
  override readonly name: string = 'StudyInputError';
}
