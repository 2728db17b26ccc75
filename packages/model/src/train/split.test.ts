import { describe, expect, it } from 'vitest';
import { mulberry32 } from './random.js';
import { patientSplit, type SplitCase } from './split.js';

// 120 patients with 1-5 cases each at sites A, B, C (a few patients at two sites).
function makeCases(seed: number): SplitCase[] {
  const random = mulberry32(seed);
  const cases: SplitCase[] = [];
  for (let p = 0; p < 120; p++) {
    const site = ['A', 'B', 'C'][p % 3]!;
    const k = 1 + Math.floor(random() * 5);
    for (let j = 0; j < k; j++) {
      const group = p % 17 === 0 && j === k - 1 ? 'C' : site;
      cases.push({ patientKey: `pk-${p.toString(16)}`, group });
    }
  }
  return cases;
}

function sidesOf(cases: readonly SplitCase[], indices: readonly number[]): Set<string> {
  return new Set(indices.map((i) => cases[i]!.patientKey));
}

describe('patientSplit', () => {
  const cases = makeCases(1);

  it('puts every case on exactly one side and no patient on both', () => {
    const { train, validation } = patientSplit(cases, { valFraction: 0.2, seed: 5 });
    expect([...train, ...validation].sort((a, b) => a - b)).toEqual(cases.map((_, i) => i));
    const t = sidesOf(cases, train);
    for (const key of sidesOf(cases, validation)) expect(t.has(key)).toBe(false);
  });

  it('gives a validation share within 3 percentage points of valFraction', () => {
    for (const valFraction of [0.1, 0.2, 0.3]) {
      for (const seed of [1, 2, 3]) {
        const { validation } = patientSplit(cases, { valFraction, seed });
        expect(Math.abs(validation.length / cases.length - valFraction)).toBeLessThan(0.03);
      }
    }
  });

  it('is deterministic per seed, differs between seeds and ignores row order', () => {
    const a = patientSplit(cases, { valFraction: 0.2, seed: 9 });
    expect(patientSplit(cases, { valFraction: 0.2, seed: 9 })).toEqual(a);
    const b = patientSplit(cases, { valFraction: 0.2, seed: 10 });
    expect(b.validation).not.toEqual(a.validation);
    // Reversing the rows reverses the indices but selects the same patients.
    const reversed = [...cases].reverse();
    const r = patientSplit(reversed, { valFraction: 0.2, seed: 9 });
    expect(sidesOf(reversed, r.validation)).toEqual(sidesOf(cases, a.validation));
  });

  it('sends hold-out groups entirely to validation, with their patients', () => {
    const { train, validation } = patientSplit(cases, { valFraction: 0.2, seed: 4, holdOutGroups: ['C'] });
    const validationSet = new Set(validation);
    cases.forEach((c, i) => {
      if (c.group === 'C') expect(validationSet.has(i)).toBe(true);
    });
    // A patient from site A with one case at C is in validation with all of their cases.
    const crossSite = cases.filter((c) => c.patientKey === 'pk-0');
    expect(new Set(crossSite.map((c) => c.group))).toEqual(new Set(['A', 'C']));
    expect(sidesOf(cases, train).has('pk-0')).toBe(false);
    const t = sidesOf(cases, train);
    for (const key of sidesOf(cases, validation)) expect(t.has(key)).toBe(false);
    // valFraction applies to the remaining cases.
    const heldPatients = new Set(cases.filter((c) => c.group === 'C').map((c) => c.patientKey));
    const remaining = cases.filter((c) => !heldPatients.has(c.patientKey)).length;
    const heldCases = cases.length - remaining;
    expect(Math.abs((validation.length - heldCases) / remaining - 0.2)).toBeLessThan(0.03);
    // valFraction 0: validation is the hold-out groups alone.
    const external = patientSplit(cases, { valFraction: 0, seed: 4, holdOutGroups: ['C'] });
    expect(external.validation).toHaveLength(heldCases);
  });

  it('keeps at least one validation patient and rejects impossible splits', () => {
    const two: SplitCase[] = [
      { patientKey: 'a' },
      { patientKey: 'a' },
      { patientKey: 'b' },
      { patientKey: 'b' },
    ];
    const small = patientSplit(two, { valFraction: 0.1, seed: 1 });
    expect(small.validation).toHaveLength(2);
    expect(small.train).toHaveLength(2);
    expect(() => patientSplit(cases, { valFraction: 1, seed: 1 })).toThrow(/valFraction/);
    expect(() => patientSplit(cases, { valFraction: 0.2, seed: 1, holdOutGroups: ['Z'] })).toThrow(
      /hold-out group "Z" matches no case/,
    );
    expect(() => patientSplit(two, { valFraction: 0.2, seed: 1, holdOutGroups: [] })).not.toThrow();
    const allHeld = two.map((c) => ({ ...c, group: 'X' }));
    expect(() => patientSplit(allHeld, { valFraction: 0.2, seed: 1, holdOutGroups: ['X'] })).toThrow(
      /no training case left/,
    );
  });
});
