import type { RejectReason } from '@cxr/dicom';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import {
  FAILURE_REASONS,
  METRIC_CONTRACT,
  PACS_OPERATIONS,
  PACS_STATUS_CLASSES,
  PACS_THROTTLE_REASONS,
  SCP_ASSOCIATION_RESULTS,
  SCP_INSTANCE_OUTCOMES,
  FINDINGS_DELIVERY_OUTCOMES,
  METRIC_NAMES,
  OUTCOMES,
  QUEUE_STATES,
  REJECT_REASON_LABELS,
  STAGES,
  type FailureReason,
  type Outcome,
  type PacsOperation,
  type PacsStatusClass,
  type PacsThrottleReason,
  type ScpAssociationResult,
  type ScpInstanceOutcome,
  type FindingsDeliveryOutcome,
  type QueueState,
  type Stage,
} from './contract.js';

/**
 * Free-form label values (source, queue, runtime, label, feature, model, version) must match this.
 * Labels end up in Prometheus, Grafana and every scrape log: no free text may reach them, because
 * free text is where patient data hides (a URI path, an error message, a DICOM string). Short
 * identifiers only; anything else is reported as the value `other` (see {@link safeLabelValue}).
 * This is a guard against accidents, not proof: a caller can still pass an identifier-shaped
 * secret, which is why the enumerated labels (stage, outcome, reason, state) are closed sets.
 */
export const SAFE_LABEL_VALUE = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Value reported in place of a free-form label value that fails {@link SAFE_LABEL_VALUE}. */
export const OTHER_LABEL_VALUE = 'other';

/**
 * Histogram buckets, in seconds unless named otherwise. Why these values:
 * - stages and inference batches: 1 ms (a cache hit, a tiny store write) to 60 s (a large JPEG 2000
 *   decode on a busy core, a CPU batch of DenseNet121), roughly 1-2.5-5 per decade so p50/p95/p99
 *   interpolate within a factor of about 2.5.
 * - end to end (enqueued -> stored): a live /v1/predict takes under a second, an item at the back
 *   of an overnight backlog waits hours, so the buckets run from 100 ms to 12 h.
 * - batch size: powers of two from 1 to 128 (the dynamic batcher's maxBatch range); the +Inf
 *   bucket catches a misconfigured larger maxBatch.
 * - prediction scores: 0.1-wide bins over [0, 1], the same width as the reference score
 *   histograms in the model bundle so the panel and the drift statistic speak the same language.
 */
export const BUCKETS = {
  stageSeconds: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  endToEndSeconds: [
    0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800, 43200,
  ],
  batchSize: [1, 2, 4, 8, 16, 32, 64, 128],
  // Written out rather than computed: 0.1 * 3 is 0.30000000000000004 in floating point.
  predictionScore: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1],
  // A QIDO page or a WADO-RS retrieve of a 30 MB CR: 5 ms (a local PACS) to 2 min (a slow VNA).
  pacsRequestSeconds: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
  // Result stored -> SR accepted by the PACS: 50 ms (a local PACS, no wait) to 1 day (a PACS
  // down overnight: deliveries wait for it).
  findingsDeliveryLagSeconds: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400],
} as const;

/** Options for {@link createMetrics}. */
export interface CreateMetricsOptions {
  /** Registry to register into; default a new private Registry (not prom-client's global one). */
  readonly registry?: Registry;
  /**
   * Also collect prom-client's default process and Node.js metrics (unprefixed `process_*` and
   * `nodejs_*`, as the stock Grafana Node.js dashboards expect). Default false.
   */
  readonly collectDefault?: boolean;
}

/** Counts per job state for {@link CxrMetrics.setQueueCounts}; absent states are left untouched. */
export type QueueCounts = Partial<Readonly<Record<QueueState, number>>>;

/** The prom-client objects behind {@link CxrMetrics}, typed by their label names. */
export interface CxrMetricObjects {
  readonly ingestEnqueued: Counter<'source'>;
  readonly ingestDuplicates: Counter<'source'>;
  readonly queueJobs: Gauge<'queue' | 'state'>;
  readonly queueOldestWaitingAge: Gauge<'queue'>;
  readonly stageDuration: Histogram<'stage'>;
  readonly batchSize: Histogram;
  readonly inferenceBatchDuration: Histogram<'runtime'>;
  readonly items: Counter<'outcome'>;
  readonly rejected: Counter<'reason'>;
  readonly endToEnd: Histogram;
  readonly predictionScore: Histogram<'label'>;
  readonly positiveRate: Gauge<'label'>;
  readonly predictionDriftPsi: Gauge<'label'>;
  readonly predictionDriftJs: Gauge<'label'>;
  readonly inputDriftPsi: Gauge<'feature'>;
  readonly modelInfo: Gauge<'model' | 'version' | 'runtime'>;
  readonly storeUp: Gauge;
  readonly storeWriteErrors: Counter;
  readonly pacsRequests: Counter<'operation' | 'status_class'>;
  readonly pacsRequestDuration: Histogram<'operation'>;
  readonly pacsThrottled: Counter<'reason'>;
  readonly scpAssociations: Counter<'result'>;
  readonly scpInstancesReceived: Counter<'outcome'>;
  readonly findingsDelivered: Counter<'outcome'>;
  readonly findingsDeliveryLag: Histogram;
}

