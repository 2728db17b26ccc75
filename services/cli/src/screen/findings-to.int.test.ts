/**
 * `cxr screen --findings-to` and `cxr results send` as real processes: a seeded model screens
 * phantom chest radiographs from a folder, each ok result's SR goes to a real Orthanc by STOW-RS
 * as it is stored, and the run is then pushed again by C-STORE (skipped when already sent,
 * replaced with --resend: the PACS holds each SR once).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseDicomBytes } from '@cxr/dicom';
import { initSeedModel } from '@cxr/model';
import { FindingsQueue, ResultQueue, ScreenQueue, redisConnectionFromUrl } from '@cxr/queue';
import { startOrthanc, type RunningOrthanc } from '@cxr/storage/testing';
import { openStore } from '@cxr/store';
import { isChestRadiographFixture, loadFixtureManifest } from '@cxr/fixtures';
import { cxrWithEnv, expectNoCanary } from '../testing/run-cxr.js';
import type { ScreenSummary } from './summary.js';

const REDIS_URL = 'redis://127.0.0.1:6379';

describe('cxr screen --findings-to and cxr results send (Orthanc)', () => {
  const prefix = `cxr-findings-cli-${randomBytes(4).toString('hex')}`;
  let dir: string;
  let archive: string;
  let modelDir: string;
  let orthanc: RunningOrthanc;
  let env: Record<string, string>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-findings-cli-'));
    archive = join(dir, 'archive');
    await mkdir(archive);
    const set = loadFixtureManifest(inject('fixtureManifestPath'));
    // Three chest radiographs of different instances (fixtures re-encode one instance in many
    // transfer syntaxes: those share a SOP Instance UID, hence an SR).
    const seen = new Set<string>();
    for (const f of set.fixtures) {
      if (f.kind !== 'decode' || !isChestRadiographFixture(f) || seen.size === 3) continue;
      const bytes = await readFile(f.path);
      const uid = parseDicomBytes(bytes).dataSet.string('x00080018');
      if (uid === undefined || seen.has(uid)) continue;
      seen.add(uid);
      await writeFile(join(archive, basename(f.path)), bytes);
    }
    expect(seen.size).toBe(3);
    const bundle = await initSeedModel({
      outDir: join(dir, 'model'),
      size: 32,
      blocks: [1, 2, 2, 1],
      format: 'onnx',
      seed: 3,
    });
    modelDir = bundle.dir;
    orthanc = await startOrthanc();
    env = {
      CXR_REDIS_URL: REDIS_URL,
      CXR_QUEUE_PREFIX: prefix,
      CXR_STORE_URL: `sqlite:${join(dir, 'results.sqlite')}`,
      CXR_DECODE_THREADS: '1',
      CXR_RUNTIME: 'onnx',
      CXR_RUNTIME_THREADS: '1',
      CXR_FINDINGS_BACKOFF_MS: '200',
      CXR_FINDINGS_BACKOFF_CAP_MS: '2000',
      CXR_FINDINGS_WAIT_SECONDS: '120',
    };
  }, 120_000);

  afterAll(async () => {
    const connection = redisConnectionFromUrl(REDIS_URL);
    for (const queue of [
      new ScreenQueue({ connection, prefix }),
      new ResultQueue({ connection, prefix }),
      new FindingsQueue({ connection, prefix }),
    ]) {
      await queue.obliterate({ force: true });
      await queue.close();
    }
    await orthanc.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  it('sends each ok result to the PACS as it is stored, and pushes the finished run again', async () => {
    const runId = 'run-findings-cli';
    const screened = await cxrWithEnv(
      env,
      'screen',
      pathToFileURL(archive).href,
      '--model',
      modelDir,
      '--run-id',
      runId,
      '--findings-to',
      `dicomweb+${orthanc.dicomwebUrl}`,
      '--json',
    );
    expect(screened.code, screened.stderr).toBe(0);
    expectNoCanary(screened);
    const summary = JSON.parse(screened.stdout) as ScreenSummary;
    expect(summary.outcomes.ok).toBe(3);
    expect(summary.findings).toEqual({
      to: `dicomweb+${orthanc.dicomwebUrl}`,
      sent: 3,
      failed: 0,
      pending: 0,
    });
    expect(await orthanc.instanceCount()).toBe(3);

    const store = await openStore(env.CXR_STORE_URL!);
    try {
      for await (const row of store.iterateRun(runId))
        expect(row.delivery).toMatchObject({ state: 'sent', attempts: 1 });
    } finally {
      await store.close();
    }

    const to = `dimse://${orthanc.aet}@127.0.0.1:${orthanc.dicomPort}`;
    const again = await cxrWithEnv(
      env,
      'results',
      'send',
      '--run',
      runId,
      '--to',
      to,
      '--model',
      modelDir,
      '--json',
    );
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({
      queued: 0,
      skipped: { alreadySent: 3 },
      sent: 3,
      failed: 0,
      pending: 0,
    });

    const resent = await cxrWithEnv(
      env,
      'results',
      'send',
      '--run',
      runId,
      '--to',
      to,
      '--model',
      modelDir,
      '--resend',
    );
    expect(resent.code, resent.stderr).toBe(0);
    expect(resent.stdout).toContain('queued 3');
    expect(resent.stdout).toContain('sent 3, failed 0, pending 0');
    expect(await orthanc.instanceCount()).toBe(3);

    const unknown = await cxrWithEnv(
      env,
      'results',
      'send',
      '--run',
      'no-such-run',
      '--to',
      to,
      '--model',
      modelDir,
    );
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^cxr: run no-such-run has no results/);
  }, 300_000);
});
