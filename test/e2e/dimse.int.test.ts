/**
 * End to end over DIMSE, as separate processes against a real PACS (Orthanc) and dcmtk:
 *
 * 1. `cxr listen` (the C-STORE SCP) feeding a worker and the results service: storescu and
 *    Orthanc's own C-STORE (REST /modalities/{id}/store) send chest radiographs in several
 *    transfer syntaxes and broken instances; every instance ends with exactly one row (broken ones
 *    rejected with their reason). The SCP SIGKILLed mid-association loses no instance storescu saw
 *    acknowledged; an association that drops mid-transfer and a wrong AE title leave the SCP
 *    serving the rest.
 * 2. `cxr screen dimse://...` over C-FIND + C-GET and over C-FIND + C-MOVE (to `cxr listen`)
 *    screens exactly the matching instances with the same outcomes and scores, by SOP Instance
 *    UID, as `cxr screen` of the same files from a folder; so does a C-GET run during which
 *    Orthanc is SIGKILLed and restarted.
 * 3. The ingest service runs the SCP from its environment alone.
 *
 * Throughout, the PHI canary (patient name and ID of every fixture) never reaches a log line,
 * /metrics, a Redis key or value, or an export.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { openStore, writeExport, type StoredResult } from '@cxr/store';
import { startOrthanc, type RunningOrthanc } from '@cxr/storage/testing';
import { dcmtk, instanceVariant, storescuProfile, type Variant } from '@cxr/fixtures/pacs';
import {
  CANARY_PATIENT_ID,
  CANARY_PATIENT_NAME,
  type DecodeFixture,
  type RejectFixture,
} from '@cxr/fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENTRY, ProcessGroup, freePort, waitUntil, type ManagedProcess } from './processes.js';
import {
  REDIS_URL,
  RESULTS_READY,
  START_TIMEOUT_MS,
  WORKER_READY,
  countRun,
  deleteKeysUnder,
  fixtures,
  keysUnder,
  metricsText,
  randomName,
  readRun,
  rowsPerUri,
  seedModel,
  serviceEnv,
  type SeedModel,
} from './pipeline.js';

const LISTENING = /"msg":"scp listening"/;
const HTJ2K = '1.2.840.10008.1.2.4.20';

/** Spellings of the canaries that must appear nowhere (compared case-insensitively). */
const FORBIDDEN = [
  CANARY_PATIENT_NAME,
  CANARY_PATIENT_NAME.replaceAll('^', ' '),
  CANARY_PATIENT_ID,
  Buffer.from(CANARY_PATIENT_ID, 'latin1').toString('hex'),
  'CANARY',
  'DO-NOT-LEAK',
];

function expectNoCanary(where: string, text: string): void {
  const lower = text.toLowerCase();
  for (const spelling of FORBIDDEN)
    expect(lower.includes(spelling.toLowerCase()), `${spelling} in ${where}`).toBe(false);
}

/** Chest fixtures with file meta (what a PACS stores), optionally without HTJ2K. */
function chestFixtures(options: { htj2k: boolean }): DecodeFixture[] {
  return fixtures().fixtures.filter(
    (f): f is DecodeFixture =>
      f.kind === 'decode' &&
      f.expected.hadPreamble &&
      f.expected.hadFileMeta &&
      /^(CR|DX)$/.test(f.expected.modality ?? '') &&
      f.expected.frames === 1 &&
      (options.htj2k || !f.transferSyntaxUid.startsWith(HTJ2K)),
  );
}

function rejectFixture(name: string): RejectFixture {
  const found = fixtures().fixtures.find((f): f is RejectFixture => f.kind === 'reject' && f.name === name);
  if (found === undefined) throw new Error(`no reject fixture ${name}`);
  return found;
}

/** Every Redis key and value under a prefix, as text (job payloads, results, cursors). */
async function redisText(prefix: string): Promise<string> {
  const redis = new Redis(REDIS_URL);
  try {
    const parts: string[] = [];
    for (const key of await keysUnder(redis, prefix)) {
      parts.push(key);
      const type = await redis.type(key);
      if (type === 'string') parts.push((await redis.get(key)) ?? '');
      else if (type === 'hash') parts.push(JSON.stringify(await redis.hgetall(key)));
      else if (type === 'list') parts.push(JSON.stringify(await redis.lrange(key, 0, -1)));
      else if (type === 'zset' || type === 'set')
        parts.push(JSON.stringify(await redis.zrange(key, 0, -1).catch(() => redis.smembers(key))));
      else if (type === 'stream') parts.push(JSON.stringify(await redis.xrange(key, '-', '+')));
    }
    return parts.join('\n');
  } finally {
    redis.disconnect();
  }
}

