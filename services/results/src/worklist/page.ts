/**
 * The worklist page as HTML, from a view model: server-rendered, no script, no external resource
 * (the hospital network is closed), inline CSS. Every text and attribute value is escaped. The
 * view holds no object URI and no patient identifier (the store has none but the URI, which the
 * worklist query never returns); thumbnails are addressed by row key.
 */
import type { Outcome, WorklistOrder, WorklistSort } from '@cxr/store';

/** The filters as the form holds them (strings as typed; empty = not filtered). */
export interface WorklistFilters {
  readonly run: string;
  readonly label: string;
  readonly decision: string;
  readonly outcome: '' | Outcome;
  /** YYYY-MM-DD, a UTC day. */
  readonly from: string;
  /** YYYY-MM-DD, a UTC day (included). */
  readonly to: string;
  readonly sort: WorklistSort;
  readonly order: WorklistOrder;
  readonly limit: number;
}

export interface ScoreView {
  readonly label: string;
  readonly score: number;
  /** Positive under the model's decision rule (highlighted). */
  readonly positive: boolean;
}

/** A thumbnail to load, or why there is none (said in the cell instead). */
export type ThumbnailView =
  | { readonly kind: 'image'; readonly src: string }
  | { readonly kind: 'unavailable'; readonly reason: string };

export interface WorklistRowView {
  readonly rowKey: string;
  /** ISO 8601 instant the result was stored (updated_at). */
  readonly time: string;
  readonly runId: string;
  readonly model: string;
  readonly modality: string | null;
  readonly viewPosition: string | null;
  readonly decision: string | null;
  /** Whether the decision is a finding (not the normal label or `negative`). */
  readonly findingDecision: boolean;
  readonly suspicion: number | null;
  readonly scores: readonly ScoreView[];
  readonly outcome: Outcome;
  readonly reason: string | null;
  readonly viewerHref: string | undefined;
  readonly thumbnail: ThumbnailView;
}

export interface WorklistPageView {
  readonly filters: WorklistFilters;
  /** Labels of the served model (the "positive for" filter); empty without a manifest. */
  readonly labels: readonly string[];
  /** Decisions to offer (the labels, plus `negative` for a thresholds model); empty = free text. */
  readonly decisions: readonly string[];
  readonly maxLimit: number;
  readonly rows: readonly WorklistRowView[];
  readonly firstHref: string;
  readonly previousHref?: string;
  readonly nextHref?: string;
  /** Show the sign-out button (a browser session is in use). */
  readonly signOut: boolean;
  /** A note above the table (e.g. no manifest: no suspicion for new results). */
  readonly notice?: string;
  /** Why the request could not be served (a bad filter or page link): shown instead of rows. */
  readonly error?: string;
  /** CSS size of thumbnails in pixels. */
  readonly thumbnailDisplayPx: number;
}

/** Escapes text for HTML element content and double-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The /worklist URL of the given filters (and cursor): empty filters are left out. */
export function worklistHref(filters: WorklistFilters, cursor?: string): string {
  const params = new URLSearchParams();
  const add = (name: string, value: string): void => {
    if (value !== '') params.set(name, value);
  };
  add('run', filters.run);
  add('label', filters.label);
  add('decision', filters.decision);
  add('outcome', filters.outcome);
  add('from', filters.from);
  add('to', filters.to);
  params.set('sort', filters.sort);
  params.set('order', filters.order);
  params.set('limit', String(filters.limit));
  if (cursor !== undefined) params.set('cursor', cursor);
  return `/worklist?${params.toString()}`;
}

