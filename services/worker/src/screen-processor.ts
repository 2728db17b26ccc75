/**
 * The screening of one `cxr-screen` job: fetch the object, decode and preprocess it in the decode
 * pool, run it through the dynamic batcher into the model runtime, apply the manifest's decision
 * and publish exactly one outcome to `cxr-results`. Pure business logic: BullMQ, Redis and the
 * object store sit behind the ports passed in (ScreenWorker, ResultPublisher, ObjectFetcher).
 *
 * Outcomes:
 * - ok: scores and decision published; the job completes with them.
 * - rejected: bad DICOM (DicomRejectedError, including an image above CXR_MAX_IMAGE_PIXELS and a
 *   file that is not DICOM from its first bytes), an image the model does not apply to (the
 *   manifest's `accept` rules: `not_applicable`), or an object above CXR_MAX_OBJECT_BYTES
 *   (`object_too_large`, refused from its size, unread) -> publish, and the job completes with
 *   the reason: a rejection is a final outcome, not a job failure, so BullMQ's failed set (and its
 *   alert) holds real failures only.
 * - failed at once: a permanent fetch error (missing object, access denied) -> publish, then
 *   throw JobRejectedError so BullMQ fails the job without retrying.
 * - transient fault (S3 5xx, timeout, reset, an inference error): rethrow so BullMQ retries with
 *   backoff; on the final attempt publish `failed` with a reason code first, so every outcome
 *   reaches the store.
 */
import { performance } from 'node:perf_hooks';
import { DICOM_PREFIX_BYTES, checkDicomPrefix, isDicomRejectedError } from '@cxr/dicom';
import { packBatch, type DecodePool } from '@cxr/imaging';
import type { CxrMetrics, FailureReason } from '@cxr/metrics';
import {
  acceptRulesOf,
  decide,
  isModelRuntimeError,
  type ManifestAccept,
  type ModelManifest,
  type ModelRuntime,
} from '@cxr/model';
import {
  DynamicBatcher,
  JobRejectedError,
  type ResultImageFeatures,
  type ResultMessage,
  type ResultTechnicalTags,
  type ResultUids,
  type ScreenJobContext,
  type ScreenJobPayload,
  type RejectedJobReturn,
  type ScreenJobReturn,
  type StageTimings,
} from '@cxr/queue';
import { ObjectFetchError, ObjectTooLargeError, type ObjectFetcher } from '@cxr/storage';
import { hashPatientId } from '@cxr/store';
import type { DicomImageInfo } from '@cxr/dicom';
import { silentLogger, type Logger } from '@cxr/config/log';
import { ByteBudget } from './byte-budget.js';

/** Port: where outcomes go (a `ResultQueue` in production). */
export interface ResultPublisher {
  publish(messages: readonly ResultMessage[]): Promise<void>;
}

/** Everything a `ScreenProcessor` needs; the composition root (WorkerService) builds them. */
export interface ScreenProcessorDeps {
  readonly fetcher: ObjectFetcher;
  readonly pool: DecodePool;
  readonly runtime: ModelRuntime;
  readonly manifest: ModelManifest;
  readonly results: ResultPublisher;
  readonly metrics: CxrMetrics;
  /** Dynamic batching (CXR_MAX_BATCH, CXR_MAX_DELAY_MS). */
  readonly maxBatch: number;
  readonly maxDelayMs: number;
  /** CXR_MAX_OBJECT_BYTES: larger objects are rejected (`object_too_large`) before they are read. */
  readonly maxObjectBytes: number;
  /** CXR_MAX_IMAGE_PIXELS: images with more Rows x Columns are rejected (`image_too_large`) before decoding. */
  readonly maxImagePixels: number;
  /**
   * Bytes of objects held at once between the start of their read and the end of their decode;
   * default pool threads x maxObjectBytes. Jobs beyond it wait before reading, so the worker's
   * input memory stays bounded however many jobs are active and however large the objects are.
   */
  readonly inputBudgetBytes?: number;
  /** CXR_PATIENT_ID_SALT; when unset no Patient ID hash is published at all. */
  readonly patientIdSalt?: string | undefined;
  readonly log?: Logger;
}

/** One image waiting for a batch. */
interface BatchItem {
  readonly tensor: Float32Array;
  /** performance.now() at submit, for the batch_wait stage. */
  readonly submittedAt: number;
}

