/**
 * `cxr screen dicomweb+http://...` end to end against a real PACS (Orthanc with DICOMweb) holding
 * 110+ instances: CR and DX in every transfer syntax of the fixture set, CT/MR/US that the default
 * filter leaves out, and broken instances Orthanc accepts. The PACS caps its QIDO answers
 * (LimitFindInstances), so the walk has to split its windows; the PACS is SIGKILLed and restarted
 * once during the walk and once during the fetches (a proxy in front of it counts the requests
 * and pulls the trigger). The run completes without --force, with exactly one row per listed
 * instance and every broken one rejected with its reason; a second run adds nothing. Along the
 * way the canary patient name and ID never reach the logs (debug level), /metrics, Redis (job
 * payloads, results, cursors) or the exports, and a `cxr ingest --patient-id` cohort run keeps
 * the ID out of everything too.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { openStore, writeExport, type StoredResult } from '@cxr/store';
import { startFaultProxy, startOrthanc, type FaultProxy, type RunningOrthanc } from '@cxr/storage/testing';
import { CANARY_PATIENT_ID, CANARY_PATIENT_NAME } from '@cxr/fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fillPacs, instanceUri, type PacsArchive } from './pacs-archive.js';
import { ENTRY, ProcessGroup, freePort, type ExitStatus, type ManagedProcess } from './processes.js';
import {
  REDIS_URL,
  deleteKeysUnder,
  keysUnder,
  randomName,
  readRun,
  rowsPerUri,
  seedModel,
  serviceEnv,
  type SeedModel,
} from './pipeline.js';

const GOOD = 100;
const OTHERS = 6;
/** QIDO requests before the PACS is killed mid-walk, WADO requests before it is killed mid-fetch. */
const KILL_AT_QIDO = 6;
const KILL_AT_WADO = 40;
const DOWN_MS = 3000;

const FORBIDDEN = [
  CANARY_PATIENT_NAME,
  CANARY_PATIENT_NAME.replaceAll('^', ' '),
  CANARY_PATIENT_ID,
  CANARY_PATIENT_ID.replaceAll('-', ''),
  'CANARY',
  'DO-NOT-LEAK',
];

/** Every key under the prefix with its value (job payloads, results, cursors). */
async function dumpRedis(prefix: string): Promise<string> {
  const redis = new Redis(REDIS_URL);
  try {
    const out: string[] = [];
    for (const key of await keysUnder(redis, prefix)) {
      const type = await redis.type(key);
      const value =
        type === 'hash'
          ? await redis.hgetall(key)
          : type === 'list'
            ? await redis.lrange(key, 0, -1)
            : type === 'zset'
              ? await redis.zrange(key, 0, -1)
              : type === 'set'
                ? await redis.smembers(key)
                : type === 'string'
                  ? await redis.get(key)
                  : type === 'stream'
                    ? await redis.xrange(key, '-', '+')
                    : null;
      out.push(`${key}: ${JSON.stringify(value)}`);
    }
    return out.join('\n');
  } finally {
    redis.disconnect();
  }
}

async function exportRun(
  storeUrl: string,
  runId: string,
  labels: readonly string[],
  format: 'csv' | 'jsonl',
): Promise<string> {
  const store = await openStore(storeUrl);
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString('utf8'));
      callback();
    },
  });
  try {
    await writeExport(store.iterateRun(runId), { format, labels }, sink);
    return chunks.join('');
  } finally {
    await store.close();
  }
}

function leaks(collected: ReadonlyMap<string, string>): string[] {
  const found: string[] = [];
  for (const [where, text] of collected) {
    const haystack = text.toLowerCase();
    for (const needle of FORBIDDEN)
      if (haystack.includes(needle.toLowerCase())) found.push(`${where} contains "${needle}"`);
  }
  return found;
}

