import { describe, expect, it } from 'vitest';

import {
  auroc,
  bootstrapAuroc,
  delong,
  delongInterval,
  delongTest,
  delongVariance,
  erfc,
  quantile,
} from './auroc.js';
import { mulberry32 } from './random.js';
import { sortClasses } from './ranking.js';
import { ASAH_POOR, ASAH_S100B, ASAH_WFNS } from './testing/asah.js';
import { delongByDefinition } from './testing/reference.js';

/** Scores and labels of a small case: positives first. */
function classes(pos: number[], neg: number[]): { scores: number[]; labels: number[] } {
  return { scores: [...pos, ...neg], labels: [...pos.map(() => 1), ...neg.map(() => 0)] };
}

describe('auroc and DeLong variance', () => {
  it('match a case computed by hand, with a tie', () => {
    // Positives 0.8, 0.6, 0.4; negatives 0.5, 0.4, 0.2, 0.1 (m = 3, n = 4, 12 pairs).
    // V10: 0.8 beats 4 -> 1; 0.6 beats 4 -> 1; 0.4 beats 2 and ties 1 -> 2.5/4 = 0.625.
    // AUC = (1 + 1 + 0.625) / 3 = 0.875 (= 10.5 / 12).
    // V01: 0.5 is beaten by 2 -> 2/3; 0.4 by 2 + tie -> 2.5/3; 0.2 -> 1; 0.1 -> 1.
    // S10 = (0.125^2 + 0.125^2 + 0.25^2) / 2 = 3/64.
    // S01 = ((5/24)^2 + (1/24)^2 + 2 (3/24)^2) / 3 = (44/576) / 3 = 11/432.
    // Var = S10 / 3 + S01 / 4 = 1/64 + 11/1728 = 38/1728 = 19/864.
    const { scores, labels } = classes([0.8, 0.6, 0.4], [0.5, 0.4, 0.2, 0.1]);
    const sorted = sortClasses(scores, labels);
    expect(auroc(sorted)).toBeCloseTo(0.875, 15);
    expect(delongVariance(sorted)).toBeCloseTo(19 / 864, 15);
  });

  it('equal the O(m n) definition on heavily tied random data', () => {
    const random = mulberry32(42);
    for (const [n, levels] of [
      [50, 3],
      [400, 6],
      [1000, 1000],
    ] as const) {
      const scores: number[] = [];
      const labels: number[] = [];
      for (let i = 0; i < n; i++) {
        const s = Math.floor(random() * levels) / levels;
        scores.push(s);
        labels.push(random() < 0.2 + 0.6 * s ? 1 : 0);
      }
      const fast = delong(sortClasses(scores, labels));
      const slow = delongByDefinition(scores, labels);
      expect(fast.auc).toBeCloseTo(slow.auc, 12);
      expect(fast.variance).not.toBeNull();
      expect((fast.variance as number) / slow.variance).toBeCloseTo(1, 10);
    }
  });

  it("reproduce pROC's documented aSAH example (s100b: AUC 0.7314, DeLong 95% CI 0.6301-0.8326)", () => {
    // pROC reference manual, `roc` / `ci.auc` examples: roc(aSAH$outcome, aSAH$s100b, ci = TRUE)
    // prints "Area under the curve: 0.7314" and "95% CI: 0.6301-0.8326 (DeLong)".
    expect(ASAH_POOR).toHaveLength(113);
    expect(ASAH_POOR.filter((y) => y === 1)).toHaveLength(41);
    const result = delong(sortClasses(ASAH_S100B, ASAH_POOR));
    expect(result.auc).toBeCloseTo(0.7314, 4);
    const { ci_low, ci_high } = delongInterval(result);
    expect(ci_low).toBeCloseTo(0.6301, 4);
    expect(ci_high).toBeCloseTo(0.8326, 4);
    const slow = delongByDefinition(ASAH_S100B, ASAH_POOR);
    expect(result.variance).toBeCloseTo(slow.variance, 14);
  });

  it("reproduce pROC's documented paired test s100b vs wfns (Z = -2.209, p = 0.02718)", () => {
    // pROC reference manual, `roc.test` example: roc.test(roc1, roc2) with roc1 = s100b,
    // roc2 = wfns prints "Z = -2.209, p-value = 0.02718", AUCs 0.7313686 and 0.8236789.
    const test = delongTest(ASAH_S100B, ASAH_WFNS, ASAH_POOR);
    expect(test.auc_a).toBeCloseTo(0.7313686, 7);
    expect(test.auc_b).toBeCloseTo(0.8236789, 7);
    expect(test.z).toBeCloseTo(-2.209, 3);
    expect(test.p).toBeCloseTo(0.02718, 5);
    // The two variances are the single-score DeLong variances.
    expect(test.variance_a).toBeCloseTo(delongVariance(sortClasses(ASAH_S100B, ASAH_POOR)) as number, 15);
    expect(test.variance_b).toBeCloseTo(delongVariance(sortClasses(ASAH_WFNS, ASAH_POOR)) as number, 15);
    // A score against itself: zero variance of the difference, no z.
    expect(delongTest(ASAH_S100B, ASAH_S100B, ASAH_POOR).z).toBeNull();
  });

  it("reproduce Hanley & McNeil's (1982) worked rating example, AUC 0.893", () => {
    // Hanley JA, McNeil BJ. Radiology 1982;143:29, Table 1: 58 normal and 51 abnormal CT
    // images rated 1-5 (counts 33/6/6/11/2 and 3/2/2/11/33): five scores, ties everywhere.
    const normal = [33, 6, 6, 11, 2];
    const abnormal = [3, 2, 2, 11, 33];
    const scores: number[] = [];
    const labels: number[] = [];
    normal.forEach((count, r) => {
      for (let i = 0; i < count; i++) {
        scores.push(r + 1);
        labels.push(0);
      }
    });
    abnormal.forEach((count, r) => {
      for (let i = 0; i < count; i++) {
        scores.push(r + 1);
        labels.push(1);
      }
    });
    const result = delong(sortClasses(scores, labels));
    expect(result.auc).toBeCloseTo(0.8932, 4);
    // Their SE 0.0320 is the Hanley-McNeil exponential approximation, not DeLong's; ours equals
    // the DeLong definition instead.
    expect(result.variance).toBeCloseTo(delongByDefinition(scores, labels).variance, 14);
  });

  it('define the edge cases: no positives, one positive, constant score, perfect separation', () => {
    expect(delong(sortClasses([0.1, 0.2], [0, 0]))).toEqual({ auc: null, variance: null });
    expect(delong(sortClasses([0.1, 0.2], [1, 1]))).toEqual({ auc: null, variance: null });
    // One positive: the AUC is defined, S10 needs two.
    const one = delong(sortClasses([0.9, 0.1, 0.2], [1, 0, 0]));
    expect(one).toEqual({ auc: 1, variance: null });
    expect(delongInterval(one)).toEqual({ ci_low: null, ci_high: null });
    // Constant score: every pair ties -> 1/2; every placement is 1/2 -> variance 0.
    const constant = delong(sortClasses([0.3, 0.3, 0.3, 0.3], [1, 0, 1, 0]));
    expect(constant).toEqual({ auc: 0.5, variance: 0 });
    expect(delongInterval(constant)).toEqual({ ci_low: 0.5, ci_high: 0.5 });
    // Perfect separation: AUC 1, variance 0, interval [1, 1] (clipped, never above 1).
    const perfect = delong(sortClasses([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0]));
    expect(perfect).toEqual({ auc: 1, variance: 0 });
    expect(delongInterval(perfect)).toEqual({ ci_low: 1, ci_high: 1 });
    // Labels other than 0/1 are skipped.
    expect(auroc(sortClasses([0.9, 0.5, 0.1], [1, -1, 0]))).toBe(1);
  });

  it('clips the interval to [0, 1]', () => {
    // AUC 0.9 with a huge variance.
    expect(delongInterval({ auc: 0.9, variance: 0.04 })).toEqual({
      ci_low: 0.9 - 1.959963984540054 * 0.2,
      ci_high: 1,
    });
    expect(delongInterval({ auc: 0.1, variance: 0.04 }).ci_low).toBe(0);
  });
});

