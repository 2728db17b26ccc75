import type { ReaderStudyInput, ReaderStudyReport } from './types.js';

/** Input that cannot be analysed (one line naming the reason). */
export class ReaderStudyError extends Error {
  override readonly name = 'ReaderStudyError';
}

/** The whole reader-study analysis. */
export function analyzeReaderStudy(input: ReaderStudyInput): ReaderStudyReport {
  throw new ReaderStudyError(`analyzeReaderStudy: not implemented yet (study ${input.studyId})`);
}
