/**
 * The reader-study page in a real browser (Debian's chromium driven by playwright-core, as
 * report.html's test does), opened from file:// with every other request refused: the reader figure
 * renders, and every number on the page equals the value at its data-key path in report.json.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitKeyPath, NULL_TEXT } from '../html/report-html.js';
import { simulateReaderStudy } from '../testing/reader-study.js';
import { analyzeReaderStudy } from './analyze.js';
import { formatStudyNumber, renderReaderStudyHtml, type StudyNumberFormat } from './html.js';
import type { ReaderStudyReport } from './types.js';

const CHROMIUM = '/usr/bin/chromium';

interface Cell {
  getAttribute(name: string): string | null;
  readonly textContent: string | null;
}

let dir: string;
let browser: Browser;
let page: Page;
let json: unknown;
const blocked: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cxr-reader-study-html-'));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const input = simulateReaderStudy({
    seed: 11,
    readers: 4,
    cases: 120,
    prevalence: 0.4,
    caseVariance: 0.3,
    label: 'pneumothorax',
    withoutAi: { separation: 1.4, threshold: 0.8, medianTimeMs: 25_000 },
    withAi: { separation: 2.1, threshold: 0.9, medianTimeMs: 18_000 },
  });
  const report = analyzeReaderStudy({ ...input, bootstrapSamples: 300 });
  const text = `${JSON.stringify(report, null, 2)}\n`;
  await writeFile(join(dir, 'report.json'), text);
  json = JSON.parse(text) as unknown;
  const file = join(dir, 'report.html');
  await writeFile(file, renderReaderStudyHtml(json as ReaderStudyReport));
  page = await browser.newPage();
  await page.route('**/*', async (route) => {
    const url = route.request().url();
    if (url === pathToFileURL(file).href) return route.continue();
    blocked.push(url);
    return route.abort();
  });
  await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
}, 60_000);

afterAll(async () => {
  await browser.close();
  await rm(dir, { recursive: true, force: true });
});

function valueAt(root: unknown, path: string): unknown {
  let node: unknown = root;
  for (const segment of splitKeyPath(path)) {
    if (typeof node !== 'object' || node === null || !(segment in node))
      throw new Error(`report.json has no ${path}`);
    node = (node as Record<string, unknown>)[segment];
  }
  return node;
}

describe('the reader-study page in headless Chromium', () => {
  it('loads offline with no script', async () => {
    expect(blocked).toEqual([]);
    expect(await page.locator('script').count()).toBe(0);
    expect(await page.title()).toBe('cxr study report: sim-11');
    expect(await page.locator('section.label h2').textContent()).toBe('pneumothorax');
  });

  it('draws one marker per reader in the reader figure', async () => {
    const svg = page.locator('svg.figure.readers');
    expect(await svg.count()).toBe(1);
    const box = await svg.boundingBox();
    expect(box?.width).toBeGreaterThan(100);
    expect(box?.height).toBeGreaterThan(100);
    const markers = svg.locator('circle.reader-marker');
    expect(await markers.count()).toBe(4);
    // Every reader is better with AI here: all markers above the diagonal (smaller y on screen).
    const report = json as ReaderStudyReport;
    for (const r of report.per_label[0]!.readers)
      expect(r.with_ai.auroc.value!).toBeGreaterThan(r.without_ai.auroc.value!);
    const positions = await markers.evaluateAll((cs) =>
      cs.map((element) => {
        const c = element as unknown as Cell;
        return { cx: Number(c.getAttribute('cx')), cy: Number(c.getAttribute('cy')) };
      }),
    );
    const diagonal = await svg.locator('polyline.reference').getAttribute('points');
    const [[x0, y0], [x1, y1]] = (diagonal ?? '').split(' ').map((p) => p.split(',').map(Number)) as [
      [number, number],
      [number, number],
    ];
    for (const { cx, cy } of positions) expect(cy).toBeLessThan(y0 + ((cx - x0) * (y1 - y0)) / (x1 - x0));
  });

  it('shows at every data-key exactly the value of report.json at that path, formatted as data-format says', async () => {
    const cells = await page.locator('[data-key]').evaluateAll((elements) =>
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
      const value = valueAt(json, key);
      if (value === null) expect(text, key).toBe(NULL_TEXT);
      else if (format === 'text') expect(text, key).toBe(value);
      else {
        expect(['int', 'fixed', 'p'], key).toContain(format);
        expect(typeof value, key).toBe('number');
        expect(text, key).toBe(formatStudyNumber(value as number, format as StudyNumberFormat));
      }
    }
    const keys = new Set(cells.map((c) => c.key));
    for (const k of [
      'per_label.0.mrmc_auroc.difference',
      'per_label.0.mrmc_auroc.ci_low',
      'per_label.0.mrmc_auroc.ci_high',
      'per_label.0.mrmc_auroc.p',
      'per_label.0.mrmc_sensitivity.p',
      'per_label.0.pooled.with_ai.auroc.ci_low',
      'per_label.0.readers.3.without_ai.sensitivity.ci_high',
      'per_label.0.decision_changes.away_from_truth',
      'reading_time.median_difference_ms.value',
      'reading_time.per_reader.0.median_difference_ms',
    ])
      expect(keys, k).toContain(k);
  });
});
