/**
 * report.html: the EvaluationReport as one self-contained page (inline CSS and inline SVG, no
 * script, no external asset), readable offline and printable. It renders report.json and nothing
 * else: every number on the page carries a `data-key` attribute holding its path in report.json
 * (`labels.pneumonia.auroc.value`; a `.` or `\` inside a name is escaped with `\`) and a
 * `data-format` saying how it was formatted, so a test can compare the page with the file.
 */
import type {
  ConfusionMatrix,
  Estimate,
  EvaluationReport,
  GroupReport,
  LabelReport,
  MulticlassReport,
  OperatingPoint,
} from '../report.js';
import { escapeHtml, legend, markers, niceStep, plot, polyline, steps, type Point } from './svg.js';

export type NumberFormat = 'int' | 'fixed';
/** Decimals of every non-integer number on the page. */
export const DECIMALS = 3;
/** What the page shows for a null (undefined for the data) value. */
export const NULL_TEXT = '—';

type PathSegment = string | number;

/** A report.json path as a data-key: segments joined by `.`, with `\` and `.` escaped by `\`. */
export function keyPath(segments: readonly PathSegment[]): string {
  return segments.map((s) => String(s).replaceAll('\\', '\\\\').replaceAll('.', '\\.')).join('.');
}

/** The segments of a data-key (the inverse of keyPath). */
export function splitKeyPath(path: string): string[] {
  const segments: string[] = [];
  let current = '';
  for (let i = 0; i < path.length; i += 1) {
    const c = path[i];
    if (c === '\\' && i + 1 < path.length) {
      current += path[i + 1] ?? '';
      i += 1;
    } else if (c === '.') {
      segments.push(current);
      current = '';
    } else current += c ?? '';
  }
  segments.push(current);
  return segments;
}

/** How a number is shown: counts as integers, everything else with DECIMALS decimals, null as NULL_TEXT. */
export function formatNumber(value: number | null, format: NumberFormat): string {
  if (value === null) return NULL_TEXT;
  return format === 'int' ? String(Math.round(value)) : value.toFixed(DECIMALS);
}

function num(value: number | null, path: readonly PathSegment[], format: NumberFormat = 'fixed'): string {
  return `<span class="num" data-key="${escapeHtml(keyPath(path))}" data-format="${format}">${formatNumber(value, format)}</span>`;
}

function text(value: string | null, path: readonly PathSegment[]): string {
  return `<span data-key="${escapeHtml(keyPath(path))}" data-format="text">${escapeHtml(value ?? NULL_TEXT)}</span>`;
}

/** `value [low, high]` of an estimate; the interval only when it is defined. */
function estimate(e: Estimate, path: readonly PathSegment[]): string {
  const interval =
    e.ci_low === null || e.ci_high === null
      ? ''
      : ` <span class="ci">[${num(e.ci_low, [...path, 'ci_low'])}, ${num(e.ci_high, [...path, 'ci_high'])}]</span>`;
  return `${num(e.value, [...path, 'value'])}${interval}`;
}

/**
 * Why an AUROC with a value has no interval: both DeLong and the bootstrap need at least 2
 * positives and 2 negatives. Undefined when the interval exists or the AUROC itself is undefined.
 */
export function missingAurocInterval(label: LabelReport): string | undefined {
  const e = label.auroc;
  if (e.value === null || (e.ci_low !== null && e.ci_high !== null)) return undefined;
  const short = [
    ...(label.positives < 2 ? ['positives'] : []),
    ...(label.n - label.positives < 2 ? ['negatives'] : []),
  ];
  return short.length === 0 ? 'no interval' : `no interval (fewer than 2 ${short.join(' and ')})`;
}

/** The AUROC estimate, saying so in place of the interval when there is none. */
function aurocEstimate(label: LabelReport, path: readonly PathSegment[]): string {
  const missing = missingAurocInterval(label);
  const why = missing === undefined ? '' : ` <span class="ci none">${escapeHtml(missing)}</span>`;
  return `${estimate(label.auroc, path)}${why}`;
}