describe('cxr screen over DICOMweb against a real PACS that goes down twice', () => {
  const group = new ProcessGroup();
  const prefix = randomName('cxr-e2e-dicomweb');
  const runId = randomName('run-dicomweb');
  const collected = new Map<string, string>();
  let dir: string;
  let model: SeedModel;
  let orthanc: RunningOrthanc | undefined;
  let proxy: FaultProxy | undefined;
  let archive: PacsArchive;
  let base: string;
  let storeUrl: string;
  let env: Record<string, string>;
  let screen: ManagedProcess;
  let exit: ExitStatus;
  let rows: StoredResult[] = [];
  const kills: string[] = [];
  let metricsSeen = '';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-e2e-dicomweb-'));
    model = await seedModel(join(dir, 'model'));
    // Answers of at most 26 instances (Orthanc answers its limit + 1): the walk must split.
    orthanc = await startOrthanc({ extraConfig: { LimitFindInstances: 25, LimitFindResults: 25 } });
    archive = await fillPacs(orthanc, { good: GOOD, others: OTHERS });
    proxy = await startFaultProxy(orthanc.httpUrl);
    base = `dicomweb+${proxy.endpoint}/dicom-web`;
    let qido = 0;
    let wado = 0;
    const pacs = orthanc;
    const outage = (what: string): void => {
      kills.push(what);
      void (async () => {
        await pacs.kill();
        await new Promise((resolve) => setTimeout(resolve, DOWN_MS));
        await pacs.restart();
      })();
    };
    proxy.failWhen(({ path }) => {
      if (!path.startsWith('/dicom-web/')) return undefined;
      if (path.startsWith('/dicom-web/instances?')) {
        qido += 1;
        if (qido === KILL_AT_QIDO) outage(`walk (QIDO request ${qido})`);
      } else {
        wado += 1;
        if (wado === KILL_AT_WADO) outage(`fetch (WADO request ${wado})`);
      }
      return undefined;
    });

    storeUrl = `sqlite:${join(dir, 'results.sqlite')}`;
    const httpPort = await freePort();
    env = serviceEnv({
      prefix,
      storeUrl,
      logLevel: 'debug',
      extra: {
        CXR_PATIENT_ID_SALT: 'e2e-dicomweb-salt-0123456789',
        CXR_SCREEN_BACKOFF_MS: '250',
        CXR_SCREEN_RETRY_SECONDS: '120',
        CXR_DICOMWEB_MAX_CONCURRENCY: '3',
        CXR_DICOMWEB_MAX_RPS: '25',
        CXR_DICOMWEB_TIMEOUT_MS: '5000',
        CXR_DICOMWEB_LIST_RETRY_SECONDS: '120',
      },
    });
    screen = group.spawnTsx(
      'screen',
      ENTRY.cli,
      ['screen', base, '--model', model.dir, '--run-id', runId, '--http-port', String(httpPort), '--json'],
      env,
    );
    // /metrics while the run lasts: the last good scrape is what the privacy check reads.
    const scraping = (async () => {
      while (screen.running) {
        try {
          const response = await fetch(`http://127.0.0.1:${httpPort}/metrics`);
          if (response.ok) metricsSeen = await response.text();
        } catch {
          // Not up yet, or gone.
        }
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    })();
    exit = await screen.waitForExit(300_000);
    await scraping;
    rows = await readRun(storeUrl, runId);
    collected.set('cxr screen output', screen.text);
    collected.set('metrics', metricsSeen);
    collected.set('redis', await dumpRedis(prefix));
    collected.set('csv export', await exportRun(storeUrl, runId, model.labels, 'csv'));
    collected.set('jsonl export', await exportRun(storeUrl, runId, model.labels, 'jsonl'));
  }, 420_000);

  afterAll(async () => {
    await group.stopAll();
    await proxy?.close();
    await orthanc?.dispose();
    await deleteKeysUnder(REDIS_URL, prefix);
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('killed the PACS once during the walk and once during the fetches', () => {
    expect(kills).toEqual([`walk (QIDO request ${KILL_AT_QIDO})`, `fetch (WADO request ${KILL_AT_WADO})`]);
    expect(screen.text).toMatch(/"msg":"pacs unavailable; retrying"/);
  });

  it('completes without --force: one row per listed instance, broken ones rejected with their reason', () => {
    expect(exit, screen.text.slice(-3000)).toEqual({ code: 0, signal: null });
    const summary = JSON.parse(screen.stdout) as {
      complete: boolean;
      ingest: { listed: number; sourceSkipped: number };
    };
    expect(summary.complete).toBe(true);
    expect(summary.ingest.listed).toBe(archive.listed.length);
    expect(summary.ingest.sourceSkipped).toBe(0);
    expect(archive.listed.length).toBeGreaterThanOrEqual(GOOD + 6);

    expect([...rowsPerUri(rows).values()].every((count) => count === 1)).toBe(true);
    const byUri = new Map(rows.map((row) => [row.uri, row]));
    expect(new Set(byUri.keys())).toEqual(new Set(archive.listed.map((i) => instanceUri(base, i))));
    for (const instance of archive.listed) {
      const row = byUri.get(instanceUri(base, instance));
      const expected = instance.expected;
      if (expected?.outcome === 'rejected') {
        expect({ outcome: row?.outcome, reason: row?.reason }).toEqual(expected);
      } else {
        expect(row?.outcome, row?.reason ?? '').toBe('ok');
        expect(row?.modality).toBe(instance.modality);
        expect(row?.sopInstanceUid).toBe(instance.sopInstanceUid);
      }
    }
    // The other modalities were never listed.
    const others = archive.instances.filter((i) => i.expected === undefined).map((i) => i.sopInstanceUid);
    expect(others).toHaveLength(OTHERS);
    expect(rows.filter((row) => others.includes(row.sopInstanceUid ?? ''))).toEqual([]);
  });

  it('measured the PACS requests, the outage and the throttling', () => {
    expect(metricsSeen).toMatch(/cxr_pacs_requests_total\{operation="qido",status_class="2xx"\} [1-9]/);
    expect(metricsSeen).toMatch(/cxr_pacs_requests_total\{operation="wado",status_class="2xx"\} [1-9]/);
    expect(metricsSeen).toMatch(
      /cxr_pacs_requests_total\{operation="(qido|wado)",status_class="network"\} [1-9]/,
    );
    expect(metricsSeen).toMatch(/cxr_pacs_request_duration_seconds_count\{operation="wado"\} [1-9]/);
  });

  it('a second run without --force screens nothing again', async () => {
    const again = group.spawnTsx(
      'screen-again',
      ENTRY.cli,
      ['screen', base, '--model', model.dir, '--run-id', `${runId}-again`, '--json'],
      env,
    );
    const status = await again.waitForExit(180_000);
    collected.set('second cxr screen output', again.text);
    expect(status, again.text.slice(-2000)).toEqual({ code: 0, signal: null });
    const summary = JSON.parse(again.stdout) as {
      complete: boolean;
      ingest: { listed: number; enqueued: number; skipped: number };
    };
    expect(summary).toMatchObject({
      complete: true,
      ingest: { listed: archive.listed.length, enqueued: 0, skipped: archive.listed.length },
    });
    expect(await readRun(storeUrl, `${runId}-again`)).toEqual([]);
  }, 200_000);

  it('a cohort ingest by --patient-id keeps the ID out of its output, job payloads and keys', async () => {
    const cohortPrefix = randomName('cxr-e2e-dicomweb-cohort');
    try {
      const ingest = group.spawnTsx(
        'cohort-ingest',
        ENTRY.cli,
        // --force: every listed instance becomes a job (the store has them all), whose payload is checked.
        [
          'ingest',
          base,
          '--model',
          model.dir,
          '--run-id',
          `${runId}-cohort`,
          '--force',
          '--patient-id',
          CANARY_PATIENT_ID,
          '--modality',
          'CR',
        ],
        { ...env, CXR_QUEUE_PREFIX: cohortPrefix },
      );
      const status = await ingest.waitForExit(120_000);
      expect(status, ingest.text.slice(-2000)).toEqual({ code: 0, signal: null });
      const result = JSON.parse(ingest.stdout) as { listed: number; enqueued: number };
      const cr = archive.listed.filter((i) => i.modality === 'CR');
      expect(result).toMatchObject({ listed: cr.length, enqueued: cr.length });
      const redis = await dumpRedis(cohortPrefix);
      expect(redis.length).toBeGreaterThan(0);
      collected.set('cohort ingest output', ingest.text);
      collected.set('cohort redis', redis);
    } finally {
      await deleteKeysUnder(REDIS_URL, cohortPrefix);
    }
  }, 150_000);

  it('the canary patient name and ID reached no log line, metric, Redis value or export', () => {
    expect([...collected.keys()]).toEqual(
      expect.arrayContaining(['cxr screen output', 'metrics', 'redis', 'csv export', 'jsonl export']),
    );
    // Debug logging was on, and every source holds real content.
    expect(collected.get('cxr screen output')).toMatch(/"level":"debug"/);
    for (const [where, text] of collected) expect(text.length, where).toBeGreaterThan(0);
    expect(leaks(collected)).toEqual([]);
  });
});