async function exportText(storeUrl: string, runId: string, labels: readonly string[]): Promise<string> {
  const store = await openStore(storeUrl);
  const chunks: string[] = [];
  try {
    const { Writable } = await import('node:stream');
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(chunk.toString('utf8'));
        callback();
      },
    });
    await writeExport(store.iterateRun(runId), { format: 'jsonl', labels }, sink);
    return chunks.join('');
  } finally {
    await store.close();
  }
}

/** The SOP Instance UIDs storescu (-v) saw acknowledged with Success, from its output. */
function acknowledgedFiles(output: string): string[] {
  const acknowledged: string[] = [];
  let sending: string | undefined;
  for (const line of output.split('\n')) {
    const file = /Sending file: (.*)$/.exec(line)?.[1];
    if (file !== undefined) sending = file.trim();
    if (/Received Store Response \(Success\)/.test(line) && sending !== undefined) {
      acknowledged.push(sending);
      sending = undefined;
    }
  }
  return acknowledged;
}

describe('C-STORE SCP into the pipeline: storescu and Orthanc send, cxr listen stores, the worker screens', () => {
  const group = new ProcessGroup();
  const prefix = randomName('cxr-e2e-scp');
  const runId = randomName('run-scp');
  let dir: string;
  let model: SeedModel;
  let storeUrl: string;
  let env: Record<string, string>;
  let listenPort: number;
  let listenHttpPort: number;
  let orthanc: RunningOrthanc | undefined;
  let profile: string[];
  /** Sent by storescu: file path -> SOP Instance UID. */
  const pushed = new Map<string, string>();
  /** Sent by Orthanc: SOP Instance UID -> expected outcome or reject reason. */
  const routed = new Map<string, string>();
  let listen: ManagedProcess;
  const listens: ManagedProcess[] = [];
  let acknowledgedBeforeKill: string[] = [];
  let storedBeforeKill = 0;
  let rows: StoredResult[] = [];
  let metrics = '';

  const receivedDir = (): string => join(dir, 'received');
  const startListen = (name: string): ManagedProcess => {
    const managed = group.spawnTsx(
      name,
      ENTRY.cli,
      [
        'listen',
        '--ae-title',
        'CXR',
        '--port',
        String(listenPort),
        '--to',
        pathToFileURL(receivedDir()).href,
        '--allow-calling',
        'STORESCU,ORTHANC',
        '--model',
        model.dir,
        '--run-id',
        runId,
        '--http-port',
        String(listenHttpPort),
      ],
      env,
    );
    listens.push(managed);
    return managed;
  };
  const storescu = (aet: string, files: readonly string[]) =>
    dcmtk('storescu', [
      '-v',
      ...profile,
      '-aet',
      aet,
      '-aec',
      'CXR',
      '127.0.0.1',
      String(listenPort),
      ...files,
    ]);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-e2e-scp-'));
    model = await seedModel(join(dir, 'model'));
    storeUrl = `sqlite:${join(dir, 'results.sqlite')}`;
    listenPort = await freePort();
    listenHttpPort = await freePort();
    profile = await storescuProfile(dir);
    env = serviceEnv({ prefix, storeUrl, httpPort: await freePort(), logLevel: 'debug' });
    const results = group.startResults('results', env);
    const worker = group.startWorker('worker', model.dir, env);
    listen = startListen('listen-1');
    await Promise.all([
      results.waitForLine(RESULTS_READY, START_TIMEOUT_MS),
      worker.waitForLine(WORKER_READY, START_TIMEOUT_MS),
      listen.waitForLine(LISTENING, START_TIMEOUT_MS),
    ]);

    // storescu's batch: the chest fixtures in every syntax DCMTK knows, several copies each.
    await mkdir(join(dir, 'push'));
    let index = 1;
    for (let copy = 0; copy < 4; copy++) {
      for (const fixture of chestFixtures({ htj2k: false })) {
        const variant = instanceVariant(await readFile(fixture.path), { index: index++ });
        const path = join(dir, 'push', `${String(index).padStart(3, '0')}-${fixture.name}.dcm`);
        await writeFile(path, variant.bytes);
        pushed.set(path, variant.sopInstanceUid);
      }
    }
  }, 120_000);

  afterAll(async () => {
    await orthanc?.dispose();
    await group.stopAll();
    await deleteKeysUnder(REDIS_URL, prefix);
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('SIGKILL of the SCP mid-association loses no instance storescu saw acknowledged', async () => {
    const files = [...pushed.keys()];
    const sending = storescu('STORESCU', files);
    await waitUntil(
      'a few instances stored',
      async () =>
        (await readdir(receivedDir()).catch(() => [])).filter((n) => n.endsWith('.dcm')).length >= 4,
      30_000,
      5,
    );
    expect((await listen.kill()).signal).toBe('SIGKILL');
    const sent = await sending;
    expect(sent.code, 'storescu saw the association drop').not.toBe(0);
    acknowledgedBeforeKill = acknowledgedFiles(sent.output);
    storedBeforeKill = acknowledgedBeforeKill.length;
    expect(storedBeforeKill).toBeGreaterThan(0);
    expect(storedBeforeKill).toBeLessThan(files.length);
    // Durable before acknowledged: every acknowledged instance is on disk now, with the SCP dead.
    const onDisk = new Set(await readdir(receivedDir()));
    for (const path of acknowledgedBeforeKill) expect(onDisk.has(`${pushed.get(path)}.dcm`), path).toBe(true);

    listen = startListen('listen-2');
    await listen.waitForLine(LISTENING, START_TIMEOUT_MS);
    const rest = files.filter((path) => !acknowledgedBeforeKill.includes(path));
    const resent = await storescu('STORESCU', rest);
    expect(resent.code, resent.output).toBe(0);
  }, 120_000);

  it('an association that drops mid-transfer and a wrong AE title leave the SCP serving the rest', async () => {
    const wrong = await storescu('INTRUDER', [...pushed.keys()].slice(0, 1));
    expect(wrong.code).not.toBe(0);
    await listen.waitForLine(/"msg":"association rejected".*"reason":"calling_ae_title_not_allowed"/, 10_000);
    expect(listen.lines.filter((l) => l.text.includes('"msg":"association rejected"'))).toHaveLength(1);

    // A sender killed mid-transfer (it would send forever): the listener logs the drop and goes on.
    const accepted = (): number =>
      listen.lines.filter((l) => l.text.includes('"msg":"association accepted"')).length;
    const before = accepted();
    const child = group.spawn(
      'storescu-killed',
      'storescu',
      [
        ...profile,
        '--repeat',
        '100000',
        '-aet',
        'STORESCU',
        '-aec',
        'CXR',
        '127.0.0.1',
        String(listenPort),
        ...[...pushed.keys()].slice(0, 3),
      ],
      {},
    );
    await waitUntil('the doomed association is accepted', () => accepted() > before, 10_000, 20);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await child.kill()).signal).toBe('SIGKILL');
    await listen.waitForLine(/"msg":"association dropped"/, 10_000);
    const echo = await dcmtk('echoscu', ['-aet', 'STORESCU', '-aec', 'CXR', '127.0.0.1', String(listenPort)]);
    expect(echo.code, echo.output).toBe(0);
  }, 60_000);

  it("Orthanc's own C-STORE (REST /modalities/cxr/store) routes instances in, broken ones included", async () => {
    const pacs = await startOrthanc({
      modalities: { cxr: { aet: 'CXR', host: '127.0.0.1', port: listenPort } },
    });
    orthanc = pacs;
    const ids: string[] = [];
    let index = 500;
    for (const fixture of chestFixtures({ htj2k: false }).slice(0, 4)) {
      const variant = instanceVariant(await readFile(fixture.path), { index: index++ });
      ids.push(await pacs.upload(variant.bytes));
      routed.set(variant.sopInstanceUid, 'ok');
    }
    for (const name of ['pixel-data-short', 'corrupt-jpeg-lossless']) {
      const fixture = rejectFixture(name);
      const variant: Variant = instanceVariant(await readFile(fixture.path), { index: index++ });
      ids.push(await pacs.upload(variant.bytes));
      routed.set(variant.sopInstanceUid, fixture.reason);
    }
    const response = await fetch(`${pacs.httpUrl}/modalities/cxr/store`, {
      method: 'POST',
      body: JSON.stringify({ Resources: ids, Synchronous: true }),
    });
    expect(response.status, await response.clone().text()).toBe(200);
  }, 60_000);

  it('every instance sent ends with exactly one row: chest radiographs ok, broken ones rejected with their reason', async () => {
    const total = pushed.size + routed.size;
    await waitUntil(
      'every instance stored',
      async () => (await countRun(storeUrl, runId)) >= total,
      120_000,
      250,
    );
    await new Promise((resolve) => setTimeout(resolve, 1000));
    rows = await readRun(storeUrl, runId);
    const perUri = rowsPerUri(rows);
    const expectedUris = [...pushed.values(), ...routed.keys()].map(
      (sop) => pathToFileURL(join(receivedDir(), `${sop}.dcm`)).href,
    );
    expect([...perUri.keys()].sort()).toEqual(expectedUris.sort());
    expect([...perUri.values()].filter((count) => count !== 1)).toEqual([]);
    const outcome = (row: StoredResult): string =>
      row.outcome === 'ok' ? 'ok' : (row.reason ?? row.outcome);
    const bySop = new Map(
      rows.map((row) => [
        row.uri
          .split('/')
          .at(-1)
          ?.replace(/\.dcm$/, ''),
        outcome(row),
      ]),
    );
    for (const sop of pushed.values()) expect(bySop.get(sop), sop).toBe('ok');
    for (const [sop, want] of routed) expect(bySop.get(sop), sop).toBe(want);
    metrics = await metricsText(listenHttpPort);
    expect(metrics).toMatch(/cxr_scp_instances_received_total\{outcome="stored"\} [1-9]/);
    expect(metrics).toMatch(/cxr_scp_associations_total\{result="rejected"\} 1/);
  }, 150_000);

  it('the PHI canary reaches no log line, /metrics, Redis key or value, or export', async () => {
    for (const managed of group.all) expectNoCanary(managed.name, managed.text);
    expectNoCanary('/metrics of cxr listen', metrics);
    expectNoCanary('Redis', await redisText(prefix));
    const exported = await exportText(storeUrl, runId, model.labels);
    expect(exported.split('\n').filter((line) => line !== '')).toHaveLength(rows.length);
    expectNoCanary('export', exported);
  }, 60_000);
});

