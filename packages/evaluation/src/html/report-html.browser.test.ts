/**
 * report.html in a real browser: Debian's chromium (apt package `chromium`, installed by
 * scripts/setup.sh) driven by playwright-core, which downloads no browser. The page is opened from
 * file:// with every network request refused, as a reader would open it offline. Checks that the
 * figures render (non-empty boxes, polylines with points) and that every number on the page equals
 * the value at its data-key path in report.json.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluate } from '../evaluate.js';
import type { EvaluationReport } from '../report.js';
import { DECIMALS, NULL_TEXT, renderReportHtml, splitKeyPath } from './report-html.js';
import { TRICKY_GROUP, TRICKY_LABEL, reportFixture } from '../testing/report-fixture.js';
import { CASES, LABELS, MANIFEST } from '../testing/study-data.js';

const CHROMIUM = '/usr/bin/chromium';

/** The parts of the DOM's SVGPolylineElement used here (the repo compiles without the DOM lib). */
interface Polyline {
  readonly points: { readonly numberOfItems: number };
  getBBox(): { readonly width: number; readonly height: number };
}

/** The parts of the DOM's Element used here. */
interface Cell {
  getAttribute(name: string): string | null;
  readonly textContent: string | null;
}

interface OpenedReport {
  readonly page: Page;
  /** report.json as parsed back from the file. */
  readonly json: unknown;
  /** URLs the page tried to fetch besides itself (all refused). */
  readonly blocked: string[];
}

let dir: string;
let browser: Browser;
let fixture: OpenedReport;
let computed: OpenedReport;

/** Writes report.json and report.html (rendered from the JSON as written) and opens the page offline. */
async function openReport(name: string, report: EvaluationReport): Promise<OpenedReport> {
  const json = `${JSON.stringify(report, null, 2)}\n`;
  await writeFile(join(dir, `${name}.json`), json);
  await writeFile(join(dir, `${name}.html`), renderReportHtml(JSON.parse(json) as EvaluationReport));
  const page = await browser.newPage();
  const blocked: string[] = [];
  await page.route('**/*', async (route) => {
    const url = route.request().url();
    if (url === pathToFileURL(join(dir, `${name}.html`)).href) return route.continue();
    blocked.push(url);
    return route.abort();
  });
  await page.goto(pathToFileURL(join(dir, `${name}.html`)).href, { waitUntil: 'load' });
  return { page, json: JSON.parse(json) as unknown, blocked };
}

/** A report computed by the statistics from the synthetic study, grouped by institution. */
function computedReport(): EvaluationReport {
  return evaluate(
    {
      labels: LABELS,
      cases: CASES.map((c) => ({
        labels: [...c.truth],
        scores: [...c.scores],
        groups: { institution: c.institution },
      })),
      activation: 'sigmoid',
      decision: 'thresholds',
      thresholds: MANIFEST.output.thresholds,
      model: { id: MANIFEST.id, version: MANIFEST.version },
      group_by: 'institution',
    },
    { target_sensitivity: 0.9 },
  );
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cxr-report-html-'));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  fixture = await openReport('fixture', reportFixture());
  computed = await openReport('computed', computedReport());
});

afterAll(async () => {
  await browser.close();
  await rm(dir, { recursive: true, force: true });
});

/** The value at a data-key path of report.json. */
function valueAt(json: unknown, path: string): unknown {
  let node: unknown = json;
  for (const segment of splitKeyPath(path)) {
    if (typeof node !== 'object' || node === null || !(segment in node)) {
      throw new Error(`report.json has no ${path}`);
    }
    node = (node as Record<string, unknown>)[segment];
  }
  return node;
}

/** Every section.label has its four figures with non-empty boxes and data polylines with points. */
async function expectFigures(page: Page, labelCount: number): Promise<void> {
  const sections = page.locator('section.label');
  expect(await sections.count()).toBe(labelCount);
  for (let i = 0; i < labelCount; i += 1) {
    const section = sections.nth(i);
    for (const kind of ['roc', 'pr', 'reliability', 'histogram']) {
      const svg = section.locator(`svg.figure.${kind}`);
      expect(await svg.count(), `${kind} of label ${i}`).toBe(1);
      const box = await svg.boundingBox();
      expect(box?.width).toBeGreaterThan(100);
      expect(box?.height).toBeGreaterThan(100);
      // The data series: rendered geometry (getBBox) and the number of parsed points.
      const series = await svg.locator('polyline.series').evaluateAll((lines) =>
        lines.map((line) => {
          const polylineElement = line as unknown as Polyline;
          const bbox = polylineElement.getBBox();
          return { points: polylineElement.points.numberOfItems, width: bbox.width, height: bbox.height };
        }),
      );
      expect(series.length, `${kind} series`).toBeGreaterThan(0);
      for (const s of series) {
        expect(s.points).toBeGreaterThanOrEqual(2);
        expect(s.width + s.height).toBeGreaterThan(10);
      }
    }
  }
}