const STYLE = `
:root { color-scheme: light; font-family: system-ui, "DejaVu Sans", sans-serif; font-size: 15px; }
body { margin: 0; background: #f5f6f8; color: #1c2430; }
header { display: flex; align-items: center; gap: 1rem; padding: .6rem 1rem; background: #1f3a5a; color: #fff; }
header h1 { font-size: 1.25rem; margin: 0; }
header p { margin: 0; opacity: .85; flex: 1; }
header form { margin: 0; }
main { padding: .8rem 1rem 2rem; }
.filters { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: flex-end; background: #fff; padding: .6rem .8rem; border: 1px solid #d5dae1; border-radius: 6px; }
.filters div { display: flex; flex-direction: column; gap: .15rem; }
.filters label { font-size: .8rem; color: #4a5566; }
input, select, button { font: inherit; padding: .25rem .4rem; border: 1px solid #aab3c0; border-radius: 4px; background: #fff; }
button { background: #1f3a5a; color: #fff; border-color: #1f3a5a; cursor: pointer; }
.notice, .error { margin: .7rem 0; padding: .5rem .8rem; border-radius: 4px; }
.notice { background: #fff6dc; border: 1px solid #e6c86e; }
.error { background: #fde8e8; border: 1px solid #d98080; }
table { width: 100%; border-collapse: collapse; margin-top: .8rem; background: #fff; }
caption { text-align: left; padding: .3rem 0; color: #4a5566; }
th, td { border-bottom: 1px solid #e1e5ea; padding: .35rem .5rem; text-align: left; vertical-align: middle; }
th { background: #e9edf2; font-weight: 600; white-space: nowrap; }
th a { color: inherit; }
td.num { font-variant-numeric: tabular-nums; text-align: right; }
td.nowrap { white-space: nowrap; }
tr.finding td.decision { color: #9b1c1c; font-weight: 600; }
.thumb { width: THUMBpx; height: THUMBpx; text-align: center; }
.thumb img { max-width: THUMBpx; max-height: THUMBpx; background: #000; display: block; margin: auto; }
.thumb span { font-size: .75rem; color: #6a7585; }
ul.scores { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: .2rem .4rem; }
ul.scores li { padding: .05rem .35rem; border-radius: 3px; background: #eef1f5; font-variant-numeric: tabular-nums; }
ul.scores li.positive { background: #fbd5d5; color: #7a1212; font-weight: 600; }
.outcome-rejected, .outcome-failed { color: #8a4b00; }
nav { display: flex; gap: 1rem; margin-top: .8rem; }
nav a, nav span { padding: .3rem .7rem; border: 1px solid #aab3c0; border-radius: 4px; background: #fff; color: #1f3a5a; text-decoration: none; }
nav span { color: #9aa3b0; }
`;

function option(value: string, label: string, selected: string): string {
  return `<option value="${escapeHtml(value)}"${value === selected ? ' selected' : ''}>${escapeHtml(label)}</option>`;
}

function field(id: string, label: string, control: string): string {
  return `<div><label for="${id}">${escapeHtml(label)}</label>${control}</div>`;
}

function filterForm(view: WorklistPageView): string {
  const f = view.filters;
  const input = (id: string, name: string, value: string, type = 'text', extra = ''): string =>
    `<input id="${id}" name="${name}" type="${type}" value="${escapeHtml(value)}"${extra}>`;
  const select = (id: string, name: string, options: readonly [string, string][], selected: string): string =>
    `<select id="${id}" name="${name}">${options.map(([v, l]) => option(v, l, selected)).join('')}</select>`;
  const fields = [
    field('f-run', 'Run', input('f-run', 'run', f.run, 'text', ' size="16"')),
    view.labels.length > 0
      ? field(
          'f-label',
          'Positive for',
          select(
            'f-label',
            'label',
            [['', 'any label'], ...view.labels.map((l): [string, string] => [l, l])],
            f.label,
          ),
        )
      : '',
    view.decisions.length > 0
      ? field(
          'f-decision',
          'Decision',
          select(
            'f-decision',
            'decision',
            [['', 'any'], ...view.decisions.map((d): [string, string] => [d, d])],
            f.decision,
          ),
        )
      : field('f-decision', 'Decision', input('f-decision', 'decision', f.decision, 'text', ' size="14"')),
    field(
      'f-outcome',
      'Outcome',
      select(
        'f-outcome',
        'outcome',
        [
          ['', 'any'],
          ['ok', 'ok (scored)'],
          ['rejected', 'rejected'],
          ['failed', 'failed'],
        ],
        f.outcome,
      ),
    ),
    field('f-from', 'From (UTC day)', input('f-from', 'from', f.from, 'date')),
    field('f-to', 'To (UTC day, included)', input('f-to', 'to', f.to, 'date')),
    field(
      'f-sort',
      'Sort by',
      select(
        'f-sort',
        'sort',
        [
          ['suspicion', 'suspicion'],
          ['time', 'time'],
        ],
        f.sort,
      ),
    ),
    field(
      'f-order',
      'Order',
      select(
        'f-order',
        'order',
        [
          ['desc', 'highest / newest first'],
          ['asc', 'lowest / oldest first'],
        ],
        f.order,
      ),
    ),
    field(
      'f-limit',
      'Rows per page',
      input('f-limit', 'limit', String(f.limit), 'number', ` min="1" max="${view.maxLimit}"`),
    ),
  ];
  return (
    `<form class="filters" method="get" action="/worklist" aria-label="Filters">${fields.join('')}` +
    `<div><button type="submit">Apply</button></div><div><a href="/worklist">Reset</a></div></form>`
  );
}

