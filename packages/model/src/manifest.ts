import { access, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as z from 'zod';
import { ACTIVATIONS, MODEL_FORMATS, type ModelFormat, type OutputActivation } from './names.js';

/**
 * The model bundle manifest (`manifest.json`): the single truth about a model's input tensor,
 * preprocessing and output. No preprocessing constant lives in code; the imaging package and the
 * runtimes read everything from here. See ARCHITECTURE.md, "Model bundle".
 */

export const MANIFEST_FILE = 'manifest.json';

export { MODEL_FORMATS, type ModelFormat };

export const ARCHITECTURES = ['densenet121'] as const;

export const INPUT_LAYOUTS = ['NHWC', 'NCHW'] as const;
export type InputLayout = (typeof INPUT_LAYOUTS)[number];

// Same names as @cxr/imaging's RESIZE_FILTERS (model must not depend on imaging, so they are
// repeated here; the imaging tests should check the two lists agree).
export const MANIFEST_RESIZE_FILTERS = ['nearest', 'bilinear', 'cubic', 'lanczos3'] as const;

export { ACTIVATIONS, type OutputActivation };

export const DECISION_RULES = ['argmax', 'thresholds'] as const;

/** ImageNet per-channel statistics (RGB, on [0,1] inputs) for manifests that use them. */
export const IMAGENET_NORMALIZATION = {
  method: 'imagenet',
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
} as const;

const positiveInt = z
  .number({ error: (issue) => (issue.input === undefined ? 'required' : 'expected a positive integer') })
  .int({ error: 'expected a positive integer' })
  .positive({ error: 'expected a positive integer' });
const nonEmptyString = z.string().min(1, { error: 'expected a non-empty string' });
const finite = z.number({
  error: (issue) => (issue.input === undefined ? 'required' : 'expected a finite number'),
});
const unitInterval = finite.min(0, { error: 'expected a number in [0,1]' }).max(1, {
  error: 'expected a number in [0,1]',
});

// Weight files are named relative to the bundle folder; no absolute paths and no `..`, so a
// manifest cannot make the loader read outside its bundle.
const bundleFileName = z
  .string()
  .regex(/^[A-Za-z0-9_][A-Za-z0-9._-]*(\/[A-Za-z0-9_][A-Za-z0-9._-]*)*$/, {
    error: 'expected a relative file name inside the bundle (letters, digits, . _ - /; no "..")',
  })
  .refine((name) => !name.split('/').includes('..'), { error: 'expected no ".." segment' });

const intensitySchema = z.discriminatedUnion(
  'method',
  [
    // Apply the DICOM VOI window (PS3.3 C.11.2) from the file, falling back to min-max if absent.
    z.strictObject({ method: z.literal('dicom-window') }),
    z.strictObject({ method: z.literal('min-max') }),
    z
      .strictObject({
        method: z.literal('percentiles'),
        low: finite.min(0, { error: 'expected a percentile in [0,100]' }).max(100, {
          error: 'expected a percentile in [0,100]',
        }),
        high: finite.min(0, { error: 'expected a percentile in [0,100]' }).max(100, {
          error: 'expected a percentile in [0,100]',
        }),
      })
      .refine((v) => v.low < v.high, { error: 'expected low < high', path: ['high'] }),
    // The stored values over the whole range Bits Stored allows, v / (2^BitsStored - 1), with no
    // Modality LUT and no VOI: TorchXRayVision's read_xray_dcm (and normalize(img, 255) for
    // 8-bit images), so its models see the intensities they were trained on.
    z.strictObject({ method: z.literal('bits-stored') }),
  ],
  { error: 'expected method "dicom-window" | "min-max" | "percentiles" | "bits-stored"' },
);

const normalizationSchema = z.discriminatedUnion(
  'method',
  [
    // [0,1]
    z.strictObject({ method: z.literal('unit') }),
    // ([0,1] - mean) / std per channel; the statistics are data, so they live in the manifest.
    z.strictObject({
      method: z.literal('imagenet'),
      mean: z.array(finite).min(1).max(3),
      std: z
        .array(finite.positive({ error: 'expected a positive number' }))
        .min(1)
        .max(3),
    }),
    // [-1024,1024], as TorchXRayVision models expect.
    z.strictObject({ method: z.literal('xrv') }),
  ],
  { error: 'expected method "unit" | "imagenet" | "xrv"' },
);

/** How much resolution the decoder may skip for a model input (input.decodeResolution). */
export const DECODE_RESOLUTIONS = ['auto', 'full'] as const;

export type DecodeResolution = (typeof DECODE_RESOLUTIONS)[number];

const inputSchema = z
  .strictObject({
    size: positiveInt,
    channels: z.union([z.literal(1), z.literal(3)], { error: 'expected 1 or 3' }),
    layout: z.enum(INPUT_LAYOUTS),
    crop: z.enum(['none', 'center-square']),
    resize: z.enum(MANIFEST_RESIZE_FILTERS),
    intensity: intensitySchema,
    normalization: normalizationSchema,
    // 'auto' (the default when absent): the decoder may skip resolution the model input cannot
    // use (JPEG 2000 / HTJ2K resolution levels, a box average fused with the intensity step),
    // never going below `size` on either side before the final resize; 'full': every image is
    // decoded and rendered at full resolution first (the reference path). docs/decoding.md.
    decodeResolution: z.enum(DECODE_RESOLUTIONS).optional(),
  })
  .superRefine((input, ctx) => {
    const n = input.normalization;
    if (n.method === 'imagenet') {
      for (const key of ['mean', 'std'] as const) {
        if (n[key].length !== input.channels) {
          ctx.addIssue({
            code: 'custom',
            path: ['normalization', key],
            message: `expected ${input.channels} value(s), one per input channel`,
          });
        }
      }
    }
  });

// A non-empty list of tag values; an empty list would accept nothing, so it is refused (leave the
// key out to accept any value).
const valueList = z
  .array(nonEmptyString)
  .min(1, { error: 'expected at least one value (leave the key out to accept any)' });
const uidList = z
  .array(z.string().regex(/^[0-9]+(\.[0-9]+)*$/, { error: 'expected a UID (digits and dots)' }))
  .min(1, { error: 'expected at least one UID (leave the key out to accept any)' });

/**
 * Which images the model applies to. Each key restricts one attribute of the header and is
 * checked before any pixel is decoded; a key left out is not checked. An image that fails a rule
 * is rejected as `not_applicable` and never scored. Tag values compare case-insensitively.
 */
const acceptSchema = z.strictObject({
  /** Modality (0008,0060), e.g. CR, DX. An image without one is not applicable. */
  modalities: valueList.optional(),
  /** SOP Class UID (0008,0016). An image without one is not applicable. */
  sopClassUids: uidList.optional(),
  /** Body Part Examined (0018,0015), e.g. CHEST; checked only when the file has the tag. */
  bodyParts: valueList.optional(),
  /** View Position (0018,5101), e.g. PA, AP; checked only when the file has the tag. */
  viewPositions: valueList.optional(),
  /** Photometric Interpretation (0028,0004) as stored, e.g. MONOCHROME1, MONOCHROME2. */
  photometric: valueList.optional(),
  /** Smallest Rows (0028,0010) / Columns (0028,0011). */
  minRows: positiveInt.optional(),
  minColumns: positiveInt.optional(),
  /** true: Number of Frames (0028,0008) must be 1 (a 2D model reads frame 0 only). */
  singleFrame: z.boolean().optional(),
});

/** Version of the `reference` block this code reads and `cxr model reference` writes. */
export const REFERENCE_VERSION = 1;
// Feature names of the drift reference; the same lists as @cxr/metrics' NUMERIC_FEATURES and
// CATEGORICAL_FEATURES (model must not depend on metrics; the results tests check they agree).
export const REFERENCE_NUMERIC_FEATURES = [
  'image_mean',
  'image_std',
  'rows',
  'columns',
  'bits_stored',
] as const;
export const REFERENCE_CATEGORICAL_FEATURES = [
  'manufacturer',
  'modality',
  'view_position',
  'photometric_interpretation',
  'transfer_syntax',
] as const;
/** The catch-all category every categorical reference distribution carries. */
export const REFERENCE_OTHER_CATEGORY = 'other';
// Probabilities are stored as computed (count / n), so their float sum is 1 within a few ulps.
const PROBABILITY_SUM_TOLERANCE = 1e-6;

const probability = finite.min(0, { error: 'expected a probability in [0,1]' }).max(1, {
  error: 'expected a probability in [0,1]',
});

function checkSum(values: readonly number[], ctx: z.RefinementCtx, path: PropertyKey[]): void {
  const sum = values.reduce((a, b) => a + b, 0);
  if (Math.abs(sum - 1) > PROBABILITY_SUM_TOLERANCE) {
    ctx.addIssue({ code: 'custom', path, message: `expected probabilities summing to 1 (sum ${sum})` });
  }
}

// A distribution over fixed bins: edges[i] <= x < edges[i+1], the last bin closed, values outside
// [edges[0], edges[n]] counted in the end bins (see @cxr/metrics histogram).
const binnedDistributionSchema = z
  .strictObject({
    edges: z.array(finite).min(2, { error: 'expected at least two edges' }),
    probabilities: z.array(probability),
    n: positiveInt,
  })
  .superRefine((h, ctx) => {
    if (h.probabilities.length !== h.edges.length - 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['probabilities'],
        message: 'expected edges.length - 1 probabilities',
      });
    }
    for (let i = 1; i < h.edges.length; i++) {
      if (!(h.edges[i]! > h.edges[i - 1]!)) {
        ctx.addIssue({ code: 'custom', path: ['edges', i], message: 'expected strictly increasing edges' });
        return;
      }
    }
    checkSum(h.probabilities, ctx, ['probabilities']);
  });

