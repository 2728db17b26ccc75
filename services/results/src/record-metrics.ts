/** Metric updates for one stored result (ARCHITECTURE.md, Metrics contract). */
import type { ResultMessage } from '@cxr/queue';
import { FAILURE_REASONS, REJECT_REASON_LABELS, type CxrMetrics, type FailureReason } from '@cxr/metrics';

/** A DICOM reject reason code, as the metrics package types the `reason` label. */
type RejectReason = (typeof REJECT_REASON_LABELS)[number];
type TimedStage = keyof ResultMessage['timingsMs'];
const MESSAGE_STAGES: readonly TimedStage[] = ['fetch', 'decode', 'preprocess', 'batch_wait', 'infer'];

function isRejectReason(reason: string): reason is RejectReason {
  return (REJECT_REASON_LABELS as readonly string[]).includes(reason);
}

function isFailureReason(reason: string): reason is FailureReason {
  return (FAILURE_REASONS as readonly string[]).includes(reason);
}

/**
 * Records one result that is now in the store: outcome and reason counters, the worker's stage
 * timings, the store stage (`storeSeconds`, the upsert of its batch), end-to-end latency and, for
 * ok results, one score observation per label.
 *
 * The `reason` label is a closed set (a free-text reason is where patient data could hide), so a
 * failure reason outside FAILURE_REASONS counts as `internal_error`, and a reject reason outside
 * the DICOM codes counts in cxr_items_total{outcome="rejected"} only. Returns whether the reason
 * was outside the contract, so the caller can log it as a producer bug.
 */
export function recordStoredResult(
  metrics: CxrMetrics,
  message: ResultMessage,
  storedAtMs: number,
  storeSeconds: number,
): { unknownReason: boolean } {
  let unknownReason = false;
  switch (message.outcome) {
    case 'ok':
      metrics.countItem('ok');
      break;
    case 'rejected':
      if (isRejectReason(message.reason)) metrics.countItem('rejected', message.reason);
      else {
        unknownReason = true;
        metrics.metrics.items.inc({ outcome: 'rejected' });
      }
      break;
    case 'failed':
      if (isFailureReason(message.reason)) metrics.countItem('failed', message.reason);
      else {
        unknownReason = true;
        metrics.countItem('failed', 'internal_error');
      }
      break;
  }
  for (const stage of MESSAGE_STAGES) {
    const ms = message.timingsMs[stage];
    if (ms !== undefined) metrics.observeStage(stage, ms / 1000);
  }
  metrics.observeStage('store', storeSeconds);
  // Clocks of different machines: a worker clock ahead of ours would give a negative age.
  metrics.observeEndToEnd(Math.max(0, storedAtMs - message.enqueuedAt) / 1000);
  if (message.outcome === 'ok') {
    for (const [label, score] of Object.entries(message.scores)) {
      // Softmax and sigmoid outputs are in [0, 1]; anything else is not a probability to histogram.
      if (Number.isFinite(score) && score >= 0 && score <= 1) metrics.observeScore(label, score);
    }
  }
  return { unknownReason };
}