function table(head: readonly string[], rows: readonly (readonly string[])[], className = ''): string {
  const th = head.map((h) => `<th>${h}</th>`).join('');
  const body = rows.map((row) => `<tr>${row.map((cell) => `<td>${cell}</td>`).join('')}</tr>`).join('');
  return `<table class="${className}"><thead><tr>${th}</tr></thead><tbody>${body}</tbody></table>`;
}

function notesList(notes: readonly string[], path: readonly PathSegment[]): string {
  if (notes.length === 0) return '';
  const items = notes.map((note, i) => `<li>${text(note, [...path, i])}</li>`).join('');
  return `<ul class="notes">${items}</ul>`;
}

const OPERATING_POINT_NAMES: Readonly<Record<OperatingPoint['name'], string>> = {
  manifest: 'manifest threshold',
  youden: 'Youden-optimal',
  target_sensitivity: 'target sensitivity',
};

function operatingPointName(op: OperatingPoint, path: readonly PathSegment[]): string {
  const target = op.target === undefined ? '' : ` (${num(op.target, [...path, 'target'])})`;
  return `${escapeHtml(OPERATING_POINT_NAMES[op.name])}${target}`;
}

function operatingPointsTable(points: readonly OperatingPoint[], path: readonly PathSegment[]): string {
  if (points.length === 0) return '<p class="empty">No operating points.</p>';
  const rows = points.map((op, i) => {
    const p = [...path, i];
    const proportion = (name: 'sensitivity' | 'specificity' | 'ppv' | 'npv'): string => {
      const ci = op.ci[name];
      const interval =
        ci.ci_low === null || ci.ci_high === null
          ? ''
          : ` <span class="ci">[${num(ci.ci_low, [...p, 'ci', name, 'ci_low'])}, ${num(ci.ci_high, [...p, 'ci', name, 'ci_high'])}]</span>`;
      return `${num(op[name], [...p, name])}${interval}`;
    };
    return [
      operatingPointName(op, p),
      num(op.threshold, [...p, 'threshold']),
      proportion('sensitivity'),
      proportion('specificity'),
      proportion('ppv'),
      proportion('npv'),
      num(op.f1, [...p, 'f1']),
    ];
  });
  return table(
    [
      'operating point',
      'threshold',
      'sensitivity [95% CI]',
      'specificity [95% CI]',
      'PPV [95% CI]',
      'NPV [95% CI]',
      'F1',
    ],
    rows,
    'ops',
  );
}

function confusionMatrix(c: ConfusionMatrix, path: readonly PathSegment[], caption: string): string {
  const cell = (name: keyof ConfusionMatrix): string => num(c[name], [...path, name], 'int');
  return (
    `<table class="confusion"><caption>${caption}</caption>` +
    '<thead><tr><th></th><th>predicted +</th><th>predicted −</th></tr></thead><tbody>' +
    `<tr><th>actual +</th><td>${cell('tp')}</td><td>${cell('fn')}</td></tr>` +
    `<tr><th>actual −</th><td>${cell('fp')}</td><td>${cell('tn')}</td></tr>` +
    '</tbody></table>'
  );
}

function noData(kind: string, title: string): string {
  return (
    `<svg class="figure ${kind} no-data" xmlns="http://www.w3.org/2000/svg" width="280" height="250" viewBox="0 0 280 250" role="img" aria-label="${escapeHtml(title)}">` +
    `<text class="plot-title" x="140" y="16" text-anchor="middle">${escapeHtml(title)}</text>` +
    '<text class="tick" x="140" y="125" text-anchor="middle">not defined for these data</text></svg>'
  );
}