const categoricalDistributionSchema = z
  .strictObject({
    probabilities: z.record(nonEmptyString, probability),
    n: positiveInt,
  })
  .superRefine((c, ctx) => {
    if (!(REFERENCE_OTHER_CATEGORY in c.probabilities)) {
      ctx.addIssue({
        code: 'custom',
        path: ['probabilities', REFERENCE_OTHER_CATEGORY],
        message: 'required (the bucket of categories the reference does not list)',
      });
    }
    checkSum(Object.values(c.probabilities), ctx, ['probabilities']);
  });

const numericFeaturesShape = Object.fromEntries(
  REFERENCE_NUMERIC_FEATURES.map((f) => [f, binnedDistributionSchema.optional()]),
) as Record<(typeof REFERENCE_NUMERIC_FEATURES)[number], z.ZodOptional<typeof binnedDistributionSchema>>;
const categoricalFeaturesShape = Object.fromEntries(
  REFERENCE_CATEGORICAL_FEATURES.map((f) => [f, categoricalDistributionSchema.optional()]),
) as Record<
  (typeof REFERENCE_CATEGORICAL_FEATURES)[number],
  z.ZodOptional<typeof categoricalDistributionSchema>
>;

// Drift reference, version 1: the distributions the results service compares its sliding window
// with (cxr_prediction_drift_*, cxr_input_drift_psi). Written by `cxr model reference`.
const referenceSchema = z.strictObject({
  version: z.literal(REFERENCE_VERSION, { error: `expected version ${REFERENCE_VERSION}` }),
  /** Ok results the reference was computed from. */
  n: positiveInt,
  source: z.strictObject({
    kind: z.literal('run'),
    runId: nonEmptyString,
    modelId: nonEmptyString,
    modelVersion: nonEmptyString,
    computedAt: z.iso.datetime({ error: 'expected an ISO 8601 date-time' }),
  }),
  /** Per output label: score distribution. */
  scores: z.record(nonEmptyString, binnedDistributionSchema),
  numeric: z.strictObject(numericFeaturesShape),
  categorical: z.strictObject(categoricalFeaturesShape),
});

