import type { ReaderStudyReport } from './types.js';

/** The report as one self-contained page (inline CSS and SVG, no script). */
export function renderReaderStudyHtml(report: ReaderStudyReport): string {
  throw new Error(`renderReaderStudyHtml: not implemented yet (study ${report.study_id})`);
}
