/**
 * `pnpm bench scp [--instances 200] [--rounds 5] [--set small|bench] [--redis redis://127.0.0.1:6379/0]`
 *
 * Receive rate of the C-STORE SCP: dcmtk's `storescu` sends the same N instances (chest
 * radiographs in every transfer syntax DCMTK knows, distinct UIDs, each proposed in its own
 * syntax) to
 *  1. ours: the SCP service (`startScpService`, what `cxr listen` runs) with durability on: each
 *     instance written to a temporary folder, the file's fdatasync and the folder's fsync run
 *     together, and enqueued on a fresh `cxr-screen` queue (random key prefix, beside the syncs)
 *     before it is acknowledged;
 *  2. the baseline: dcmtk's own `storescp +xa` writing the same instances to a folder (no fsync).
 * Rounds alternate ours and the baseline. Each send is timed by a small shell process around
 * storescu (bash's clock before and after, not this Node process's, which is busy serving the
 * SCP), so both sides carry the same client and process start-up cost. dcmtk runs with
 * TCP_NODELAY=1 (see NO_DELAY): the baseline at its best. Reports instances/s and
 * MB/s per round, the medians and ours over the baseline; target (issue 14): >= 0.5. Targets are
 * reported, never enforced.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadConfig } from '@cxr/config';
import { startScpService } from '@cxr/ingest';
import { ScreenQueue, redisConnectionFromUrl } from '@cxr/queue';
import { generateBenchSet, generateSmallSet } from '@cxr/fixtures';
import { instanceVariant, storescuProfile } from '@cxr/fixtures/pacs';
import { chestFixtures, option, positiveInteger, startStorescp, timedStorescu } from './lib/dimse-sends.js';
import { median } from './lib/stats.js';
import { freePort } from '@cxr/storage/testing';

/** Runs the SCP benchmark (see the module comment). */
export async function run(args: readonly string[]): Promise<void> {
  const instances = positiveInteger(args, '--instances', 200);
  const rounds = positiveInteger(args, '--rounds', 5);
  const set = option(args, '--set') ?? 'small';
  if (set !== 'small' && set !== 'bench') throw new Error('--set must be small or bench');
  const redisUrl = option(args, '--redis') ?? 'redis://127.0.0.1:6379/0';
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  const fixtureSet = set === 'small' ? await generateSmallSet() : await generateBenchSet();
  const chest = chestFixtures(fixtureSet);

  const dir = await mkdtemp(join(tmpdir(), 'cxr-bench-scp-'));
  const prefix = `cxrbench-scp-${randomUUID().slice(0, 8)}`;
  const queue = new ScreenQueue({ connection: redisConnectionFromUrl(redisUrl), prefix });
  try {
    const files: string[] = [];
    let bytes = 0;
    await mkdir(join(dir, 'send'));
    for (let i = 0; i < instances; i++) {
      const fixture = chest[i % chest.length]!;
      const variant = instanceVariant(await readFile(fixture.path), { index: i + 1 });
      const path = join(dir, 'send', `${String(i).padStart(5, '0')}.dcm`);
      await writeFile(path, variant.bytes);
      files.push(path);
      bytes += variant.bytes.byteLength;
    }
    const profile = await storescuProfile(dir);
    log(
      `${instances} instances, ${(bytes / 1e6).toFixed(1)} MB, ${chest.length} transfer syntaxes (${set} set)`,
    );

    const oursPort = await freePort();
    const scp = await startScpService({
      config: loadConfig({ CXR_REDIS_URL: redisUrl, CXR_QUEUE_PREFIX: prefix }),
      scp: {
        aeTitle: 'CXR',
        host: '127.0.0.1',
        port: oursPort,
        storeTo: pathToFileURL(join(dir, 'ours')).href,
        allowedCallingAeTitles: [],
      },
      modelId: 'bench',
      modelVersion: '1',
      runId: 'bench-scp',
    });
    const basePort = await freePort();
    const storescp = await startStorescp(basePort, await mkdtemp(join(dir, 'storescp-')));
    const perRound = [];
    try {
      for (let round = 1; round <= rounds; round++) {
        // A fresh destination each round: every instance is new to both receivers.
        for (const name of await readdir(join(dir, 'ours'))) {
          if (name.endsWith('.dcm')) await rm(join(dir, 'ours', name));
        }
        await queue.obliterate({ force: true });
        const oursSeconds = await timedStorescu([
          ...profile,
          '-aec',
          'CXR',
          '127.0.0.1',
          String(oursPort),
          ...files,
        ]);
        const stored = (await readdir(join(dir, 'ours'))).filter((name) => name.endsWith('.dcm')).length;
        const waiting = (await queue.counts()).waiting;
        if (stored !== instances || waiting !== instances) {
          throw new Error(`round ${round}: ours stored ${stored} and enqueued ${waiting} of ${instances}`);
        }
        const baseSeconds = await timedStorescu([
          ...profile,
          '-aec',
          'STORESCP',
          '127.0.0.1',
          String(basePort),
          ...files,
        ]);
        const ours = instances / oursSeconds;
        const base = instances / baseSeconds;
        log(`round ${round}: ours ${ours.toFixed(1)} instances/s, storescp ${base.toFixed(1)} instances/s`);
        perRound.push({
          round,
          oursInstancesPerSecond: Math.round(ours * 10) / 10,
          oursMegabytesPerSecond: Math.round((bytes / 1e6 / oursSeconds) * 10) / 10,
          storescpInstancesPerSecond: Math.round(base * 10) / 10,
          storescpMegabytesPerSecond: Math.round((bytes / 1e6 / baseSeconds) * 10) / 10,
          ratio: Math.round((ours / base) * 100) / 100,
        });
      }
    } finally {
      storescp.kill();
      await scp.stop();
    }
    const info = await stat(files[0]!);
    const report = {
      instances,
      megabytes: Math.round(bytes / 1e5) / 10,
      firstInstanceBytes: info.size,
      set,
      rounds,
      durability:
        'ours: fdatasync of the file and fsync of its folder, together, + enqueue before the response; storescp: none',
      perRound,
      median: {
        oursInstancesPerSecond: median(perRound.map((r) => r.oursInstancesPerSecond)),
        storescpInstancesPerSecond: median(perRound.map((r) => r.storescpInstancesPerSecond)),
        ratio: median(perRound.map((r) => r.ratio)),
      },
      target: { ratio: 0.5 },
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } finally {
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    await rm(dir, { recursive: true, force: true });
  }
}
