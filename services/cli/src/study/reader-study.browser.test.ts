/**
 * A reader study end to end: a SQLite store holding a screened run of phantom chest images
 * (file:// URIs under names carrying the canary patient name), `cxr study create` (a real process),
 * the results service (in-process, real Redis under a random prefix) serving the reading page,
 * simulated readers driving it in Debian's chromium through playwright-core, and `cxr study
 * report`. Each simulated reader decides from the truth with a known sensitivity and specificity
 * per arm (seeded); the report's per-reader sensitivity and specificity must equal the ones
 * computed from what the readers actually submitted, and the reading time must have been measured.
 * Along the way: the AI panel shows only in the with_ai arm, a reader resumes where they stopped
 * (a new browser), a repeated submission stores nothing, a wrong token is refused, and no
 * response carries the canary or a URI.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '@cxr/config';
import { mulberry32 } from '@cxr/evaluation';
import type { ReaderStudyReport } from '@cxr/evaluation/readers';
import {
  CANARY_PATIENT_ID,
  CANARY_PATIENT_NAME,
  isChestRadiographFixture,
  loadFixtureManifest,
  type DecodeFixture,
} from '@cxr/fixtures';
import { ResultQueue, ScreenQueue, redisConnectionFromUrl } from '@cxr/queue';
import { startResultsApp, type ResultsApp } from '@cxr/results';
import { openStore, parseResultRow, rowKeyOf, type ResultRow } from '@cxr/store';
import { runCxr } from '../testing/run-cxr.js';

const REDIS_URL = process.env.CXR_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const CHROMIUM = '/usr/bin/chromium';
/** CXR_STUDY_SCREENSHOT=path writes a screenshot of a with_ai reading there (docs, review). */
const SCREENSHOT_PATH = process.env.CXR_STUDY_SCREENSHOT;
const RESULTS = 24;
const CASES = 8;
/** The simulated readers' accuracy per arm: P(call present | present), P(call absent | absent). */
const ACCURACY = {
  without_ai: { sensitivity: 0.6, specificity: 0.7 },
  with_ai: { sensitivity: 0.9, specificity: 0.95 },
} as const;
const READERS = [
  { id: 'reader-a', name: 'Reader A' },
  { id: 'reader-b', name: 'Reader B' },
];

interface Recorded {
  readonly readerId: string;
  readonly caseId: string;
  readonly arm: 'without_ai' | 'with_ai';
  readonly decision: boolean;
  readonly truth: boolean;
}

let dir: string;
let storePath: string;
let app: ResultsApp;
let browser: Browser;
let base: string;
const prefix = `cxr-study-browser-${randomBytes(6).toString('hex')}`;
const bodies: { url: string; type: string; body: string }[] = [];
const offsite: string[] = [];
/** sop uid -> pneumonia truth. */
const truthBySop = new Map<string, boolean>();
const rowKeyTruth = new Map<string, boolean>();

