import { describe, expect, it } from 'vitest';

import { averagePrecision, downsample, prCurve, rocCurve, scoreHistogram } from './curves.js';
import { confusionAt, operatingPoint, thresholdForSensitivity, youden } from './operating.js';
import { nextUp, sortClasses, thresholdTable } from './ranking.js';

// The running example: positives 0.9, 0.7, 0.7, 0.3 (m = 4); negatives 0.8, 0.7, 0.2, 0.1, 0.1
// (n = 5). Distinct scores from the top, with TP / FP called positive at score >= t:
//   t = 0.9: 1 / 0    0.8: 1 / 1    0.7: 3 / 2 (a three-way tie)    0.3: 4 / 2    0.2: 4 / 3
//   0.1: 4 / 5
const POS = [0.9, 0.7, 0.7, 0.3];
const NEG = [0.8, 0.7, 0.2, 0.1, 0.1];
const sorted = sortClasses([...POS, ...NEG], [...POS.map(() => 1), ...NEG.map(() => 0)]);
const table = thresholdTable(sorted);

describe('thresholdTable', () => {
  it('has one row per distinct score, highest first, ties merged', () => {
    expect(Array.from(table.thresholds)).toEqual([0.9, 0.8, 0.7, 0.3, 0.2, 0.1]);
    expect(Array.from(table.tp)).toEqual([1, 1, 3, 4, 4, 4]);
    expect(Array.from(table.fp)).toEqual([0, 1, 2, 2, 3, 5]);
  });
});

describe('confusionAt and operatingPoint', () => {
  it('call score >= threshold positive', () => {
    // At 0.7 the tied 0.7s are all positive calls: TP 3 (0.9, 0.7, 0.7), FP 2 (0.8, 0.7).
    expect(confusionAt(sorted, 0.7)).toEqual({ tp: 3, fp: 2, fn: 1, tn: 3 });
    expect(confusionAt(sorted, nextUp(0.7))).toEqual({ tp: 1, fp: 1, fn: 3, tn: 4 });
    expect(confusionAt(sorted, 2)).toEqual({ tp: 0, fp: 0, fn: 4, tn: 5 });
  });

  it('computes the metrics at the manifest threshold 0.5 by hand', () => {
    // TP 3, FP 2, FN 1, TN 3: sensitivity 3/4, specificity 3/5, PPV 3/5, NPV 3/4,
    // F1 = 2*3 / (2*3 + 2 + 1) = 6/9.
    const op = operatingPoint('manifest', 0.5, sorted);
    expect(op).toMatchObject({
      name: 'manifest',
      threshold: 0.5,
      sensitivity: 0.75,
      specificity: 0.6,
      ppv: 0.6,
      npv: 0.75,
    });
    expect(op.f1).toBeCloseTo(2 / 3, 15);
    expect(op.confusion).toEqual({ tp: 3, fp: 2, fn: 1, tn: 3 });
    expect(op.ci.sensitivity.method).toBe('wilson');
    expect(op.ci.sensitivity.ci_low).toBeLessThan(0.75);
    expect(op.target).toBeUndefined();
  });

  it('leaves PPV undefined when nothing is called positive, and F1 0', () => {
    const op = operatingPoint('manifest', 5, sorted);
    expect(op.ppv).toBeNull();
    expect(op.ci.ppv.method).toBe('none');
    expect(op.sensitivity).toBe(0);
    expect(op.f1).toBe(0);
  });
});

describe('youden', () => {
  it('maximises sensitivity + specificity - 1 over the distinct scores', () => {
    // J: 0.9: 1/4 - 0 = 0.25; 0.8: 1/4 - 1/5 = 0.05; 0.7: 3/4 - 2/5 = 0.35; 0.3: 1 - 2/5 = 0.6;
    // 0.2: 1 - 3/5 = 0.4; 0.1: 0. Maximum at 0.3.
    expect(youden(table)).toBe(0.3);
  });

  it('takes the highest threshold on ties', () => {
    // Positives 0.9, 0.4; negatives 0.6, 0.1: J(0.9) = 1/2 - 0 = 0.5, J(0.6) = 0,
    // J(0.4) = 1 - 1/2 = 0.5, J(0.1) = 0: 0.9 and 0.4 tie, 0.9 wins.
    expect(youden(thresholdTable(sortClasses([0.9, 0.4, 0.6, 0.1], [1, 1, 0, 0])))).toBe(0.9);
  });

  it('is undefined without positives or negatives, and the only score for a constant score', () => {
    expect(youden(thresholdTable(sortClasses([0.2, 0.3], [0, 0])))).toBeNull();
    expect(youden(thresholdTable(sortClasses([0.2, 0.3], [1, 1])))).toBeNull();
    expect(youden(thresholdTable(sortClasses([0.4, 0.4, 0.4], [1, 0, 0])))).toBe(0.4);
  });
});

