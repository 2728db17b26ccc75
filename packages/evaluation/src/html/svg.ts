/**
 * Small inline-SVG plotting helpers for report.html: a frame with axes, ticks and labels, and
 * series as polylines, markers or steps. Coordinates are in data units; the frame maps them to
 * pixels. Output is markup text with every string escaped; nothing here needs a script to render.
 */

/** Escapes text for HTML/SVG content and attribute values. */
export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

export interface PlotOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  /** Data range of the axes. */
  readonly x: readonly [number, number];
  readonly y: readonly [number, number];
  readonly width?: number;
  readonly height?: number;
  /** Intervals between y ticks (default 5). */
  readonly yTicks?: number;
  /** Class of the <svg> element (the report's CSS and tests find figures by it). */
  readonly kind: string;
}

export type Point = readonly [number, number];

export interface Plot {
  /** Pixel position of a data point. */
  readonly px: (x: number) => number;
  readonly py: (y: number) => number;
  /** Adds markup (already built with this plot's px/py) inside the plotting area. */
  readonly add: (markup: string) => void;
  readonly render: () => string;
}

// The top margin holds the title and a one-line legend.
const MARGIN = { left: 48, right: 12, top: 36, bottom: 40 };

/** Pixel numbers with at most two decimals keep the markup small. */
function r(value: number): string {
  return String(Math.round(value * 100) / 100);
}

/** Tick values: `count` + 1 evenly spaced values over the range. */
function ticks(range: readonly [number, number], count: number): number[] {
  const [low, high] = range;
  return Array.from({ length: count + 1 }, (_, i) => low + ((high - low) * i) / count);
}

/**
 * A round step (1, 2 or 5 times a power of ten) that divides `max` into about `count`
 * intervals; at least 1, for counts.
 */
export function niceStep(max: number, count: number): number {
  const raw = max / count;
  if (!(raw > 1)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const normalized = raw / magnitude;
  const factor = normalized <= 1 ? 1 : normalized <= 2 ? 2 : normalized <= 5 ? 5 : 10;
  return factor * magnitude;
}

function tickLabel(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return Math.abs(value) >= 10 ? value.toFixed(0) : value.toFixed(1);
}

/** A plot frame: call add() with series, then render(). */
export function plot(options: PlotOptions): Plot {
  const width = options.width ?? 280;
  const height = options.height ?? 250;
  const innerW = width - MARGIN.left - MARGIN.right;
  const innerH = height - MARGIN.top - MARGIN.bottom;
  const [x0, x1] = options.x;
  const [y0, y1] = options.y;
  const px = (x: number): number => MARGIN.left + (x1 === x0 ? 0 : ((x - x0) / (x1 - x0)) * innerW);
  const py = (y: number): number => MARGIN.top + innerH - (y1 === y0 ? 0 : ((y - y0) / (y1 - y0)) * innerH);
  const body: string[] = [];
  const render = (): string => {
    const parts: string[] = [];
    parts.push(
      `<svg class="figure ${escapeHtml(options.kind)}" xmlns="http://www.w3.org/2000/svg" width="${width}" ` +
        `height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(options.title)}">`,
    );
    parts.push(`<title>${escapeHtml(options.title)}</title>`);
    parts.push(
      `<text class="plot-title" x="${r(width / 2)}" y="16" text-anchor="middle">${escapeHtml(options.title)}</text>`,
    );
    // Grid and ticks.
    for (const t of ticks(options.x, 5)) {
      const x = r(px(t));
      parts.push(`<line class="grid" x1="${x}" y1="${r(py(y0))}" x2="${x}" y2="${r(py(y1))}"/>`);
      parts.push(
        `<text class="tick" x="${x}" y="${r(py(y0) + 14)}" text-anchor="middle">${tickLabel(t)}</text>`,
      );
    }
    for (const t of ticks(options.y, options.yTicks ?? 5)) {
      const y = r(py(t));
      parts.push(`<line class="grid" x1="${r(px(x0))}" y1="${y}" x2="${r(px(x1))}" y2="${y}"/>`);
      parts.push(
        `<text class="tick" x="${r(px(x0) - 5)}" y="${y}" text-anchor="end" dominant-baseline="middle">${tickLabel(t)}</text>`,
      );
    }
    parts.push(
      `<line class="axis" x1="${r(px(x0))}" y1="${r(py(y0))}" x2="${r(px(x1))}" y2="${r(py(y0))}"/>`,
      `<line class="axis" x1="${r(px(x0))}" y1="${r(py(y0))}" x2="${r(px(x0))}" y2="${r(py(y1))}"/>`,
    );
    parts.push(
      `<text class="axis-label" x="${r(MARGIN.left + innerW / 2)}" y="${height - 6}" text-anchor="middle">${escapeHtml(options.xLabel)}</text>`,
      `<text class="axis-label" x="12" y="${r(MARGIN.top + innerH / 2)}" text-anchor="middle" ` +
        `transform="rotate(-90 12 ${r(MARGIN.top + innerH / 2)})">${escapeHtml(options.yLabel)}</text>`,
    );
    parts.push(...body);
    parts.push('</svg>');
    return parts.join('');
  };
  return { px, py, add: (markup) => body.push(markup), render };
}

/** A polyline through data points (skipped when it has fewer than two). */
export function polyline(p: Plot, points: readonly Point[], className: string): string {
  if (points.length < 2) return '';
  const coords = points.map(([x, y]) => `${r(p.px(x))},${r(p.py(y))}`).join(' ');
  return `<polyline class="${escapeHtml(className)}" fill="none" points="${coords}"/>`;
}

/** Circles at data points, with radius per point. */
export function markers(
  p: Plot,
  points: readonly (readonly [number, number, number])[],
  className: string,
): string {
  return points
    .map(
      ([x, y, radius]) =>
        `<circle class="${escapeHtml(className)}" cx="${r(p.px(x))}" cy="${r(p.py(y))}" r="${r(radius)}"/>`,
    )
    .join('');
}

/** A histogram outline as a step polyline: counts[i] over [edges[i], edges[i+1]). */
export function steps(
  p: Plot,
  edges: readonly number[],
  counts: readonly number[],
  className: string,
): string {
  const points: Point[] = [];
  counts.forEach((count, i) => {
    const left = edges[i];
    const right = edges[i + 1];
    if (left === undefined || right === undefined) return;
    if (points.length === 0) points.push([left, 0]);
    points.push([left, count], [right, count]);
  });
  const last = points[points.length - 1];
  if (last !== undefined) points.push([last[0], 0]);
  return polyline(p, points, className);
}

/** A one-line legend under the title, left-aligned with the plotting area. */
export function legend(entries: readonly { readonly label: string; readonly className: string }[]): string {
  let left = MARGIN.left + 4;
  const y = MARGIN.top - 9;
  return entries
    .map((entry) => {
      const markup =
        `<line class="${escapeHtml(entry.className)}" x1="${r(left)}" y1="${y}" x2="${r(left + 16)}" y2="${y}"/>` +
        `<text class="legend" x="${r(left + 20)}" y="${y}" dominant-baseline="middle">${escapeHtml(entry.label)}</text>`;
      // About 6 px per character at the legend's 10 px font.
      left += 20 + 6 * entry.label.length + 14;
      return markup;
    })
    .join('');
}