function resultRow(i: number, uri: string): ResultRow {
  const pneumonia = i % 3 === 0;
  const p = pneumonia ? 0.55 + (i % 5) * 0.08 : 0.05 + (i % 7) * 0.06;
  const sop = `1.2.826.0.1.3680043.8.498.17.${i + 1}`;
  truthBySop.set(sop, pneumonia);
  return parseResultRow({
    runId: 'run-study',
    uri,
    modelId: 'seed-densenet121',
    modelVersion: '1.0.0',
    studyInstanceUid: `${sop}.0`,
    sopInstanceUid: sop,
    modality: 'CR',
    viewPosition: 'PA',
    scores: { normal: 1 - p, pneumonia: p },
    decision: p >= 0.5 ? 'pneumonia' : 'normal',
    suspicion: p,
    outcome: 'ok',
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cxr-study-browser-'));
  const fixtures = loadFixtureManifest(inject('fixtureManifestPath')).fixtures;
  const chests = fixtures.filter(
    (f): f is DecodeFixture => f.kind === 'decode' && isChestRadiographFixture(f),
  );
  if (chests.length < 4) throw new Error('fixture set lacks chest images');
  const archive = join(dir, 'archive');
  await mkdir(archive);
  const rows: ResultRow[] = [];
  for (let i = 0; i < RESULTS; i++) {
    const path = join(archive, `${CANARY_PATIENT_NAME}_${CANARY_PATIENT_ID}_${i}.dcm`);
    await symlink(chests[i % chests.length]!.path, path);
    rows.push(resultRow(i, pathToFileURL(path).href));
  }
  for (const row of rows) rowKeyTruth.set(rowKeyOf(row), truthBySop.get(row.sopInstanceUid ?? '') === true);
  storePath = join(dir, 'results.sqlite');
  const store = await openStore(`sqlite:${storePath}`);
  await store.upsertResults(rows);
  await store.close();
  await writeFile(
    join(dir, 'labels.csv'),
    ['sop_instance_uid,pneumonia', ...[...truthBySop].map(([sop, p]) => `${sop},${p ? 1 : 0}`)].join('\n') +
      '\n',
  );
  await writeFile(
    join(dir, 'readers.csv'),
    ['id,name', ...READERS.map((r) => `${r.id},${r.name}`)].join('\n') + '\n',
  );
  app = await startResultsApp({
    config: loadConfig({
      CXR_REDIS_URL: REDIS_URL,
      CXR_STORE_URL: `sqlite:${storePath}`,
      CXR_UPLOAD_URL: pathToFileURL(join(dir, 'uploads')).href,
      // The worklist's token: the reading page does not use it (a reader's link is their credential).
      CXR_API_TOKEN: 'study-browser-api-token-0123456789',
      CXR_WORKLIST_THUMBNAIL_DIR: join(dir, 'thumbnails'),
    }),
    port: 0,
    host: '127.0.0.1',
    queuePrefix: prefix,
    queueGaugeIntervalMs: 60_000,
  });
  base = `http://127.0.0.1:${app.port}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}, 180_000);

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

async function openPage(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  await page.route('**/*', async (route) => {
    if (route.request().url().startsWith(base)) return route.continue();
    offsite.push(route.request().url());
    return route.abort();
  });
  page.on('response', (response) => {
    void response
      .body()
      .then((body) =>
        bodies.push({
          url: response.url(),
          type: response.headers()['content-type'] ?? '',
          body: body.toString('latin1'),
        }),
      )
      .catch(() => undefined);
  });
  return page;
}

/** Reads the current case the way a simulated reader of known accuracy would, and submits. */
async function readOne(
  page: Page,
  readerId: string,
  random: () => number,
  caseTruth: Map<string, boolean>,
): Promise<Recorded> {
  await page.waitForSelector('body[data-shown="1"]');
  const caseId = (await page.getAttribute('body', 'data-case')) ?? '';
  const arm = (await page.getAttribute('body', 'data-arm')) as 'without_ai' | 'with_ai';
  const truth = caseTruth.get(caseId);
  if (truth === undefined) throw new Error(`unknown case ${caseId}`);
  // The AI's output only in the with_ai arm.
  expect(await page.locator('#ai').count()).toBe(arm === 'with_ai' ? 1 : 0);
  expect(await page.locator('#no-ai').count()).toBe(arm === 'with_ai' ? 0 : 1);
  // Use the viewer a little: zoom, pan, window.
  const box = await page.locator('#viewport').boundingBox();
  if (box !== null) {
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.wheel(0, -200);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2 + 30, box.y + box.height / 2 + 10);
    await page.mouse.up();
  }
  if (arm === 'with_ai' && SCREENSHOT_PATH !== undefined) await page.screenshot({ path: SCREENSHOT_PATH });
  const { sensitivity, specificity } = ACCURACY[arm];
  const decision = truth ? random() < sensitivity : random() >= specificity;
  const confidence = 1 + Math.floor(random() * 5);
  await page.waitForTimeout(40 + Math.floor(random() * 40));
  await page.check(`input[name="decision_0"][value="${decision ? 'present' : 'absent'}"]`);
  await page.check(`input[name="confidence_0"][value="${confidence}"]`);
  await Promise.all([page.waitForURL(`${base}/study/read`), page.click('#submit')]);
  return { readerId, caseId, arm, decision, truth };
}

function rate(records: readonly Recorded[], truth: boolean): number {
  const subset = records.filter((r) => r.truth === truth);
  return subset.filter((r) => r.decision === truth).length / subset.length;
}

describe('reader study through the reading page', () => {
  it('create, read in a browser (resuming, repeated submissions), report', async () => {
    const studyDir = join(dir, 'study-e2e');
    const created = await runCxr(
      {},
      'study',
      'create',
      '--run',
      'run-study',
      '--cases',
      String(CASES),
      '--design',
      'crossover',
      '--readers',
      join(dir, 'readers.csv'),
      '--out',
      studyDir,
      '--seed',
      '11',
      '--store',
      `sqlite:${storePath}`,
      '--findings',
      'pneumonia',
      '--labels',
      join(dir, 'labels.csv'),
      '--base-url',
      base,
    );
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/crossover, 8 cases from run run-study, 2 readers, 16 readings each/);
    const linksPath = join(studyDir, 'links.csv');
    expect((await stat(linksPath)).mode & 0o777).toBe(0o600);
    const links = (await readFile(linksPath, 'utf8'))
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => line.split(','));
    expect(links.map((l) => l[0])).toEqual(READERS.map((r) => r.id));
    const studyFile = JSON.parse(await readFile(join(studyDir, 'study.json'), 'utf8')) as {
      cases: { caseId: string; rowKey: string; stratum: string }[];
    };
    const studyText = await readFile(join(studyDir, 'study.json'), 'utf8');
    expect(studyText).not.toContain('CANARY');
    expect(studyText).not.toContain('file:');
    const caseTruth = new Map(studyFile.cases.map((c) => [c.caseId, rowKeyTruth.get(c.rowKey) === true]));
    // Stratified by the truth: 24 results, a third of them pneumonia -> 8 cases hold 3 or so of them.
    expect([...caseTruth.values()].filter(Boolean).length).toBeGreaterThanOrEqual(2);
    expect([...caseTruth.values()].filter((t) => !t).length).toBeGreaterThanOrEqual(4);

    // A wrong token is refused.
    const wrong = await openPage();
    const refused = await wrong.goto(`${base}/study/read?token=${'x'.repeat(43)}`);
    expect(refused?.status()).toBe(401);
    await wrong.context().close();

    const recorded: Recorded[] = [];
    for (const [r, link] of links.entries()) {
      const readerId = link[0]!;
      const random = mulberry32(100 + r);
      let page = await openPage();
      await page.goto(link[2]!);
      expect(new URL(page.url()).search).toBe(''); // the token left the address bar
      for (let i = 0; i < 16; i++) {
        if (i === 5) {
          // A repeated submission of the last reading (the back button, a double click) stores nothing.
          const before = (await app.store.studies.readings('study-e2e')).length;
          const last = recorded[recorded.length - 1]!;
          const replay = await page.request.post(`${base}/study/read`, {
            form: {
              caseId: last.caseId,
              arm: last.arm,
              readingTimeMs: '5',
              decision_0: 'present',
              confidence_0: '5',
            },
            maxRedirects: 0,
          });
          expect(replay.status()).toBe(303);
          expect((await app.store.studies.readings('study-e2e')).length).toBe(before);
          // The reader stops here and comes back in a new browser through their link.
          await page.context().close();
          page = await openPage();
          await page.goto(link[2]!);
          expect(await page.textContent('#progress')).toBe(`Reading 6 of 16`);
        }
        recorded.push(await readOne(page, readerId, random, caseTruth));
      }
      expect(await page.textContent('h1')).toBe('Study complete');
      await page.context().close();
    }

    const stored = await app.store.studies.readings('study-e2e');
    expect(stored).toHaveLength(32);
    expect(stored.every((s) => s.readingTimeMs >= 30 && s.readingTimeMs < 60_000)).toBe(true);
    // What the store holds is what the readers submitted.
    for (const r of recorded) {
      const s = stored.find((x) => x.readerId === r.readerId && x.caseId === r.caseId && x.arm === r.arm);
      expect(s?.decisions.pneumonia).toBe(r.decision);
    }

    const out = join(dir, 'report');
    const reported = await runCxr(
      {},
      'study',
      'report',
      '--study',
      studyDir,
      '--labels',
      join(dir, 'labels.csv'),
      '--out',
      out,
      '--store',
      `sqlite:${storePath}`,
    );
    expect(reported.code, reported.stderr).toBe(0);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as ReaderStudyReport;
    const label = report.per_label.find((l) => l.label === 'pneumonia');
    expect(label).toBeDefined();
    for (const reader of READERS) {
      const metrics = label?.readers.find((m) => m.reader_id === reader.id);
      for (const arm of ['without_ai', 'with_ai'] as const) {
        const mine = recorded.filter((x) => x.readerId === reader.id && x.arm === arm);
        expect(metrics?.[arm].sensitivity.value).toBeCloseTo(rate(mine, true), 12);
        expect(metrics?.[arm].specificity.value).toBeCloseTo(rate(mine, false), 12);
      }
    }
    expect(report.reading_time.without_ai.readings).toBe(16);
    expect(report.reading_time.with_ai.readings).toBe(16);
    expect(report.reading_time.without_ai.median_ms).toBeGreaterThanOrEqual(30);
    expect((await readFile(join(out, 'report.html'), 'utf8')).length).toBeGreaterThan(500);

    // The images are renders of the stored objects (PNG), not placeholders.
    const images = bodies.filter((b) => b.url.includes('/study/images/'));
    expect(images.length).toBeGreaterThan(0);
    expect(images.every((b) => b.type === 'image/png' && b.body.startsWith('\x89PNG'))).toBe(true);
    expect(offsite).toEqual([]);
    for (const { url, body } of bodies) {
      for (const text of [CANARY_PATIENT_NAME, CANARY_PATIENT_ID, 'file://']) {
        expect(body.includes(text), `${url} carries ${text}`).toBe(false);
      }
    }
  }, 300_000);
});
