/**
 * The result row: one screened object under one model version. Validated with zod at the store
 * boundary so a malformed (or privacy-violating) message from the queue never reaches a table.
 */
import { z } from 'zod';
import type { ResultDelivery } from './delivery.js';

export const OUTCOMES = ['ok', 'rejected', 'failed'] as const;
/** ok: scored; rejected: bad input, final (PS3.10 object unusable); failed: transient fault exhausted retries. */
export type Outcome = (typeof OUTCOMES)[number];

/** Pipeline stages, named as the `stage` label of `cxr_stage_duration_seconds` (ARCHITECTURE.md). */
export const STAGES = ['fetch', 'decode', 'preprocess', 'batch_wait', 'infer', 'store'] as const;
export type Stage = (typeof STAGES)[number];

// A DICOM UID is digits and dots, at most 64 characters (PS3.5 9.1). Validating the shape keeps a
// misplaced free-text value (such as a patient name) out of the UID columns.
const uid = z
  .string()
  .regex(/^[0-9]+(\.[0-9]+)*$/)
  .max(64);
// Short technical strings (CS/LO values are at most 64 characters, PS3.5 Table 6.2-1); the margin
// allows for runtimes and model ids.
const shortText = z.string().max(256);
// zod 4 numbers already refuse NaN and Infinity, which JSON and both databases cannot round-trip.
const millis = z.number().nonnegative();

const timingsSchema = z.strictObject({
  fetch: millis.nullable().default(null),
  decode: millis.nullable().default(null),
  preprocess: millis.nullable().default(null),
  batch_wait: millis.nullable().default(null),
  infer: millis.nullable().default(null),
  store: millis.nullable().default(null),
});

/**
 * Strict: an unknown key (for instance `patientName`) is refused rather than silently dropped, so
 * a producer that starts sending identifying fields fails loudly instead of leaking them elsewhere.
 */
export const resultRowSchema = z
  .strictObject({
    runId: z.string().min(1).max(256),
    uri: z.string().min(1).max(4096),
    etag: shortText.nullable().default(null),
    sizeBytes: z.number().int().nonnegative().nullable().default(null),
    studyInstanceUid: uid.nullable().default(null),
    seriesInstanceUid: uid.nullable().default(null),
    sopInstanceUid: uid.nullable().default(null),
    /** Output of hashPatientId: 64 lowercase hex digits, never a raw Patient ID (0010,0020). */
    patientIdHash: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .nullable()
      .default(null),
    modality: shortText.nullable().default(null),
    viewPosition: shortText.nullable().default(null),
    manufacturer: shortText.nullable().default(null),
    institution: shortText.nullable().default(null),
    photometric: shortText.nullable().default(null),
    transferSyntax: uid.nullable().default(null),
    rows: z.number().int().positive().nullable().default(null),
    columns: z.number().int().positive().nullable().default(null),
    /**
     * Input features for drift monitoring: mean and (population) standard deviation of the frame's
     * values after the modality LUT, and Bits Stored (0028,0101). Image statistics, no pixels.
     */
    imageMean: z.number().nullable().default(null),
    imageStd: z.number().nonnegative().nullable().default(null),
    bitsStored: z.number().int().min(1).max(32).nullable().default(null),
    modelId: z.string().min(1).max(256),
    modelVersion: z.string().min(1).max(256),
    runtime: shortText.nullable().default(null),
    /** label -> score; null when the object was not scored (rejected or failed). */
    scores: z.record(z.string().min(1).max(256), z.number()).nullable().default(null),
    decision: shortText.nullable().default(null),
    /**
     * The worklist's sort key: the highest score among the model's finding labels (suspicionOf of
     * @cxr/model, from the manifest); null when the row was not scored or the manifest was unknown.
     */
    suspicion: z.number().nullable().default(null),
    outcome: z.enum(OUTCOMES),
    /** Reject reason code (REJECT_REASONS of @cxr/dicom) or failure reason code. */
    reason: shortText.nullable().default(null),
    /** Milliseconds spent per stage; null when the stage did not run. */
    timings: timingsSchema.default({
      fetch: null,
      decode: null,
      preprocess: null,
      batch_wait: null,
      infer: null,
      store: null,
    }),
    /** ISO 8601 instant the object was enqueued (end-to-end latency starts there). */
    enqueuedAt: z.iso.datetime({ offset: true }).nullable().default(null),
  })
  .superRefine((row, ctx) => {
    if (row.outcome === 'ok' && row.scores === null) {
      ctx.addIssue({ code: 'custom', path: ['scores'], message: 'an ok result carries scores' });
    }
    if (row.outcome !== 'ok' && row.suspicion !== null) {
      ctx.addIssue({ code: 'custom', path: ['suspicion'], message: 'only an ok result has a suspicion' });
    }
    if (row.outcome !== 'ok' && row.reason === null) {
      ctx.addIssue({
        code: 'custom',
        path: ['reason'],
        message: 'a rejected or failed result carries a reason',
      });
    }
  });

/** A validated result as the store writes it. */
export type ResultRow = z.output<typeof resultRowSchema>;
/** What producers may hand to parseResultRow (optional fields may be omitted). */
export type ResultRowInput = z.input<typeof resultRowSchema>;
export type StageTimings = ResultRow['timings'];

/** A stored row: the result plus the store's own timestamps (ISO 8601, UTC). */
export interface StoredResult extends ResultRow {
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Delivery of the findings to a PACS (migration 4); null or absent = never queued. */
  readonly delivery?: ResultDelivery | null;
}

/** The identity of a result: one row per object URI and model version. */
export interface ResultKey {
  readonly uri: string;
  readonly modelId: string;
  readonly modelVersion: string;
}

/** Thrown for a row that fails validation; the message names fields and rules, never values. */
export class InvalidResultRowError extends Error {
  override readonly name = 'InvalidResultRowError';
  readonly issues: readonly { path: string; code: string }[];

  constructor(issues: readonly { path: string; code: string }[]) {
    super(`invalid result row: ${issues.map((issue) => `${issue.path} (${issue.code})`).join(', ')}`);
    this.issues = issues;
  }
}

/** Validates one result row at the boundary; throws InvalidResultRowError without echoing values. */
export function parseResultRow(input: unknown): ResultRow {
  const parsed = resultRowSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw new InvalidResultRowError(
    parsed.error.issues.map((issue) => ({
      // Unrecognized keys name the key itself (a field name, not a value), which is what a
      // producer needs to fix the message.
      path:
        issue.code === 'unrecognized_keys'
          ? [...issue.path, ...issue.keys].map(String).join('.')
          : issue.path.map(String).join('.') || '(root)',
      code: issue.code,
    })),
  );
}

/** A stable string for a key, for maps and sets. */
export function resultKeyString(key: ResultKey): string {
  return JSON.stringify([key.modelId, key.modelVersion, key.uri]);
}