/** Creates and registers every metric of the contract; see {@link CxrMetrics} for the helpers. */
export function createMetrics(options: CreateMetricsOptions = {}): CxrMetrics {
  return new CxrMetrics(options);
}

/**
 * Every `cxr_` metric of ARCHITECTURE.md with typed helpers. Callers use the helpers, not the raw
 * prom-client objects, so a stage, outcome or reason outside the contract does not compile, and
 * free-form label values are passed through {@link safeLabelValue}. Numbers that cannot be a
 * measurement (NaN, infinite, negative durations) throw a RangeError: they are programming errors.
 */
export class CxrMetrics {
  readonly registry: Registry;
  readonly metrics: CxrMetricObjects;

  constructor(options: CreateMetricsOptions = {}) {
    this.registry = options.registry ?? new Registry();
    const registers = [this.registry];
    const c = METRIC_CONTRACT;
    this.metrics = {
      ingestEnqueued: new Counter({
        name: 'cxr_ingest_enqueued_total',
        help: 'Objects enqueued for screening by ingest, per source kind.',
        labelNames: c.cxr_ingest_enqueued_total.labelNames,
        registers,
      }),
      ingestDuplicates: new Counter({
        name: 'cxr_ingest_duplicates_total',
        help: 'Objects skipped by ingest because they were already queued or done, per source kind.',
        labelNames: c.cxr_ingest_duplicates_total.labelNames,
        registers,
      }),
      queueJobs: new Gauge({
        name: 'cxr_queue_jobs',
        help: 'Jobs per queue and state (prioritized jobs included), sampled from BullMQ.',
        labelNames: c.cxr_queue_jobs.labelNames,
        registers,
      }),
      queueOldestWaitingAge: new Gauge({
        name: 'cxr_queue_oldest_waiting_age_seconds',
        help: 'Age of the oldest waiting or prioritized job per queue, 0 when none waits.',
        labelNames: c.cxr_queue_oldest_waiting_age_seconds.labelNames,
        registers,
      }),
      stageDuration: new Histogram({
        name: 'cxr_stage_duration_seconds',
        help: 'Time spent per item in each pipeline stage.',
        labelNames: c.cxr_stage_duration_seconds.labelNames,
        buckets: [...BUCKETS.stageSeconds],
        registers,
      }),
      batchSize: new Histogram({
        name: 'cxr_batch_size',
        help: 'Images per inference batch formed by the dynamic batcher.',
        labelNames: c.cxr_batch_size.labelNames,
        buckets: [...BUCKETS.batchSize],
        registers,
      }),
      inferenceBatchDuration: new Histogram({
        name: 'cxr_inference_batch_duration_seconds',
        help: 'Wall time of one runtime.predict call on a batch, per runtime.',
        labelNames: c.cxr_inference_batch_duration_seconds.labelNames,
        buckets: [...BUCKETS.stageSeconds],
        registers,
      }),
      items: new Counter({
        name: 'cxr_items_total',
        help: 'Items that reached a final outcome (ok, rejected, failed).',
        labelNames: c.cxr_items_total.labelNames,
        registers,
      }),
      rejected: new Counter({
        name: 'cxr_rejected_total',
        help: 'Items rejected (DICOM reason codes) or failed after retries (failure reasons).',
        labelNames: c.cxr_rejected_total.labelNames,
        registers,
      }),
      endToEnd: new Histogram({
        name: 'cxr_end_to_end_seconds',
        help: 'Time from enqueue to stored result per item.',
        labelNames: c.cxr_end_to_end_seconds.labelNames,
        buckets: [...BUCKETS.endToEndSeconds],
        registers,
      }),
      predictionScore: new Histogram({
        name: 'cxr_prediction_score',
        help: 'Model output score per label, in [0, 1].',
        labelNames: c.cxr_prediction_score.labelNames,
        buckets: [...BUCKETS.predictionScore],
        registers,
      }),
      positiveRate: new Gauge({
        name: 'cxr_positive_rate',
        help: 'Fraction of items above the decision threshold per label over the drift window.',
        labelNames: c.cxr_positive_rate.labelNames,
        registers,
      }),
      predictionDriftPsi: new Gauge({
        name: 'cxr_prediction_drift_psi',
        help: 'Population stability index of the score distribution per label vs the bundle reference.',
        labelNames: c.cxr_prediction_drift_psi.labelNames,
        registers,
      }),
      predictionDriftJs: new Gauge({
        name: 'cxr_prediction_drift_js',
        help: 'Jensen-Shannon divergence (base 2, 0..1) of the score distribution per label vs the bundle reference.',
        labelNames: c.cxr_prediction_drift_js.labelNames,
        registers,
      }),
      inputDriftPsi: new Gauge({
        name: 'cxr_input_drift_psi',
        help: 'Population stability index of an input feature vs the bundle reference.',
        labelNames: c.cxr_input_drift_psi.labelNames,
        registers,
      }),
      modelInfo: new Gauge({
        name: 'cxr_model_info',
        help: 'Model and runtime in use: one series with value 1.',
        labelNames: c.cxr_model_info.labelNames,
        registers,
      }),
      storeUp: new Gauge({
        name: 'cxr_store_up',
        help: 'Whether the last result write to the store succeeded (1); 0 while writes fail and result consumption is paused.',
        labelNames: c.cxr_store_up.labelNames,
        registers,
      }),
      storeWriteErrors: new Counter({
        name: 'cxr_store_write_errors_total',
        help: 'Result batch writes to the store that failed (each is retried until it succeeds).',
        labelNames: c.cxr_store_write_errors_total.labelNames,
        registers,
      }),
      pacsRequests: new Counter({
        name: 'cxr_pacs_requests_total',
        help: 'Requests to a PACS (DICOMweb and DIMSE) by operation and how they ended.',
        labelNames: c.cxr_pacs_requests_total.labelNames,
        registers,
      }),
      pacsRequestDuration: new Histogram({
        name: 'cxr_pacs_request_duration_seconds',
        help: 'Duration of PACS requests by operation (a whole retrieve for WADO-RS and C-GET).',
        labelNames: c.cxr_pacs_request_duration_seconds.labelNames,
        buckets: [...BUCKETS.pacsRequestSeconds],
        registers,
      }),
      pacsThrottled: new Counter({
        name: 'cxr_pacs_throttled_total',
        help: 'PACS requests that waited: for the shared request budget (concurrency, rate) or because the PACS asked (429, 503).',
        labelNames: c.cxr_pacs_throttled_total.labelNames,
        registers,
      }),
      scpAssociations: new Counter({
        name: 'cxr_scp_associations_total',
        help: 'Associations offered to the C-STORE SCP, by result.',
        labelNames: c.cxr_scp_associations_total.labelNames,
        registers,
      }),
      scpInstancesReceived: new Counter({
        name: 'cxr_scp_instances_received_total',
        help: 'Instances received by the C-STORE SCP, by outcome (stored = durable and enqueued).',
        labelNames: c.cxr_scp_instances_received_total.labelNames,
        registers,
      }),
      findingsDelivered: new Counter({
        name: 'cxr_findings_delivered_total',
        help: 'Delivery attempts of findings (DICOM SR) to a PACS, by outcome (sent, failed for good, retried).',
        labelNames: c.cxr_findings_delivered_total.labelNames,
        registers,
      }),
      findingsDeliveryLag: new Histogram({
        name: 'cxr_findings_delivery_lag_seconds',
        help: 'Time from a result being stored to its findings being accepted by the PACS.',
        labelNames: c.cxr_findings_delivery_lag_seconds.labelNames,
        buckets: [...BUCKETS.findingsDeliveryLagSeconds],
        registers,
      }),
    };
    if (options.collectDefault === true) collectDefaultMetrics({ register: this.registry });
  }

