/**
 * Job payloads: zod schemas (validated at both ends of the queue) and the types inferred from
 * them. Payloads carry URIs and metadata only, never pixel data, and no patient identifier except
 * a salted hash of the Patient ID. Objects are strict so an unexpected field (a patient name, a
 * pixel buffer) is a validation error rather than something silently stored in Redis.
 */
import { z } from 'zod';
import { JobName } from './names.js';

/** BullMQ's largest priority (2^21); 1 is the highest priority, no priority is FIFO. */
export const MAX_PRIORITY = 2_097_152;

const nonEmpty = z.string().min(1);
/** Milliseconds since the Unix epoch (Date.now()). */
const epochMs = z.number().int().nonnegative();

/** Payload of a `screen-object` job on `cxr-screen`. */
export const screenJobPayloadSchema = z.strictObject({
  /** Object URI as the source lists it (`s3://bucket/key`, `file:///path`). */
  uri: nonEmpty,
  /** Object version from the source (S3 ETag); absent for sources without one. */
  etag: nonEmpty.optional(),
  /** Object size in bytes. */
  size: z.number().int().nonnegative(),
  runId: nonEmpty,
  modelId: nonEmpty,
  modelVersion: nonEmpty,
  enqueuedAt: epochMs,
  /** BullMQ priority (1 = highest): the synchronous `/v1/predict` path jumps the archive queue. */
  priority: z.number().int().min(1).max(MAX_PRIORITY).optional(),
  /** A deliberate re-screen (`--force`): the result replaces the stored row, final or not. */
  force: z.literal(true).optional(),
});
export type ScreenJobPayload = z.infer<typeof screenJobPayloadSchema>;

/** Largest CXR_OBJECTS_PER_JOB: a job's payload stays a few tens of KiB. */
export const MAX_OBJECTS_PER_JOB = 256;

/** One object of a `screen-objects` job: its own screen job id (see `screenJobId`) and version. */
export const screenJobObjectSchema = z.strictObject({
  /** The object's screen job id: its result message id and the store's idempotency key. */
  id: z.string().regex(/^scr_[0-9a-f]{40}$/),
  uri: nonEmpty,
  etag: nonEmpty.optional(),
  size: z.number().int().nonnegative(),
});
export type ScreenJobObject = z.infer<typeof screenJobObjectSchema>;

/**
 * Payload of a `screen-objects` job on `cxr-screen`: objects listed together by one ingest chunk,
 * screened in one job. Each object keeps its own id, outcome and result message; a retry carries
 * only the objects still without an outcome.
 */
export const screenObjectsPayloadSchema = z.strictObject({
  objects: z.array(screenJobObjectSchema).min(1).max(MAX_OBJECTS_PER_JOB),
  runId: nonEmpty,
  modelId: nonEmpty,
  modelVersion: nonEmpty,
  enqueuedAt: epochMs,
  force: z.literal(true).optional(),
});
export type ScreenObjectsPayload = z.infer<typeof screenObjectsPayloadSchema>;

/** The single-object payload of one object of a `screen-objects` job. */
export function objectPayloadOf(group: ScreenObjectsPayload, object: ScreenJobObject): ScreenJobPayload {
  return {
    uri: object.uri,
    ...(object.etag !== undefined ? { etag: object.etag } : {}),
    size: object.size,
    runId: group.runId,
    modelId: group.modelId,
    modelVersion: group.modelVersion,
    enqueuedAt: group.enqueuedAt,
    ...(group.force === true ? { force: true as const } : {}),
  };
}

/** Pipeline stages timed per item; the keys are the `stage` label of `cxr_stage_duration_seconds`. */
export const STAGES = ['fetch', 'decode', 'preprocess', 'batch_wait', 'infer'] as const;
export type Stage = (typeof STAGES)[number];

/** Per-stage durations in milliseconds; a stage an item never reached is absent. */
export const stageTimingsSchema = z.strictObject({
  fetch: z.number().nonnegative().optional(),
  decode: z.number().nonnegative().optional(),
  preprocess: z.number().nonnegative().optional(),
  batch_wait: z.number().nonnegative().optional(),
  infer: z.number().nonnegative().optional(),
});
export type StageTimings = z.infer<typeof stageTimingsSchema>;