function rocFigure(label: LabelReport): string {
  if (label.curves.roc.length < 2) return noData('roc', 'ROC curve');
  const p = plot({
    title: 'ROC curve',
    xLabel: '1 − specificity',
    yLabel: 'sensitivity',
    x: [0, 1],
    y: [0, 1],
    kind: 'roc',
  });
  p.add(
    polyline(
      p,
      [
        [0, 0],
        [1, 1],
      ],
      'reference',
    ),
  );
  p.add(
    polyline(
      p,
      label.curves.roc.map((pt): Point => [pt.fpr, pt.tpr]),
      'series curve',
    ),
  );
  const ops = label.operating_points.flatMap((op): (readonly [number, number, number])[] =>
    op.sensitivity === null || op.specificity === null ? [] : [[1 - op.specificity, op.sensitivity, 3.5]],
  );
  p.add(markers(p, ops, 'op-marker'));
  return p.render();
}

function prFigure(label: LabelReport): string {
  if (label.curves.pr.length < 2) return noData('pr', 'Precision-recall curve');
  const p = plot({
    title: 'Precision-recall curve',
    xLabel: 'recall',
    yLabel: 'precision',
    x: [0, 1],
    y: [0, 1],
    kind: 'pr',
  });
  if (label.prevalence !== null)
    p.add(
      polyline(
        p,
        [
          [0, label.prevalence],
          [1, label.prevalence],
        ],
        'reference',
      ),
    );
  p.add(
    polyline(
      p,
      label.curves.pr.map((pt): Point => [pt.recall, pt.precision]),
      'series curve',
    ),
  );
  return p.render();
}

function reliabilityFigure(label: LabelReport): string {
  const filled = label.calibration.bins.flatMap((bin): (readonly [number, number, number])[] =>
    bin.mean_score === null || bin.observed_rate === null || bin.count === 0
      ? []
      : [[bin.mean_score, bin.observed_rate, bin.count]],
  );
  if (filled.length < 2) return noData('reliability', 'Reliability diagram (equal-width bins)');
  const p = plot({
    title: 'Reliability diagram (equal-width bins)',
    xLabel: 'mean predicted score',
    yLabel: 'observed positive rate',
    x: [0, 1],
    y: [0, 1],
    kind: 'reliability',
  });
  p.add(
    polyline(
      p,
      [
        [0, 0],
        [1, 1],
      ],
      'reference',
    ),
  );
  p.add(
    polyline(
      p,
      filled.map(([x, y]): Point => [x, y]),
      'series curve',
    ),
  );
  const largest = Math.max(...filled.map(([, , count]) => count));
  // Marker area proportional to the bin's share of cases.
  p.add(
    markers(
      p,
      filled.map(([x, y, count]) => [x, y, 2 + 5 * Math.sqrt(count / largest)] as const),
      'bin-marker',
    ),
  );
  return p.render();
}

function histogramFigure(label: LabelReport): string {
  const { edges, positives, negatives } = label.curves.histogram;
  const first = edges[0];
  const last = edges[edges.length - 1];
  if (first === undefined || last === undefined || edges.length < 2 || first === last) {
    return noData('histogram', 'Score histogram by class');
  }
  // Round tick values: the top is a whole number of round steps above the largest count.
  const largest = Math.max(1, ...positives, ...negatives);
  const step = niceStep(largest, 5);
  const intervals = Math.ceil(largest / step);
  const p = plot({
    title: 'Score histogram by class',
    xLabel: 'score',
    yLabel: 'cases',
    x: [first, last],
    y: [0, intervals * step],
    yTicks: intervals,
    kind: 'histogram',
  });
  p.add(steps(p, edges, negatives, 'series negatives'));
  p.add(steps(p, edges, positives, 'series positives'));
  p.add(
    legend([
      { label: 'positives', className: 'series positives' },
      { label: 'negatives', className: 'series negatives' },
    ]),
  );
  return p.render();
}