describe('dimse:// source: C-FIND + C-GET and C-FIND + C-MOVE screen what the same files screen, Orthanc restarted mid-fetch too', () => {
  const group = new ProcessGroup();
  const prefix = randomName('cxr-e2e-dimse');
  let dir: string;
  let model: SeedModel;
  let orthanc: RunningOrthanc | undefined;
  let env: Record<string, string>;
  /** SOP Instance UID -> file name in the baseline folder; what the listing must return. */
  const matching = new Map<string, string>();
  const excluded: string[] = [];
  const runs = new Map<string, { rows: StoredResult[]; storeUrl: string; runId: string }>();
  let listen: ManagedProcess | undefined;

  /** Rows by SOP Instance UID: outcome or reason, and scores. */
  const bySop = (rows: readonly StoredResult[]) =>
    new Map(
      rows.map((row) => [
        (row.uri.split('/').at(-1) ?? '').replace(/\.dcm$/, ''),
        { outcome: row.outcome === 'ok' ? 'ok' : (row.reason ?? row.outcome), scores: row.scores },
      ]),
    );

  /** `cxr screen SOURCE`; `whileRunning` gets the run's store and id while the process runs. */
  const screen = async (
    name: string,
    source: string,
    whileRunning?: (storeUrl: string, runId: string) => Promise<void>,
  ): Promise<void> => {
    const storeUrl = `sqlite:${join(dir, `${name}.sqlite`)}`;
    const runId = randomName(`run-${name}`);
    const managed = group.spawnTsx(
      `screen-${name}`,
      ENTRY.cli,
      ['screen', source, '--model', model.dir, '--store', storeUrl, '--run-id', runId, '--json'],
      env,
    );
    await whileRunning?.(storeUrl, runId);
    const status = await managed.waitForExit(240_000);
    expect(status.code, managed.text.slice(-3000)).toBe(0);
    runs.set(name, { rows: await readRun(storeUrl, runId), storeUrl, runId });
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-e2e-dimse-'));
    model = await seedModel(join(dir, 'model'));
    env = serviceEnv({
      prefix,
      storeUrl: `sqlite:${join(dir, 'unused.sqlite')}`,
      logLevel: 'debug',
      extra: { CXR_DIMSE_CALLING_AET: 'CXRE2E', CXR_SCP_STORE_TO: pathToFileURL(join(dir, 'scp')).href },
    });
    const listenPort = await freePort();
    const pacs = await startOrthanc({
      modalities: { cxr: { aet: 'CXR', host: '127.0.0.1', port: listenPort } },
    });
    orthanc = pacs;
    // The move destination: the pipeline's SCP, writing the storage the worker reads.
    listen = group.spawnTsx(
      'listen',
      ENTRY.cli,
      ['listen', '--ae-title', 'CXR', '--port', String(listenPort), '--model', model.dir],
      env,
    );
    await listen.waitForLine(LISTENING, START_TIMEOUT_MS);

    const baseline = join(dir, 'baseline');
    await mkdir(baseline);
    let index = 700;
    // HTJ2K: Orthanc 1.10 stores it but cannot send it over DIMSE (see dimse-source.int.test.ts).
    const sources = [
      ...chestFixtures({ htj2k: false }).map((f) => f.path),
      rejectFixture('pixel-data-short').path,
      rejectFixture('corrupt-jpeg-lossless').path,
    ];
    for (const path of sources) {
      const variant = instanceVariant(await readFile(path), { index: index++, studyDate: '20260101' });
      await pacs.upload(variant.bytes);
      await writeFile(join(baseline, `${variant.sopInstanceUid}.dcm`), variant.bytes);
      matching.set(variant.sopInstanceUid, `${variant.sopInstanceUid}.dcm`);
    }
    const [first] = chestFixtures({ htj2k: false });
    for (const changes of [
      { index: 790, studyDate: '20260101', modality: 'MR' },
      { index: 791, studyDate: '20251231' },
    ]) {
      const variant = instanceVariant(await readFile(first!.path), changes);
      await pacs.upload(variant.bytes);
      excluded.push(variant.sopInstanceUid);
    }
    const source = `dimse://${pacs.aet}@127.0.0.1:${pacs.dicomPort}?since=2026-01-01&until=2026-01-01`;
    await screen('files', pathToFileURL(baseline).href);
    await screen('c-get', source);
    await screen('c-move', `${source}&retrieve=move&dest=CXR`);
    // Orthanc SIGKILLed mid-fetch and back 2 s later: the workers' retries ride it out.
    await screen('c-get-restart', source, async (storeUrl, runId) => {
      await waitUntil(
        'some instances screened',
        async () => (await countRun(storeUrl, runId).catch(() => 0)) >= 3,
        120_000,
        100,
      );
      await pacs.kill();
      await new Promise((resolve) => setTimeout(resolve, 2000));
      await pacs.restart();
    });
  }, 900_000);

  afterAll(async () => {
    await orthanc?.dispose();
    await group.stopAll();
    await deleteKeysUnder(REDIS_URL, prefix);
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it.each(['c-get', 'c-move', 'c-get-restart'])(
    '%s screens exactly the matching instances, one row each, as dimse:// URIs',
    (name) => {
      const run = runs.get(name)!;
      const sops = run.rows.map((row) => row.uri.split('/').at(-1));
      expect([...sops].sort()).toEqual([...matching.keys()].sort());
      for (const sop of excluded) expect(sops).not.toContain(sop);
      for (const row of run.rows)
        expect(row.uri).toMatch(
          /^dimse:\/\/ORTHANC@127\.0\.0\.1:\d+\/studies\/[0-9.]+\/series\/[0-9.]+\/instances\/[0-9.]+$/,
        );
    },
  );

  it.each(['c-get', 'c-move', 'c-get-restart'])(
    '%s gives every instance the outcome and scores the same file gives',
    (name) => {
      const baseline = bySop(runs.get('files')!.rows);
      const pacs = bySop(runs.get(name)!.rows);
      expect(baseline.size).toBe(matching.size);
      expect(
        [...baseline.values()]
          .filter((r) => r.outcome !== 'ok')
          .map((r) => r.outcome)
          .sort(),
      ).toEqual(['corrupt_stream', 'pixel_data_short']);
      for (const [sop, want] of baseline) {
        const got = pacs.get(sop);
        expect(got?.outcome, sop).toBe(want.outcome);
        for (const [label, score] of Object.entries(want.scores ?? {})) {
          expect(got?.scores?.[label], `${sop} ${label}`).toBeCloseTo(score, 6);
        }
      }
    },
  );

  it('the restart was ridden out by retrying the fetches it broke', () => {
    const screenRestart = group.all.find((managed) => managed.name === 'screen-c-get-restart');
    expect(screenRestart?.text).toMatch(/"msg":"job will retry"/);
  });

  it('C-MOVE retrieves are read and removed: nothing is left for the SCP to screen twice', async () => {
    // The PACS moved each instance to the SCP (one association per move) ...
    const moves = listen?.lines.filter(
      (l) => l.text.includes('"msg":"association accepted"') && l.text.includes('"callingAeTitle":"ORTHANC"'),
    );
    expect(moves?.length).toBeGreaterThanOrEqual(matching.size);
    // ... which kept them for the worker, never enqueued them, and the worker removed them.
    expect(await readdir(join(dir, 'scp', 'retrieved'))).toEqual([]);
    expect((await readdir(join(dir, 'scp'))).filter((name) => name.endsWith('.dcm'))).toEqual([]);
  });

  it('the PHI canary reaches no log line, Redis key or value, or export', async () => {
    for (const managed of group.all) expectNoCanary(managed.name, managed.text);
    expectNoCanary('Redis', await redisText(prefix));
    for (const [name, run] of runs)
      expectNoCanary(`${name} export`, await exportText(run.storeUrl, run.runId, model.labels));
  }, 60_000);
});

describe('the ingest service runs the C-STORE SCP from the environment alone', () => {
  const group = new ProcessGroup();
  const prefix = randomName('cxr-e2e-scp-service');
  let dir: string;

  afterAll(async () => {
    await group.stopAll();
    await deleteKeysUnder(REDIS_URL, prefix);
    await rm(dir, { recursive: true, force: true });
  }, 30_000);

  it('takes pushes with no source configured, serves their metrics and stops cleanly on SIGTERM', async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-e2e-scp-service-'));
    const model = await seedModel(join(dir, 'model'));
    const scpPort = await freePort();
    const httpPort = await freePort();
    const received = join(dir, 'received');
    const ingest = group.spawnTsx(
      'ingest',
      ENTRY.ingest,
      [],
      serviceEnv({
        prefix,
        storeUrl: `sqlite:${join(dir, 'results.sqlite')}`,
        httpPort,
        extra: {
          CXR_MODEL_DIR: model.dir,
          CXR_SCP_AE_TITLE: 'CXR',
          CXR_SCP_PORT: String(scpPort),
          CXR_SCP_STORE_TO: pathToFileURL(received).href,
        },
      }),
    );
    await ingest.waitForLine(/"msg":"ingest service started"/, START_TIMEOUT_MS);
    await ingest.waitForLine(LISTENING, 1000);
    const files: string[] = [];
    for (const [i, fixture] of chestFixtures({ htj2k: false }).slice(0, 2).entries()) {
      const variant = instanceVariant(await readFile(fixture.path), { index: 900 + i });
      const path = join(dir, `${variant.sopInstanceUid}.dcm`);
      await writeFile(path, variant.bytes);
      files.push(path);
    }
    const profile = await storescuProfile(dir);
    const sent = await dcmtk('storescu', [...profile, '-aec', 'CXR', '127.0.0.1', String(scpPort), ...files]);
    expect(sent.code, sent.output).toBe(0);
    expect((await readdir(received)).filter((n) => n.endsWith('.dcm'))).toHaveLength(2);
    const text = await metricsText(httpPort);
    expect(text).toMatch(/cxr_scp_instances_received_total\{outcome="stored"\} 2/);
    expect(text).toMatch(/cxr_ingest_enqueued_total\{source="scp"\} 2/);
    ingest.signal('SIGTERM');
    expect(await ingest.waitForExit(15_000)).toEqual({ code: 0, signal: null });
    expectNoCanary('ingest', ingest.text);
  }, 90_000);
});
