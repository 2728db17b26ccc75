/**
 * De-identified exports (`cxr results export --deidentify`): each row treated as `cxr deidentify`
 * treats the image it describes, with the same keyed session (the same map), so a study's CSV and
 * its de-identified images can be shared together and still join: `uri` becomes the image's output
 * file name and the UIDs its replacement UIDs.
 */
// The light entry point: the session and file names, not the profile table (the worker and the
// results service import this package too).
import { deidentifiedFileName, type DeidSession } from '@cxr/deid/session';
import type { ExportRow } from './export.js';

/**
 * What happens to each exported column, the rule the code below follows and the manual quotes.
 * Every column of the export must be listed here (export-deid.test.ts checks it), so a column
 * added later is not shared before someone decides how.
 */
export const EXPORT_DEIDENTIFICATION: Readonly<Record<string, string>> = {
  uri: "the de-identified file's name (<new SOP Instance UID>.dcm); empty without a SOP Instance UID",
  sop_instance_uid: 'replaced as in the images (kept with retain uids)',
  study_instance_uid: 'replaced as in the images (kept with retain uids)',
  series_instance_uid: 'replaced as in the images (kept with retain uids)',
  patient_id_hash: 'a keyed pseudonym of the hash: one value per patient, not the images’ Patient ID',
  institution: 'removed (kept with retain institution)',
  etag: 'removed: it identifies the original object',
  size_bytes: 'removed: it identifies the original object',
  run_id: 'a keyed pseudonym (a run id holds its start time; kept with retain dates)',
  enqueued_at: 'removed (kept with retain dates)',
  created_at: 'removed (kept with retain dates)',
  updated_at: 'removed (kept with retain dates)',
  delivery_state: 'kept',
  delivery_reason: 'kept',
  delivery_attempts: 'kept',
  delivery_at: 'removed (kept with retain dates)',
  outcome: 'kept',
  reason: 'kept',
  decision: 'kept',
  suspicion: 'kept',
  model_id: 'kept',
  model_version: 'kept',
  modality: 'kept',
  view_position: 'kept',
  manufacturer: 'kept',
  photometric: 'kept',
  transfer_syntax: 'kept',
  rows: 'kept',
  columns: 'kept',
  image_mean: 'kept',
  image_std: 'kept',
  bits_stored: 'kept',
  runtime: 'kept',
  fetch_ms: 'kept',
  decode_ms: 'kept',
  preprocess_ms: 'kept',
  batch_wait_ms: 'kept',
  infer_ms: 'kept',
  store_ms: 'kept',
  'score_<label>': 'kept',
};

/** The row as shared: identifiers replaced or removed by the session's profile (see EXPORT_DEIDENTIFICATION). */
export function deidentifyExportRow(row: ExportRow, session: DeidSession): ExportRow {
  const retain = session.options.retain;
  const uid = (value: string | null): string | null =>
    value === null || retain.includes('uids') ? value : session.uid(value);
  const dates = retain.includes('dates');
  const sopInstanceUid = uid(row.sopInstanceUid);
  const { createdAt, updatedAt, delivery, ...result } = row;
  return {
    ...result,
    uri: sopInstanceUid === null ? '' : deidentifiedFileName(sopInstanceUid),
    sopInstanceUid,
    studyInstanceUid: uid(row.studyInstanceUid),
    seriesInstanceUid: uid(row.seriesInstanceUid),
    patientIdHash: row.patientIdHash === null ? null : session.token('patient-id-hash', row.patientIdHash),
    institution: retain.includes('institution') ? row.institution : null,
    etag: null,
    sizeBytes: null,
    runId: dates ? row.runId : `run-${session.token('run-id', row.runId).toLowerCase()}`,
    enqueuedAt: dates ? row.enqueuedAt : null,
    ...(dates && createdAt !== undefined ? { createdAt } : {}),
    ...(dates && updatedAt !== undefined ? { updatedAt } : {}),
    ...(delivery !== undefined && delivery !== null
      ? { delivery: dates ? delivery : { ...delivery, at: '' } }
      : {}),
  };
}