  /** Counts objects enqueued by ingest from a source kind (e.g. `s3`, `file`, `manifest`). */
  countEnqueued(source: string, count = 1): void {
    this.metrics.ingestEnqueued.inc({ source: safeLabelValue(source) }, checkCount(count));
  }

  /** Counts objects ingest skipped as already queued or done. */
  countDuplicates(source: string, count = 1): void {
    this.metrics.ingestDuplicates.inc({ source: safeLabelValue(source) }, checkCount(count));
  }

  /** Sets cxr_queue_jobs for the given states of one queue; states not in `counts` keep their value. */
  setQueueCounts(queue: string, counts: QueueCounts): void {
    const q = safeLabelValue(queue);
    for (const state of Object.keys(counts)) {
      const value = counts[state as QueueState];
      if (value === undefined) continue;
      this.metrics.queueJobs.set({ queue: q, state: oneOf(state, QUEUE_STATES, 'state') }, checkCount(value));
    }
  }

  /** Sets the age of the oldest waiting (or prioritized) job of a queue; 0 when none waits. */
  setQueueOldestWaitingAge(queue: string, seconds: number): void {
    this.metrics.queueOldestWaitingAge.set({ queue: safeLabelValue(queue) }, checkSeconds(seconds));
  }

  /** Observes the time one item spent in a pipeline stage. */
  observeStage(stage: Stage, seconds: number): void {
    this.metrics.stageDuration.observe({ stage: oneOf(stage, STAGES, 'stage') }, checkSeconds(seconds));
  }