const provenanceSchema = z.looseObject({
  /** Said wherever the model is used (`cxr predict`, `cxr screen`), e.g. that its weights are random. */
  warning: nonEmptyString.optional(),
  trainingData: z.string().optional(),
  metrics: z.record(z.string(), finite).optional(),
  date: z.iso.datetime({ error: 'expected an ISO 8601 date-time' }).optional(),
  seed: z.number().int({ error: 'expected an integer' }).optional(),
});

const outputSchema = z
  .strictObject({
    // What the graph already applies. Runtimes never apply it again.
    activation: z.enum(ACTIVATIONS),
    labels: z.array(nonEmptyString).min(1, { error: 'expected at least one label' }),
    // Per-label operating points; keys must be labels.
    thresholds: z.record(z.string(), finite).optional(),
    // argmax: exactly one label per image (single-label); thresholds: each label with
    // score >= threshold is positive (multi-label).
    decision: z.enum(DECISION_RULES),
    // The label that means "no finding" (the seed's `normal`, CheXpert's `No Finding`): every
    // other label is a finding, and the worklist's suspicion is the highest finding score.
    normalLabel: nonEmptyString.optional(),
  })
  .superRefine((out, ctx) => {
    const seen = new Set<string>();
    out.labels.forEach((label, i) => {
      if (seen.has(label)) {
        ctx.addIssue({ code: 'custom', path: ['labels', i], message: `duplicate label "${label}"` });
      }
      seen.add(label);
    });
    if (out.normalLabel !== undefined && !seen.has(out.normalLabel)) {
      ctx.addIssue({ code: 'custom', path: ['normalLabel'], message: 'not one of output.labels' });
    }
    const thresholds = out.thresholds ?? {};
    for (const [label, value] of Object.entries(thresholds)) {
      if (!seen.has(label)) {
        ctx.addIssue({ code: 'custom', path: ['thresholds', label], message: 'not one of output.labels' });
      } else if (out.activation !== 'none' && !unitInterval.safeParse(value).success) {
        // Probabilities live in [0,1]; raw scores (activation none) may be any real number.
        ctx.addIssue({ code: 'custom', path: ['thresholds', label], message: 'expected a number in [0,1]' });
      }
    }
    if (out.decision === 'thresholds') {
      for (const label of out.labels) {
        if (!(label in thresholds)) {
          ctx.addIssue({
            code: 'custom',
            path: ['thresholds', label],
            message: 'required when decision is "thresholds"',
          });
        }
      }
    }
  });

