/**
 * The reader-study report as one self-contained page (inline CSS and SVG, no script, no external
 * asset), styled like `cxr evaluate`'s report.html. It renders the ReaderStudyReport and nothing
 * else: every number carries a `data-key` (its path in report.json, as in report.html) and a
 * `data-format` (`int`, `fixed`, `p`), so a test can compare the page with the file.
 */
import { keyPath, NULL_TEXT, DECIMALS, STYLE } from '../html/report-html.js';
import { escapeHtml, markers, plot, polyline } from '../html/svg.js';
import type { ArmMetrics, MrmcResult, ReaderLabelReport, ReaderStudyReport, StudyEstimate } from './types.js';

export type StudyNumberFormat = 'int' | 'fixed' | 'p';

type PathSegment = string | number;

/** How a number is shown: `int` rounded, `fixed` with DECIMALS decimals, `p` likewise but `< 0.001` below that. */
export function formatStudyNumber(value: number | null, format: StudyNumberFormat): string {
  if (value === null) return NULL_TEXT;
  if (format === 'int') return String(Math.round(value));
  if (format === 'p' && value < 10 ** -DECIMALS) return `< ${(10 ** -DECIMALS).toFixed(DECIMALS)}`;
  return value.toFixed(DECIMALS);
}

function num(
  value: number | null,
  path: readonly PathSegment[],
  format: StudyNumberFormat = 'fixed',
): string {
  return `<span class="num" data-key="${escapeHtml(keyPath(path))}" data-format="${format}">${escapeHtml(formatStudyNumber(value, format))}</span>`;
}

function text(value: string, path: readonly PathSegment[]): string {
  return `<span data-key="${escapeHtml(keyPath(path))}" data-format="text">${escapeHtml(value)}</span>`;
}

function interval(
  low: number | null,
  high: number | null,
  path: readonly PathSegment[],
  format: StudyNumberFormat = 'fixed',
): string {
  if (low === null || high === null) return '';
  return ` <span class="ci">[${num(low, [...path, 'ci_low'], format)}, ${num(high, [...path, 'ci_high'], format)}]</span>`;
}

function estimate(e: StudyEstimate, path: readonly PathSegment[]): string {
  return `${num(e.value, [...path, 'value'])}${interval(e.ci_low, e.ci_high, path)}`;
}

function table(head: readonly string[], rows: readonly (readonly string[])[], className = ''): string {
  const th = head.map((h) => `<th>${h}</th>`).join('');
  const body = rows.map((row) => `<tr>${row.map((cell) => `<td>${cell}</td>`).join('')}</tr>`).join('');
  return `<table class="${className}"><thead><tr>${th}</tr></thead><tbody>${body}</tbody></table>`;
}

const FOM_NAMES: Readonly<Record<string, string>> = {
  mrmc_auroc: 'AUROC (jackknife covariances)',
  mrmc_auroc_delong: 'AUROC (DeLong covariances)',
  mrmc_sensitivity: 'sensitivity',
  mrmc_specificity: 'specificity',
};

function mrmcRow(name: string, m: MrmcResult | null, path: readonly PathSegment[]): string[] {
  if (m === null)
    return [
      escapeHtml(FOM_NAMES[name] ?? name),
      NULL_TEXT,
      NULL_TEXT,
      `<span class="empty">not computed (see notes)</span>`,
      NULL_TEXT,
      NULL_TEXT,
      NULL_TEXT,
    ];
  return [
    escapeHtml(FOM_NAMES[name] ?? name),
    num(m.without_ai, [...path, 'without_ai']),
    num(m.with_ai, [...path, 'with_ai']),
    `${num(m.difference, [...path, 'difference'])}${interval(m.ci_low, m.ci_high, path)}`,
    num(m.f, [...path, 'f']),
    num(m.df2, [...path, 'df2']),
    num(m.p, [...path, 'p'], 'p'),
  ];
}

