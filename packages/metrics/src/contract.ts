import { REJECT_REASONS, type RejectReason } from '@cxr/dicom/errors';

/**
 * The metric contract of ARCHITECTURE.md ("Metrics (contract)"): names, types and label names.
 * Grafana dashboards and Prometheus alert rules in infra/ use exactly these names; tests check them
 * against this table, and createMetrics builds every metric from it.
 */
export const METRIC_CONTRACT = {
  cxr_ingest_enqueued_total: { type: 'counter', labelNames: ['source'] },
  cxr_ingest_duplicates_total: { type: 'counter', labelNames: ['source'] },
  cxr_queue_jobs: { type: 'gauge', labelNames: ['queue', 'state'] },
  cxr_queue_oldest_waiting_age_seconds: { type: 'gauge', labelNames: ['queue'] },
  cxr_stage_duration_seconds: { type: 'histogram', labelNames: ['stage'] },
  cxr_batch_size: { type: 'histogram', labelNames: [] },
  cxr_inference_batch_duration_seconds: { type: 'histogram', labelNames: ['runtime'] },
  cxr_items_total: { type: 'counter', labelNames: ['outcome'] },
  cxr_rejected_total: { type: 'counter', labelNames: ['reason'] },
  cxr_end_to_end_seconds: { type: 'histogram', labelNames: [] },
  cxr_prediction_score: { type: 'histogram', labelNames: ['label'] },
  cxr_positive_rate: { type: 'gauge', labelNames: ['label'] },
  cxr_prediction_drift_psi: { type: 'gauge', labelNames: ['label'] },
  cxr_prediction_drift_js: { type: 'gauge', labelNames: ['label'] },
  cxr_input_drift_psi: { type: 'gauge', labelNames: ['feature'] },
  cxr_model_info: { type: 'gauge', labelNames: ['model', 'version', 'runtime'] },
  cxr_store_up: { type: 'gauge', labelNames: [] },
  cxr_store_write_errors_total: { type: 'counter', labelNames: [] },
  cxr_pacs_requests_total: { type: 'counter', labelNames: ['operation', 'status_class'] },
  cxr_pacs_request_duration_seconds: { type: 'histogram', labelNames: ['operation'] },
  cxr_pacs_throttled_total: { type: 'counter', labelNames: ['reason'] },
  cxr_scp_associations_total: { type: 'counter', labelNames: ['result'] },
  cxr_scp_instances_received_total: { type: 'counter', labelNames: ['outcome'] },
  cxr_findings_delivered_total: { type: 'counter', labelNames: ['outcome'] },
  cxr_findings_delivery_lag_seconds: { type: 'histogram', labelNames: [] },
} as const satisfies Record<
  string,
  { type: 'counter' | 'gauge' | 'histogram'; labelNames: readonly string[] }
>;

/** A metric name of the contract. */
export type MetricName = keyof typeof METRIC_CONTRACT;

/** Every metric name of the contract, in ARCHITECTURE.md order. */
export const METRIC_NAMES = Object.keys(METRIC_CONTRACT) as readonly MetricName[];

/** Pipeline stages timed by cxr_stage_duration_seconds{stage}. */
export const STAGES = ['fetch', 'decode', 'preprocess', 'batch_wait', 'infer', 'store'] as const;
export type Stage = (typeof STAGES)[number];

