import { describe, expect, it } from 'vitest';

import { delong, delongInterval } from './auroc.js';
import { evaluate, MISSING_GROUP } from './evaluate.js';
import type { EvaluationCase, EvaluationInput } from './evaluate.js';
import { mulberry32 } from './random.js';
import { sortClasses } from './ranking.js';

/** Every number in a JSON-bound value is finite (JSON.stringify would silently write null). */
function nonFiniteNumbers(value: unknown, path = '$'): string[] {
  if (typeof value === 'number') return Number.isFinite(value) ? [] : [path];
  if (Array.isArray(value)) return value.flatMap((v, i) => nonFiniteNumbers(v, `${path}[${String(i)}]`));
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).flatMap(([k, v]) => nonFiniteNumbers(v, `${path}.${k}`));
  }
  return [];
}

/**
 * 120 cases, labels `Effusion` (a real signal), `Hernia` (no positives), `Flat` (constant score
 * 0.5). Case 0 has an unknown Effusion label; case 1 a null Effusion score. Sites: 80 `a`,
 * 30 `b`, 10 without a site.
 */
function dataset(): EvaluationInput {
  const random = mulberry32(11);
  const cases: EvaluationCase[] = [];
  for (let i = 0; i < 120; i++) {
    const y = random() < 0.3 ? 1 : 0;
    const score = Math.min(1, Math.max(0, 0.3 + 0.35 * y + 0.25 * (random() - 0.5)));
    const site = i < 80 ? 'a' : i < 110 ? 'b' : null;
    cases.push({
      labels: [i === 0 ? null : y, 0, i % 2 === 0 ? 1 : 0],
      scores: [i === 1 ? null : score, random() * 0.2, 0.5],
      groups: site === null ? {} : { site },
    });
  }
  return {
    labels: ['Effusion', 'Hernia', 'Flat'],
    cases,
    activation: 'sigmoid',
    thresholds: { Effusion: 0.5, Hernia: 0.5 },
    model: { id: 'densenet121-test', version: '1' },
    group_by: 'site',
    created_at: '2026-01-01T00:00:00.000Z',
  };
}

