import type { Estimate } from './report.js';

/** The 0.975 quantile of the standard normal distribution: two-sided 95% intervals. */
export const Z_95 = 1.959963984540054;

/**
 * Wilson score interval of `successes / total` (Wilson 1927; Newcombe 1998, method 3): well
 * behaved at 0 and 1 and for small n, unlike the Wald interval. `total` 0 gives an undefined
 * estimate (`value` null, method `none`).
 */
export function wilson(successes: number, total: number, z: number = Z_95): Estimate {
  if (!(total > 0)) return { value: null, ci_low: null, ci_high: null, method: 'none' };
  if (successes < 0 || successes > total) {
    throw new RangeError(`wilson: successes ${String(successes)} outside [0, ${String(total)}]`);
  }
  const p = successes / total;
  const z2 = z * z;
  const denominator = 1 + z2 / total;
  const centre = (p + z2 / (2 * total)) / denominator;
  const half = (z * Math.sqrt((p * (1 - p)) / total + z2 / (4 * total * total))) / denominator;
  // At p = 0 or 1 one bound is exact (0 or 1) but the formula can miss it by an ulp.
  return {
    value: p,
    ci_low: successes === 0 ? 0 : Math.max(0, centre - half),
    ci_high: successes === total ? 1 : Math.min(1, centre + half),
    method: 'wilson',
  };
}

/** `numerator / denominator`, or null when the denominator is 0. */
export function ratio(numerator: number, denominator: number): number | null {
  return denominator > 0 ? numerator / denominator : null;
}