/** The header link of a sortable column: that sort, descending, or flipped when it is the current one. */
function sortHeader(view: WorklistPageView, sort: WorklistSort, label: string): string {
  const current = view.filters.sort === sort;
  const order: WorklistOrder = current && view.filters.order === 'desc' ? 'asc' : 'desc';
  const href = worklistHref({ ...view.filters, sort, order });
  const ariaSort = current ? (view.filters.order === 'desc' ? 'descending' : 'ascending') : 'none';
  const arrow = current ? (view.filters.order === 'desc' ? ' ▼' : ' ▲') : '';
  return `<th scope="col" aria-sort="${ariaSort}"><a href="${escapeHtml(href)}">${escapeHtml(label)}${arrow}</a></th>`;
}

function formatTime(iso: string): string {
  // 2026-12-07T06:53:07.386Z -> 2026-12-07 06:53:07
  return iso.length >= 19 ? `${iso.slice(0, 10)} ${iso.slice(11, 19)}` : iso;
}

function thumbnailCell(thumbnail: ThumbnailView): string {
  return thumbnail.kind === 'image'
    ? `<td class="thumb"><img src="${escapeHtml(thumbnail.src)}" alt="Image thumbnail" loading="lazy" decoding="async"></td>`
    : `<td class="thumb"><span>No thumbnail: ${escapeHtml(thumbnail.reason)}</span></td>`;
}

function scoresCell(scores: readonly ScoreView[]): string {
  if (scores.length === 0) return '<td>—</td>';
  const items = scores.map(
    (s) =>
      `<li${s.positive ? ' class="positive"' : ''}>${escapeHtml(s.label)} <data value="${s.score}">${s.score.toFixed(3)}</data>${s.positive ? '<span class="sr"> (positive)</span>' : ''}</li>`,
  );
  return `<td><ul class="scores">${items.join('')}</ul></td>`;
}

function rowHtml(row: WorklistRowView): string {
  const outcome =
    row.outcome === 'ok'
      ? 'ok'
      : `<span class="outcome-${row.outcome}">${row.outcome}: ${escapeHtml(row.reason ?? 'no reason recorded')}</span>`;
  const study = [row.modality, row.viewPosition].filter((v): v is string => v !== null).join(' ');
  return (
    `<tr data-row-key="${escapeHtml(row.rowKey)}" data-time="${escapeHtml(row.time)}" data-outcome="${row.outcome}"` +
    ` data-suspicion="${row.suspicion === null ? '' : row.suspicion}"${row.findingDecision ? ' class="finding"' : ''}>` +
    thumbnailCell(row.thumbnail) +
    `<td class="nowrap"><time datetime="${escapeHtml(row.time)}">${escapeHtml(formatTime(row.time))}</time></td>` +
    `<td class="nowrap">${escapeHtml(row.runId)}</td>` +
    `<td class="nowrap">${escapeHtml(study)}</td>` +
    `<td class="decision">${row.decision === null ? '—' : escapeHtml(row.decision)}</td>` +
    `<td class="num">${row.suspicion === null ? '—' : row.suspicion.toFixed(3)}</td>` +
    scoresCell(row.scores) +
    `<td>${outcome}</td>` +
    `<td>${row.viewerHref === undefined ? '—' : `<a href="${escapeHtml(row.viewerHref)}" target="_blank" rel="noopener noreferrer">Open study</a>`}</td>` +
    `<td class="nowrap">${escapeHtml(row.model)}</td></tr>`
  );
}

