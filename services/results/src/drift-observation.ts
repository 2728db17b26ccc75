/**
 * What drift monitoring reads from a stored result row: one definition shared by the results
 * service's windows and by `cxr model reference`, so the reference and the windows bin the very
 * same values. Pure.
 */
import type { DriftObservation } from '@cxr/metrics';
import { decide } from '@cxr/model/decision';
import type { ManifestOutput } from '@cxr/model/manifest';
import type { ResultRow } from '@cxr/store';

/**
 * The drift observation of an ok row, or undefined for a row without scores. `positives` applies
 * the manifest's decision rule (thresholds or argmax) to the scores in label order; a row missing
 * a label's score has no positives.
 */
export function driftObservation(row: ResultRow, output: ManifestOutput): DriftObservation | undefined {
  if (row.outcome !== 'ok' || row.scores === null) return undefined;
  const scores = row.scores;
  const ordered = output.labels.map((label) => scores[label]);
  const positives = ordered.every((s): s is number => s !== undefined && Number.isFinite(s))
    ? [...decide(ordered, output).positives]
    : [];
  return {
    scores,
    positives,
    numeric: {
      image_mean: row.imageMean,
      image_std: row.imageStd,
      rows: row.rows,
      columns: row.columns,
      bits_stored: row.bitsStored,
    },
    categorical: {
      manufacturer: row.manufacturer,
      modality: row.modality,
      view_position: row.viewPosition,
      photometric_interpretation: row.photometric,
      transfer_syntax: row.transferSyntax,
    },
  };
}
