import { describe, expect, it } from 'vitest';

import { ratio, wilson, Z_95 } from './proportion.js';

describe('wilson', () => {
  it('reproduces the Wilson (score) intervals of Newcombe 1998, Table I, method 3', () => {
    // Newcombe RG. Two-sided confidence intervals for the single proportion: comparison of
    // seven methods. Stat Med 1998;17:857-872, worked examples 81/263, 15/148, 0/20, 1/29.
    const cases: [number, number, number, number][] = [
      [81, 263, 0.2553, 0.3662],
      [15, 148, 0.0624, 0.1605],
      [0, 20, 0, 0.1611],
      [1, 29, 0.0061, 0.1718],
    ];
    for (const [x, n, low, high] of cases) {
      const w = wilson(x, n);
      expect(w.method).toBe('wilson');
      expect(w.value).toBe(x / n);
      expect(w.ci_low).toBeCloseTo(low, 4);
      expect(w.ci_high).toBeCloseTo(high, 4);
    }
  });

  it('matches the closed form computed by hand for 3/4', () => {
    // p = 0.75, z^2 = 3.8415, n = 4: centre = (0.75 + 3.8415/8) / (1 + 3.8415/4) = 1.23018 / 1.96037
    // = 0.62753; half = 1.96 sqrt(0.75 * 0.25 / 4 + 3.8415 / 64) / 1.96037
    // = 1.96 sqrt(0.046875 + 0.060023) / 1.96037 = 1.96 * 0.32695 / 1.96037 = 0.32689
    // -> [0.30064, 0.95441].
    const w = wilson(3, 4);
    const z2 = Z_95 * Z_95;
    const centre = (0.75 + z2 / 8) / (1 + z2 / 4);
    const half = (Z_95 * Math.sqrt(0.1875 / 4 + z2 / 64)) / (1 + z2 / 4);
    expect(w.ci_low).toBeCloseTo(centre - half, 12);
    expect(w.ci_high).toBeCloseTo(centre + half, 12);
    expect(w.ci_low).toBeCloseTo(0.3006, 4);
    expect(w.ci_high).toBeCloseTo(0.9544, 4);
  });

  it('pins the exact end at 0 and n successes and is undefined for n = 0', () => {
    expect(wilson(0, 7).ci_low).toBe(0);
    expect(wilson(7, 7).ci_high).toBe(1);
    expect(wilson(7, 7).ci_low).toBeLessThan(1);
    expect(wilson(0, 0)).toEqual({ value: null, ci_low: null, ci_high: null, method: 'none' });
    expect(() => wilson(5, 4)).toThrow(/outside/);
  });

  it('ratio is null on a zero denominator', () => {
    expect(ratio(1, 0)).toBeNull();
    expect(ratio(0, 0)).toBeNull();
    expect(ratio(1, 4)).toBe(0.25);
  });
});