/** What the batcher hands back per image. */
interface BatchOutput {
  readonly scores: Float32Array;
  readonly batchWaitMs: number;
  readonly inferMs: number;
}

/** Fields shared by every outcome message of one job. */
type MessageBase = Omit<Extract<ResultMessage, { outcome: 'ok' }>, 'outcome' | 'scores' | 'decision'>;

const MS_PER_SECOND = 1000;

/** Screens single jobs while batching inference across the jobs that are active together. */
export class ScreenProcessor {
  readonly #deps: ScreenProcessorDeps;
  readonly #batcher: DynamicBatcher<BatchItem, BatchOutput>;
  readonly #accept: ManifestAccept;
  readonly #log: Logger;
  readonly #inputBudget: ByteBudget;

  constructor(deps: ScreenProcessorDeps) {
    if (deps.patientIdSalt !== undefined) {
      // Fail at start-up, not on the first image, when the salt is unusable (too short).
      hashPatientId('salt-check', deps.patientIdSalt);
    }
    this.#deps = deps;
    this.#accept = acceptRulesOf(deps.manifest);
    this.#log = deps.log ?? silentLogger;
    this.#inputBudget = new ByteBudget(deps.inputBudgetBytes ?? deps.pool.threads * deps.maxObjectBytes);
    this.#batcher = new DynamicBatcher<BatchItem, BatchOutput>({
      maxBatch: deps.maxBatch,
      maxDelayMs: deps.maxDelayMs,
      run: (items) => this.#runBatch(items),
      onBatch: ({ size }) => {
        deps.metrics.observeBatchSize(size);
      },
    });
  }

  /**
   * The ScreenWorker processor: one job in, one published outcome (or a retryable throw) out.
   * Resolves with the job's return value (scores, decision, timings, model: what `/v1/predict`
   * answers with; no patient data).
   */
  readonly process = async (
    payload: ScreenJobPayload,
    context: ScreenJobContext,
  ): Promise<ScreenJobReturn> => {
    const timings: StageTimings = {};
    let info: DicomImageInfo | undefined;
    let features: ResultImageFeatures | undefined;
    const { maxObjectBytes, maxImagePixels } = this.#deps;
    const input = this.#inputBudget.share();
    try {
      const fetchStart = performance.now();
      const bytes = await this.#deps.fetcher.fetch(payload.uri, {
        maxBytes: maxObjectBytes,
        // A non-DICOM object costs its first bytes, not a whole read.
        head: { bytes: DICOM_PREFIX_BYTES, check: checkDicomPrefix },
        beforeRead: (size) => input.reserve(size),
      });
      // A fetcher that does not apply the limit itself (a custom or test fetcher) is held to it here.
      if (bytes.byteLength > maxObjectBytes) {
        throw new ObjectTooLargeError(payload.uri, bytes.byteLength, maxObjectBytes);
      }
      timings.fetch = nonNegativeMs(performance.now() - fetchStart);

      // The manifest's accept rules run in the decode thread on the header, before any pixel is
      // decoded: an image the model does not apply to ends `rejected` with `not_applicable`. The
      // bytes are moved to the decode thread, not copied: nothing here reads them again, and a
      // copy would hold a second object's worth of memory per thread.
      const decoded = await this.#deps.pool
        .decode(
          bytes,
          { output: { model: this.#deps.manifest.input, accept: this.#accept }, maxImagePixels },
          { transfer: true },
        )
        .finally(() => {
          input.release();
        });
      info = decoded.info;
      features = featuresOf(decoded.features);
      const t = decoded.timings;
      // Time spent waiting for a free decode thread counts as decode: the stages of one item then
      // add up to its latency, and a saturated pool shows up where its cause is.
      timings.decode = nonNegativeMs(decoded.queueMs + t.decodeMs);
      timings.preprocess = nonNegativeMs(t.lutMs + t.resizeMs + (t.normalizeMs ?? 0));

      const out = await this.#batcher.submit({ tensor: decoded.pixels, submittedAt: performance.now() });
      timings.batch_wait = nonNegativeMs(out.batchWaitMs);
      timings.infer = nonNegativeMs(out.inferMs);

      const decision = decide(out.scores, this.#deps.manifest.output);
      await this.#deps.results.publish([
        {
          ...this.#base(payload, context, info, timings, features),
          outcome: 'ok',
          scores: { ...decision.scores },
          decision: decision.diagnosis,
        },
      ]);
      this.#log('debug', 'job screened', { jobId: context.jobId, decision: decision.diagnosis });
      const { manifest, runtime } = this.#deps;
      const described = runtime.describe();
      return {
        outcome: 'ok',
        scores: { ...decision.scores },
        diagnosis: decision.diagnosis,
        confidence: decision.confidence,
        positives: [...decision.positives],
        modelId: manifest.id,
        modelVersion: manifest.version,
        runtime: { name: described.name, version: described.version, backend: [...described.backend] },
        timingsMs: timings,
      };
    } catch (error) {
      return await this.#handleError(error, payload, context, info, timings, features);
    } finally {
      input.release();
    }
  };

  /** Runs everything already submitted to the batcher (shutdown: after the worker stopped). */
  async drain(): Promise<void> {
    await this.#batcher.drain();
  }

  /** Rejects new submits and finishes the batches already formed. */
  async close(): Promise<void> {
    await this.#batcher.close();
  }

  async #handleError(
    error: unknown,
    payload: ScreenJobPayload,
    context: ScreenJobContext,
    info: DicomImageInfo | undefined,
    timings: StageTimings,
    features: ResultImageFeatures | undefined,
  ): Promise<RejectedJobReturn> {
    const base = (): MessageBase => this.#base(payload, context, info, timings, features);
    if (isDicomRejectedError(error)) {
      // The decoder's message is structural only, but the reason code is all the store needs.
      await this.#deps.results.publish([{ ...base(), outcome: 'rejected', reason: error.reason }]);
      this.#log('info', 'job rejected', { jobId: context.jobId, uri: payload.uri, reason: error.reason });
      const { manifest } = this.#deps;
      return {
        outcome: 'rejected',
        reason: error.reason,
        modelId: manifest.id,
        modelVersion: manifest.version,
        timingsMs: timings,
      };
    }
    if (error instanceof ObjectTooLargeError) {
      // A property of the input like a decoder rejection: stored as rejected, never retried.
      const reason = 'object_too_large';
      await this.#deps.results.publish([{ ...base(), outcome: 'rejected', reason }]);
      // Sizes and the job id only: the URI may name a patient.
      this.#log('info', 'job rejected', {
        jobId: context.jobId,
        reason,
        sizeBytes: error.size,
        maxBytes: error.maxBytes,
      });
      const { manifest } = this.#deps;
      return {
        outcome: 'rejected',
        reason,
        modelId: manifest.id,
        modelVersion: manifest.version,
        timingsMs: timings,
      };
    }
    if (error instanceof ObjectFetchError && !error.transient) {
      // A missing object or denied access does not fix itself: fail now, with a reason.
      await this.#deps.results.publish([{ ...base(), outcome: 'failed', reason: 'fetch_error' }]);
      this.#log('warn', 'job failed', { jobId: context.jobId, uri: payload.uri, reason: 'fetch_error' });
      throw new JobRejectedError('fetch_error', 'object fetch failed permanently', { cause: error });
    }
    const reason = failureReasonOf(error);
    if (context.isFinalAttempt) {
      await this.#deps.results.publish([{ ...base(), outcome: 'failed', reason }]);
      this.#log('warn', 'job failed', {
        jobId: context.jobId,
        uri: payload.uri,
        reason,
        attemptsMade: context.attemptsMade,
      });
    } else {
      this.#log('info', 'job will retry', {
        jobId: context.jobId,
        uri: payload.uri,
        reason,
        attemptsMade: context.attemptsMade,
      });
    }
    // Rethrown as is: BullMQ retries with the queue's exponential backoff.
    throw error;
  }

  async #runBatch(items: BatchItem[]): Promise<BatchOutput[]> {
    const { runtime, manifest, metrics } = this.#deps;
    const start = performance.now();
    const batch = packBatch(
      items.map((item) => item.tensor),
      manifest.input,
    );
    const scores = await runtime.predict(batch, items.length);
    const inferMs = performance.now() - start;
    metrics.observeInferenceBatch(runtime.name, inferMs / MS_PER_SECOND);
    const labels = manifest.output.labels.length;
    return items.map((item, i) => ({
      // slice, not subarray: each job keeps only its own scores, not the whole batch buffer.
      scores: scores.slice(i * labels, (i + 1) * labels),
      batchWaitMs: Math.max(0, start - item.submittedAt),
      inferMs,
    }));
  }

  #base(
    payload: ScreenJobPayload,
    context: ScreenJobContext,
    info: DicomImageInfo | undefined,
    timings: StageTimings,
    features: ResultImageFeatures | undefined,
  ): MessageBase {
    const { manifest, runtime, patientIdSalt } = this.#deps;
    const patientId = info?.patientId?.replace(/\0+$/, '').trim();
    return {
      jobId: context.jobId,
      uri: payload.uri,
      ...(payload.etag !== undefined ? { etag: payload.etag } : {}),
      runId: payload.runId,
      // What actually ran: the loaded bundle, not what the ingest expected.
      modelId: manifest.id,
      modelVersion: manifest.version,
      runtime: runtime.name,
      uids: info === undefined ? {} : uidsOf(info),
      technical: info === undefined ? {} : technicalTagsOf(info),
      // Pseudonymised Patient ID only with a configured salt; the raw ID never leaves this line.
      ...(patientIdSalt !== undefined && patientId !== undefined && patientId !== ''
        ? { patientIdHash: hashPatientId(patientId, patientIdSalt) }
        : {}),
      timingsMs: timings,
      ...(features !== undefined ? { features } : {}),
      enqueuedAt: payload.enqueuedAt,
      finishedAt: Date.now(),
      attemptsMade: context.attemptsMade,
      ...(payload.force === true ? { force: true as const } : {}),
    };
  }
}