function pager(view: WorklistPageView): string {
  const link = (href: string | undefined, label: string, rel: string): string =>
    href === undefined
      ? `<span aria-disabled="true">${label}</span>`
      : `<a href="${escapeHtml(href)}" rel="${rel}">${label}</a>`;
  return (
    `<nav aria-label="Pages">${link(view.firstHref, 'First page', 'first')}` +
    `${link(view.previousHref, '← Previous', 'prev')}${link(view.nextHref, 'Next →', 'next')}</nav>`
  );
}

function caption(view: WorklistPageView): string {
  const f = view.filters;
  const order =
    f.sort === 'suspicion'
      ? f.order === 'desc'
        ? 'most suspicious first'
        : 'least suspicious first'
      : f.order === 'desc'
        ? 'newest first'
        : 'oldest first';
  return `Screening results, ${order} (${view.rows.length} on this page)`;
}

/** The whole page. */
export function renderWorklistPage(view: WorklistPageView): string {
  const px = String(Math.round(view.thumbnailDisplayPx));
  const body =
    view.error !== undefined
      ? `<p class="error" role="alert">${escapeHtml(view.error)}</p><p><a href="/worklist">Back to the first page</a></p>`
      : `<table><caption>${escapeHtml(caption(view))}</caption><thead><tr>` +
        `<th scope="col">Image</th>${sortHeader(view, 'time', 'Time (UTC)')}<th scope="col">Run</th>` +
        `<th scope="col">Study</th><th scope="col">Decision</th>${sortHeader(view, 'suspicion', 'Suspicion')}` +
        `<th scope="col">Scores</th><th scope="col">Outcome</th><th scope="col">Viewer</th><th scope="col">Model</th>` +
        `</tr></thead><tbody>` +
        (view.rows.length === 0
          ? '<tr><td colspan="10">No results match these filters.</td></tr>'
          : view.rows.map(rowHtml).join('')) +
        `</tbody></table>${pager(view)}`;
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8">` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<title>Worklist · cxr-pipeline</title><style>${STYLE.replaceAll('THUMB', px)}` +
    `.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }</style></head>` +
    `<body><header><h1>Worklist</h1><p>Chest X-ray screening results (decision support, not a diagnosis)</p>` +
    (view.signOut
      ? `<form method="post" action="/worklist/logout"><button type="submit">Sign out</button></form>`
      : '') +
    `</header><main>${filterForm(view)}` +
    (view.notice !== undefined ? `<p class="notice">${escapeHtml(view.notice)}</p>` : '') +
    `${body}</main></body></html>`
  );
}

/** The sign-in page (401): one password field for the API token. */
export function renderSignInPage(options: { readonly next: string; readonly failed: boolean }): string {
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8">` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<title>Sign in · cxr-pipeline worklist</title><style>${STYLE.replaceAll('THUMB', '64')}` +
    `main form { display: flex; flex-direction: column; gap: .5rem; max-width: 24rem; background: #fff; padding: 1rem; border: 1px solid #d5dae1; border-radius: 6px; }</style></head>` +
    `<body><header><h1>Worklist</h1><p>Sign in</p></header><main>` +
    (options.failed ? '<p class="error" role="alert">That token is not the API token.</p>' : '') +
    `<form method="post" action="/worklist/login"><label for="token">API token (CXR_API_TOKEN)</label>` +
    `<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>` +
    `<input type="hidden" name="next" value="${escapeHtml(options.next)}">` +
    `<button type="submit">Sign in</button></form></main></body></html>`
  );
}