// A coded concept (PS3.3 8.8): Code Value up to 64 characters (longer than 16 goes in Long Code
// Value), Coding Scheme Designator SH (16), Code Meaning LO (64).
const codedConceptSchema = z.strictObject({
  value: nonEmptyString.max(64, { error: 'expected at most 64 characters' }),
  scheme: nonEmptyString.max(16, { error: 'expected at most 16 characters' }),
  meaning: nonEmptyString.max(64, { error: 'expected at most 64 characters' }),
});

/**
 * The findings objects built for ok results (@cxr/findings): a DICOM SR per screened image, and
 * optionally a Secondary Capture summary image. Every key is optional; a bundle without the
 * section gets SRs with private codes and a derived series number.
 */
const findingsSchema = z.strictObject({
  /** Also build a Secondary Capture summary image (the source with a banner of the findings). */
  summaryImage: z.boolean().optional(),
  /** Series Number of the SR series; the summary image series is this + 1. Default: derived from id and version. */
  seriesNumber: positiveInt.max(2 ** 31 - 2, { error: 'expected at most 2147483646' }).optional(),
  /** Standard codes of labels (e.g. SNOMED CT), keyed by label; other labels get a private 99CXR code. */
  codes: z.record(z.string(), codedConceptSchema).optional(),
});

