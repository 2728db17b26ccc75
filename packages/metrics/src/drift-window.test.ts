import { describe, expect, it } from 'vitest';
import type { DriftObservation, DriftReference } from './drift-reference.js';
import { DriftWindow } from './drift-window.js';

const REFERENCE: DriftReference = {
  version: 1,
  n: 100,
  source: {
    kind: 'run',
    runId: 'ref',
    modelId: 'm',
    modelVersion: '1',
    computedAt: '2026-11-27T00:00:00.000Z',
  },
  scores: { a: { edges: [0, 0.5, 1], probabilities: [0.5, 0.5], n: 100 } },
  numeric: { rows: { edges: [0, 10, 20], probabilities: [0.8, 0.2], n: 100 } },
  categorical: { manufacturer: { probabilities: { ACME: 0.75, other: 0.25 }, n: 100 } },
};

function obs(
  a: number,
  rows: number | null,
  manufacturer: string | null,
  positives: readonly string[],
): DriftObservation {
  return { scores: { a }, positives, numeric: { rows }, categorical: { manufacturer } };
}

function window(maxCount = 4, maxAgeMs = 1000): DriftWindow {
  return new DriftWindow({ reference: REFERENCE, labels: ['a', 'b'], maxCount, maxAgeMs });
}

describe('DriftWindow', () => {
  it('compares only what the reference has: label a (not b), rows and manufacturer', () => {
    expect(window().compared).toEqual({ labels: ['a'], features: ['rows', 'manufacturer'] });
  });

  it('matches hand-computed PSI, Jensen-Shannon and positive rates as results enter, leave by count and by age', () => {
    const w = window();
    w.add(obs(0.2, 5, 'ACME', ['a']), 0); //              a bin 0, rows bin 0, ACME
    w.add(obs(0.7, 15, 'GE', ['b']), 100); //             a bin 1, rows bin 1, GE -> other
    w.add(obs(0.3, null, null, ['a']), 200); //           a bin 0, rows missing, unknown -> other
    w.add(obs(0.9, 25, ' ACME ', []), 300); //            a bin 1, rows 25 clamped to bin 1, ACME

    let s = w.snapshot(300, 1);
    expect(s.size).toBe(4);
    // a: counts [2, 2] = reference [0.5, 0.5] -> PSI 0, JS 0.
    expect(s.predictionPsi.get('a')).toBe(0);
    expect(s.predictionJs.get('a')).toBe(0);
    // rows: counts [1, 2] (3 present) -> c = [1/3, 2/3], r = [0.8, 0.2]
    // (1/3 - 0.8) * ln((1/3) / 0.8) = -0.4666667 * -0.8754687 = 0.4085521
    // (2/3 - 0.2) * ln((2/3) / 0.2) =  0.4666667 *  1.2039728 = 0.5618540
    // sum = 0.9704061
    expect(s.inputPsi.get('rows')).toBeCloseTo(0.9704060528, 9);
    // manufacturer: ACME 2, other 2 -> c = [0.5, 0.5], r = [0.75, 0.25]
    // (0.5 - 0.75) * ln(0.5 / 0.75) = -0.25 * -0.4054651 = 0.1013663
    // (0.5 - 0.25) * ln(0.5 / 0.25) =  0.25 *  0.6931472 = 0.1732868
    // sum = 0.2746531
    expect(s.inputPsi.get('manufacturer')).toBeCloseTo(0.2746530722, 9);
    // Positives: a in 2 of 4, b in 1 of 4.
    expect(Object.fromEntries(s.positiveRate)).toEqual({ a: 0.5, b: 0.25 });

    // Full (4): the t=0 result (a bin 0, rows bin 0, ACME, positive a) leaves.
    w.add(obs(0.8, 15, 'Philips', ['a']), 400); //        a bin 1, rows bin 1, other
    s = w.snapshot(400, 1);
    expect(s.size).toBe(4);
    // a: counts [1, 3] -> c = [0.25, 0.75]
    // PSI: (0.25 - 0.5) ln(0.5) + (0.75 - 0.5) ln(1.5) = 0.1732868 + 0.1013663 = 0.2746531
    expect(s.predictionPsi.get('a')).toBeCloseTo(0.2746530722, 9);
    // JS: m = [0.375, 0.625]
    // 0.5 * (0.5 log2(0.5/0.375) + 0.5 log2(0.5/0.625))   = 0.5 * (0.2075187 - 0.1609640) = 0.0232774
    // 0.5 * (0.25 log2(0.25/0.375) + 0.75 log2(0.75/0.625)) = 0.5 * (-0.1462406 + 0.1972764) = 0.0255179
    // sum = 0.0487949
    expect(s.predictionJs.get('a')).toBeCloseTo(0.0487949407, 9);
    // rows: counts [0, 3] -> c = [0 -> 1e-4, 1], r = [0.8, 0.2]
    // (1e-4 - 0.8) * ln(1e-4 / 0.8) = -0.7999 * -8.9871968 = 7.1888587
    // (1 - 0.2) * ln(1 / 0.2)       =  0.8 * 1.6094379     = 1.2875503
    // sum = 8.4764091
    expect(s.inputPsi.get('rows')).toBeCloseTo(8.4764090668, 8);
    // manufacturer: ACME 1, other 3 -> c = [0.25, 0.75]: (-0.5) ln(1/3) + 0.5 ln 3 = ln 3 = 1.0986123
    expect(s.inputPsi.get('manufacturer')).toBeCloseTo(Math.log(3), 9);
    // Positives: t=100 [b], t=200 [a], t=300 [], t=400 [a] -> a 2/4, b 1/4.
    expect(Object.fromEntries(s.positiveRate)).toEqual({ a: 0.5, b: 0.25 });

    // Age limit 1000 ms at t=1250: cutoff 250 drops t=100 and t=200; t=300 and t=400 stay.
    s = w.snapshot(1250, 1);
    expect(s.size).toBe(2);
    // a: bins 1 and 1 -> c = [0, 1] -> (1e-4 - 0.5) ln(1e-4/0.5) + (1 - 0.5) ln(2)
    //   = -0.4999 * -8.5171932 + 0.3465736 = 4.2577449 + 0.3465736 = 4.6043185
    expect(s.predictionPsi.get('a')).toBeCloseTo(4.6043184667, 8);
    // JS of [0.5, 0.5] vs [0, 1]: m = [0.25, 0.75]
    // 0.5 * (0.5 log2 2 + 0.5 log2(2/3)) + 0.5 * (1 log2(4/3)) = 0.5 * (0.5 - 0.2924813) + 0.2075187
    //   = 0.1037594 + 0.2075187 = 0.3112781
    expect(s.predictionJs.get('a')).toBeCloseTo(0.3112781245, 9);
    expect(Object.fromEntries(s.positiveRate)).toEqual({ a: 0.5, b: 0 });

    // Below minSamples nothing is reported: a has 2 values, rows 2, manufacturer 2.
    s = w.snapshot(1250, 3);
    expect(s.predictionPsi.size + s.predictionJs.size + s.inputPsi.size).toBe(0);
    expect(s.positiveRate.get('a')).toBe(0.5);

    // Everything expires: an empty window reports no positive rate either.
    s = w.snapshot(10_000, 1);
    expect(s.size).toBe(0);
    expect(s.positiveRate.size).toBe(0);
    expect(s.inputPsi.size).toBe(0);
  });

  it('keeps exact counts over many wrap-arounds of the ring (incremental = recomputed)', () => {
    const w = window(7, 0);
    const all: DriftObservation[] = [];
    for (let i = 0; i < 1000; i++) {
      const o = obs(
        ((i * 37) % 100) / 100,
        i % 3 === 0 ? null : (i * 13) % 30,
        i % 5 === 0 ? 'ACME' : 'X',
        [],
      );
      all.push(o);
      w.add(o, i);
    }
    const fresh = window(7, 0);
    for (const o of all.slice(-7)) fresh.add(o, 0);
    const a = w.snapshot(1e9, 1);
    const b = fresh.snapshot(0, 1);
    expect(a.size).toBe(7);
    expect(Object.fromEntries(a.predictionPsi)).toEqual(Object.fromEntries(b.predictionPsi));
    expect(Object.fromEntries(a.inputPsi)).toEqual(Object.fromEntries(b.inputPsi));
    expect(Object.fromEntries(a.predictionJs)).toEqual(Object.fromEntries(b.predictionJs));
  });

  it('counts an unknown category in `other`, and `unknown` when the reference lists it', () => {
    const withUnknown: DriftReference = {
      ...REFERENCE,
      categorical: { manufacturer: { probabilities: { ACME: 0.5, unknown: 0.5, other: 0 }, n: 10 } },
    };
    const w = new DriftWindow({ reference: withUnknown, labels: ['a'], maxCount: 10, maxAgeMs: 0 });
    w.add(obs(0.1, 1, null, []), 0);
    w.add(obs(0.1, 1, '', []), 0);
    w.add(obs(0.1, 1, 'ACME', []), 0);
    w.add(obs(0.1, 1, 'ACME', []), 0);
    // ACME 2, unknown 2, other 0 vs [0.5, 0.5, 0]: identical -> 0 (0 vs 0 gives (e-e) ln 1 = 0).
    expect(w.snapshot(0, 1).inputPsi.get('manufacturer')).toBe(0);
  });

  it('refuses bad sizes and malformed reference bins', () => {
    expect(() => window(0)).toThrow(/maxCount/);
    expect(() => window(100_001)).toThrow(/maxCount/);
    expect(() => window(4, -1)).toThrow(/maxAgeMs/);
    const bad: DriftReference = {
      ...REFERENCE,
      scores: { a: { edges: [0, 0.5, 1], probabilities: [1], n: 1 } },
    };
    expect(() => new DriftWindow({ reference: bad, labels: ['a'], maxCount: 1, maxAgeMs: 0 })).toThrow(
      /scores\.a has 1 probabilities for 2 bins/,
    );
  });
});