/** DICOM instance identifiers (PS3.3 C.7.2.1, C.7.3.1, C.12.1); no patient identity. */
export const instanceUidsSchema = z.strictObject({
  studyInstanceUid: nonEmpty.optional(),
  seriesInstanceUid: nonEmpty.optional(),
  sopInstanceUid: nonEmpty.optional(),
});
export type ResultUids = z.infer<typeof instanceUidsSchema>;

/** Acquisition and equipment tags that are safe to store and to use as metric labels. */
export const technicalTagsSchema = z.strictObject({
  modality: z.string().optional(),
  viewPosition: z.string().optional(),
  bodyPartExamined: z.string().optional(),
  manufacturer: z.string().optional(),
  manufacturerModelName: z.string().optional(),
  institutionName: z.string().optional(),
  photometricInterpretation: z.string().optional(),
  transferSyntaxUid: z.string().optional(),
  rows: z.number().int().positive().optional(),
  columns: z.number().int().positive().optional(),
});
export type ResultTechnicalTags = z.infer<typeof technicalTagsSchema>;

/**
 * Per-image input features for drift monitoring, computed in the decode thread: mean and
 * population standard deviation of the frame after the Modality LUT, and Bits Stored (0028,0101).
 * Statistics only, never pixel values.
 */
export const imageFeaturesSchema = z.strictObject({
  imageMean: z.number(),
  imageStd: z.number().nonnegative(),
  bitsStored: z.number().int().min(1).max(32),
});
export type ResultImageFeatures = z.infer<typeof imageFeaturesSchema>;

/** Fields every result message has, whatever the outcome. */
const resultBaseShape = {
  /** The `cxr-screen` job id (see `screenJobId`); the store's idempotency key with the model. */
  jobId: nonEmpty,
  uri: nonEmpty,
  etag: nonEmpty.optional(),
  runId: nonEmpty,
  modelId: nonEmpty,
  modelVersion: nonEmpty,
  /** Runtime adapter that ran (or would have run) inference, e.g. `onnx`, `tfjs-wasm`. */
  runtime: nonEmpty,
  uids: instanceUidsSchema,
  technical: technicalTagsSchema,
  /** sha256 hex of salt + Patient ID (0010,0020), for joins in retrospective studies only. */
  patientIdHash: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  timingsMs: stageTimingsSchema,
  /** Absent when the image was never decoded (fetch failures, rejects) and from older workers. */
  features: imageFeaturesSchema.optional(),
  enqueuedAt: epochMs,
  finishedAt: epochMs,
  /** BullMQ attempts made before this outcome (0 on first try). */
  attemptsMade: z.number().int().nonnegative(),
  /** From a forced screen job: the store replaces the existing row (new run id, scores, times). */
  force: z.literal(true).optional(),
};

/** Screening succeeded: scores per model label and the manifest's decision. */
export const okResultSchema = z.strictObject({
  ...resultBaseShape,
  outcome: z.literal('ok'),
  scores: z.record(z.string(), z.number()),
  decision: nonEmpty,
});
/** Bad input (not DICOM, truncated, unsupported syntax ...): a reject reason code, never retried. */
export const rejectedResultSchema = z.strictObject({
  ...resultBaseShape,
  outcome: z.literal('rejected'),
  /** A `RejectReason` code from @cxr/dicom (kept a string here: queue does not depend on dicom). */
  reason: nonEmpty,
});
/** Transient faults that outlived every retry, or an unexpected error: a reason, no message text. */
export const failedResultSchema = z.strictObject({
  ...resultBaseShape,
  outcome: z.literal('failed'),
  reason: nonEmpty,
});

/**
 * Return value of a `screen-object` job that was screened (BullMQ keeps it in the job hash and
 * sends it with the `completed` event): what the synchronous `/v1/predict` path answers with.
 * Scores, decision, timings and model only; no patient data, no UIDs, no URI.
 */
export const screenedJobReturnSchema = z.strictObject({
  outcome: z.literal('ok'),
  /** Every label's score, in manifest order. */
  scores: z.record(z.string(), z.number()),
  /** The manifest's decision rule applied to the scores (see @cxr/model's `decide`). */
  diagnosis: nonEmpty,
  confidence: z.number(),
  positives: z.array(z.string()),
  modelId: nonEmpty,
  modelVersion: nonEmpty,
  runtime: z.strictObject({
    name: nonEmpty,
    /** Engine version, e.g. `onnxruntime-node 1.30.0`. */
    version: z.string(),
    backend: z.array(z.string()),
  }),
  timingsMs: stageTimingsSchema,
});
export type ScreenedJobReturn = z.infer<typeof screenedJobReturnSchema>;