/** Zod schema of manifest.json; prefer `parseManifest`, which formats errors. */
export const modelManifestSchema = z
  .strictObject({
    id: nonEmptyString,
    version: nonEmptyString,
    architecture: z.enum(ARCHITECTURES),
    format: z.enum(MODEL_FORMATS),
    // onnx: exactly one `.onnx` file. tfjs-layers: the model.json first, then its weight shards.
    weights: z.array(bundleFileName).min(1, { error: 'expected at least one file' }),
    // Absent in bundles written before it existed: they get DEFAULT_ACCEPT (acceptRulesOf).
    accept: acceptSchema.optional(),
    input: inputSchema,
    output: outputSchema,
    reference: referenceSchema.optional(),
    provenance: provenanceSchema.optional(),
    findings: findingsSchema.optional(),
  })
  .superRefine((m, ctx) => {
    for (const label of Object.keys(m.findings?.codes ?? {})) {
      if (!m.output.labels.includes(label)) {
        ctx.addIssue({
          code: 'custom',
          path: ['findings', 'codes', label],
          message: 'not one of output.labels',
        });
      }
    }
    for (const label of Object.keys(m.reference?.scores ?? {})) {
      if (!m.output.labels.includes(label)) {
        ctx.addIssue({
          code: 'custom',
          path: ['reference', 'scores', label],
          message: 'not one of output.labels',
        });
      }
    }
    const first = m.weights[0];
    if (first === undefined) return;
    if (m.format === 'onnx' && (m.weights.length !== 1 || !first.endsWith('.onnx'))) {
      ctx.addIssue({
        code: 'custom',
        path: ['weights'],
        message: 'format onnx expects exactly one .onnx file',
      });
    }
    if (m.format === 'tfjs-layers' && !first.endsWith('.json')) {
      ctx.addIssue({
        code: 'custom',
        path: ['weights', 0],
        message: 'format tfjs-layers expects the model.json first',
      });
    }
    if (new Set(m.weights).size !== m.weights.length) {
      ctx.addIssue({ code: 'custom', path: ['weights'], message: 'duplicate file name' });
    }
  });

export type ModelManifest = z.infer<typeof modelManifestSchema>;
export type ManifestInput = ModelManifest['input'];
export type ManifestOutput = ModelManifest['output'];
export type ManifestReference = NonNullable<ModelManifest['reference']>;
export type ManifestAccept = NonNullable<ModelManifest['accept']>;
export type ManifestFindings = NonNullable<ModelManifest['findings']>;

/**
 * The rules of a manifest without `accept`: a chest radiograph. CR or DX; Body Part Examined, when
 * present, CHEST or THORAX (or LUNG); grey-scale as stored (MONOCHROME1/2: palette test patterns
 * and colour captures are not radiographs); one frame; at least 128 x 128 (an icon or a thumbnail
 * is no image to screen). Not restricted: SOP classes (public chest sets are often Secondary
 * Capture with Modality CR or DX) and view positions (a lateral chest is still a chest). A bundle
 * that means something else says so with its own `accept`; `"accept": {}` accepts everything.
 */
export const DEFAULT_ACCEPT: ManifestAccept = {
  modalities: ['CR', 'DX'],
  bodyParts: ['CHEST', 'THORAX', 'LUNG'],
  photometric: ['MONOCHROME1', 'MONOCHROME2'],
  minRows: 128,
  minColumns: 128,
  singleFrame: true,
};

/** The applicability rules a manifest stands for: its own `accept`, else DEFAULT_ACCEPT. */
export function acceptRulesOf(manifest: Pick<ModelManifest, 'accept'>): ManifestAccept {
  return manifest.accept ?? DEFAULT_ACCEPT;
}

export const MODEL_BUNDLE_ERROR_CODES = [
  'manifest_missing',
  'manifest_not_json',
  'manifest_invalid',
  'weights_missing',
] as const;
export type ModelBundleErrorCode = (typeof MODEL_BUNDLE_ERROR_CODES)[number];

/** A bundle that cannot be used; the message is one line and names the file and field. */
export class ModelBundleError extends Error {
  override readonly name = 'ModelBundleError';
  readonly code: ModelBundleErrorCode;

  constructor(code: ModelBundleErrorCode, message: string, options?: { cause?: unknown }) {
    super(message.replace(/\s*\n\s*/g, ' '), options);
    this.code = code;
  }
}

function formatPath(segments: readonly PropertyKey[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else out += out === '' ? String(s) : `.${String(s)}`;
  }
  return out === '' ? '(root)' : out;
}