function labelSummaryRow(name: string, label: LabelReport, path: readonly PathSegment[]): string[] {
  return [
    escapeHtml(name),
    num(label.n, [...path, 'n'], 'int'),
    num(label.positives, [...path, 'positives'], 'int'),
    num(label.prevalence, [...path, 'prevalence']),
    aurocEstimate(label, [...path, 'auroc']),
    num(label.average_precision, [...path, 'average_precision']),
    num(label.brier, [...path, 'brier']),
    num(label.ece, [...path, 'ece']),
  ];
}

const SUMMARY_HEAD = [
  'label',
  'n',
  'positives',
  'prevalence',
  'AUROC [95% CI]',
  'average precision',
  'Brier',
  'ECE',
];

function labelSection(
  name: string,
  label: LabelReport,
  path: readonly PathSegment[],
  anchor: string,
): string {
  const c = label.calibration;
  const cal = [...path, 'calibration'];
  const metrics = table(
    ['metric', 'value'],
    [
      ['cases (n)', num(label.n, [...path, 'n'], 'int')],
      ['positives', num(label.positives, [...path, 'positives'], 'int')],
      ['prevalence', num(label.prevalence, [...path, 'prevalence'])],
      [`AUROC [95% CI, ${escapeHtml(label.auroc.method)}]`, aurocEstimate(label, [...path, 'auroc'])],
      ['average precision', num(label.average_precision, [...path, 'average_precision'])],
      ['Brier score', num(label.brier, [...path, 'brier'])],
      ['ECE (equal-width bins)', num(label.ece, [...path, 'ece'])],
      ['ECE (equal-mass bins)', num(c.ece_equal_mass, [...cal, 'ece_equal_mass'])],
      ['calibration slope', num(c.slope, [...cal, 'slope'])],
      ['calibration intercept', num(c.intercept, [...cal, 'intercept'])],
    ],
    'metrics',
  );
  const matrices = label.operating_points
    .map((op, i) =>
      confusionMatrix(
        op.confusion,
        [...path, 'operating_points', i, 'confusion'],
        operatingPointName(op, [...path, 'operating_points', i]),
      ),
    )
    .join('');
  return (
    `<section class="label" id="${anchor}"><h2>${escapeHtml(name)}</h2>` +
    `<div class="row">${metrics}<div class="matrices">${matrices}</div></div>` +
    `<h3>Operating points</h3>${operatingPointsTable(label.operating_points, [...path, 'operating_points'])}` +
    `<div class="figures">${rocFigure(label)}${prFigure(label)}${reliabilityFigure(label)}${histogramFigure(label)}</div>` +
    notesList(label.notes, [...path, 'notes']) +
    '</section>'
  );
}

function multiclassSection(m: MulticlassReport): string {
  const path = ['multiclass'];
  const classes = Object.keys(m.per_class);
  const perClass = table(
    ['class', 'precision', 'recall', 'F1', 'support'],
    [
      ...classes.map((name) => {
        const c = m.per_class[name];
        const p = [...path, 'per_class', name];
        return [
          escapeHtml(name),
          num(c?.precision ?? null, [...p, 'precision']),
          num(c?.recall ?? null, [...p, 'recall']),
          num(c?.f1 ?? null, [...p, 'f1']),
          num(c?.support ?? null, [...p, 'support'], 'int'),
        ];
      }),
      ...(['macro', 'weighted'] as const).map((avg) => [
        `<em>${avg} average</em>`,
        num(m[avg].precision, [...path, avg, 'precision']),
        num(m[avg].recall, [...path, avg, 'recall']),
        num(m[avg].f1, [...path, avg, 'f1']),
        '',
      ]),
    ],
  );
  const predicted = [...new Set(Object.values(m.confusion).flatMap((row) => Object.keys(row)))];
  const confusion = table(
    ['true \\ predicted', ...predicted.map(escapeHtml)],
    Object.entries(m.confusion).map(([truth, row]) => [
      escapeHtml(truth),
      ...predicted.map((name) => num(row[name] ?? null, [...path, 'confusion', truth, name], 'int')),
    ]),
    'confusion',
  );
  return (
    '<section id="multiclass"><h2>Single-label (softmax) metrics</h2>' +
    `<p>Cases: ${num(m.n, [...path, 'n'], 'int')}. Accuracy [95% CI]: ${estimate(m.accuracy, [...path, 'accuracy'])}</p>` +
    `<div class="row">${perClass}${confusion}</div></section>`
  );
}

