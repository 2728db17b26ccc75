import { describe, expect, it } from 'vitest';
import { categoricalPsi, DEFAULT_PSI_EPSILON, histogram, jensenShannon, ksStatistic, psi } from './drift.js';

describe('histogram', () => {
  it('bins half-open [e_i, e_i+1), last bin closed, out-of-range clamped to end bins', () => {
    const edges = [0, 0.5, 1];
    // 0 -> bin 0; 0.49 -> bin 0; 0.5 -> bin 1 (half-open); 1 -> bin 1 (last bin closed);
    // -3 -> bin 0 (clamped); 7 -> bin 1 (clamped).
    expect(histogram([0, 0.49, 0.5, 1, -3, 7], edges)).toEqual([3, 3]);
  });

  it('finds the right bin among many (binary search) and matches a linear scan', () => {
    const edges = Array.from({ length: 11 }, (_, i) => i / 10);
    const values = [0.05, 0.15, 0.15, 0.25, 0.95, 0.999, 0.3, 0.7, 0.71];
    // Hand binning with 0.1-wide bins: 0.05->0, 0.15->1 (x2), 0.25->2, 0.3->3, 0.7->7, 0.71->7,
    // 0.95->9, 0.999->9.
    expect(histogram(values, edges)).toEqual([1, 2, 1, 1, 0, 0, 0, 2, 0, 2]);
  });

  it('works with a single bin', () => {
    expect(histogram([5, -1, 100], [0, 10])).toEqual([3]);
  });

  it('rejects bad edges and NaN values', () => {
    expect(() => histogram([1], [0])).toThrow(/at least two edges/);
    expect(() => histogram([1], [0, 1, 1])).toThrow(/strictly increasing/);
    expect(() => histogram([1], [0, Number.NaN])).toThrow(/NaN/);
    expect(() => histogram([0.5, Number.NaN], [0, 1])).toThrow(/index 1 is NaN/);
  });
});

describe('psi', () => {
  it('matches a hand-computed value', () => {
    // r = [50,30,20]/100 = [0.5, 0.3, 0.2]; c = [40,40,20]/100 = [0.4, 0.4, 0.2]
    // (0.4-0.5)*ln(0.4/0.5) = -0.1 * -0.2231435513 = 0.02231435513
    // (0.4-0.3)*ln(0.4/0.3) =  0.1 *  0.2876820725 = 0.02876820725
    // (0.2-0.2)*ln(1)       = 0
    // sum = 0.05108256238
    expect(psi([50, 30, 20], [40, 40, 20])).toBeCloseTo(0.05108256238, 10);
  });

  it('depends on proportions, not totals, and is symmetric', () => {
    expect(psi([5, 3, 2], [400, 400, 200])).toBeCloseTo(0.05108256238, 10);
    expect(psi([40, 40, 20], [50, 30, 20])).toBeCloseTo(0.05108256238, 10);
  });

  it('is 0 for identical distributions', () => {
    expect(psi([1, 2, 3, 0], [10, 20, 30, 0])).toBe(0);
  });

  it('replaces an empty-bin proportion by epsilon (default 1e-4)', () => {
    expect(DEFAULT_PSI_EPSILON).toBe(1e-4);
    // r = [1, 0 -> 1e-4], c = [0.5, 0.5]
    // (0.5-1)*ln(0.5/1)        = -0.5 * -0.6931471806 = 0.3465735903
    // (0.5-1e-4)*ln(0.5/1e-4)  = 0.4999 * ln(5000) = 0.4999 * 8.5171931914 = 4.2577448764
    // sum = 4.6043184667
    expect(psi([100, 0], [50, 50])).toBeCloseTo(4.6043184667, 8);
    // epsilon 1e-2: 0.3465735903 + (0.5-0.01)*ln(50) = 0.3465735903 + 0.49*3.9120230054
    //             = 0.3465735903 + 1.9168912726 = 2.2634648629
    expect(psi([100, 0], [50, 50], { epsilon: 1e-2 })).toBeCloseTo(2.2634648629, 8);
  });

  it('is large (but finite) for disjoint distributions', () => {
    // r = [1, 1e-4], c = [1e-4, 1]: 2 * (1-1e-4) * ln(1e4) = 2 * 0.9999 * 9.2103403720 = 18.4188387
    const value = psi([10, 0], [0, 10]);
    expect(value).toBeCloseTo(18.4188387, 5);
    expect(value).toBeGreaterThan(0.25); // far past the critical alert threshold
  });

  it('validates input', () => {
    expect(() => psi([1, 2], [1, 2, 3])).toThrow(/bin counts differ \(2 vs 3\)/);
    expect(() => psi([], [])).toThrow(/no bins/);
    expect(() => psi([0, 0], [1, 1])).toThrow(/first distribution is empty/);
    expect(() => psi([1, 1], [1, -1])).toThrow(/negative or non-finite/);
    expect(() => psi([1, 1], [1, Number.POSITIVE_INFINITY])).toThrow(/non-finite/);
    expect(() => psi([1, 1], [1, 1], { epsilon: 0 })).toThrow(/epsilon/);
    expect(() => psi([1, 1], [1, 1], { epsilon: 1 })).toThrow(/epsilon/);
  });
});