// Per-parse error map: default wording for issues the schema does not word itself. A missing
// key says "required" rather than zod's "expected string, received undefined".
const errorMap: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined ? 'required' : `expected ${issue.expected}`;
    case 'invalid_value':
      return `expected ${issue.values.map((v) => JSON.stringify(v)).join(' | ')}`;
    case 'unrecognized_keys':
      return `unknown key(s) ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    default:
      return undefined;
  }
};

/** Validates a parsed manifest.json; throws ModelBundleError naming every bad field path. */
export function parseManifest(json: unknown, source = MANIFEST_FILE): ModelManifest {
  const result = modelManifestSchema.safeParse(json, { error: errorMap });
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`);
  throw new ModelBundleError('manifest_invalid', `${source}: ${issues.join('; ')}`);
}

/** The path and text of `<dir>/manifest.json`; a missing or unreadable file is `manifest_missing`. */
async function readManifestText(dir: string): Promise<{ file: string; text: string }> {
  const file = path.join(dir, MANIFEST_FILE);
  try {
    return { file, text: await readFile(file, 'utf8') };
  } catch (cause) {
    throw new ModelBundleError('manifest_missing', `${MANIFEST_FILE}: cannot read ${file}`, { cause });
  }
}

/** Reads and validates `<dir>/manifest.json` (weights are not checked; see loadBundle). */
export async function readManifest(dir: string): Promise<ModelManifest> {
  const { text } = await readManifestText(dir);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    throw new ModelBundleError('manifest_not_json', `${MANIFEST_FILE}: not valid JSON (${detail})`, {
      cause,
    });
  }
  return parseManifest(json);
}

/** A validated bundle on disk: its folder, manifest and the absolute paths of its weight files. */
export interface ModelBundle {
  readonly dir: string;
  readonly manifest: ModelManifest;
  /** Same order as manifest.weights. */
  readonly weightPaths: readonly string[];
}

/** Reads and validates a bundle folder and checks every weight file it names exists. */
export async function loadBundle(dir: string): Promise<ModelBundle> {
  const manifest = await readManifest(dir);
  const weightPaths = manifest.weights.map((name) => path.join(dir, name));
  for (const [i, name] of manifest.weights.entries()) {
    try {
      await access(weightPaths[i]!);
    } catch (cause) {
      throw new ModelBundleError(
        'weights_missing',
        `${MANIFEST_FILE}: weights[${i}]: file "${name}" is missing`,
        {
          cause,
        },
      );
    }
  }
  return { dir, manifest, weightPaths };
}

/**
 * Writes a bundle: the weight files first, manifest.json last, so a folder with a manifest is
 * complete. `files` must hold exactly the files manifest.weights names.
 */
export async function writeBundle(
  dir: string,
  manifest: ModelManifest,
  files: Readonly<Record<string, Uint8Array>>,
): Promise<ModelBundle> {
  const valid = parseManifest(manifest);
  for (const [i, name] of valid.weights.entries()) {
    if (!(name in files)) {
      throw new ModelBundleError(
        'weights_missing',
        `${MANIFEST_FILE}: weights[${i}]: no content for "${name}"`,
      );
    }
  }
  const extra = Object.keys(files).filter((name) => !valid.weights.includes(name));
  if (extra.length > 0) {
    throw new ModelBundleError(
      'manifest_invalid',
      `${MANIFEST_FILE}: weights: does not name ${extra.join(', ')}`,
    );
  }
  await mkdir(dir, { recursive: true });
  for (const name of valid.weights) {
    const target = path.join(dir, name);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, files[name]!);
  }
  await writeFile(path.join(dir, MANIFEST_FILE), `${JSON.stringify(valid, null, 2)}\n`);
  return { dir, manifest: valid, weightPaths: valid.weights.map((name) => path.join(dir, name)) };
}

/** One top-level member of a JSON object text: where its key starts and its value ends. */
interface MemberSpan {
  readonly key: string;
  readonly keyStart: number;
  readonly valueStart: number;
  readonly valueEnd: number;
}

/** Index just past the JSON string starting at `i` (text[i] is the opening quote). */
function skipString(text: string, i: number): number {
  for (let j = i + 1; j < text.length; j++) {
    if (text[j] === '\\') j++;
    else if (text[j] === '"') return j + 1;
  }
  throw new Error('unterminated string');
}