/** Final outcome of one item (cxr_items_total{outcome}). */
export const OUTCOMES = ['ok', 'rejected', 'failed'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/**
 * Why an item failed after its retries (transient faults, as opposed to RejectReason, which is a
 * property of the input). These share cxr_rejected_total{reason} with the RejectReason codes so
 * one panel shows every reason an item did not produce a result; the codes do not overlap.
 */
export const FAILURE_REASONS = [
  'fetch_error',
  'timeout',
  'inference_error',
  'store_error',
  'retries_exhausted',
  'internal_error',
] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

/**
 * The RejectReason codes of @cxr/dicom. Imported from its `errors` subpath, which loads no codec,
 * so that importing the metrics stays cheap.
 */
export const REJECT_REASON_LABELS: readonly RejectReason[] = REJECT_REASONS;

/** Any value of the `reason` label. */
export type ItemReason = RejectReason | FailureReason;

/**
 * Requests to a PACS, the `operation` label of cxr_pacs_requests_total and
 * cxr_pacs_request_duration_seconds: DICOMweb (QIDO-RS search, WADO-RS retrieve, STOW-RS store)
 * and DIMSE (C-ECHO, C-FIND, C-GET, C-MOVE, C-STORE as a client).
 */
export const PACS_OPERATIONS = [
  'qido',
  'wado',
  'stow',
  'c_echo',
  'c_find',
  'c_get',
  'c_move',
  'c_store',
] as const;
export type PacsOperation = (typeof PACS_OPERATIONS)[number];

/**
 * How a PACS request ended, the `status_class` label: the HTTP status class for DICOMweb; for
 * DIMSE `success`, `warning` (e.g. C-STORE 0xB000), `failure` (a failure status), `refused`
 * (association rejected or aborted by the peer); for both `network` (connection refused, reset,
 * TLS) and `timeout` (no answer in time).
 */
export const PACS_STATUS_CLASSES = [
  '2xx',
  '3xx',
  '4xx',
  '5xx',
  'success',
  'warning',
  'failure',
  'refused',
  'network',
  'timeout',
] as const;
export type PacsStatusClass = (typeof PACS_STATUS_CLASSES)[number];

/**
 * Why a PACS request waited, cxr_pacs_throttled_total{reason}: the shared request budget
 * (`concurrency` or `rate`, kept in Redis for all workers) or the PACS itself asking to slow down
 * (HTTP 429 or 503, `Retry-After` honoured).
 */
export const PACS_THROTTLE_REASONS = ['concurrency', 'rate', 'pacs_429', 'pacs_503'] as const;
export type PacsThrottleReason = (typeof PACS_THROTTLE_REASONS)[number];

/** Associations offered to the C-STORE SCP, cxr_scp_associations_total{result}. */
export const SCP_ASSOCIATION_RESULTS = ['accepted', 'rejected', 'aborted'] as const;
export type ScpAssociationResult = (typeof SCP_ASSOCIATION_RESULTS)[number];

/**
 * Instances sent to the C-STORE SCP, cxr_scp_instances_received_total{outcome}: `stored` (written
 * durably and enqueued before the success response), `refused` (an SOP class or transfer syntax
 * the SCP does not take), `failed` (storage or queue error: the sender got a failure status).
 */
export const SCP_INSTANCE_OUTCOMES = ['stored', 'refused', 'failed'] as const;
export type ScpInstanceOutcome = (typeof SCP_INSTANCE_OUTCOMES)[number];

/**
 * Delivery attempts of findings (DICOM SR) to a PACS, cxr_findings_delivered_total{outcome}:
 * `sent` (the PACS stored it), `failed` (the PACS refused it for good, or it could not be built:
 * recorded as failed with the reason), `retried` (a transient fault: PACS down, timeout, 5xx;
 * the delivery waits and tries again).
 */
export const FINDINGS_DELIVERY_OUTCOMES = ['sent', 'failed', 'retried'] as const;
export type FindingsDeliveryOutcome = (typeof FINDINGS_DELIVERY_OUTCOMES)[number];

/**
 * BullMQ job states reported in cxr_queue_jobs{state}. `prioritized` is listed on purpose: BullMQ
 * keeps prioritized jobs outside the wait list, and a backlog gauge that forgets them under-counts
 * every /v1/predict request.
 */
export const QUEUE_STATES = [
  'waiting',
  'prioritized',
  'active',
  'delayed',
  'waiting-children',
  'paused',
  'completed',
  'failed',
] as const;
export type QueueState = (typeof QUEUE_STATES)[number];
