/**
 * report.html as text: the data-key path encoding, number formatting, escaping, and the optional
 * parts (multiclass, groups, undefined curves). The browser test checks the rendered page.
 */
import { describe, expect, it } from 'vitest';
import type { EvaluationReport } from '@cxr/evaluation';
import { formatNumber, keyPath, renderReportHtml, splitKeyPath } from './report-html.js';
import { escapeHtml, niceStep } from './svg.js';
import { TRICKY_GROUP, TRICKY_LABEL, reportFixture } from './testing/report-fixture.js';

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
});
