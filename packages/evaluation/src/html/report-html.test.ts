/**
 * report.html as text: the data-key path encoding, number formatting, escaping, and the optional
 * parts (multiclass, groups, undefined curves). The browser test checks the rendered page.
 */
import { describe, expect, it } from 'vitest';
import { evaluate, type EvaluationCase } from '../evaluate.js';
import type { EvaluationReport } from '../report.js';
import { formatNumber, keyPath, renderReportHtml, splitKeyPath } from './report-html.js';
import { escapeHtml, niceStep } from './svg.js';
import { TRICKY_GROUP, TRICKY_LABEL, reportFixture } from '../testing/report-fixture.js';

describe('keyPath', () => {
  it('joins segments with dots and escapes dots and backslashes inside names, reversibly', () => {
    expect(keyPath(['labels', 'pneumonia', 'auroc', 'value'])).toBe('labels.pneumonia.auroc.value');
    expect(keyPath(['labels', 'a', 'operating_points', 0, 'ppv'])).toBe('labels.a.operating_points.0.ppv');
    const tricky = ['groups', 'institution', TRICKY_GROUP, 'labels', TRICKY_LABEL, 'n'];
    expect(keyPath(tricky)).toBe(
      `groups.institution.St\\. <Mary>'s & Co.labels.effusion <b>"left" & right</b> v1\\.2.n`,
    );
    expect(splitKeyPath(keyPath(tricky))).toEqual(tricky);
    expect(splitKeyPath(keyPath(['a\\b', 'c.d\\', '']))).toEqual(['a\\b', 'c.d\\', '']);
  });
});

describe('formatNumber', () => {
  it('shows counts as integers, other numbers with three decimals, null as a dash', () => {
    expect(formatNumber(1180, 'int')).toBe('1180');
    expect(formatNumber(0.91249, 'fixed')).toBe('0.912');
    expect(formatNumber(-0.0715, 'fixed')).toBe('-0.071');
    expect(formatNumber(1, 'fixed')).toBe('1.000');
    expect(formatNumber(null, 'fixed')).toBe('—');
  });
});

describe('niceStep', () => {
  it('gives round tick steps of 1, 2 or 5 times a power of ten, at least 1', () => {
    expect([7199, 60, 3, 0, 1000, 2600].map((max) => niceStep(max, 5))).toEqual([2000, 20, 1, 1, 200, 1000]);
  });
});

describe('renderReportHtml', () => {
  const html = renderReportHtml(reportFixture());

  it('is one self-contained document: inline style and SVG, no script, no external reference', () => {
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).toContain('<style>');
    expect(html).not.toMatch(/<script|<link|<img|<iframe|src=|url\(|@import/i);
    // The only URL is the SVG namespace, which is a name, not a fetch.
    const urls = [...html.matchAll(/https?:\/\/[^"'\s<>]+/g)].map((m) => m[0]);
    expect(new Set(urls)).toEqual(new Set(['http://www.w3.org/2000/svg']));
  });

  it('escapes names from the data everywhere they appear', () => {
    expect(html).not.toContain('<b>');
    expect(html).not.toContain('<Mary>');
    expect(html).toContain(escapeHtml(TRICKY_LABEL));
    expect(html).toContain(escapeHtml(TRICKY_GROUP));
    expect(html).toContain('/data/labels &amp; &lt;truth&gt;.csv');
  });

  it('leaves out multiclass and groups when the report has none, and says a curve is undefined', () => {
    const fixture = reportFixture();
    const noPositives = fixture.groups?.institution?.[TRICKY_GROUP]?.labels[TRICKY_LABEL];
    if (noPositives === undefined) throw new Error('fixture changed');
    const { multiclass: _multiclass, groups: _groups, ...rest } = fixture;
    const plain: EvaluationReport = { ...rest, labels: { [TRICKY_LABEL]: noPositives } };
    const out = renderReportHtml(plain);
    expect(out).not.toContain('id="multiclass"');
    expect(out).not.toContain('id="groups"');
    // No positives: ROC and PR are undefined, drawn as a labelled empty figure, not as a line.
    expect(out).toMatch(/<svg class="figure roc no-data"/);
    expect(out).toMatch(/<svg class="figure pr no-data"/);
    expect(out).toContain(`data-key="${escapeHtml(keyPath(['labels', TRICKY_LABEL, 'auroc', 'value']))}"`);
  });

  it('says why a group AUROC has no interval instead of printing a [0, 0] bootstrap one (audit 18)', () => {
    // One positive below every negative in site "b": the bootstrap used to report [0.000, 0.000].
    const cases: EvaluationCase[] = [
      { labels: [1], scores: [0.05], groups: { site: 'b' } },
      ...[0.3, 0.4, 0.5].map((s) => ({ labels: [0 as const], scores: [s], groups: { site: 'b' } })),
      ...[0.9, 0.8, 0.2, 0.7, 0.1, 0.3].map((s, i) => ({
        labels: [i < 3 ? (1 as const) : (0 as const)],
        scores: [s],
        groups: { site: 'a' },
      })),
    ];
    const report = evaluate(
      { labels: ['effusion'], cases, activation: 'sigmoid', group_by: 'site' },
      { ci_method: 'bootstrap', bootstrap_samples: 200, seed: 1 },
    );
    const b = report.groups?.site?.b?.labels.effusion;
    expect(b?.auroc).toEqual({ value: 0, ci_low: null, ci_high: null, method: 'none' });
    expect(b?.notes.some((note) => note.startsWith('AUROC interval undefined'))).toBe(true);
    const out = renderReportHtml(report);
    const cell = keyPath(['groups', 'site', 'b', 'labels', 'effusion', 'auroc', 'value']);
    expect(out).toContain(
      `<span class="num" data-key="${escapeHtml(cell)}" data-format="fixed">0.000</span> <span class="ci none">no interval (fewer than 2 positives)</span>`,
    );
    expect(out).not.toContain(
      escapeHtml(keyPath(['groups', 'site', 'b', 'labels', 'effusion', 'auroc', 'ci_low'])),
    );
    // The group with both classes keeps its interval and says nothing of the kind.
    expect(out).toContain(
      escapeHtml(keyPath(['groups', 'site', 'a', 'labels', 'effusion', 'auroc', 'ci_low'])),
    );
    expect(out.match(/no interval \(/g)).toHaveLength(1);
  });
});
