/** Result messages for tests: a deterministic mix of ok, rejected and failed outcomes. */
import type { ResultMessage } from '@cxr/queue';

const BASE = {
  runId: 'run-results-test',
  modelId: 'seed-densenet121',
  modelVersion: '1.0.0',
  runtime: 'onnx',
  technical: {
    modality: 'CR',
    viewPosition: 'PA',
    manufacturer: 'ACME',
    institutionName: 'General Hospital',
    photometricInterpretation: 'MONOCHROME2',
    transferSyntaxUid: '1.2.840.10008.1.2.1',
    rows: 2500,
    columns: 2048,
  },
  attemptsMade: 0,
} as const;

/** Reasons cycled through by `sampleMessages` for rejected and failed items. */
export const REJECT_CYCLE = ['not_dicom', 'truncated', 'unsupported_transfer_syntax'] as const;
export const FAIL_CYCLE = ['fetch_error', 'timeout'] as const;

/** Item i is ok unless i % 5 is 3 (rejected) or 4 (failed). */
export function sampleMessages(
  count: number,
  options: { patientIdHash?: string; enqueuedAt?: number } = {},
): ResultMessage[] {
  const enqueuedAt = options.enqueuedAt ?? Date.now() - 1500;
  return Array.from({ length: count }, (_, i): ResultMessage => {
    const id = String(i).padStart(4, '0');
    const common = {
      ...BASE,
      jobId: `job-${id}`,
      uri: `s3://archive/study-${id}.dcm`,
      etag: `"etag-${id}"`,
      uids: {
        studyInstanceUid: `1.2.826.0.1.3680043.8.498.${i + 1}`,
        seriesInstanceUid: `1.2.826.0.1.3680043.8.498.${i + 1}.1`,
        sopInstanceUid: `1.2.826.0.1.3680043.8.498.${i + 1}.1.1`,
      },
      ...(options.patientIdHash !== undefined ? { patientIdHash: options.patientIdHash } : {}),
      enqueuedAt,
      finishedAt: enqueuedAt + 1000,
    };
    switch (i % 5) {
      case 3:
        return {
          ...common,
          outcome: 'rejected',
          reason: REJECT_CYCLE[i % REJECT_CYCLE.length]!,
          timingsMs: { fetch: 4 },
        };
      case 4:
        return {
          ...common,
          outcome: 'failed',
          reason: FAIL_CYCLE[i % FAIL_CYCLE.length]!,
          timingsMs: {},
          attemptsMade: 4,
        };
      default:
        return {
          ...common,
          outcome: 'ok',
          scores: { normal: 0.7, pneumonia: 0.2, further_evaluation: 0.1 },
          decision: 'normal',
          timingsMs: { fetch: 5, decode: 120, preprocess: 20, batch_wait: 15, infer: 250 },
          features: { imageMean: 1500 + i, imageStd: 300.5, bitsStored: 12 },
        };
    }
  });
}

/** Expected counts of `sampleMessages(count)` per outcome and per reason. */
export function expectedCounts(messages: readonly ResultMessage[]): {
  byOutcome: Record<'ok' | 'rejected' | 'failed', number>;
  byReason: Map<string, number>;
} {
  const byOutcome = { ok: 0, rejected: 0, failed: 0 };
  const byReason = new Map<string, number>();
  for (const m of messages) {
    byOutcome[m.outcome] += 1;
    if (m.outcome !== 'ok') byReason.set(m.reason, (byReason.get(m.reason) ?? 0) + 1);
  }
  return { byOutcome, byReason };
}