describe('evaluate', () => {
  const input = dataset();
  const report = evaluate(input);

  it('computes each label from its known cases only', () => {
    const effusion = report.labels.Effusion;
    if (effusion === undefined) throw new Error('no Effusion');
    const kept = input.cases.slice(2);
    const sorted = sortClasses(
      kept.map((c) => c.scores[0] as number),
      kept.map((c) => c.labels[0] as number),
    );
    expect(effusion.n).toBe(118);
    expect(effusion.positives).toBe(sorted.positives.length);
    expect(effusion.prevalence).toBeCloseTo(sorted.positives.length / 118, 15);
    const expected = delong(sorted);
    expect(effusion.auroc).toEqual({ value: expected.auc, ...delongInterval(expected), method: 'delong' });
    expect(effusion.notes).toContain('1 cases with an unknown label left out');
    expect(effusion.notes).toContain('1 cases with a non-finite score left out');
    expect(effusion.operating_points.map((p) => p.name)).toEqual([
      'manifest',
      'youden',
      'target_sensitivity',
    ]);
    const target = effusion.operating_points[2];
    expect(target?.target).toBe(0.95);
    expect(target?.sensitivity).toBeGreaterThanOrEqual(0.95);
    expect(effusion.brier).toBe(effusion.calibration.brier);
    expect(effusion.ece).toBe(effusion.calibration.ece);
    expect(effusion.calibration.bins).toHaveLength(10);
    expect(effusion.curves.roc[0]).toMatchObject({ fpr: 0, tpr: 0 });
    expect(effusion.curves.histogram.positives.reduce((a, b) => a + b, 0)).toBe(effusion.positives);
  });

  it('defines a label with no positives', () => {
    const hernia = report.labels.Hernia;
    expect(hernia).toMatchObject({
      n: 120,
      positives: 0,
      prevalence: 0,
      average_precision: null,
    });
    expect(hernia?.auroc).toEqual({ value: null, ci_low: null, ci_high: null, method: 'none' });
    // Manifest threshold still reported (specificity is defined), no Youden, no target point.
    expect(hernia?.operating_points.map((p) => p.name)).toEqual(['manifest']);
    expect(hernia?.operating_points[0]?.sensitivity).toBeNull();
    expect(hernia?.operating_points[0]?.specificity).toBe(1);
    expect(hernia?.notes.some((n) => n.startsWith('no positives'))).toBe(true);
    expect(hernia?.calibration.slope).toBeNull();
  });

  it('defines a constant score', () => {
    const flat = report.labels.Flat;
    expect(flat?.auroc).toEqual({ value: 0.5, ci_low: 0.5, ci_high: 0.5, method: 'delong' });
    expect(flat?.notes).toContain('constant score: AUROC 0.5 (every pair tied), one threshold only');
    expect(flat?.notes).toContain('no manifest threshold for this label');
    expect(flat?.operating_points.map((p) => [p.name, p.threshold, p.sensitivity, p.specificity])).toEqual([
      ['youden', 0.5, 1, 0],
      ['target_sensitivity', 0.5, 1, 0],
    ]);
    expect(flat?.average_precision).toBe(0.5);
    expect(flat?.calibration.slope).toBeNull();
  });

  it('reports per group, flags small ones, and puts cases without a value in (missing)', () => {
    const site = report.groups?.site;
    expect(Object.keys(site ?? {})).toEqual([MISSING_GROUP, 'a', 'b']);
    expect(site?.a?.n).toBe(80);
    expect(site?.b?.n).toBe(30);
    expect(site?.[MISSING_GROUP]?.n).toBe(10);
    // Hernia has no positives anywhere, so every group is too small to say anything on it.
    expect(site?.a?.too_small).toBe(true);
    expect(site?.a?.notes).toContain('too small: no positives or no negatives for Hernia');
    expect(site?.[MISSING_GROUP]?.notes).toContain('too small: 10 cases < 30');
    // Group statistics are the same computation on the subset.
    const rows = input.cases.slice(2, 80);
    const sorted = sortClasses(
      rows.map((c) => c.scores[0] as number),
      rows.map((c) => c.labels[0] as number),
    );
    expect(site?.a?.labels.Effusion?.auroc.value).toBe(delong(sorted).auc);
    expect(report.settings.group_by).toBe('site');
  });

  it('a group with both classes and enough cases is not too small', () => {
    const r = evaluate({
      ...input,
      labels: ['Effusion'],
      cases: input.cases.map((c) => ({ ...c, labels: [c.labels[0] ?? null], scores: [c.scores[0] ?? null] })),
    });
    expect(r.groups?.site?.a?.too_small).toBe(false);
    expect(r.groups?.site?.b?.too_small).toBe(false);
    expect(r.groups?.site?.[MISSING_GROUP]?.too_small).toBe(true);
  });

  it('writes only finite numbers and is deterministic', () => {
    expect(nonFiniteNumbers(report)).toEqual([]);
    expect(evaluate(input)).toEqual(report);
    expect(report.created_at).toBe('2026-01-01T00:00:00.000Z');
    expect(report.model).toEqual({ id: 'densenet121-test', version: '1', activation: 'sigmoid' });
    expect(report.settings).toEqual({
      ci_method: 'delong',
      bootstrap_samples: null,
      seed: null,
      target_sensitivity: 0.95,
      calibration_bins: 10,
      min_group_size: 30,
      group_by: 'site',
    });
    expect(report.multiclass).toBeUndefined();
  });

  it('uses a seeded bootstrap when asked', () => {
    const settings = { ci_method: 'bootstrap', bootstrap_samples: 200, seed: 5 } as const;
    const a = evaluate({ ...input, group_by: null }, settings);
    const b = evaluate({ ...input, group_by: null }, settings);
    expect(a.labels.Effusion?.auroc.method).toBe('bootstrap');
    expect(a.labels.Effusion?.auroc).toEqual(b.labels.Effusion?.auroc);
    expect(a.settings).toMatchObject({
      ci_method: 'bootstrap',
      bootstrap_samples: 200,
      seed: 5,
      group_by: null,
    });
    expect(a.groups).toBeUndefined();
  });

  it('gives no bootstrap interval, and says why, for a group with one positive (audit 18)', () => {
    // The audit's group: its one positive scores below every negative, and the bootstrap printed
    // AUROC 0.000 [0.000, 0.000], as if certain. Like DeLong, no interval below 2 of a class.
    const random = mulberry32(4);
    const cases: EvaluationCase[] = [
      { labels: [1], scores: [0.05], groups: { site: 'small' } },
      ...[0.3, 0.4, 0.5, 0.6].map((s) => ({ labels: [0 as const], scores: [s], groups: { site: 'small' } })),
      ...Array.from({ length: 40 }, (_, i) => ({
        labels: [i % 2 === 0 ? (1 as const) : (0 as const)],
        scores: [0.5 * (i % 2) + random() * 0.7],
        groups: { site: 'large' },
      })),
    ];
    const r = evaluate(
      { labels: ['A'], cases, activation: 'sigmoid', group_by: 'site' },
      { ci_method: 'bootstrap', bootstrap_samples: 200, seed: 3 },
    );
    const small = r.groups?.site?.small?.labels.A;
    expect(small?.positives).toBe(1);
    expect(small?.auroc).toEqual({ value: 0, ci_low: null, ci_high: null, method: 'none' });
    expect(small?.notes).toContain(
      'AUROC interval undefined: the bootstrap needs at least 2 positives and 2 negatives (a single case of a class is in every resample)',
    );
    // A group with both classes well represented keeps its bootstrap interval.
    const large = r.groups?.site?.large?.labels.A?.auroc;
    expect(large?.method).toBe('bootstrap');
    expect(large?.ci_low).toBeLessThan(large?.ci_high ?? -1);
    expect(nonFiniteNumbers(r)).toEqual([]);
  });

  it('adds the multiclass report for softmax models and counts the cases it leaves out', () => {
    const cases: EvaluationCase[] = [
      { labels: [1, 0, 0], scores: [0.7, 0.2, 0.1] }, // A -> A
      { labels: [0, 1, 0], scores: [0.5, 0.3, 0.2] }, // B -> A
      { labels: [0, 0, 1], scores: [0.1, 0.1, 0.8] }, // C -> C
      { labels: [0, 1, null], scores: [0.1, 0.6, 0.3] }, // B -> B (one 1, one unknown: still B)
      { labels: [0, 0, 0], scores: [0.3, 0.3, 0.4] }, // no positive: left out
      { labels: [1, 1, 0], scores: [0.3, 0.3, 0.4] }, // two positives: left out
    ];
    const r = evaluate({ labels: ['A', 'B', 'C'], cases, activation: 'softmax' });
    expect(r.multiclass?.n).toBe(4);
    expect(r.multiclass?.accuracy.value).toBe(0.75);
    expect(r.multiclass?.confusion.B).toEqual({ A: 1, B: 1, C: 0 });
    expect(r.notes).toContain('multiclass: 1 cases with no positive label left out');
    expect(r.notes).toContain('multiclass: 1 cases with several positive labels left out');
    // The binary per-label reports still use every case with a known label.
    expect(r.labels.C?.n).toBe(5);
  });

  it('rejects malformed cases and settings with one-line messages', () => {
    expect(() =>
      evaluate({ labels: ['A'], cases: [{ labels: [1], scores: [0.1, 0.2] }], activation: null }),
    ).toThrow('evaluate: case 0 has 2 scores and 1 labels, expected 1');
    expect(() =>
      evaluate({ labels: ['A'], cases: [{ labels: [2 as 1], scores: [0.1] }], activation: null }),
    ).toThrow(/not 0, 1 or null/);
    expect(() => evaluate(input, { target_sensitivity: 0 })).toThrow(/target_sensitivity/);
    expect(() => evaluate(input, { calibration_bins: 0 })).toThrow(/calibration_bins/);
  });

  it('reports an empty input as undefined everywhere, without throwing', () => {
    const r = evaluate({ labels: ['A'], cases: [], activation: 'softmax' });
    expect(r.labels.A).toMatchObject({
      n: 0,
      positives: 0,
      prevalence: null,
      average_precision: null,
      brier: null,
      operating_points: [],
    });
    expect(r.labels.A?.auroc.method).toBe('none');
    expect(r.multiclass?.accuracy.value).toBeNull();
    expect(nonFiniteNumbers(r)).toEqual([]);
  });

  it('leaves calibration out, with a note, for raw scores (activation none)', () => {
    const cases: EvaluationCase[] = [-2, -1, 0.5, 3].map((s, i) => ({
      labels: [i >= 2 ? 1 : 0],
      scores: [s],
    }));
    const r = evaluate({ labels: ['A'], cases, activation: 'none' });
    expect(r.labels.A?.auroc.value).toBe(1);
    expect(r.labels.A?.brier).toBeNull();
    expect(r.labels.A?.notes).toContain(
      'calibration undefined: scores are not probabilities (outside [0, 1])',
    );
    expect(r.labels.A?.curves.histogram.edges[0]).toBe(-2);
    expect(r.labels.A?.curves.histogram.edges.at(-1)).toBe(3);
  });
});
