/**
 * The reader-study page as text: self-contained (no script, no external reference), names from the
 * data escaped, number formats, and a study whose MRMC analysis could not run. The browser test
 * (html.browser.test.ts) checks the rendered page.
 */
import { describe, expect, it } from 'vitest';
import { simulateReaderStudy } from '../testing/reader-study.js';
import { analyzeReaderStudy } from './analyze.js';
import { formatStudyNumber, renderReaderStudyHtml } from './html.js';

const TRICKY = 'effusion <b>"left" & right</b> v1.2';

describe('formatStudyNumber', () => {
  it('shows counts as integers, values with 3 decimals, tiny p-values as "< 0.001", null as a dash', () => {
    expect(formatStudyNumber(1234.5, 'int')).toBe('1235');
    expect(formatStudyNumber(0.05123, 'fixed')).toBe('0.051');
    expect(formatStudyNumber(0.05123, 'p')).toBe('0.051');
    expect(formatStudyNumber(2.8e-10, 'p')).toBe('< 0.001');
    expect(formatStudyNumber(null, 'p')).toBe('—');
  });
});

describe('renderReaderStudyHtml', () => {
  const input = simulateReaderStudy({
    seed: 3,
    readers: 3,
    cases: 60,
    prevalence: 0.5,
    caseVariance: 0.3,
    label: TRICKY,
    withoutAi: { separation: 1.5, threshold: 0.8, medianTimeMs: 20_000 },
    withAi: { separation: 2, threshold: 0.8, medianTimeMs: 15_000 },
  });
  const html = renderReaderStudyHtml(
    analyzeReaderStudy({ ...input, studyId: 'study <1>', bootstrapSamples: 100 }),
  );

  it('is one self-contained document: no script, no external reference', () => {
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|src=|url\(|@import/i);
    expect(html).not.toMatch(/href="(?!#)/);
  });

  it('escapes names from the data', () => {
    expect(html).not.toContain('<b>');
    expect(html).toContain('effusion &lt;b&gt;&quot;left&quot; &amp; right&lt;/b&gt; v1.2');
    expect(html).toContain('<title>cxr study report: study &lt;1&gt;</title>');
    // A dot in a name is escaped in data-key paths.
    expect(html).toContain('data-key="per_label.0.label"');
  });

  it('has the MRMC table, the per-reader rows, the reader figure, decisions and reading time', () => {
    expect(html).toContain('data-key="per_label.0.mrmc_auroc.p"');
    expect(html).toContain('data-key="per_label.0.mrmc_auroc.ci_low"');
    expect(html).toContain('data-key="per_label.0.readers.2.with_ai.auroc.value"');
    expect(html).toContain('data-key="per_label.0.decision_changes.towards_truth"');
    expect(html).toContain('data-key="reading_time.median_difference_ms.ci_high"');
    expect((html.match(/class="reader-marker"/g) ?? []).length).toBe(3);
    expect(html).toContain('(intervals are 95%)');
  });

  it('says so when the MRMC analysis could not run (one reader)', () => {
    const one = renderReaderStudyHtml(
      analyzeReaderStudy({
        ...input,
        readings: input.readings.filter((r) => r.readerId === 'reader-1'),
        bootstrapSamples: 10,
      }),
    );
    expect(one).toContain('not computed (see notes)');
    expect(one).toContain('needs at least 2 readers who read both arms, got 1');
  });
});
