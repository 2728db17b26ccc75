/**
 * The worklist in a real browser: Debian's chromium (apt package `chromium`, installed by
 * scripts/setup.sh) driven by playwright-core, against a real results service (in-process, on a
 * loopback port, real Redis under a random prefix) whose SQLite store holds 300 results of the
 * generated phantom chest images (file:// URIs whose names carry the canary patient name, files
 * whose headers carry the canary name and ID). Signs in, checks sorting, filtering and paging,
 * that thumbnails load, that the viewer links follow the template, that a screenshot is not
 * blank, that no request leaves the service, and that no response carries the canary or a URI.
 *
 * CXR_WORKLIST_SCREENSHOT=path writes the screenshot there as well (README's docs/worklist.png).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '@cxr/config';
import {
  CANARY_PATIENT_ID,
  CANARY_PATIENT_NAME,
  isChestRadiographFixture,
  loadFixtureManifest,
  type DecodeFixture,
} from '@cxr/fixtures';
import { ResultQueue, ScreenQueue, redisConnectionFromUrl } from '@cxr/queue';
import { parseResultRow, type ResultRow } from '@cxr/store';
import { startResultsApp, type ResultsApp } from '../app.js';

// Tests are not app code: reading the environment here bypasses @cxr/config on purpose.
const REDIS_URL = process.env.CXR_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const SCREENSHOT_PATH = process.env.CXR_WORKLIST_SCREENSHOT;
const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'worklist-browser-token-0123456789';
const VIEWER = 'https://pacs.example/ohif/viewer?StudyInstanceUIDs={StudyInstanceUID}';
const LABELS = ['normal', 'pneumonia', 'further_evaluation'] as const;
const MODEL = { modelId: 'seed-densenet121', modelVersion: '1.0.0' };
const ROWS = 300;

/** The parts of the DOM used in page.evaluate callbacks (the repo compiles without the DOM lib). */
interface Img {
  readonly complete: boolean;
  readonly naturalWidth: number;
  readonly src: string;
  scrollIntoView(): void;
}

let dir: string;
let app: ResultsApp;
let browser: Browser;
let base: string;
const prefix = `cxr-worklist-browser-${randomBytes(6).toString('hex')}`;
/** Every response body the browser received (text as text, images as latin1), and any request off the service. */
const bodies: { url: string; type: string; body: string }[] = [];
/** Bodies still being read: a response event comes before its body, which may come after the page is done. */
const pendingBodies: Promise<void>[] = [];
const offsite: string[] = [];

