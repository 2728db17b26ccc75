/**
 * The 10-point ordinal suspicion rating of a decision and its confidence: "absent, certain" is 1,
 * "absent, guess" 5, "present, guess" 6, "present, certain" 10. The AUROC of this rating is the
 * reader's ROC area (as with a 5-point scale read on either side of the decision).
 */
export function ratingOf(decision: boolean, confidence: number): number {
  if (!Number.isInteger(confidence) || confidence < 1 || confidence > 5) {
    throw new RangeError(`ratingOf: confidence ${String(confidence)} is not an integer 1..5`);
  }
  return decision ? 5 + confidence : 6 - confidence;
}
