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
import {
  modelInputLength,
  packBatch,
  type DecodeCallOptions,
  type DecodeRequest,
  type ModelOutput,
  type PoolDecodeResult,
} from '@cxr/imaging';
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
  objectPayloadOf,
  type ScreenGroupResult,
  type ScreenJobContext,
  type ScreenJobObject,
  type ScreenJobPayload,
  type ScreenObjectsPayload,
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
  /**
   * `batchOf`: the `screen-objects` job whose outcomes these are; the publisher then sends them as
   * one message (ResultQueue: a `screen-results` message with a deterministic id).
   */
  publish(messages: readonly ResultMessage[], options?: { readonly batchOf?: string }): Promise<void>;
}

/**
 * Port: turns object bytes into the model input tensor. A `DecodePool` in production; the
 * orchestration bench injects pre-decoded synthetic inputs through it (no decode at all).
 */
export interface ModelInputDecoder {
  /** Decode threads: with CXR_MAX_OBJECT_BYTES, sizes the default input byte budget. */
  readonly threads: number;
  decode(
    bytes: Uint8Array,
    request: DecodeRequest<ModelOutput>,
    options?: DecodeCallOptions,
  ): Promise<PoolDecodeResult<ModelOutput>>;
}

/** Everything a `ScreenProcessor` needs; the composition root (WorkerService) builds them. */
export interface ScreenProcessorDeps {
  readonly fetcher: ObjectFetcher;
  readonly pool: ModelInputDecoder;
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

/** Where screening one object ended, before anything is published. */
type ObjectOutcome =
  /** Screened (ok) or its input rejected: final, published, the job completes. */
  | {
      readonly kind: 'final';
      readonly message: ResultMessage;
      readonly returned: ScreenJobReturn;
      /** Sizes for the log line of an object_too_large rejection. */
      readonly detail?: Readonly<Record<string, number>>;
    }
  /** A permanent fetch failure: published as failed at once, never retried. */
  | { readonly kind: 'permanent'; readonly message: ResultMessage; readonly error: unknown }
  /** A transient fault: retried; published as failed only on the final attempt. */
  | {
      readonly kind: 'transient';
      readonly error: unknown;
      readonly reason: FailureReason;
      readonly base: MessageBase;
    };

const MS_PER_SECOND = 1000;

/** Screens single jobs while batching inference across the jobs that are active together. */
export class ScreenProcessor {
  readonly #deps: ScreenProcessorDeps;
  readonly #batcher: DynamicBatcher<BatchItem, BatchOutput>;
  readonly #accept: ManifestAccept;
  readonly #log: Logger;
  readonly #inputBudget: ByteBudget;
  /** The batch tensor buffer (#pack), allocated at the first batch. */
  #batchBuffer: Float32Array | undefined;

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
   * The ScreenWorker processor of a `screen-object` job: one job in, one published outcome (or a
   * retryable throw) out. Resolves with the job's return value (scores, decision, timings, model:
   * what `/v1/predict` answers with; no patient data).
   */
  readonly process = async (
    payload: ScreenJobPayload,
    context: ScreenJobContext,
  ): Promise<ScreenJobReturn> => {
    const outcome = await this.#screen(payload, context);
    switch (outcome.kind) {
      case 'final':
        await this.#deps.results.publish([outcome.message]);
        this.#logOutcome(outcome, payload, context);
        return outcome.returned;
      case 'permanent':
        await this.#deps.results.publish([outcome.message]);
        this.#logOutcome(outcome, payload, context);
        throw new JobRejectedError('fetch_error', 'object fetch failed permanently', {
          cause: outcome.error,
        });
      case 'transient':
        if (context.isFinalAttempt) await this.#deps.results.publish([this.#failedMessage(outcome)]);
        this.#logOutcome(outcome, payload, context);
        // Rethrown as is: BullMQ retries with the queue's exponential backoff.
        throw outcome.error;
    }
  };