/** Every data-key element shows the value at its path, formatted as data-format says; returns the keys. */
async function expectDataKeys(opened: OpenedReport): Promise<Set<string>> {
  const cells = await opened.page.locator('[data-key]').evaluateAll((elements) =>
    elements.map((element) => {
      const e = element as unknown as Cell;
      return {
        key: e.getAttribute('data-key') ?? '',
        format: e.getAttribute('data-format') ?? '',
        text: e.textContent,
      };
    }),
  );
  expect(cells.length).toBeGreaterThan(100);
  for (const { key, format, text } of cells) {
    const value = valueAt(opened.json, key);
    if (value === null) {
      expect(text, key).toBe(NULL_TEXT);
    } else if (format === 'text') {
      expect(text, key).toBe(value);
    } else {
      expect(typeof value, key).toBe('number');
      const shown = Number(text);
      if (format === 'int') {
        expect(shown, key).toBe(value);
      } else {
        expect(format, key).toBe('fixed');
        expect(text, key).toMatch(new RegExp(`^-?\\d+\\.\\d{${DECIMALS}}$`));
        expect(Math.abs(shown - (value as number)), key).toBeLessThanOrEqual(0.5 * 10 ** -DECIMALS + 1e-12);
        expect(text, key).toBe((value as number).toFixed(DECIMALS));
      }
    }
  }
  return new Set(cells.map((c) => c.key));
}

describe('report.html in headless Chromium', () => {
  it('loads offline: no request beyond the page itself, no script', async () => {
    for (const { page, blocked } of [fixture, computed]) {
      expect(blocked).toEqual([]);
      expect(await page.locator('script').count()).toBe(0);
    }
    expect(await fixture.page.title()).toBe('cxr evaluate: seed-densenet121 1.0.0');
  });

  it('draws the four figures of every label with non-empty boxes and polylines with points', async () => {
    await expectFigures(fixture.page, Object.keys(reportFixture().labels).length);
    const sections = fixture.page.locator('section.label');
    // ROC: one point per curve entry; reliability: one per non-empty equal-width bin.
    const first = sections.nth(0);
    const rocPoints = await first
      .locator('svg.roc polyline.curve')
      .evaluate((l) => (l as unknown as Polyline).points.numberOfItems);
    expect(rocPoints).toBe(reportFixture().labels.pneumonia?.curves.roc.length);
    const nonEmpty = reportFixture().labels.pneumonia?.calibration.bins.filter((b) => b.count > 0).length;
    expect(await first.locator('svg.reliability circle.bin-marker').count()).toBe(nonEmpty);
    expect(
      await first
        .locator('svg.reliability polyline.curve')
        .evaluate((l) => (l as unknown as Polyline).points.numberOfItems),
    ).toBe(nonEmpty);
  });

  it('shows at every data-key exactly the value of report.json at that path, formatted alike', async () => {
    const keys = await expectDataKeys(fixture);
    // The numbers the issue names are all on the page, for labels and for groups.
    const esc = (name: string): string => name.replaceAll('\\', '\\\\').replaceAll('.', '\\.');
    for (const label of ['pneumonia', TRICKY_LABEL]) {
      for (const base of [
        `labels.${esc(label)}`,
        `groups.institution.${esc(TRICKY_GROUP)}.labels.${esc(label)}`,
      ]) {
        for (const field of ['n', 'positives', 'auroc.value', 'average_precision', 'brier', 'ece']) {
          expect(keys, `${base}.${field}`).toContain(`${base}.${field}`);
        }
        for (const field of ['threshold', 'sensitivity', 'specificity', 'ppv', 'npv']) {
          expect(keys).toContain(`${base}.operating_points.0.${field}`);
        }
      }
      expect(keys).toContain(`labels.${esc(label)}.auroc.ci_low`);
      expect(keys).toContain(`labels.${esc(label)}.auroc.ci_high`);
      expect(keys).toContain(`labels.${esc(label)}.operating_points.2.confusion.tp`);
    }
    for (const field of ['matched', 'unmatched_predictions', 'unmatched_labels', 'not_scored']) {
      expect(keys).toContain(`inputs.${field}`);
    }
  });

  it('shows names from the data as text, never as markup, and flags the small group', async () => {
    expect(await fixture.page.locator('b').count()).toBe(0);
    expect(await fixture.page.locator('section.label h2').nth(1).textContent()).toBe(TRICKY_LABEL);
    const small = fixture.page.locator('.group.small');
    expect(await small.count()).toBe(1);
    expect(await small.locator('h4').textContent()).toBe(
      `institution = ${TRICKY_GROUP} too small to conclude`,
    );
    expect(await small.locator('.flag.too-small').isVisible()).toBe(true);
    expect(await fixture.page.locator('.group:not(.small) .flag').count()).toBe(0);
  });

  it('renders a report computed by evaluate() from data: figures drawn, every number as in report.json', async () => {
    await expectFigures(computed.page, LABELS.length);
    const keys = await expectDataKeys(computed);
    for (const label of LABELS) {
      expect(keys).toContain(`labels.${label}.auroc.ci_high`);
      expect(keys).toContain(`groups.institution.Site B.labels.${label}.operating_points.0.npv`);
    }
    expect(await computed.page.locator('.group.small .flag.too-small').count()).toBe(1);
  });
});
