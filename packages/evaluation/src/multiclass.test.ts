import { describe, expect, it } from 'vitest';

import { argmax, multiclassReport } from './multiclass.js';

describe('multiclassReport', () => {
  it('matches a 4-class case computed by hand', () => {
    // (true, predicted): AA AA AB BB BC CC DA. Rows: A -> A 2, B 1; B -> B 1, C 1; C -> C 1;
    // D -> A 1. Per class (TP, support, predicted):
    //   A (2, 3, 3): P 2/3, R 2/3, F1 4/6      B (1, 2, 2): P 1/2, R 1/2, F1 2/4
    //   C (1, 1, 2): P 1/2, R 1,   F1 2/3      D (0, 1, 0): P null, R 0, F1 0/1 = 0
    // Accuracy 4/7. Macro P over the 3 defined = (2/3 + 1/2 + 1/2) / 3 = 5/9; macro R = (2/3 +
    // 1/2 + 1 + 0) / 4 = 13/24; macro F1 = (2/3 + 1/2 + 2/3 + 0) / 4 = 11/24. Weighted P =
    // (2/3*3 + 1/2*2 + 1/2*1) / 6 = 7/12 (D has no precision); weighted R = 4/7 (= accuracy);
    // weighted F1 = (2/3*3 + 1/2*2 + 2/3*1 + 0) / 7 = 11/21.
    const classes = ['A', 'B', 'C', 'D'];
    const truth = [0, 0, 0, 1, 1, 2, 3];
    const predicted = [0, 0, 1, 1, 2, 2, 0];
    const r = multiclassReport(classes, truth, predicted);
    expect(r.n).toBe(7);
    expect(r.accuracy.value).toBeCloseTo(4 / 7, 15);
    expect(r.accuracy.method).toBe('wilson');
    expect(r.per_class.A?.precision).toBeCloseTo(2 / 3, 15);
    expect(r.per_class.A?.f1).toBeCloseTo(2 / 3, 15);
    expect(r.per_class.C).toEqual({ precision: 0.5, recall: 1, f1: 2 / 3, support: 1 });
    expect(r.per_class.D).toEqual({ precision: null, recall: 0, f1: 0, support: 1 });
    expect(r.macro.precision).toBeCloseTo(5 / 9, 15);
    expect(r.macro.recall).toBeCloseTo(13 / 24, 15);
    expect(r.macro.f1).toBeCloseTo(11 / 24, 15);
    expect(r.weighted.precision).toBeCloseTo(7 / 12, 15);
    expect(r.weighted.recall).toBeCloseTo(4 / 7, 15);
    expect(r.weighted.f1).toBeCloseTo(11 / 21, 15);
    expect(r.confusion.A).toEqual({ A: 2, B: 1, C: 0, D: 0 });
    expect(r.confusion.D).toEqual({ A: 1, B: 0, C: 0, D: 0 });
  });

  it('is all-null with no cases and rejects bad indices', () => {
    const r = multiclassReport(['A', 'B'], [], []);
    expect(r.accuracy.value).toBeNull();
    expect(r.macro).toEqual({ precision: null, recall: null, f1: null });
    expect(() => multiclassReport(['A'], [0], [1])).toThrow(/outside/);
  });
});

describe('argmax', () => {
  it('takes the first of tied maxima and refuses missing scores', () => {
    expect(argmax([0.2, 0.5, 0.5])).toBe(1);
    expect(argmax([0.2, null, 0.5])).toBe(-1);
    expect(argmax([0.2, Number.NaN])).toBe(-1);
  });
});