/**
 * A stage duration for the message. Stages are not observed into cxr_stage_duration_seconds
 * here: the results service does that from `timingsMs` (plus `store`), and `cxr screen` shares one
 * registry between both services, so observing here too would count every item twice.
 */
function nonNegativeMs(ms: number): number {
  return Math.max(0, ms);
}

/** Reason code of a failure that is not bad input (used once retries are exhausted). */
export function failureReasonOf(error: unknown): FailureReason {
  if (error instanceof ObjectFetchError) return 'fetch_error';
  if (isModelRuntimeError(error)) return 'inference_error';
  return 'internal_error';
}

/**
 * The decode thread's drift features as the message carries them; dropped (with no effect on the
 * outcome) when a value could not pass the message schema, e.g. a non-finite mean.
 */
function featuresOf(features: ResultImageFeatures | undefined): ResultImageFeatures | undefined {
  if (features === undefined) return undefined;
  const { imageMean, imageStd, bitsStored } = features;
  const valid =
    Number.isFinite(imageMean) &&
    Number.isFinite(imageStd) &&
    imageStd >= 0 &&
    Number.isInteger(bitsStored) &&
    bitsStored >= 1 &&
    bitsStored <= 32;
  return valid ? { imageMean, imageStd, bitsStored } : undefined;
}

/** Instance UIDs of the result message (PS3.3 C.7.2.1, C.7.3.1, C.12.1). */
function uidsOf(info: DicomImageInfo): ResultUids {
  return dropUndefined({
    studyInstanceUid: info.uids.studyInstanceUid,
    seriesInstanceUid: info.uids.seriesInstanceUid,
    sopInstanceUid: info.uids.sopInstanceUid,
  });
}

/** The technical tags the store keeps: acquisition, equipment and pixel module facts. */
function technicalTagsOf(info: DicomImageInfo): ResultTechnicalTags {
  const t = info.technical;
  return dropUndefined({
    modality: t.modality,
    viewPosition: t.viewPosition,
    bodyPartExamined: t.bodyPartExamined,
    manufacturer: t.manufacturer,
    manufacturerModelName: t.manufacturerModelName,
    institutionName: t.institutionName,
    photometricInterpretation: info.pixel.photometricInterpretation,
    transferSyntaxUid: info.transferSyntaxUid,
    rows: info.pixel.rows > 0 ? info.pixel.rows : undefined,
    columns: info.pixel.columns > 0 ? info.pixel.columns : undefined,
  });
}

function dropUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