/** Index just past the JSON value starting at `i` (valid JSON assumed: the text was parsed first). */
function skipValue(text: string, i: number): number {
  if (text[i] === '"') return skipString(text, i);
  if (text[i] === '{' || text[i] === '[') {
    let depth = 0;
    for (let j = i; j < text.length; j++) {
      const c = text[j];
      if (c === '"') j = skipString(text, j) - 1;
      else if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') {
        depth--;
        if (depth === 0) return j + 1;
      }
    }
    throw new Error('unterminated object or array');
  }
  let j = i;
  while (j < text.length && !/[\s,}\]]/.test(text[j]!)) j++;
  return j;
}

function skipSpace(text: string, i: number): number {
  let j = i;
  while (j < text.length && /\s/.test(text[j]!)) j++;
  return j;
}

/** The top-level members of a JSON object text, in order. */
function topLevelMembers(text: string): { members: MemberSpan[]; close: number } {
  let i = skipSpace(text, 0);
  if (text[i] !== '{') throw new Error('not a JSON object');
  const members: MemberSpan[] = [];
  i = skipSpace(text, i + 1);
  if (text[i] === '}') return { members, close: i };
  for (;;) {
    const keyStart = i;
    const keyEnd = skipString(text, i);
    const key = JSON.parse(text.slice(keyStart, keyEnd)) as string;
    i = skipSpace(text, keyEnd);
    i = skipSpace(text, i + 1); // past ':'
    const valueStart = i;
    const valueEnd = skipValue(text, i);
    members.push({ key, keyStart, valueStart, valueEnd });
    i = skipSpace(text, valueEnd);
    if (text[i] === '}') return { members, close: i };
    i = skipSpace(text, i + 1); // past ','
  }
}

/**
 * manifest.json text with its `reference` member set to `reference` and every other byte kept:
 * an existing `reference` value is replaced in place, otherwise the member is appended after the
 * last one with the indentation the file uses. Throws ModelBundleError when the text is not a
 * manifest or the result does not validate.
 */
export function withManifestReference(text: string, reference: unknown, source = MANIFEST_FILE): string {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new ModelBundleError('manifest_not_json', `${source}: not valid JSON`, { cause });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ModelBundleError('manifest_invalid', `${source}: (root): expected an object`);
  }
  // The whole manifest with the new reference must validate before anything is written.
  const expected = parseManifest({ ...json, reference }, source);
  const { members, close } = topLevelMembers(text);
  const existing = members.find((m) => m.key === 'reference');
  const last = members[members.length - 1];
  // Indentation of the top-level members (two spaces when the object is empty or on one line).
  const lineStart = last === undefined ? -1 : text.lastIndexOf('\n', last.keyStart);
  const indent =
    last !== undefined && lineStart >= 0
      ? text.slice(lineStart + 1, last.keyStart).replace(/\S.*$/, '')
      : '  ';
  const unit = indent === '' ? '  ' : indent;
  const value = JSON.stringify(reference, null, unit).replaceAll('\n', `\n${indent}`);
  let out: string;
  if (existing !== undefined) {
    out = text.slice(0, existing.valueStart) + value + text.slice(existing.valueEnd);
  } else if (last === undefined) {
    out = `${text.slice(0, close)}\n${unit}"reference": ${value}\n${text.slice(close)}`;
  } else {
    out = `${text.slice(0, last.valueEnd)},\n${indent}"reference": ${value}${text.slice(last.valueEnd)}`;
  }
  // Belt and braces: the edit must mean exactly the intended manifest.
  if (JSON.stringify(parseManifest(JSON.parse(out), source)) !== JSON.stringify(expected)) {
    throw new ModelBundleError('manifest_invalid', `${source}: could not insert the reference in place`);
  }
  return out;
}

/**
 * Sets the `reference` of the bundle in `dir` (see withManifestReference), writing manifest.json
 * through a temporary file and a rename so a reader never sees half a manifest.
 */
export async function writeManifestReference(dir: string, reference: unknown): Promise<ModelManifest> {
  const { file, text } = await readManifestText(dir);
  const updated = withManifestReference(text, reference);
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, updated);
  await rename(temporary, file);
  return parseManifest(JSON.parse(updated));
}
