/**
 * Conversion of a `cxr-results` message into the store's result row. Pure: the service and its
 * tests share it. The Patient ID arrives already hashed by the worker (salted HMAC, see
 * @cxr/store hashPatientId) and is stored as carried; the message schema has no field for a
 * patient name, and the row schema refuses unknown keys, so neither can reach a table.
 */
import { suspicionOf } from '@cxr/model/decision';
import type { ModelManifest } from '@cxr/model/manifest';
import type { ResultMessage } from '@cxr/queue';
import { parseResultRow, type ResultRow } from '@cxr/store';

/**
 * The worklist's sort key of an ok result: suspicionOf under the manifest of the model that
 * scored it. Null for other outcomes, and for results of another model or version than the
 * served manifest (their finding labels are not known here).
 */
export function suspicionFromMessage(
  message: ResultMessage,
  manifest: ModelManifest | undefined,
): number | null {
  if (message.outcome !== 'ok' || manifest === undefined) return null;
  if (message.modelId !== manifest.id || message.modelVersion !== manifest.version) return null;
  return suspicionOf(message.scores, manifest.output) ?? null;
}

/**
 * Builds and validates the store row of one result message; throws InvalidResultRowError. With
 * the served model's manifest, an ok result of that model gets its suspicion.
 */
export function resultRowFromMessage(message: ResultMessage, manifest?: ModelManifest): ResultRow {
  const t = message.technical;
  return parseResultRow({
    runId: message.runId,
    uri: message.uri,
    etag: message.etag ?? null,
    // The message carries no object size (ResultMessage has none).
    sizeBytes: null,
    studyInstanceUid: message.uids.studyInstanceUid ?? null,
    seriesInstanceUid: message.uids.seriesInstanceUid ?? null,
    sopInstanceUid: message.uids.sopInstanceUid ?? null,
    patientIdHash: message.patientIdHash ?? null,
    modality: t.modality ?? null,
    viewPosition: t.viewPosition ?? null,
    manufacturer: t.manufacturer ?? null,
    institution: t.institutionName ?? null,
    photometric: t.photometricInterpretation ?? null,
    transferSyntax: t.transferSyntaxUid ?? null,
    rows: t.rows ?? null,
    columns: t.columns ?? null,
    imageMean: message.features?.imageMean ?? null,
    imageStd: message.features?.imageStd ?? null,
    bitsStored: message.features?.bitsStored ?? null,
    modelId: message.modelId,
    modelVersion: message.modelVersion,
    runtime: message.runtime,
    scores: message.outcome === 'ok' ? message.scores : null,
    decision: message.outcome === 'ok' ? message.decision : null,
    suspicion: suspicionFromMessage(message, manifest),
    outcome: message.outcome,
    reason: message.outcome === 'ok' ? null : message.reason,
    timings: {
      fetch: message.timingsMs.fetch ?? null,
      decode: message.timingsMs.decode ?? null,
      preprocess: message.timingsMs.preprocess ?? null,
      batch_wait: message.timingsMs.batch_wait ?? null,
      infer: message.timingsMs.infer ?? null,
      // The upsert's own duration is only known after the row is written; it goes to the metric.
      store: null,
    },
    enqueuedAt: new Date(message.enqueuedAt).toISOString(),
  });
}