describe('thresholdForSensitivity', () => {
  it('is the highest threshold reaching the target', () => {
    // Sensitivity by threshold: 0.25, 0.25, 0.75, 1, 1, 1.
    expect(thresholdForSensitivity(table, 0.95)).toBe(0.3);
    expect(thresholdForSensitivity(table, 0.75)).toBe(0.7);
    expect(thresholdForSensitivity(table, 0.76)).toBe(0.3);
    expect(thresholdForSensitivity(table, 0.25)).toBe(0.9);
    expect(thresholdForSensitivity(table, 0)).toBe(0.9);
    expect(thresholdForSensitivity(thresholdTable(sortClasses([0.2], [0])), 0.9)).toBeNull();
    expect(() => thresholdForSensitivity(table, 1.5)).toThrow(/outside/);
  });
});

describe('averagePrecision', () => {
  it("follows scikit-learn's step definition with ties as one threshold", () => {
    // (R, P) at each threshold: 0.9: (1/4, 1); 0.8: (1/4, 1/2) no recall step; 0.7: (3/4, 3/5);
    // 0.3: (1, 4/6). AP = 1/4 * 1 + 1/2 * 3/5 + 1/4 * 2/3 = 0.25 + 0.3 + 0.1667 = 0.71667.
    expect(averagePrecision(table)).toBeCloseTo(0.25 + 0.3 + 1 / 6, 15);
  });

  it('is 1 for perfect ranking, prevalence for a constant score, null without positives', () => {
    expect(averagePrecision(thresholdTable(sortClasses([0.9, 0.8, 0.1], [1, 1, 0])))).toBe(1);
    // Constant: one threshold, recall 0 -> 1 at precision m / (m + n) = 1/3.
    expect(averagePrecision(thresholdTable(sortClasses([0.5, 0.5, 0.5], [1, 0, 0])))).toBeCloseTo(1 / 3, 15);
    expect(averagePrecision(thresholdTable(sortClasses([0.5, 0.4], [0, 0])))).toBeNull();
  });
});

describe('curves', () => {
  it('ROC starts at (0, 0) just above the top score and ends at (1, 1); its area is the AUROC', () => {
    const roc = rocCurve(table);
    expect(roc[0]).toEqual({ fpr: 0, tpr: 0, threshold: nextUp(0.9) });
    expect(roc[0]?.threshold).toBeGreaterThan(0.9);
    expect(roc.at(-1)).toEqual({ fpr: 1, tpr: 1, threshold: 0.1 });
    expect(roc[3]).toEqual({ fpr: 2 / 5, tpr: 3 / 4, threshold: 0.7 });
    // Trapezoids: the tie at 0.7 is a diagonal step. Pairs: 0.9 beats 5; 0.7 beats 3 and ties 1
    // (x2: 3.5 each); 0.3 beats 3 -> (5 + 7 + 3) / 20 = 15/20 = 0.75.
    let area = 0;
    for (let k = 1; k < roc.length; k++) {
      const a = roc[k - 1];
      const b = roc[k];
      if (a && b) area += ((b.fpr - a.fpr) * (a.tpr + b.tpr)) / 2;
    }
    expect(area).toBeCloseTo(0.75, 15);
    expect(rocCurve(thresholdTable(sortClasses([0.5], [1])))).toEqual([]);
  });

  it('PR has one point per distinct score', () => {
    const pr = prCurve(table);
    expect(pr.map((p) => p.recall)).toEqual([0.25, 0.25, 0.75, 1, 1, 1]);
    expect(pr[2]?.precision).toBeCloseTo(0.6, 15);
  });

  it('downsample keeps the ends and at most maxPoints', () => {
    const points = Array.from({ length: 10_001 }, (_, i) => ({ x: i / 10_000, y: Math.sqrt(i / 10_000) }));
    const thin = downsample(points, 200, (p) => [p.x, p.y]);
    expect(thin.length).toBeLessThanOrEqual(200);
    expect(thin.length).toBeGreaterThan(100);
    expect(thin[0]).toBe(points[0]);
    expect(thin.at(-1)).toBe(points.at(-1));
    expect(downsample(points.slice(0, 5), 200, (p) => [p.x, p.y])).toEqual(points.slice(0, 5));
  });

  it('histogram counts each class on shared edges, the last bin closed', () => {
    const h = scoreHistogram(sorted, 5, 0, 1);
    expect(h.edges).toEqual([0, 0.2, 0.4, 0.6000000000000001, 0.8, 1]);
    // Positives 0.3 | 0.7 0.7 | 0.9; negatives 0.1 0.1 | 0.2 | 0.7 | 0.8.
    expect(h.positives).toEqual([0, 1, 0, 2, 1]);
    expect(h.negatives).toEqual([2, 1, 0, 1, 1]);
    expect(scoreHistogram(sortClasses([1, 0], [1, 0]), 4, 0, 1).positives).toEqual([0, 0, 0, 1]);
  });
});

describe('sortClasses', () => {
  it('rejects non-finite scores and length mismatches', () => {
    expect(() => sortClasses([0.1, Number.NaN], [0, 1])).toThrow(/score 1/);
    expect(() => sortClasses([0.1], [0, 1])).toThrow(/1 scores but 2 labels/);
    // A non-finite score of an unlabelled case is ignored.
    expect(sortClasses([0.1, Number.NaN], [0, -1]).negatives).toEqual(Float64Array.from([0.1]));
  });
});
