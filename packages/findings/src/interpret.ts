/**
 * A stored result read against its model manifest: per label the score, the operating threshold
 * and the decision, plus the overall decision, checked for consistency before anything is
 * written for a PACS. Pure; shared by the SR and the summary image.
 */
import { decide } from '@cxr/model/decision';
import type { ModelManifest } from '@cxr/model/manifest';
import { Code, PRIVATE_SCHEME, type CodedConcept } from './codes.js';
import { FindingsError } from './errors.js';

/** The fields of a stored result (StoredResult of @cxr/store) a findings object is built from. */
export interface ScreeningResult {
  readonly modelId: string;
  readonly modelVersion: string;
  /** The runtime that scored the image (onnx, tfjs-wasm, ...), if recorded. */
  readonly runtime: string | null;
  readonly outcome: 'ok' | 'rejected' | 'failed';
  /** label -> score. */
  readonly scores: Readonly<Record<string, number>> | null;
  /** The stored diagnosis (the manifest's decision rule applied to the scores). */
  readonly decision: string | null;
}

export interface LabelFinding {
  readonly label: string;
  /** The label as a coded concept: the manifest's `findings.codes` entry, else (label, 99CXR, label). */
  readonly concept: CodedConcept;
  readonly score: number;
  /** The operating threshold the score was compared with (decision rule "thresholds" only). */
  readonly threshold: number | undefined;
  readonly positive: boolean;
}

export interface InterpretedResult {
  readonly modelId: string;
  readonly modelVersion: string;
  readonly runtime: string | null;
  /** Manifest order. */
  readonly labels: readonly LabelFinding[];
  /** The overall decision: a label, or `negative` when a thresholds model finds none positive. */
  readonly diagnosis: string;
  readonly diagnosisConcept: CodedConcept;
  /** Whether scores are probabilities (the graph ends in softmax or sigmoid). */
  readonly probabilities: boolean;
}

// Code Meaning is LO (64 characters); a code value up to 64 fits Long Code Value (PS3.3 8.8).
const MAX_CODE_TEXT = 64;
// LO/UC values cannot hold a backslash (the value separator) or control characters (PS3.5 6.2).
// eslint-disable-next-line no-control-regex -- control characters are what this rejects
const UNENCODABLE = /[\\\u0000-\u001f\u007f]/;

function checkEncodable(label: string, concept: CodedConcept): CodedConcept {
  for (const text of [concept.value, concept.meaning, concept.scheme]) {
    if (text.length > MAX_CODE_TEXT || UNENCODABLE.test(text)) {
      throw new FindingsError(
        'unencodable_label',
        `label "${label}": its code is longer than ${MAX_CODE_TEXT} characters or holds a backslash or control character`,
      );
    }
  }
  return concept;
}

/** The coded concept of a label: the manifest's code for it, else a private 99CXR code. */
export function labelConcept(manifest: ModelManifest, label: string): CodedConcept {
  const code = manifest.findings?.codes?.[label];
  return checkEncodable(label, code ?? { value: label, scheme: PRIVATE_SCHEME, meaning: label });
}

/** Checks a result against its manifest and interprets it; throws FindingsError when inconsistent. */
export function interpretResult(result: ScreeningResult, manifest: ModelManifest): InterpretedResult {
  if (result.outcome !== 'ok') {
    throw new FindingsError(
      'result_not_ok',
      `the result is ${result.outcome}: only ok results have findings`,
    );
  }
  if (result.modelId !== manifest.id || result.modelVersion !== manifest.version) {
    throw new FindingsError(
      'model_mismatch',
      `the result is from model ${result.modelId} ${result.modelVersion}, the manifest is ${manifest.id} ${manifest.version}`,
    );
  }
  const { labels } = manifest.output;
  const scores = result.scores ?? {};
  const extra = Object.keys(scores).filter((label) => !labels.includes(label));
  const values = labels.map((label) => scores[label]);
  if (extra.length > 0 || values.some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
    throw new FindingsError(
      'scores_mismatch',
      `the result's scores are not one finite number per manifest label (${labels.join(', ')})`,
    );
  }
  const decision = decide(values as number[], manifest.output);
  if (result.decision !== null && result.decision !== decision.diagnosis) {
    throw new FindingsError(
      'decision_mismatch',
      `the stored decision "${result.decision}" is not the manifest's ${manifest.output.decision} rule applied to the scores ("${decision.diagnosis}")`,
    );
  }
  const thresholds = manifest.output.decision === 'thresholds' ? (manifest.output.thresholds ?? {}) : {};
  const findings = labels.map((label, i) => ({
    label,
    concept: labelConcept(manifest, label),
    score: values[i]!,
    threshold: thresholds[label],
    positive: decision.positives.includes(label),
  }));
  return {
    modelId: result.modelId,
    modelVersion: result.modelVersion,
    runtime: result.runtime,
    labels: findings,
    diagnosis: decision.diagnosis,
    // `negative` is no label: a thresholds model found none at or above its threshold.
    diagnosisConcept: labels.includes(decision.diagnosis)
      ? labelConcept(manifest, decision.diagnosis)
      : Code.Negative,
    probabilities: manifest.output.activation !== 'none',
  };
}
