import { describe, expect, it } from 'vitest';
import {
  categoryOf,
  DriftReferenceBuilder,
  referenceEdges,
  UNIT_SCORE_EDGES,
  type DriftObservation,
} from './drift-reference.js';
import { psi } from './drift.js';

const SOURCE = {
  kind: 'run',
  runId: 'run-ref',
  modelId: 'm',
  modelVersion: '1',
  computedAt: '2026-11-27T00:00:00.000Z',
} as const;

describe('referenceEdges', () => {
  it('one bin per value plus empty guard bins for a feature with few distinct values', () => {
    // Distinct 12, 16: smallest gap 4 -> half 2; cut between them at 14.
    // edges [12 - 4, 12 - 2, 14, 16 + 2, 16 + 4] = [8, 10, 14, 18, 20]
    expect(referenceEdges([12, 12, 12, 16])).toEqual([8, 10, 14, 18, 20]);
    // A constant gets half-width 0.5: [11, 11.5, 12.5, 13].
    expect(referenceEdges([12, 12])).toEqual([11, 11.5, 12.5, 13]);
  });

  it('cuts at the deciles of many distinct values', () => {
    // 0..99: cut i at rank round(i * 100 / 10) = 10 i -> values 10, 20, ..., 90; ends 0 and 99.
    const values = Array.from({ length: 100 }, (_, i) => i);
    expect(referenceEdges(values)).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 99]);
    // Ties merge cuts: 50 zeros then 1..50. Ranks 10..40 are all 0 (not above the first edge 0),
    // rank 50 -> 1, 60 -> 11, 70 -> 21, 80 -> 31, 90 -> 41; max 50.
    const tied = [...Array.from({ length: 50 }, () => 0), ...Array.from({ length: 50 }, (_, i) => i + 1)];
    expect(referenceEdges(tied)).toEqual([0, 1, 11, 21, 31, 41, 50]);
  });

  it('refuses unsorted, non-finite or empty input', () => {
    expect(() => referenceEdges([])).toThrow(/no values/);
    expect(() => referenceEdges([2, 1])).toThrow(/sorted/);
    expect(() => referenceEdges([1, Number.NaN])).toThrow(/not finite/);
  });
});

describe('categoryOf', () => {
  it('trims, maps absent/empty to unknown and unlisted values to other', () => {
    const known = new Set(['ACME', 'unknown', 'other']);
    expect(categoryOf(' ACME ', known)).toBe('ACME');
    expect(categoryOf(null, known)).toBe('unknown');
    expect(categoryOf('  ', known)).toBe('unknown');
    expect(categoryOf('GE', known)).toBe('other');
    expect(categoryOf(undefined, new Set(['ACME', 'other']))).toBe('other');
  });
});

function observation(i: number): DriftObservation {
  return {
    scores: { a: i < 3 ? 0.05 : 0.95, b: Number.NaN },
    positives: [],
    numeric: { bits_stored: 12, rows: i === 0 ? null : 2000 + i, image_mean: null },
    categorical: {
      manufacturer: i < 2 ? 'ACME' : i === 2 ? 'GE' : null,
      modality: 'DX',
    },
  };
}

describe('DriftReferenceBuilder', () => {
  it('builds hand-checkable distributions, folding rare categories into other', () => {
    const builder = new DriftReferenceBuilder({
      labels: ['a', 'b'],
      scoreBins: 'unit',
      source: SOURCE,
      minCategoryShare: 0.3,
    });
    for (let i = 0; i < 4; i++) builder.add(observation(i));
    const ref = builder.build();
    expect(ref.version).toBe(1);
    expect(ref.n).toBe(4);
    expect(ref.source).toEqual(SOURCE);
    // a: 0.05 x3 in bin 0, 0.95 x1 in bin 9 -> [0.75, 0, ..., 0, 0.25]. b has no finite score.
    expect(Object.keys(ref.scores)).toEqual(['a']);
    expect(ref.scores.a).toEqual({
      edges: [...UNIT_SCORE_EDGES],
      probabilities: [0.75, 0, 0, 0, 0, 0, 0, 0, 0, 0.25],
      n: 4,
    });
    // bits_stored: constant 12 -> [11, 11.5, 12.5, 13], all in the middle bin.
    expect(ref.numeric.bits_stored).toEqual({ edges: [11, 11.5, 12.5, 13], probabilities: [0, 1, 0], n: 4 });
    // rows: 2001, 2002, 2003 (one missing): gaps 1 -> half 0.5.
    expect(ref.numeric.rows).toEqual({
      edges: [2000, 2000.5, 2001.5, 2002.5, 2003.5, 2004],
      probabilities: [0, 1 / 3, 1 / 3, 1 / 3, 0],
      n: 3,
    });
    // No image_mean at all: no distribution rather than an empty one.
    expect(ref.numeric.image_mean).toBeUndefined();
    // manufacturer: ACME 2/4 = 0.5 kept (>= 0.3); GE 0.25 and unknown 0.25 fall below 0.3 -> other 0.5.
    expect(ref.categorical.manufacturer).toEqual({ probabilities: { ACME: 0.5, other: 0.5 }, n: 4 });
    expect(ref.categorical.modality).toEqual({ probabilities: { DX: 1, other: 0 }, n: 4 });
    // Absent tag on every row: one `unknown` category.
    expect(ref.categorical.view_position).toEqual({ probabilities: { unknown: 1, other: 0 }, n: 4 });
  });

  it('caps the named categories and orders ties by name', () => {
    const builder = new DriftReferenceBuilder({
      labels: ['a'],
      scoreBins: 'unit',
      source: SOURCE,
      maxCategories: 2,
    });
    for (const m of ['C', 'B', 'A', 'A', 'B', 'C', 'D']) {
      builder.add({ scores: { a: 0.5 }, positives: [], numeric: {}, categorical: { manufacturer: m } });
    }
    // A, B, C have 2/7 each; D 1/7. Two named, ties by name -> A, B; other = (2 + 1) / 7.
    expect(builder.build().categorical.manufacturer).toEqual({
      probabilities: { A: 2 / 7, B: 2 / 7, other: 3 / 7 },
      n: 7,
    });
  });

  it('a sample of the reference itself gives PSI near 0 with decile bins', () => {
    // 10,000 values of a smooth deterministic sequence; the window gets every other one.
    const values = Array.from({ length: 10_000 }, (_, i) => (Math.sin(i * 12.9898) * 43758.5453) % 1);
    const builder = new DriftReferenceBuilder({ labels: ['s'], scoreBins: 'quantile', source: SOURCE });
    for (const v of values)
      builder.add({ scores: { s: v }, positives: [], numeric: { image_mean: v }, categorical: {} });
    const ref = builder.build();
    const edges = ref.numeric.image_mean!.edges;
    expect(edges).toHaveLength(11);
    // Decile bins hold a tenth of the reference each.
    for (const p of ref.numeric.image_mean!.probabilities) expect(p).toBeCloseTo(0.1, 2);
    expect(ref.scores.s!.edges).toEqual(edges);
    const half = values.filter((_, i) => i % 2 === 0);
    const counts = new Array<number>(10).fill(0);
    for (const v of half) {
      let k = 0;
      while (k < 9 && v >= edges[k + 1]!) k++;
      counts[k]! += 1;
    }
    expect(psi(ref.numeric.image_mean!.probabilities, counts)).toBeLessThan(0.01);
  });

  it('refuses to build from nothing', () => {
    expect(() =>
      new DriftReferenceBuilder({ labels: ['a'], scoreBins: 'unit', source: SOURCE }).build(),
    ).toThrow(/no observations/);
  });
});