  /**
   * The ScreenWorker processor of a `screen-objects` job: its objects are screened together (their
   * fetches overlap, their images share batches) and every object that reached an outcome (ok,
   * rejected, failed permanently; on the final attempt also failed after transient faults) is
   * published in one call, as one result message (`batchOf`: the job's id). Objects hit by a
   * transient fault are handed back for a retry of the job with them alone; a publish failure
   * throws (the whole job is retried: the message's id is deterministic, so BullMQ deduplicates
   * it, and the store's upsert is idempotent).
   */
  readonly processGroup = async (
    payload: ScreenObjectsPayload,
    context: ScreenJobContext,
  ): Promise<ScreenGroupResult> => {
    const outcomes = await Promise.all(
      payload.objects.map((object) =>
        this.#screen(objectPayloadOf(payload, object), { ...context, jobId: object.id }),
      ),
    );
    const messages: ResultMessage[] = [];
    const retry: ScreenJobObject[] = [];
    let firstError: unknown;
    outcomes.forEach((outcome, i) => {
      const object = payload.objects[i];
      if (object === undefined) return;
      if (outcome.kind !== 'transient') {
        messages.push(outcome.message);
        return;
      }
      if (context.isFinalAttempt) messages.push(this.#failedMessage(outcome));
      retry.push(object);
      if (firstError === undefined) firstError = outcome.error;
    });
    if (messages.length > 0) await this.#deps.results.publish(messages, { batchOf: context.jobId });
    outcomes.forEach((outcome, i) => {
      const object = payload.objects[i];
      if (object !== undefined) {
        this.#logOutcome(outcome, objectPayloadOf(payload, object), { ...context, jobId: object.id });
      }
    });
    return retry.length > 0 ? { retry: { objects: retry, error: firstError } } : {};
  };

  /** Fetch, decode, batch and infer one object; never publishes. */
  async #screen(payload: ScreenJobPayload, context: ScreenJobContext): Promise<ObjectOutcome> {
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
      const { manifest, runtime } = this.#deps;
      const described = runtime.describe();
      return {
        kind: 'final',
        message: {
          ...this.#base(payload, context, info, timings, features),
          outcome: 'ok',
          scores: { ...decision.scores },
          decision: decision.diagnosis,
        },
        returned: {
          outcome: 'ok',
          scores: { ...decision.scores },
          diagnosis: decision.diagnosis,
          confidence: decision.confidence,
          positives: [...decision.positives],
          modelId: manifest.id,
          modelVersion: manifest.version,
          runtime: { name: described.name, version: described.version, backend: [...described.backend] },
          timingsMs: timings,
        },
      };
    } catch (error) {
      return this.#classify(error, this.#base(payload, context, info, timings, features), timings);
    } finally {
      input.release();
    }
  }

  /** Runs everything already submitted to the batcher (shutdown: after the worker stopped). */
  async drain(): Promise<void> {
    await this.#batcher.drain();
  }

  /** Rejects new submits and finishes the batches already formed. */
  async close(): Promise<void> {
    await this.#batcher.close();
  }

  /** The outcome of an error: a rejection, a permanent failure, or a transient fault to retry. */
  #classify(error: unknown, base: MessageBase, timings: StageTimings): ObjectOutcome {
    const { manifest } = this.#deps;
    const rejected = (reason: string, detail: Readonly<Record<string, number>>): ObjectOutcome => ({
      kind: 'final',
      message: { ...base, outcome: 'rejected', reason },
      returned: {
        outcome: 'rejected',
        reason,
        modelId: manifest.id,
        modelVersion: manifest.version,
        timingsMs: timings,
      },
      detail,
    });
    // The decoder's message is structural only, but the reason code is all the store needs.
    if (isDicomRejectedError(error)) return rejected(error.reason, {});
    if (error instanceof ObjectTooLargeError) {
      // A property of the input like a decoder rejection: stored as rejected, never retried.
      return rejected('object_too_large', { sizeBytes: error.size, maxBytes: error.maxBytes });
    }
    if (error instanceof ObjectFetchError && !error.transient) {
      // A missing object or denied access does not fix itself: fail now, with a reason.
      return { kind: 'permanent', message: { ...base, outcome: 'failed', reason: 'fetch_error' }, error };
    }
    return { kind: 'transient', error, reason: failureReasonOf(error), base };
  }

  /** The `failed` message of an object whose transient faults outlived its last attempt. */
  #failedMessage(outcome: Extract<ObjectOutcome, { kind: 'transient' }>): ResultMessage {
    return { ...outcome.base, finishedAt: Date.now(), outcome: 'failed', reason: outcome.reason };
  }

  /** One log line per outcome, as the single-object path always wrote them. */
  #logOutcome(outcome: ObjectOutcome, payload: ScreenJobPayload, context: ScreenJobContext): void {
    const { jobId } = context;
    switch (outcome.kind) {
      case 'final': {
        const message = outcome.message;
        if (message.outcome === 'ok') {
          this.#log('debug', 'job screened', { jobId, decision: message.decision });
        } else if (message.outcome === 'rejected' && message.reason === 'object_too_large') {
          // Sizes and the job id only: the URI may name a patient.
          this.#log('info', 'job rejected', { jobId, reason: message.reason, ...outcome.detail });
        } else if (message.outcome === 'rejected') {
          this.#log('info', 'job rejected', { jobId, uri: payload.uri, reason: message.reason });
        }
        return;
      }
      case 'permanent':
        this.#log('warn', 'job failed', { jobId, uri: payload.uri, reason: 'fetch_error' });
        return;
      case 'transient':
        this.#log(
          context.isFinalAttempt ? 'warn' : 'info',
          context.isFinalAttempt ? 'job failed' : 'job will retry',
          {
            jobId,
            uri: payload.uri,
            reason: outcome.reason,
            attemptsMade: context.attemptsMade,
          },
        );
        return;
    }
  }

  async #runBatch(items: BatchItem[]): Promise<BatchOutput[]> {
    const { runtime, manifest, metrics } = this.#deps;
    const start = performance.now();
    const batch = this.#pack(items);
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

  /**
   * The batch tensor of `items`, packed into one buffer kept for every batch (one runs at a time,
   * and a runtime reads its input before predict() resolves: the worker-thread runtimes copy it
   * when they post it). A new zero-filled batch per run cost more worker CPU than the queue did
   * (`pnpm bench orchestration`: allocation, zero-fill and the garbage collector, ~19 MB per batch
   * of 32 at 224). A full batch is the whole buffer; a partial one a view of its start.
   */
  #pack(items: readonly BatchItem[]): Float32Array {
    const length = modelInputLength(this.#deps.manifest.input);
    const [first] = items;
    if (first === undefined || items.some((item) => item.tensor.length !== length)) {
      // packBatch's checks and error message.
      return packBatch(
        items.map((item) => item.tensor),
        this.#deps.manifest.input,
      );
    }
    const capacity = this.#deps.maxBatch * length;
    if (this.#batchBuffer?.length !== capacity) this.#batchBuffer = new Float32Array(capacity);
    const buffer = this.#batchBuffer;
    items.forEach((item, i) => {
      buffer.set(item.tensor, i * length);
    });
    return items.length * length === capacity ? buffer : buffer.subarray(0, items.length * length);
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
