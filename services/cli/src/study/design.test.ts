import { describe, expect, it } from 'vitest';
import { allocate, assignReadings, mulberry32, sampleStratified, shuffled } from './design.js';

describe('allocate', () => {
  it('splits proportionally by largest remainder and keeps every stratum', () => {
    const counts = allocate(
      new Map([
        ['a', 90],
        ['b', 9],
        ['c', 1],
      ]),
      10,
    );
    expect(Object.fromEntries(counts)).toEqual({ a: 8, b: 1, c: 1 });
    expect(
      Object.fromEntries(
        allocate(
          new Map([
            ['a', 3],
            ['b', 3],
          ]),
          6,
        ),
      ),
    ).toEqual({ a: 3, b: 3 });
  });

  it('refuses more cases than there are', () => {
    expect(() => allocate(new Map([['a', 2]]), 3)).toThrow(/asked for 3 cases, the run has 2/);
    expect(() => allocate(new Map([['a', 2]]), 0)).toThrow(/positive integer/);
  });
});

describe('sampleStratified', () => {
  const candidates = Array.from({ length: 200 }, (_, i) => ({
    id: i,
    stratum: i < 150 ? 'normal' : 'pneumonia',
  }));

  it('is seeded, without repeats, and proportional per stratum', () => {
    const a = sampleStratified(candidates, (c) => c.stratum, 40, mulberry32(5));
    const b = sampleStratified(candidates, (c) => c.stratum, 40, mulberry32(5));
    const c = sampleStratified(candidates, (c) => c.stratum, 40, mulberry32(6));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(new Set(a.map((x) => x.id)).size).toBe(40);
    expect(a.filter((x) => x.stratum === 'pneumonia')).toHaveLength(10);
  });
});

describe('assignReadings', () => {
  const cases = Array.from({ length: 10 }, (_, i) => `case-${i}`);
  const readers = ['r1', 'r2', 'r3', 'r4'];

  it('crossover: each reader reads each case once per arm, session 2 after every session-1 reading', () => {
    const assignments = assignReadings('crossover', readers, cases, mulberry32(1));
    for (const reader of readers) {
      const mine = assignments.filter((a) => a.readerId === reader);
      expect(mine.map((a) => a.position)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      for (const c of cases) {
        const reads = mine.filter((a) => a.caseId === c);
        expect(reads.map((a) => a.arm).sort()).toEqual(['with_ai', 'without_ai']);
        expect(reads.map((a) => a.session).sort()).toEqual([1, 2]);
      }
      // Session 1: every case once, half of them with the AI.
      const first = mine.filter((a) => a.session === 1);
      expect(new Set(first.map((a) => a.caseId)).size).toBe(10);
      expect(first.filter((a) => a.arm === 'with_ai')).toHaveLength(5);
      expect(Math.max(...first.map((a) => a.position))).toBeLessThan(
        Math.min(...mine.filter((a) => a.session === 2).map((a) => a.position)),
      );
    }
    // Counterbalanced: for every case, half the readers see it with the AI first.
    for (const c of cases) {
      const withFirst = assignments.filter((a) => a.caseId === c && a.session === 1 && a.arm === 'with_ai');
      expect(withFirst).toHaveLength(2);
    }
    // The second session's order is not the first one's (the washout reshuffles).
    const r1 = assignments.filter((a) => a.readerId === 'r1');
    expect(r1.slice(10).map((a) => a.caseId)).not.toEqual(r1.slice(0, 10).map((a) => a.caseId));
  });

  it('sequential: without then at once with the AI, per case', () => {
    const assignments = assignReadings('sequential', readers, cases, mulberry32(2));
    for (const reader of readers) {
      const mine = assignments.filter((a) => a.readerId === reader).sort((a, b) => a.position - b.position);
      expect(mine).toHaveLength(20);
      for (let i = 0; i < 20; i += 2) {
        expect(mine[i]?.arm).toBe('without_ai');
        expect(mine[i + 1]?.arm).toBe('with_ai');
        expect(mine[i + 1]?.caseId).toBe(mine[i]?.caseId);
      }
    }
    expect(() => assignReadings('sequential', [], cases, mulberry32(1))).toThrow(/reader/);
  });

  it('shuffled is a seeded permutation', () => {
    const items = Array.from({ length: 50 }, (_, i) => i);
    const out = shuffled(items, mulberry32(3));
    expect([...out].sort((a, b) => a - b)).toEqual(items);
    expect(out).toEqual(shuffled(items, mulberry32(3)));
  });
});
