/**
 * The manifest's decision rule applied to one image's scores: what `cxr predict`, the
 * synchronous endpoint and the results store report as the diagnosis.
 */
import type { ManifestOutput } from './manifest.js';

export interface Decision {
  /** argmax: the top label. thresholds: the top-scoring positive label, or `negative` when none is. */
  readonly diagnosis: string;
  /** Score of the diagnosis label; for `negative`, 1 minus the highest score. */
  readonly confidence: number;
  /** Labels at or above their operating threshold (argmax: the top label alone). */
  readonly positives: readonly string[];
  /** Every label's score, in manifest order. */
  readonly scores: Readonly<Record<string, number>>;
}

/** The diagnosis when a multi-label model finds no label at or above its threshold. */
export const NEGATIVE_DIAGNOSIS = 'negative';

/** Applies output.decision to one image's scores (length = labels, manifest order). */
export function decide(scores: ArrayLike<number>, output: ManifestOutput): Decision {
  const { labels } = output;
  if (scores.length !== labels.length) {
    throw new RangeError(`expected ${labels.length} scores (one per label), got ${scores.length}`);
  }
  const byLabel: Record<string, number> = {};
  let top = 0;
  labels.forEach((label, i) => {
    byLabel[label] = scores[i]!;
    if (scores[i]! > scores[top]!) top = i;
  });
  const topLabel = labels[top]!;
  switch (output.decision) {
    case 'argmax':
      return { diagnosis: topLabel, confidence: scores[top]!, positives: [topLabel], scores: byLabel };
    case 'thresholds': {
      const thresholds = output.thresholds ?? {};
      const positives = labels
        .map((label, i) => ({ label, score: scores[i]! }))
        .filter(({ label, score }) => score >= (thresholds[label] ?? Number.POSITIVE_INFINITY))
        .sort((a, b) => b.score - a.score);
      const first = positives[0];
      return first === undefined
        ? { diagnosis: NEGATIVE_DIAGNOSIS, confidence: 1 - scores[top]!, positives: [], scores: byLabel }
        : {
            diagnosis: first.label,
            confidence: first.score,
            positives: positives.map((p) => p.label),
            scores: byLabel,
          };
    }
  }
}

/**
 * How strongly one image's scores point away from a normal image, for sorting a worklist: the
 * highest score among the finding labels, i.e. every label but the manifest's `normalLabel`
 * (all of them when it names none). Undefined when the model has no finding label. Scores of
 * labels with different thresholds are compared as they are: the label filter of the worklist
 * is what isolates one label's positives.
 */
export function suspicionOf(
  scores: Readonly<Record<string, number>>,
  output: ManifestOutput,
): number | undefined {
  let highest: number | undefined;
  for (const label of output.labels) {
    if (label === output.normalLabel) continue;
    const score = scores[label];
    if (score === undefined || !Number.isFinite(score)) continue;
    if (highest === undefined || score > highest) highest = score;
  }
  return highest;
}