  /** Starts a monotonic timer; calling the result observes the stage and returns the seconds. */
  startStageTimer(stage: Stage): () => number {
    const checked = oneOf(stage, STAGES, 'stage');
    const start = process.hrtime.bigint();
    return () => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      this.observeStage(checked, seconds);
      return seconds;
    };
  }

  /** Observes the number of images in one inference batch. */
  observeBatchSize(size: number): void {
    this.metrics.batchSize.observe(checkCount(size));
  }

  /** Observes the duration of one runtime.predict call. */
  observeInferenceBatch(runtime: string, seconds: number): void {
    this.metrics.inferenceBatchDuration.observe({ runtime: safeLabelValue(runtime) }, checkSeconds(seconds));
  }

  /** Counts an item's final outcome; rejected and failed items also count their reason. */
  countItem(outcome: 'ok'): void;
  countItem(outcome: 'rejected', reason: RejectReason): void;
  countItem(outcome: 'failed', reason: FailureReason): void;
  countItem(outcome: Outcome, reason?: RejectReason | FailureReason): void {
    const checked = oneOf(outcome, OUTCOMES, 'outcome');
    // Validate before incrementing anything, so a bad call leaves no half-counted item.
    let reasonLabel: string | undefined;
    switch (checked) {
      case 'ok':
        if (reason !== undefined) throw new TypeError('countItem: outcome ok takes no reason');
        break;
      case 'rejected':
        reasonLabel = oneOf(reason, REJECT_REASON_LABELS, 'reason');
        break;
      case 'failed':
        reasonLabel = oneOf(reason, FAILURE_REASONS, 'reason');
        break;
    }
    this.metrics.items.inc({ outcome: checked });
    if (reasonLabel !== undefined) this.metrics.rejected.inc({ reason: reasonLabel });
  }

  /** Observes the time from enqueue to stored result of one item. */
  observeEndToEnd(seconds: number): void {
    this.metrics.endToEnd.observe(checkSeconds(seconds));
  }

  /** Observes one model score for a label (a model output name such as `Cardiomegaly`). */
  observeScore(label: string, score: number): void {
    this.metrics.predictionScore.observe({ label: safeLabelValue(label) }, checkUnit(score));
  }

  /** Sets the positive rate (fraction in [0, 1]) of a label over the current window. */
  setPositiveRate(label: string, rate: number): void {
    this.metrics.positiveRate.set({ label: safeLabelValue(label) }, checkUnit(rate));
  }

  /** Sets the score-distribution PSI of a label against the bundle reference. */
  setPredictionDrift(label: string, psiValue: number): void {
    this.metrics.predictionDriftPsi.set({ label: safeLabelValue(label) }, checkCount(psiValue));
  }

  /** Sets the score-distribution Jensen-Shannon divergence (base 2, in [0, 1]) of a label. */
  setPredictionDriftJs(label: string, divergence: number): void {
    this.metrics.predictionDriftJs.set({ label: safeLabelValue(label) }, checkUnit(divergence));
  }

  /**
   * Removes the drift series of a label (PSI and Jensen-Shannon): no value is
   * better than a stale one when the window no longer holds enough results.
   */
  clearPredictionDrift(label: string): void {
    const labels = { label: safeLabelValue(label) };
    this.metrics.predictionDriftPsi.remove(labels);
    this.metrics.predictionDriftJs.remove(labels);
  }

  /** Removes the positive-rate series of a label (empty window). */
  clearPositiveRate(label: string): void {
    this.metrics.positiveRate.remove({ label: safeLabelValue(label) });
  }

  /** Removes the drift series of an input feature. */
  clearInputDrift(feature: string): void {
    this.metrics.inputDriftPsi.remove({ feature: safeLabelValue(feature) });
  }

  /** Sets the PSI of an input feature (e.g. `image_mean`, `manufacturer`) against the reference. */
  setInputDrift(feature: string, psiValue: number): void {
    this.metrics.inputDriftPsi.set({ feature: safeLabelValue(feature) }, checkCount(psiValue));
  }

  /** Replaces the model info series: exactly one {model,version,runtime} series with value 1. */
  setModelInfo(model: string, version: string, runtime: string): void {
    this.metrics.modelInfo.reset();
    this.metrics.modelInfo.set(
      {
        model: safeLabelValue(model),
        version: safeLabelValue(version),
        runtime: safeLabelValue(runtime),
      },
      1,
    );
  }

  /** Records whether the store accepts writes (1 = up); see `cxr_store_up`. */
  setStoreUp(up: boolean): void {
    this.metrics.storeUp.set(up ? 1 : 0);
  }

  /** Counts one failed result batch write. */
  countStoreWriteError(): void {
    this.metrics.storeWriteErrors.inc();
  }

  /** Counts one PACS request and observes its duration. */
  observePacsRequest(operation: PacsOperation, statusClass: PacsStatusClass, seconds: number): void {
    const op = oneOf(operation, PACS_OPERATIONS, 'operation');
    const status = oneOf(statusClass, PACS_STATUS_CLASSES, 'status_class');
    const duration = checkSeconds(seconds);
    this.metrics.pacsRequests.inc({ operation: op, status_class: status });
    this.metrics.pacsRequestDuration.observe({ operation: op }, duration);
  }

  /** Counts one PACS request that had to wait (shared budget, or the PACS asked to slow down). */
  countPacsThrottled(reason: PacsThrottleReason): void {
    this.metrics.pacsThrottled.inc({ reason: oneOf(reason, PACS_THROTTLE_REASONS, 'reason') });
  }

  /** Counts one association offered to the C-STORE SCP. */
  countScpAssociation(result: ScpAssociationResult): void {
    this.metrics.scpAssociations.inc({ result: oneOf(result, SCP_ASSOCIATION_RESULTS, 'result') });
  }

  /** Counts one instance sent to the C-STORE SCP. */
  countScpInstance(outcome: ScpInstanceOutcome): void {
    this.metrics.scpInstancesReceived.inc({ outcome: oneOf(outcome, SCP_INSTANCE_OUTCOMES, 'outcome') });
  }

  /** Counts one delivery attempt of findings to a PACS. */
  countFindingsDelivery(outcome: FindingsDeliveryOutcome): void {
    this.metrics.findingsDelivered.inc({ outcome: oneOf(outcome, FINDINGS_DELIVERY_OUTCOMES, 'outcome') });
  }

  /** Observes the time from a result being stored to its findings being accepted by the PACS. */
  observeFindingsDeliveryLag(seconds: number): void {
    this.metrics.findingsDeliveryLag.observe(checkSeconds(seconds));
  }

  /**
   * Exposition text of the contract metrics only (no default process/Node metrics), e.g. to lint
   * with `promtool check metrics`, which rejects prom-client's `nodejs_*_total` gauges.
   */
  async contractMetricsText(): Promise<string> {
    const parts = await Promise.all(METRIC_NAMES.map((name) => this.registry.getSingleMetricAsString(name)));
    return parts.join('\n') + '\n';
  }
}

/** Returns `value` if it is a safe label value (SAFE_LABEL_VALUE), otherwise `other`. */
export function safeLabelValue(value: string): string {
  // Checked at run time too: JavaScript callers and casts can hand over undefined or objects.
  const v: unknown = value;
  return typeof v === 'string' && SAFE_LABEL_VALUE.test(v) ? v : OTHER_LABEL_VALUE;
}

/** Narrows an enumerated label value; the error never echoes the value (it may be free text). */
function oneOf<T extends string>(value: unknown, allowed: readonly T[], label: string): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw new TypeError(`invalid value for metric label "${label}" (expected one of: ${allowed.join(', ')})`);
}

function checkSeconds(seconds: number): number {
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new RangeError('metric duration must be a finite number of seconds >= 0');
  }
  return seconds;
}

function checkCount(n: number): number {
  if (!Number.isFinite(n) || n < 0) throw new RangeError('metric value must be finite and >= 0');
  return n;
}

function checkUnit(x: number): number {
  if (!Number.isFinite(x) || x < 0 || x > 1) throw new RangeError('metric value must be in [0, 1]');
  return x;
}