/**
 * Return value of a `screen-object` job whose input was rejected (not DICOM, truncated, not
 * applicable ...). A rejection is a final outcome, not a job failure: the job completes with it,
 * so BullMQ's failed set (and the alert on it) holds real failures only.
 */
export const rejectedJobReturnSchema = z.strictObject({
  outcome: z.literal('rejected'),
  /** A `RejectReason` code from @cxr/dicom. */
  reason: nonEmpty,
  modelId: nonEmpty,
  modelVersion: nonEmpty,
  timingsMs: stageTimingsSchema,
});
export type RejectedJobReturn = z.infer<typeof rejectedJobReturnSchema>;

/** Return value of a completed `screen-object` job, by outcome. */
export const screenJobReturnSchema = z.discriminatedUnion('outcome', [
  screenedJobReturnSchema,
  rejectedJobReturnSchema,
]);
export type ScreenJobReturn = z.infer<typeof screenJobReturnSchema>;

/** Payload of a `screen-result` job on `cxr-results`, discriminated by `outcome`. */
export const resultMessageSchema = z.discriminatedUnion('outcome', [
  okResultSchema,
  rejectedResultSchema,
  failedResultSchema,
]);
export type ResultMessage = z.infer<typeof resultMessageSchema>;
export type ResultOutcome = ResultMessage['outcome'];

/** Version of the `screen-results` payload; a consumer refuses (and retries) versions it does not know. */
export const RESULT_BATCH_VERSION = 1;

/**
 * Payload of a `screen-results` job on `cxr-results`: the outcomes of up to MAX_OBJECTS_PER_JOB
 * objects published together by one `screen-objects` job, each entry a `screen-result` payload
 * (validated with `resultMessageSchema`). Stored in one transaction; each entry keeps its own
 * row, metrics, drift and findings hooks. Its job id (`resultBatchJobId`) is deterministic, so a
 * redelivered screen job publishing the same outcomes again is deduplicated.
 */
export const resultBatchSchema = z.strictObject({
  version: z.literal(RESULT_BATCH_VERSION),
  results: z.array(resultMessageSchema).min(1).max(MAX_OBJECTS_PER_JOB),
});
export type ResultBatch = z.infer<typeof resultBatchSchema>;

/** Payload of a `deliver-findings` job on `cxr-findings`: which stored row, where to, since when. No patient data. */
export const findingsJobPayloadSchema = z.strictObject({
  /** The result's row key (@cxr/store rowKeyOf): a hash, never the object URI. */
  rowKey: z.string().regex(/^[0-9a-f]{32}$/),
  /** `dicomweb+http(s)://HOST/ROOT` or `dimse://AET@HOST:PORT`. */
  destination: z.string().min(1).max(1024),
  /** When the result was stored (ms since the epoch): the delivery lag starts there. */
  storedAt: epochMs,
});
export type FindingsJobPayload = z.infer<typeof findingsJobPayloadSchema>;

/** Payload schema of each job name; keyed by `JobName` so a job without a schema fails to compile. */
export const payloadSchemaOfJob = {
  [JobName.ScreenObject]: screenJobPayloadSchema,
  [JobName.ScreenObjects]: screenObjectsPayloadSchema,
  [JobName.ScreenResult]: resultMessageSchema,
  [JobName.ScreenResults]: resultBatchSchema,
  [JobName.DeliverFindings]: findingsJobPayloadSchema,
} as const satisfies Record<JobName, z.ZodType>;

/** Payload type of each job name. */
export interface JobPayloadMap {
  [JobName.ScreenObject]: ScreenJobPayload;
  [JobName.ScreenObjects]: ScreenObjectsPayload;
  [JobName.ScreenResult]: ResultMessage;
  [JobName.ScreenResults]: ResultBatch;
  [JobName.DeliverFindings]: FindingsJobPayload;
}

/** A job as a discriminated union keyed by job name (Immich's `JobItem`). */
export type JobItem = {
  [N in JobName]: { readonly name: N; readonly data: JobPayloadMap[N] };
}[JobName];

/** Validates a payload for its job name; throws a ZodError naming the bad fields (no values). */
export function parseJobPayload<N extends JobName>(name: N, data: unknown): JobPayloadMap[N] {
  return payloadSchemaOfJob[name].parse(data) as JobPayloadMap[N];
}