function armCells(m: ArmMetrics, path: readonly PathSegment[]): string[] {
  return [
    num(m.readings, [...path, 'readings'], 'int'),
    estimate(m.sensitivity, [...path, 'sensitivity']),
    estimate(m.specificity, [...path, 'specificity']),
    estimate(m.auroc, [...path, 'auroc']),
  ];
}

/** Each reader's AUROC without (x) and with (y) AI; above the diagonal, the AI helped. */
function readerFigure(label: ReaderLabelReport): string {
  const points = label.readers.flatMap((r): (readonly [number, number, number])[] =>
    r.without_ai.auroc.value === null || r.with_ai.auroc.value === null
      ? []
      : [[r.without_ai.auroc.value, r.with_ai.auroc.value, 4]],
  );
  const values = points.flatMap(([x, y]) => [x, y]);
  const low = values.length === 0 ? 0.5 : Math.max(0, Math.floor(Math.min(0.5, ...values) * 10) / 10);
  const p = plot({
    title: 'Reader AUROC, without vs with AI',
    xLabel: 'AUROC without AI',
    yLabel: 'AUROC with AI',
    x: [low, 1],
    y: [low, 1],
    kind: 'readers',
    width: 300,
    height: 280,
  });
  p.add(
    polyline(
      p,
      [
        [low, low],
        [1, 1],
      ],
      'reference',
    ),
  );
  p.add(markers(p, points, 'reader-marker'));
  return p.render();
}

function labelSection(label: ReaderLabelReport, index: number): string {
  const path: PathSegment[] = ['per_label', index];
  const mrmcNames = ['mrmc_auroc', 'mrmc_auroc_delong', 'mrmc_sensitivity', 'mrmc_specificity'] as const;
  const mrmc = table(
    ['figure of merit', 'without AI', 'with AI', 'difference [CI]', 'F', 'df2', 'p'],
    mrmcNames.map((n) => mrmcRow(n, label[n], [...path, n])),
    'mrmc',
  );
  const readerRows: string[][] = [];
  label.readers.forEach((r, i) => {
    const rp = [...path, 'readers', i];
    readerRows.push([
      text(r.reader_id, [...rp, 'reader_id']),
      'without AI',
      ...armCells(r.without_ai, [...rp, 'without_ai']),
      '',
    ]);
    readerRows.push([
      '',
      'with AI',
      ...armCells(r.with_ai, [...rp, 'with_ai']),
      `${num(r.auroc_difference.value, [...rp, 'auroc_difference', 'value'])}${interval(r.auroc_difference.ci_low, r.auroc_difference.ci_high, [...rp, 'auroc_difference'])} p ${num(r.auroc_difference.p, [...rp, 'auroc_difference', 'p'], 'p')}`,
    ]);
  });
  (['without_ai', 'with_ai'] as const).forEach((arm) =>
    readerRows.push([
      '<strong>pooled</strong>',
      arm === 'without_ai' ? 'without AI' : 'with AI',
      ...armCells(label.pooled[arm], [...path, 'pooled', arm]),
      '',
    ]),
  );
  const dc = label.decision_changes;
  const dp = [...path, 'decision_changes'];
  const changes = table(
    ['decision changes', 'count'],
    [
      ['reader × case pairs read in both arms', num(dc.pairs, [...dp, 'pairs'], 'int')],
      [
        'call changed',
        `${num(dc.changed, [...dp, 'changed'], 'int')} (rate ${estimate(dc.change_rate, [...dp, 'change_rate'])})`,
      ],
      ['… towards the truth', num(dc.towards_truth, [...dp, 'towards_truth'], 'int')],
      ['… away from the truth', num(dc.away_from_truth, [...dp, 'away_from_truth'], 'int')],
      ['… truth unknown', num(dc.truth_unknown, [...dp, 'truth_unknown'], 'int')],
      ['… to the AI’s call', num(dc.towards_ai, [...dp, 'towards_ai'], 'int')],
      [
        'pairs with the AI’s call known',
        num(dc.agreement_with_ai.pairs, [...dp, 'agreement_with_ai', 'pairs'], 'int'),
      ],
      [
        'agreement with the AI, without AI',
        estimate(dc.agreement_with_ai.without_ai, [...dp, 'agreement_with_ai', 'without_ai']),
      ],
      [
        'agreement with the AI, with AI',
        estimate(dc.agreement_with_ai.with_ai, [...dp, 'agreement_with_ai', 'with_ai']),
      ],
    ],
    'changes',
  );
  return [
    `<section id="label-${index}" class="label"><h2>${text(label.label, [...path, 'label'])}</h2>`,
    `<p>${num(label.cases, [...path, 'cases'], 'int')} cases with a known truth (${num(label.positives, [...path, 'positives'], 'int')} positive, ${num(label.negatives, [...path, 'negatives'], 'int')} negative); ${num(label.complete_cases, [...path, 'complete_cases'], 'int')} read by every reader in both arms (the MRMC analysis).</p>`,
    '<h3>Effect of the AI (multi-reader multi-case, readers and cases random)</h3>',
    mrmc,
    '<h3>Readers</h3>',
    `<div class="row">${table(['reader', 'arm', 'readings', 'sensitivity [CI]', 'specificity [CI]', 'AUROC [CI]', 'AUROC with − without [CI]'], readerRows, 'readers')}`,
    `<div class="figures">${readerFigure(label)}</div></div>`,
    '<h3>Decisions</h3>',
    changes,
    '</section>',
  ].join('\n');
}