describe('categoricalPsi', () => {
  it('uses the union of categories; a new category is an empty reference bin', () => {
    // Categories sorted: [A, B, C]; r = [0.5, 0.5, 0 -> 1e-4], c = [0.5, 0.25, 0.25]
    // A: 0
    // B: (0.25-0.5)*ln(0.25/0.5) = -0.25 * -0.6931471806 = 0.1732867951
    // C: (0.25-1e-4)*ln(0.25/1e-4) = 0.2499 * ln(2500) = 0.2499 * 7.8240460109 = 1.9552290981
    // sum = 2.1285158932
    const value = categoricalPsi(
      { A: 10, B: 10 },
      new Map([
        ['A', 2],
        ['B', 1],
        ['C', 1],
      ]),
    );
    expect(value).toBeCloseTo(2.1285158932, 8);
  });

  it('does not depend on key order and is 0 for the same proportions', () => {
    expect(categoricalPsi({ X: 1, Y: 3 }, { Y: 30, X: 10 })).toBe(0);
  });

  it('rejects two empty sides', () => {
    expect(() => categoricalPsi({}, {})).toThrow(/no categories/);
  });
});

describe('ksStatistic', () => {
  it('is the largest CDF gap at the bin edges', () => {
    // CDF r = [0.5, 0.8, 1.0], c = [0.4, 0.8, 1.0]: gaps 0.1, 0, 0 -> 0.1
    expect(ksStatistic([50, 30, 20], [40, 40, 20])).toBeCloseTo(0.1, 12);
    // CDF r = [0.25, 0.5, 0.75, 1], c = [0, 0, 0.5, 1]: gaps 0.25, 0.5, 0.25, 0 -> 0.5
    expect(ksStatistic([1, 1, 1, 1], [0, 0, 1, 1])).toBeCloseTo(0.5, 12);
  });

  it('is 0 for identical and 1 for disjoint distributions', () => {
    expect(ksStatistic([3, 2, 1], [6, 4, 2])).toBe(0);
    expect(ksStatistic([1, 0, 0], [0, 0, 1])).toBe(1);
  });

  it('validates input', () => {
    expect(() => ksStatistic([1], [1, 2])).toThrow(/bin counts differ/);
  });
});

describe('jensenShannon', () => {
  it('matches a hand-computed value (base 2)', () => {
    // p = [1, 0], q = [0.5, 0.5], m = [0.75, 0.25]
    // KL(p||m) = 1 * log2(1/0.75) = 0.4150374993
    // KL(q||m) = 0.5*log2(0.5/0.75) + 0.5*log2(0.5/0.25) = 0.5*(-0.5849625007) + 0.5*1 = 0.2075187496
    // JS = 0.5 * (0.4150374993 + 0.2075187496) = 0.3112781245
    expect(jensenShannon([1, 0], [0.5, 0.5])).toBeCloseTo(0.3112781245, 10);
    // counts work as well as proportions
    expect(jensenShannon([7, 0], [3, 3])).toBeCloseTo(0.3112781245, 10);
  });

  it('is 0 for identical, 1 for disjoint, and symmetric', () => {
    expect(jensenShannon([0.2, 0.3, 0.5], [2, 3, 5])).toBe(0);
    expect(jensenShannon([1, 0, 0], [0, 1, 1])).toBe(1);
    expect(jensenShannon([1, 2, 3], [3, 2, 1])).toBeCloseTo(jensenShannon([3, 2, 1], [1, 2, 3]), 14);
  });

  it('validates input', () => {
    expect(() => jensenShannon([1, 2], [1])).toThrow(/bin counts differ/);
    expect(() => jensenShannon([0, 0], [1, 1])).toThrow(/empty/);
  });
});
