import { describe, expect, it } from 'vitest';
import { oversampleIndices } from './oversample.js';

function counts(order: Uint32Array, n: number): number[] {
  const c = new Array<number>(n).fill(0);
  for (const i of order) c[i]! += 1;
  return c;
}

describe('oversampleIndices', () => {
  it('one sigmoid label at 5%: half the epoch is positives, each repeated 19 times', () => {
    const labels = new Float32Array(100);
    for (const i of [3, 17, 42, 66, 91]) labels[i] = 1;
    const order = oversampleIndices(labels, 1, 7);
    expect(order).toHaveLength(190);
    const c = counts(order, 100);
    c.forEach((count, i) => {
      expect(count).toBe(labels[i] === 1 ? 19 : 1);
    });
  });

  it('one-hot classes are balanced to the largest class; repeats differ by at most one', () => {
    const classes = [...new Array<number>(10).fill(0), ...new Array<number>(5).fill(1), 2, 2, 2];
    const labels = new Float32Array(classes.flatMap((c) => [0, 1, 2].map((k) => (k === c ? 1 : 0))));
    const order = oversampleIndices(labels, 3, 1);
    expect(order).toHaveLength(30);
    const perClass = [0, 0, 0];
    for (const i of order) perClass[classes[i]!]! += 1;
    expect(perClass).toEqual([10, 10, 10]);
    const c = counts(order, classes.length);
    // class 2: 3 members share 10 draws -> 3, 3, 4 in some order.
    expect(c.slice(15).sort()).toEqual([3, 3, 4]);
    expect(c.slice(10, 15)).toEqual([2, 2, 2, 2, 2]);
  });

  it('a multi-label row counts for its rarest positive label', () => {
    // label 0: 3 positives, label 1: 1 positive (row 0, also positive for label 0); 4 negatives.
    const labels = new Float32Array([1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const order = oversampleIndices(labels, 2, 3);
    // strata: {0} (label 1), {1, 2} (label 0), {3..7} (none) -> 3 x 5 draws
    const c = counts(order, 8);
    expect(order).toHaveLength(15);
    expect(c[0]).toBe(5);
    expect(c[1]! + c[2]!).toBe(5);
    expect(c.slice(3)).toEqual([1, 1, 1, 1, 1]);
  });

  it('is deterministic per seed and shuffled', () => {
    const labels = new Float32Array(200).map((_, i) => (i % 10 === 0 ? 1 : 0));
    const a = oversampleIndices(labels, 1, 11);
    expect(oversampleIndices(labels, 1, 11)).toEqual(a);
    const b = oversampleIndices(labels, 1, 12);
    expect(b).not.toEqual(a);
    expect([...b].sort((x, y) => x - y)).toEqual([...a].sort((x, y) => x - y));
    // Not grouped by stratum: positives are spread over the epoch.
    const firstHalfPositives = [...a.subarray(0, a.length / 2)].filter((i) => labels[i] === 1).length;
    expect(firstHalfPositives).toBeGreaterThan(a.length / 4 - 30);
    expect(firstHalfPositives).toBeLessThan(a.length / 4 + 30);
  });
});