function groupSection(key: string, values: Readonly<Record<string, GroupReport>>): string {
  const blocks = Object.entries(values).map(([value, group]) => {
    const path = ['groups', key, value];
    const flag = group.too_small ? ' <span class="flag too-small">too small to conclude</span>' : '';
    const labels = Object.entries(group.labels);
    const summary = table(
      SUMMARY_HEAD,
      labels.map(([name, label]) => labelSummaryRow(name, label, [...path, 'labels', name])),
    );
    const ops = labels
      .map(
        ([name, label]) =>
          `<h5>${escapeHtml(name)}: operating points</h5>${operatingPointsTable(label.operating_points, [...path, 'labels', name, 'operating_points'])}`,
      )
      .join('');
    return (
      `<div class="group${group.too_small ? ' small' : ''}"><h4>${escapeHtml(key)} = ${escapeHtml(value)}${flag}</h4>` +
      `<p>Cases: ${num(group.n, [...path, 'n'], 'int')}</p>${summary}${ops}${notesList(group.notes, [...path, 'notes'])}</div>`
    );
  });
  return `<section class="groups"><h3>By ${escapeHtml(key)}</h3>${blocks.join('')}</section>`;
}

/** The stylesheet of report.html, shared with the reader-study page. */
export const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1f24;margin:0 auto;max-width:1200px;padding:16px 24px}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;border-bottom:1px solid #d0d7de;padding-bottom:4px;margin-top:28px}
h3{font-size:15px;margin:18px 0 6px}h4{font-size:14px;margin:14px 0 4px}h5{font-size:13px;margin:10px 0 4px}
table{border-collapse:collapse;margin:6px 12px 10px 0;font-variant-numeric:tabular-nums}
th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:right;vertical-align:top}
th:first-child,td:first-child{text-align:left}thead th{background:#f6f8fa}
caption{font-size:12px;color:#57606a;text-align:left;padding-bottom:2px}
.ci{color:#57606a;font-size:12px}.row{display:flex;flex-wrap:wrap;align-items:flex-start;gap:8px}
.matrices{display:flex;flex-wrap:wrap;gap:4px}.figures{display:flex;flex-wrap:wrap;gap:8px;margin-top:8px}
svg.figure{border:1px solid #d0d7de;background:#fff}
svg .grid{stroke:#eaeef2;stroke-width:1}svg .axis{stroke:#57606a;stroke-width:1}
svg .tick,svg .legend{font-size:10px;fill:#57606a}svg .axis-label{font-size:11px;fill:#1b1f24}
svg .plot-title{font-size:12px;font-weight:600;fill:#1b1f24}
svg .reference{stroke:#8c959f;stroke-dasharray:4 3;stroke-width:1}
svg .curve{stroke:#0969da;stroke-width:2}svg .positives{stroke:#cf222e;stroke-width:1.5}
svg .negatives{stroke:#0969da;stroke-width:1.5}svg .op-marker{fill:#bf8700;stroke:#fff}
svg .bin-marker{fill:#0969da;fill-opacity:.6}
.flag{display:inline-block;background:#fff1e5;color:#9a6700;border:1px solid #d4a72c;border-radius:4px;padding:0 6px;font-size:12px;font-weight:500}
.group.small{opacity:.85}.notes{color:#57606a}.empty{color:#57606a}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}dt{color:#57606a}dd{margin:0}
@media print{.figures{break-inside:avoid}section{break-inside:avoid-page}}
`;

/** The report as a complete HTML document. */
export function renderReportHtml(report: EvaluationReport): string {
  const labels = Object.entries(report.labels);
  const inputs = report.inputs;
  const ip = (name: keyof typeof inputs): readonly PathSegment[] => ['inputs', name];
  const s = report.settings;
  const sp = (name: keyof typeof s): readonly PathSegment[] => ['settings', name];
  const summary = table(
    SUMMARY_HEAD,
    labels.map(([name, label]) => {
      const row = labelSummaryRow(name, label, ['labels', name]);
      row[0] = `<a href="#label-${labels.findIndex(([n]) => n === name)}">${row[0] ?? ''}</a>`;
      return row;
    }),
    'summary',
  );
  const parts = [
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>cxr evaluate: ${escapeHtml(report.model.id ?? 'model')} ${escapeHtml(report.model.version ?? '')}</title>`,
    `<style>${STYLE}</style></head><body>`,
    '<h1>Retrospective evaluation</h1>',
    '<dl class="meta">',
    `<dt>model</dt><dd>${text(report.model.id, ['model', 'id'])} ${text(report.model.version, ['model', 'version'])}</dd>`,
    `<dt>activation</dt><dd>${text(report.model.activation, ['model', 'activation'])}</dd>`,
    `<dt>created</dt><dd>${text(report.created_at, ['created_at'])}</dd>`,
    '</dl>',
    `<section id="summary"><h2>Summary</h2>${summary}</section>`,
    '<section id="inputs"><h2>Inputs and matching</h2><dl>',
    `<dt>predictions</dt><dd>${text(inputs.predictions, ip('predictions'))}</dd>`,
    `<dt>labels</dt><dd>${text(inputs.labels, ip('labels'))}</dd></dl>`,
    table(
      ['count', 'rows'],
      [
        ['predictions', num(inputs.predictions_total, ip('predictions_total'), 'int')],
        ['label rows', num(inputs.labels_total, ip('labels_total'), 'int')],
        ['matched and scored (evaluated)', num(inputs.matched, ip('matched'), 'int')],
        [
          'predictions without a label row',
          num(inputs.unmatched_predictions, ip('unmatched_predictions'), 'int'),
        ],
        ['label rows without a prediction', num(inputs.unmatched_labels, ip('unmatched_labels'), 'int')],
        ['predictions not scored (rejected or failed)', num(inputs.not_scored, ip('not_scored'), 'int')],
      ],
      'inputs',
    ),
    '<h3>Settings</h3>',
    table(
      ['setting', 'value'],
      [
        ['confidence intervals', text(s.ci_method, sp('ci_method'))],
        ['bootstrap samples', num(s.bootstrap_samples, sp('bootstrap_samples'), 'int')],
        ['seed', num(s.seed, sp('seed'), 'int')],
        ['target sensitivity', num(s.target_sensitivity, sp('target_sensitivity'))],
        ['calibration bins', num(s.calibration_bins, sp('calibration_bins'), 'int')],
        ['minimum group size', num(s.min_group_size, sp('min_group_size'), 'int')],
        ['grouped by', text(s.group_by, sp('group_by'))],
      ],
      'settings',
    ),
    '</section>',
    report.multiclass === undefined ? '' : multiclassSection(report.multiclass),
    ...labels.map(([name, label], i) => labelSection(name, label, ['labels', name], `label-${i}`)),
  ];
  if (report.groups !== undefined) {
    parts.push('<section id="groups"><h2>Groups</h2>');
    parts.push(
      `<p>Groups with fewer than ${num(s.min_group_size, sp('min_group_size'), 'int')} cases, or without positives or negatives for a label, are flagged <span class="flag">too small to conclude</span>.</p>`,
    );
    for (const [key, values] of Object.entries(report.groups)) parts.push(groupSection(key, values));
    parts.push('</section>');
  }
  parts.push(
    `<section id="notes"><h2>Notes</h2>${notesList(report.notes, ['notes']) || '<p class="empty">None.</p>'}</section>`,
  );
  parts.push('</body></html>\n');
  return parts.join('\n');
}