/** Result i of the store: a phantom image under a name carrying the canary, deterministic scores. */
function resultRow(i: number, uri: string, outcome: 'ok' | 'rejected' | 'failed'): ResultRow {
  const uids = {
    studyInstanceUid: `1.2.826.0.1.3680043.8.498.7.${i + 1}`,
    seriesInstanceUid: `1.2.826.0.1.3680043.8.498.7.${i + 1}.1`,
    sopInstanceUid: `1.2.826.0.1.3680043.8.498.7.${i + 1}.1.1`,
  };
  const common = {
    runId: i % 3 === 0 ? 'run-b' : 'run-a',
    uri,
    ...MODEL,
    ...uids,
    modality: 'CR',
    viewPosition: 'PA',
  };
  if (outcome !== 'ok') {
    return parseResultRow({
      ...common,
      outcome,
      reason: outcome === 'rejected' ? 'not_dicom' : 'internal_error',
    });
  }
  // A pneumonia score spread over [0, 1) in a scrambled order (37 and 300 are coprime).
  const p = ((i * 37) % ROWS) / ROWS;
  const f = (1 - p) * (((i * 11) % 7) / 14);
  const scores = { normal: 1 - p - f, pneumonia: p, further_evaluation: f };
  const decision = LABELS.reduce((a, b) => (scores[b] > scores[a] ? b : a));
  return parseResultRow({ ...common, scores, decision, suspicion: Math.max(p, f), outcome: 'ok' });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cxr-worklist-browser-'));
  const fixtures = loadFixtureManifest(inject('fixtureManifestPath')).fixtures;
  const chests = fixtures.filter(
    (f): f is DecodeFixture => f.kind === 'decode' && isChestRadiographFixture(f),
  );
  const broken = fixtures.find((f) => f.name === 'truncated');
  if (chests.length < 10 || broken === undefined) throw new Error('fixture set lacks chest images');
  // The archive: links to the phantom files under names like those of real exports.
  const archive = join(dir, 'archive');
  await mkdir(archive);
  const rows: ResultRow[] = [];
  for (let i = 0; i < ROWS; i++) {
    const name = `${CANARY_PATIENT_NAME}_${CANARY_PATIENT_ID}_${String(i).padStart(3, '0')}.dcm`;
    const path = join(archive, name);
    const kind = i % 25 === 7 ? 'dicomweb' : i % 25 === 12 ? 'broken' : i % 10 === 9 ? 'rejected' : 'ok';
    if (kind === 'dicomweb') {
      rows.push(resultRow(i, `dicomweb+https://pacs.example/studies/${CANARY_PATIENT_NAME}/${i}`, 'ok'));
      continue;
    }
    await symlink(kind === 'broken' ? broken.path : chests[i % chests.length]!.path, path);
    rows.push(
      resultRow(
        i,
        pathToFileURL(path).href,
        kind === 'broken' ? 'failed' : kind === 'rejected' ? 'rejected' : 'ok',
      ),
    );
  }
  const modelDir = join(dir, 'model');
  await mkdir(modelDir);
  await writeFile(
    join(modelDir, 'manifest.json'),
    JSON.stringify({
      id: MODEL.modelId,
      version: MODEL.modelVersion,
      architecture: 'densenet121',
      format: 'onnx',
      weights: ['model.onnx'],
      input: {
        size: 32,
        channels: 3,
        layout: 'NCHW',
        crop: 'none',
        resize: 'bilinear',
        intensity: { method: 'dicom-window' },
        normalization: { method: 'unit' },
      },
      output: { activation: 'softmax', labels: LABELS, decision: 'argmax', normalLabel: 'normal' },
    }),
  );
  app = await startResultsApp({
    config: loadConfig({
      CXR_REDIS_URL: REDIS_URL,
      CXR_STORE_URL: `sqlite:${join(dir, 'results.sqlite')}`,
      CXR_UPLOAD_URL: pathToFileURL(join(dir, 'uploads')).href,
      CXR_API_TOKEN: TOKEN,
      CXR_VIEWER_URL_TEMPLATE: VIEWER,
      CXR_WORKLIST_THUMBNAIL_DIR: join(dir, 'thumbnails'),
      CXR_WORKLIST_PAGE_SIZE: '25',
    }),
    modelDir,
    port: 0,
    host: '127.0.0.1',
    queuePrefix: prefix,
    queueGaugeIntervalMs: 60_000,
  });
  // Three writes: three distinct stored times for the time sort.
  for (let part = 0; part < 3; part++) {
    await app.store.upsertResults(rows.filter((_, i) => i % 3 === part));
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  base = `http://127.0.0.1:${app.port}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}, 120_000);

afterAll(async () => {
  await browser.close();
  await app.stop();
  const connection = redisConnectionFromUrl(REDIS_URL);
  for (const queue of [new ScreenQueue({ connection, prefix }), new ResultQueue({ connection, prefix })]) {
    await queue.obliterate({ force: true });
    await queue.close();
  }
  await rm(dir, { recursive: true, force: true });
});

/** A new page that records every response and refuses every request off the service. */
async function openPage(): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  await page.route('**/*', async (route) => {
    if (route.request().url().startsWith(base)) return route.continue();
    offsite.push(route.request().url());
    return route.abort();
  });
  page.on('response', (response) => {
    const type = response.headers()['content-type'] ?? '';
    pendingBodies.push(
      response
        .body()
        .then((body) => {
          bodies.push({ url: response.url(), type, body: body.toString('latin1') });
        })
        .catch(() => undefined),
    );
  });
  return page;
}

async function signIn(page: Page): Promise<void> {
  const first = await page.goto(`${base}/worklist`);
  expect(first?.status()).toBe(401);
  await page.getByLabel('API token (CXR_API_TOKEN)').fill(TOKEN);
  await Promise.all([
    page.waitForURL(`${base}/worklist`),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
}

/** The rows of the table as their data attributes. */
async function rows(
  page: Page,
): Promise<{ key: string; time: string; outcome: string; suspicion: number | null }[]> {
  return page.locator('tbody tr[data-row-key]').evaluateAll((trs) =>
    trs.map((tr) => {
      const attr = (name: string): string =>
        (tr as unknown as { getAttribute(n: string): string | null }).getAttribute(name) ?? '';
      const suspicion = attr('data-suspicion');
      return {
        key: attr('data-row-key'),
        time: attr('data-time'),
        outcome: attr('data-outcome'),
        suspicion: suspicion === '' ? null : Number(suspicion),
      };
    }),
  );
}

/** Scrolls every thumbnail into view (they load lazily) and waits until all have loaded. */
async function thumbnailsLoaded(page: Page): Promise<number[]> {
  const images = page.locator('td.thumb img');
  const count = await images.count();
  for (let i = 0; i < count; i++) await images.nth(i).scrollIntoViewIfNeeded();
  await page.waitForFunction(
    () =>
      [...(globalThis as unknown as { document: { images: Img[] } }).document.images].every(
        (img) => img.complete,
      ),
    undefined,
    { timeout: 60_000 },
  );
  await page.evaluate(() => {
    (globalThis as unknown as { scrollTo(x: number, y: number): void }).scrollTo(0, 0);
  });
  return images.evaluateAll((list) => list.map((img) => (img as unknown as Img).naturalWidth));
}

describe('the worklist in chromium', () => {
  let page: Page;
  beforeAll(async () => {
    page = await openPage();
    await signIn(page);
  }, 120_000);

  it('shows the most suspicious results first, with thumbnails that load and viewer links from the template', async () => {
    const first = await rows(page);
    expect(first).toHaveLength(25);
    const scores = first.map((r) => r.suspicion);
    expect(scores.every((s) => s !== null)).toBe(true);
    expect([...scores].sort((a, b) => b! - a!)).toEqual(scores);
    const widths = await thumbnailsLoaded(page);
    expect(widths.length).toBeGreaterThan(15);
    expect(widths.every((w) => w > 0)).toBe(true);
    await Promise.all(pendingBodies);
    expect(bodies.filter((b) => b.type === 'image/png').length).toBeGreaterThan(10);
    const links = await page
      .getByRole('link', { name: 'Open study' })
      .evaluateAll((as) =>
        as.map(
          (a) => (a as unknown as { getAttribute(n: string): string | null }).getAttribute('href') ?? '',
        ),
      );
    expect(links).toHaveLength(25);
    for (const href of links) {
      expect(href).toMatch(
        /^https:\/\/pacs\.example\/ohif\/viewer\?StudyInstanceUIDs=1\.2\.826\.0\.1\.3680043\.8\.498\.7\.\d+$/,
      );
    }
  });

  it('takes a screenshot that is not blank', async () => {
    const png = await page.screenshot({ fullPage: false });
    const stats = await sharp(png).stats();
    expect(stats.channels.slice(0, 3).every((c) => c.stdev > 20)).toBe(true);
    // Many distinct grey levels: the thumbnails rendered, not just text on a background.
    const { data } = await sharp(png).greyscale().raw().toBuffer({ resolveWithObject: true });
    expect(new Set(data).size).toBeGreaterThan(100);
    if (SCREENSHOT_PATH !== undefined) {
      await sharp(png).png({ palette: true, colours: 128, compressionLevel: 9 }).toFile(SCREENSHOT_PATH);
    }
  });

  it('sorts by time from the column header, both ways', async () => {
    await page.getByRole('link', { name: /^Time \(UTC\)/ }).click();
    await page.waitForURL(/sort=time&order=desc/);
    const desc = (await rows(page)).map((r) => r.time);
    expect([...desc].sort().reverse()).toEqual(desc);
    await page.getByRole('link', { name: /^Time \(UTC\)/ }).click();
    await page.waitForURL(/sort=time&order=asc/);
    const asc = (await rows(page)).map((r) => r.time);
    expect([...asc].sort()).toEqual(asc);
    expect(asc[0]! < desc[0]!).toBe(true);
  });

  it('filters by outcome and run from the form', async () => {
    await page.goto(`${base}/worklist`);
    await page.getByLabel('Outcome').selectOption('rejected');
    await page.getByLabel('Run').fill('run-a');
    await Promise.all([
      page.waitForURL(/outcome=rejected/),
      page.getByRole('button', { name: 'Apply' }).click(),
    ]);
    const rejected = await rows(page);
    expect(rejected.length).toBeGreaterThan(5);
    expect(rejected.every((r) => r.outcome === 'rejected')).toBe(true);
    expect(await page.locator('tbody').textContent()).toContain('rejected: not_dicom');
    await page.getByLabel('Positive for').selectOption('pneumonia');
    await page.getByLabel('Outcome').selectOption('');
    await Promise.all([
      page.waitForURL(/label=pneumonia/),
      page.getByRole('button', { name: 'Apply' }).click(),
    ]);
    const decisions = await page.locator('tbody td.decision').allTextContents();
    expect(decisions.length).toBeGreaterThan(0);
    expect(new Set(decisions)).toEqual(new Set(['pneumonia']));
  });

  it('pages forwards and back', async () => {
    await page.goto(`${base}/worklist?sort=suspicion&order=desc&limit=25`);
    const one = (await rows(page)).map((r) => r.key);
    await page.getByRole('link', { name: 'Next →' }).click();
    const two = (await rows(page)).map((r) => r.key);
    expect(two).toHaveLength(25);
    expect(two.some((key) => one.includes(key))).toBe(false);
    await page.getByRole('link', { name: 'Next →' }).click();
    const three = (await rows(page)).map((r) => r.key);
    await page.getByRole('link', { name: '← Previous' }).click();
    expect((await rows(page)).map((r) => r.key)).toEqual(two);
    await page.getByRole('link', { name: '← Previous' }).click();
    expect((await rows(page)).map((r) => r.key)).toEqual(one);
    // On the first page Previous is no link.
    expect(await page.locator('nav span', { hasText: '← Previous' }).count()).toBe(1);
    expect(three.some((key) => two.includes(key))).toBe(false);
  });

  it('shows why a thumbnail is missing, as text or a placeholder', async () => {
    await page.goto(`${base}/worklist?sort=time&order=asc&limit=50`);
    expect(await page.locator('tbody').textContent()).toContain(
      'No thumbnail: dicomweb+https objects are not fetched here yet',
    );
    const widths = await thumbnailsLoaded(page);
    expect(widths.every((w) => w > 0)).toBe(true);
    // The rows whose file is truncated show a placeholder that says why; read the very images the
    // page shows (same session), rather than the recorded responses, whose bodies arrive late.
    const sources = await page
      .locator('tbody tr[data-outcome="failed"] td.thumb img')
      .evaluateAll((list) => list.map((img) => (img as unknown as Img).src));
    expect(sources.length).toBeGreaterThan(0);
    for (const src of sources) {
      const response = await page.request.get(src);
      expect(response.status()).toBe(200);
      expect(response.headers()['content-type']).toMatch(/^image\/svg\+xml/);
      expect(await response.text()).toContain('No thumbnail: the image could not be decoded (');
    }
  });

  it('sent nothing off the service and no patient data or object URI in any response', async () => {
    await Promise.all(pendingBodies);
    expect(offsite).toEqual([]);
    expect(bodies.length).toBeGreaterThan(20);
    for (const { url, body } of bodies) {
      for (const secret of [
        CANARY_PATIENT_NAME,
        CANARY_PATIENT_ID,
        'CANARY',
        'file://',
        'dicomweb+https://',
        dir,
      ]) {
        expect(body.includes(secret), `${secret} in ${url}`).toBe(false);
      }
      expect(url).not.toContain('CANARY');
    }
  });
});