describe('bootstrapAuroc', () => {
  it('equals resampling by hand with the same seeded draws', () => {
    // Positives drawn first (m indices into the sorted positives), then negatives, per
    // resample; each resample's AUC by the O(m n) definition; quantiles R type 7.
    const { scores, labels } = classes([0.8, 0.6, 0.4, 0.4, 0.35], [0.5, 0.4, 0.2, 0.1, 0.4, 0.05]);
    const sorted = sortClasses(scores, labels);
    const samples = 7;
    const random = mulberry32(99);
    const aucs: number[] = [];
    for (let b = 0; b < samples; b++) {
      const pos = Array.from(sorted.positives, () => sorted.positives[Math.floor(random() * 5)] as number);
      const neg = Array.from(sorted.negatives, () => sorted.negatives[Math.floor(random() * 6)] as number);
      const c = classes(pos, neg);
      aucs.push(delongByDefinition(c.scores, c.labels).auc);
    }
    const ordered = Float64Array.from(aucs).sort();
    const got = bootstrapAuroc(sorted, { samples, seed: 99 });
    expect(got.value).toBe(auroc(sorted));
    expect(got.ci_low).toBeCloseTo(quantile(ordered, 0.025), 14);
    expect(got.ci_high).toBeCloseTo(quantile(ordered, 0.975), 14);
  });

  it('is reproducible from its seed and close to DeLong on aSAH', () => {
    const sorted = sortClasses(ASAH_S100B, ASAH_POOR);
    const a = bootstrapAuroc(sorted, { samples: 2000, seed: 7 });
    const b = bootstrapAuroc(sorted, { samples: 2000, seed: 7 });
    const c = bootstrapAuroc(sorted, { samples: 2000, seed: 8 });
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    // With 113 cases the percentile interval should land near DeLong's 0.6301-0.8326.
    expect(a.ci_low).toBeGreaterThan(0.6);
    expect(a.ci_low).toBeLessThan(0.66);
    expect(a.ci_high).toBeGreaterThan(0.8);
    expect(a.ci_high).toBeLessThan(0.86);
    expect(bootstrapAuroc(sortClasses([0.1], [1]), { samples: 10, seed: 1 })).toEqual({
      value: null,
      ci_low: null,
      ci_high: null,
    });
  });

  it('gives no interval below 2 cases of a class (every resample repeats the lone case)', () => {
    // One positive below four negatives: AUROC 0, and each resample 0 too, a [0, 0] "interval".
    const onePositive = classes([0.05], [0.3, 0.4, 0.5, 0.6]);
    expect(
      bootstrapAuroc(sortClasses(onePositive.scores, onePositive.labels), { samples: 50, seed: 1 }),
    ).toEqual({
      value: 0,
      ci_low: null,
      ci_high: null,
    });
    const oneNegative = classes([0.3, 0.4, 0.9], [0.5]);
    const got = bootstrapAuroc(sortClasses(oneNegative.scores, oneNegative.labels), { samples: 50, seed: 1 });
    expect(got.value).toBeCloseTo(1 / 3, 14);
    expect([got.ci_low, got.ci_high]).toEqual([null, null]);
  });
});

describe('helpers', () => {
  it('quantile interpolates like R type 7', () => {
    // quantile(c(1, 2, 4, 8), 0.25) in R: h = 3 * 0.25 = 0.75 -> 1 + 0.75 (2 - 1) = 1.75.
    expect(quantile(Float64Array.from([1, 2, 4, 8]), 0.25)).toBe(1.75);
    expect(quantile(Float64Array.from([1, 2, 4, 8]), 1)).toBe(8);
  });

  it('erfc gives the normal tail to 1e-7', () => {
    // 2 * (1 - pnorm(1.959963984540054)) = 0.05; 2 * (1 - pnorm(1)) = 0.3173105.
    expect(erfc(1.959963984540054 / Math.SQRT2)).toBeCloseTo(0.05, 7);
    expect(erfc(1 / Math.SQRT2)).toBeCloseTo(0.3173105, 7);
    expect(erfc(0)).toBeCloseTo(1, 7);
    expect(erfc(-1 / Math.SQRT2)).toBeCloseTo(2 - 0.3173105, 7);
  });
});
