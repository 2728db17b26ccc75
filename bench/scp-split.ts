/**
 * `pnpm bench scp-split [--instances 300] [--rounds 5] [--only REGEX]`
 *
 * Where the C-STORE SCP's time per instance goes (issue 14 §5): dcmtk's `storescu` sends the
 * same N instances (as in `pnpm bench scp`) to the SCP (`startStoreScp`) with a different
 * `onInstance` each time, and to dcmtk's `storescp +xa` in the same rounds:
 *  - `nothing`: the instance is dropped (DIMSE, PDU and data set handling only);
 *  - `write, no sync`: a temporary file written and renamed, nothing synced (MEASUREMENT ONLY:
 *    not durable, nothing ships like this);
 *  - `enqueue only`: the `cxr-screen` enqueue alone;
 *  - `previous store`: the store before issue 14 §5's changes (write with fsync, rename, then the
 *    folder's fsync beside the enqueue);
 *  - `store, no enqueue` and `store + enqueue`: the durable store as shipped, without and with
 *    the enqueue (`store + enqueue` is what `cxr listen` does).
 * Each send is timed by a shell around storescu (as in bench/scp.ts); inside the SCP, the time in
 * `onInstance` ("handler") and between the end of one and the start of the next ("between": the
 * sender's turn, the network, the PDUs, the command and the checks of the data set) is summed per
 * instance. Prints medians over the rounds per variant. Measurement only: no target.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ScreenQueue, redisConnectionFromUrl } from '@cxr/queue';
import { openReceivedInstanceStore } from '@cxr/storage';
import { generateSmallSet } from '@cxr/fixtures';
import { instanceVariant, storescuProfile } from '@cxr/fixtures/pacs';
import { chestFixtures, option, positiveInteger, startStorescp, timedStorescu } from './lib/dimse-sends.js';
import { median } from './lib/stats.js';
import { freePort } from '@cxr/storage/testing';
// The bench package does not depend on @cxr/dicomnet (bench/scp.ts goes through @cxr/ingest).
import { startStoreScp, type ReceivedInstance } from '../packages/dicomnet/src/index.js';

function mean(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;
}

interface Row {
  rate: number[];
  handler: number[];
  between: number[];
}

/** Runs the split (see the module comment). */
export async function run(args: readonly string[]): Promise<void> {
  const instances = positiveInteger(args, '--instances', 300);
  const rounds = positiveInteger(args, '--rounds', 5);
  const only = new RegExp(option(args, '--only') ?? '.');
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  const fixtureSet = await generateSmallSet();
  const chest = chestFixtures(fixtureSet);
  const dir = await mkdtemp(join(tmpdir(), 'cxr-bench-scp-split-'));
  const queue = new ScreenQueue({
    connection: redisConnectionFromUrl('redis://127.0.0.1:6379/0'),
    prefix: `cxrbench-scp-split-${randomUUID().slice(0, 8)}`,
  });
  let folder: FileHandle | undefined;
  const store = openReceivedInstanceStore(pathToFileURL(join(dir, 'store')).href, { env: {} });
  try {
    const files: string[] = [];
    await mkdir(join(dir, 'send'));
    for (let i = 0; i < instances; i++) {
      const fixture = chest[i % chest.length]!;
      const variant = instanceVariant(await readFile(fixture.path), { index: i + 1 });
      const path = join(dir, 'send', `${String(i).padStart(5, '0')}.dcm`);
      await writeFile(path, variant.bytes);
      files.push(path);
    }
    const profile = await storescuProfile(dir);
    const out = join(dir, 'out');
    await store.prepare();
    const enqueue = async (uri: string, size: number): Promise<void> => {
      await queue.enqueueBulk([
        { uri, size, runId: 'bench-scp-split', modelId: 'bench', modelVersion: '1', enqueuedAt: Date.now() },
      ]);
    };
    const variants: Record<string, (instance: ReceivedInstance) => Promise<void>> = {
      nothing: () => Promise.resolve(),
      'write, no sync': async ({ sopInstanceUid, bytes }) => {
        const temporary = join(out, `.${sopInstanceUid}.tmp`);
        await writeFile(temporary, bytes, { flag: 'wx', mode: 0o600 });
        await rename(temporary, join(out, `${sopInstanceUid}.dcm`));
      },
      'enqueue only': async ({ sopInstanceUid, bytes }) => {
        await enqueue(pathToFileURL(join(out, `${sopInstanceUid}.dcm`)).href, bytes.byteLength);
      },
      'previous store': async ({ sopInstanceUid, bytes }) => {
        folder ??= await open(out, 'r');
        const dirHandle = folder;
        const temporary = join(out, `.${sopInstanceUid}.tmp`);
        const path = join(out, `${sopInstanceUid}.dcm`);
        await writeFile(temporary, bytes, { flag: 'wx', mode: 0o600, flush: true });
        await rename(temporary, path);
        await Promise.all([dirHandle.sync(), enqueue(pathToFileURL(path).href, bytes.byteLength)]);
      },
      'store, no enqueue': async ({ sopInstanceUid, bytes }) => {
        await store.put(sopInstanceUid, bytes, 'received');
      },
      'store + enqueue': async ({ sopInstanceUid, bytes }) => {
        await store.put(sopInstanceUid, bytes, 'received', (uri) => enqueue(uri, bytes.byteLength));
      },
    };
    const names = ['storescp', ...Object.keys(variants)].filter((name) => only.test(name));
    const rows = new Map<string, Row>(names.map((name) => [name, { rate: [], handler: [], between: [] }]));
    for (let round = 1; round <= rounds; round++) {
      for (const name of names) {
        await rm(out, { recursive: true, force: true });
        await mkdir(out);
        await folder?.close();
        folder = undefined;
        await rm(join(dir, 'store'), { recursive: true, force: true });
        await store.prepare();
        await queue.obliterate({ force: true });
        const row = rows.get(name)!;
        const port = await freePort();
        if (name === 'storescp') {
          const storescp = await startStorescp(port, out);
          try {
            const seconds = await timedStorescu([
              ...profile,
              '-aec',
              'STORESCP',
              '127.0.0.1',
              String(port),
              ...files,
            ]);
            row.rate.push(instances / seconds);
          } finally {
            storescp.kill();
          }
          log(`round ${round} ${name}: ${row.rate.at(-1)?.toFixed(1)} instances/s`);
          continue;
        }
        const handle = variants[name]!;
        const handler: number[] = [];
        const between: number[] = [];
        let lastEnd: bigint | undefined;
        const scp = await startStoreScp({
          aeTitle: 'CXR',
          host: '127.0.0.1',
          port,
          maxObjectBytes: 256 * 1024 * 1024,
          onInstance: async (instance) => {
            const start = process.hrtime.bigint();
            if (lastEnd !== undefined) between.push(Number(start - lastEnd) / 1e6);
            await handle(instance);
            lastEnd = process.hrtime.bigint();
            handler.push(Number(lastEnd - start) / 1e6);
          },
        });
        try {
          const seconds = await timedStorescu([
            ...profile,
            '-aec',
            'CXR',
            '127.0.0.1',
            String(port),
            ...files,
          ]);
          row.rate.push(instances / seconds);
        } finally {
          await scp.close();
        }
        row.handler.push(mean(handler));
        row.between.push(mean(between));
        log(
          `round ${round} ${name}: ${row.rate.at(-1)?.toFixed(1)} instances/s, handler ${mean(handler).toFixed(2)} ms` +
            ` (median ${median(handler).toFixed(2)}), between ${mean(between).toFixed(2)} ms (median ${median(between).toFixed(2)})`,
        );
      }
    }
    const report = {
      instances,
      rounds,
      medians: Object.fromEntries(
        [...rows].map(([name, row]) => [
          name,
          {
            instancesPerSecond: Math.round(median(row.rate) * 10) / 10,
            msPerInstance: Math.round((1000 / median(row.rate)) * 100) / 100,
            ...(name === 'storescp'
              ? {}
              : {
                  handlerMeanMs: Math.round(median(row.handler) * 100) / 100,
                  betweenMeanMs: Math.round(median(row.between) * 100) / 100,
                }),
          },
        ]),
      ),
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } finally {
    await folder?.close();
    await store.close();
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    await rm(dir, { recursive: true, force: true });
  }
}