const READER_STYLE = 'svg .reader-marker{fill:#0969da;fill-opacity:.7;stroke:#fff}';

/** The report as a complete HTML document. */
export function renderReaderStudyHtml(report: ReaderStudyReport): string {
  // 95%, 99%, 97.5%: at most 2 decimals, no trailing zeros.
  const confidence = `${String(Math.round((1 - report.alpha) * 10000) / 100)}%`;
  const summary = table(
    [
      'label',
      'cases',
      'AUROC without AI',
      'AUROC with AI',
      'difference [CI]',
      'p',
      'sensitivity without → with',
      'specificity without → with',
    ],
    report.per_label.map((l, i) => {
      const p: PathSegment[] = ['per_label', i];
      const m = l.mrmc_auroc;
      return [
        `<a href="#label-${String(i)}">${text(l.label, [...p, 'label'])}</a>`,
        num(l.cases, [...p, 'cases'], 'int'),
        estimate(l.pooled.without_ai.auroc, [...p, 'pooled', 'without_ai', 'auroc']),
        estimate(l.pooled.with_ai.auroc, [...p, 'pooled', 'with_ai', 'auroc']),
        m === null
          ? NULL_TEXT
          : `${num(m.difference, [...p, 'mrmc_auroc', 'difference'])}${interval(m.ci_low, m.ci_high, [...p, 'mrmc_auroc'])}`,
        m === null ? NULL_TEXT : num(m.p, [...p, 'mrmc_auroc', 'p'], 'p'),
        `${num(l.pooled.without_ai.sensitivity.value, [...p, 'pooled', 'without_ai', 'sensitivity', 'value'])} → ${num(l.pooled.with_ai.sensitivity.value, [...p, 'pooled', 'with_ai', 'sensitivity', 'value'])}`,
        `${num(l.pooled.without_ai.specificity.value, [...p, 'pooled', 'without_ai', 'specificity', 'value'])} → ${num(l.pooled.with_ai.specificity.value, [...p, 'pooled', 'with_ai', 'specificity', 'value'])}`,
      ];
    }),
    'summary',
  );
  const t = report.reading_time;
  const tp = ['reading_time'];
  const time = table(
    ['reading time', 'value (ms)'],
    [
      [
        'median without AI',
        `${num(t.without_ai.median_ms, [...tp, 'without_ai', 'median_ms'], 'int')} (${num(t.without_ai.readings, [...tp, 'without_ai', 'readings'], 'int')} readings)`,
      ],
      [
        'median with AI',
        `${num(t.with_ai.median_ms, [...tp, 'with_ai', 'median_ms'], 'int')} (${num(t.with_ai.readings, [...tp, 'with_ai', 'readings'], 'int')} readings)`,
      ],
      [
        `median paired difference, with − without [${confidence} CI]`,
        `${num(t.median_difference_ms.value, [...tp, 'median_difference_ms', 'value'], 'int')}${interval(t.median_difference_ms.ci_low, t.median_difference_ms.ci_high, [...tp, 'median_difference_ms'], 'int')} over ${num(t.pairs, [...tp, 'pairs'], 'int')} pairs`,
      ],
    ],
    'time',
  );
  const perReaderTime = table(
    ['reader', 'pairs', 'median without AI (ms)', 'median with AI (ms)', 'median difference (ms)'],
    t.per_reader.map((r, i) => {
      const p = [...tp, 'per_reader', i];
      return [
        text(r.reader_id, [...p, 'reader_id']),
        num(r.pairs, [...p, 'pairs'], 'int'),
        num(r.median_without_ai_ms, [...p, 'median_without_ai_ms'], 'int'),
        num(r.median_with_ai_ms, [...p, 'median_with_ai_ms'], 'int'),
        num(r.median_difference_ms, [...p, 'median_difference_ms'], 'int'),
      ];
    }),
    'time-readers',
  );
  const notes =
    report.notes.length === 0
      ? '<p class="empty">None.</p>'
      : `<ul class="notes">${report.notes.map((n, i) => `<li>${text(n, ['notes', i])}</li>`).join('')}</ul>`;
  return [
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>cxr study report: ${escapeHtml(report.study_id)}</title>`,
    `<style>${STYLE}${READER_STYLE}</style></head><body>`,
    '<h1>Reader study</h1>',
    '<dl class="meta">',
    `<dt>study</dt><dd>${text(report.study_id, ['study_id'])}</dd>`,
    `<dt>design</dt><dd>${text(report.design, ['design'])}</dd>`,
    `<dt>readers</dt><dd>${num(report.readers.length, ['readers', 'length'], 'int')}</dd>`,
    `<dt>cases</dt><dd>${num(report.cases, ['cases'], 'int')}</dd>`,
    `<dt>readings</dt><dd>${num(report.readings, ['readings'], 'int')}</dd>`,
    `<dt>alpha</dt><dd>${num(report.alpha, ['alpha'])} (intervals are ${escapeHtml(confidence)})</dd>`,
    '</dl>',
    `<section id="summary"><h2>Summary</h2>${summary}</section>`,
    ...report.per_label.map((l, i) => labelSection(l, i)),
    `<section id="reading-time"><h2>Reading time</h2>${time}${perReaderTime}`,
    `<p>Interval: two-way percentile bootstrap (readers and cases resampled), ${num(t.bootstrap.samples, [...tp, 'bootstrap', 'samples'], 'int')} resamples, seed ${num(t.bootstrap.seed, [...tp, 'bootstrap', 'seed'], 'int')}.</p></section>`,
    '<section id="methods"><h2>Methods</h2><ul>',
    '<li>Rating: the decision and its confidence (1–5) as a 10-point suspicion scale; AUROC is the trapezoidal (Wilcoxon) area of that rating.</li>',
    '<li>Per reader: Wilson intervals for sensitivity and specificity, DeLong intervals for the AUROC, the paired DeLong test for the reader’s AUROC difference.</li>',
    '<li>Effect of the AI: Obuchowski–Rockette analysis with readers and cases random (Obuchowski &amp; Rockette 1995; Hillis et al. 2005), jackknife (and, for the AUROC, DeLong) covariances, Hillis (2007) denominator degrees of freedom; with jackknife covariances it equals the Dorfman–Berbaum–Metz analysis. Pooled values are reader means with the single-arm OR interval. Checked against OR-DBM MRMC 2.5 and MRMCaov on the Van Dyke et al. (1993) data.</li>',
    '</ul></section>',
    `<section id="notes"><h2>Notes</h2>${notes}</section>`,
    '</body></html>\n',
  ].join('\n');
}
