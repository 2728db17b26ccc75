/**
 * `pnpm bench findings [--count 48] [--rounds 3] [--size 1024] [--concurrency 4] [--batch 8]
 *  [--model-size 512] [--skip-inference]`
 *
 * Findings delivery (issue 15 §4): DICOM SR build (@cxr/findings) and STOW-RS to a local Orthanc
 * (Debian `orthanc` + `orthanc-dicomweb`, started on loopback), in SRs per second, and its cost
 * relative to inference of the same count of images in the same run. Per round, `--count` new
 * phantom CR sources (`--size` px square, 16-bit, fresh UIDs, so every SR is new to the PACS):
 *  - build: buildFindingsReport of every source (parse the source, copy Patient/Study, write the
 *    Part 10 SR), one after the other;
 *  - build + STOW-RS: the same with each SR sent to Orthanc, `--concurrency` in flight;
 *  - delivery: the whole path the results service runs, through the `cxr-findings` queue in Redis:
 *    delivery state in SQLite, the source read again from file://, build, STOW-RS, state written;
 *  - inference: the seed DenseNet121 (`--model-size` input, ONNX, cached in bench/out/models, the
 *    same bundle as `pnpm bench runtime`) on `--count` preprocessed inputs in batches of `--batch`.
 * Medians over the rounds; ratio = delivery seconds / inference seconds of the same count.
 */
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '@cxr/config';
import { generateChestPhantom, littleEndianBytes, writeDicom } from '@cxr/dicom/testing';
import { buildChestDataSet } from '@cxr/fixtures';
import { buildFindingsReport } from '@cxr/findings';
import { decide, initSeedModel, loadBundle, loadRuntime, type ModelBundle } from '@cxr/model';
import { FindingsQueue, redisConnectionFromUrl } from '@cxr/queue';
import { findingsSender, openFindingsDelivery, parseFindingsDestination } from '@cxr/results';
import { startOrthanc } from '@cxr/storage/testing';
import { openStore, parseResultRow, type ResultRow } from '@cxr/store';

const OUT_DIR = join(dirname(fileURLToPath(import.meta.url)), 'out');
const REDIS_URL = process.env.CXR_REDIS_URL ?? 'redis://127.0.0.1:6379';

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function seedBundle(size: number): Promise<ModelBundle> {
  const dir = join(OUT_DIR, 'models', `densenet121-${size}-onnx`);
  if (existsSync(join(dir, 'manifest.json'))) return loadBundle(dir);
  process.stderr.write(`building seed model ${size} onnx (cached in ${dir})\n`);
  return initSeedModel({ outDir: dir, size, format: 'onnx', seed: 0, date: new Date(0) });
}

async function inPool<T>(items: readonly T[], pool: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(pool, items.length) }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

function int(name: string, raw: string): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
  return value;
}

interface Round {
  readonly buildSeconds: number;
  readonly buildStowSeconds: number;
  readonly deliverySeconds: number;
  readonly inferenceSeconds: number | undefined;
}

export async function run(args: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      count: { type: 'string', default: '48' },
      rounds: { type: 'string', default: '3' },
      size: { type: 'string', default: '1024' },
      concurrency: { type: 'string', default: '4' },
      batch: { type: 'string', default: '8' },
      'model-size': { type: 'string', default: '512' },
      'skip-inference': { type: 'boolean', default: false },
    },
  });
  const count = int('count', values.count);
  const rounds = int('rounds', values.rounds);
  const size = int('size', values.size);
  const concurrency = int('concurrency', values.concurrency);
  const batch = int('batch', values.batch);
  mkdirSync(OUT_DIR, { recursive: true });

  const bundle = await seedBundle(int('model-size', values['model-size']));
  const manifest = bundle.manifest;
  const labels = manifest.output.labels;
  const scores = Object.fromEntries(
    labels.map((label, i) => [label, i === 1 ? 0.7 : 0.3 / (labels.length - 1)]),
  );
  const decision = decide(
    labels.map((label) => scores[label]!),
    manifest.output,
  ).diagnosis;
  const runtime = values['skip-inference'] ? undefined : await loadRuntime(bundle, { runtime: 'onnx' });
  const inputSize = manifest.input.size;
  const input = new Float32Array(batch * 3 * inputSize * inputSize).map(
    (_, i) => ((i * 2654435761) % 1000) / 1000,
  );
  if (runtime !== undefined) await runtime.predict(input, batch); // warm-up

  const dir = await mkdtemp(join(tmpdir(), 'cxr-bench-findings-'));
  const orthanc = await startOrthanc();
  const destination = `dicomweb+${orthanc.dicomwebUrl}`;
  const pixels = littleEndianBytes(
    generateChestPhantom({ rows: size, columns: size, seed: 3, bitsStored: 12 }),
  );
  const source = (seed: string): Uint8Array =>
    writeDicom(
      buildChestDataSet(
        { seed, rows: size, columns: size, bitsAllocated: 16, bitsStored: 12 },
        { kind: 'native', bytes: pixels },
      ),
    );
  const result = {
    modelId: manifest.id,
    modelVersion: manifest.version,
    runtime: 'onnx',
    outcome: 'ok' as const,
    scores,
    decision,
  };
  const config = loadConfig({
    CXR_REDIS_URL: REDIS_URL,
    CXR_STORE_URL: `sqlite:${join(dir, 'bench.sqlite')}`,
    CXR_QUEUE_PREFIX: `cxr-bench-findings-${process.pid}`,
    CXR_FINDINGS_CONCURRENCY: String(concurrency),
  });
  const sender = findingsSender(parseFindingsDestination(destination), {
    dicomweb: { token: undefined, user: undefined, password: undefined, timeoutMs: 30_000 },
    dimse: { callingAeTitle: 'CXR', timeoutMs: 30_000 },
  });
  const results: Round[] = [];
  let sourceBytes = 0;
  try {
    for (let round = 0; round < rounds; round++) {
      // build alone, then build + STOW-RS, on fresh sources each (new SR UIDs).
      const a = Array.from({ length: count }, (_, i) => source(`bench-a-${round}-${i}`));
      sourceBytes = a[0]!.byteLength;
      let started = performance.now();
      for (const bytes of a) buildFindingsReport({ source: bytes, result, manifest, now: new Date() });
      const buildSeconds = (performance.now() - started) / 1000;

      const b = Array.from({ length: count }, (_, i) => source(`bench-b-${round}-${i}`));
      started = performance.now();
      await inPool(b, concurrency, async (bytes) => {
        await sender.send(buildFindingsReport({ source: bytes, result, manifest, now: new Date() }));
      });
      const buildStowSeconds = (performance.now() - started) / 1000;

      // The whole delivery path, from files, through Redis and the store.
      const store = await openStore(config.store.url);
      const rows: ResultRow[] = [];
      for (let i = 0; i < count; i++) {
        const path = join(dir, `c-${round}-${i}.dcm`);
        await writeFile(path, source(`bench-c-${round}-${i}`));
        rows.push(
          parseResultRow({
            runId: `bench-${round}`,
            uri: pathToFileURL(path).href,
            ...result,
            suspicion: 0.7,
          }),
        );
      }
      await store.upsertResults(rows);
      const opened = await openFindingsDelivery({
        config,
        queue: { connection: redisConnectionFromUrl(REDIS_URL), prefix: config.queue.prefix! },
        store,
        manifest,
      });
      started = performance.now();
      await opened.delivery.enqueue(rows, destination, Date.now());
      opened.delivery.start();
      for (;;) {
        const counts = await store.deliveryCounts(`bench-${round}`);
        if (counts.pending === 0) {
          if (counts.sent !== count) throw new Error(`delivery round ${round}: ${JSON.stringify(counts)}`);
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const deliverySeconds = (performance.now() - started) / 1000;
      await opened.close();
      await store.close();

      let inferenceSeconds: number | undefined;
      if (runtime !== undefined) {
        started = performance.now();
        for (let done = 0; done < count; done += batch) {
          const n = Math.min(batch, count - done);
          await runtime.predict(input.subarray(0, n * 3 * inputSize * inputSize), n);
        }
        inferenceSeconds = (performance.now() - started) / 1000;
      }
      results.push({ buildSeconds, buildStowSeconds, deliverySeconds, inferenceSeconds });
      process.stderr.write(
        `round ${round + 1}/${rounds}: build ${(count / buildSeconds).toFixed(1)} SR/s, build+STOW ${(count / buildStowSeconds).toFixed(1)} SR/s, ` +
          `delivery ${(count / deliverySeconds).toFixed(1)} SR/s` +
          (inferenceSeconds !== undefined
            ? `, inference ${(count / inferenceSeconds).toFixed(2)} images/s`
            : '') +
          '\n',
      );
    }
    const srCount = (await fetch(`${orthanc.httpUrl}/statistics`).then((r) => r.json())) as {
      CountInstances: number;
    };
    if (srCount.CountInstances !== 2 * count * rounds) {
      throw new Error(`Orthanc holds ${srCount.CountInstances} instances, expected ${2 * count * rounds}`);
    }
  } finally {
    await runtime?.close();
    const queue = new FindingsQueue({
      connection: redisConnectionFromUrl(REDIS_URL),
      prefix: config.queue.prefix!,
    });
    await queue.obliterate({ force: true });
    await queue.close();
    await orthanc.dispose();
    await rm(dir, { recursive: true, force: true });
  }
  const rate = (key: keyof Round): number | undefined => {
    const seconds = results.map((r) => r[key]).filter((s): s is number => s !== undefined);
    return seconds.length === 0 ? undefined : count / median(seconds);
  };
  const ratios = results.flatMap((r) =>
    r.inferenceSeconds === undefined ? [] : [r.deliverySeconds / r.inferenceSeconds],
  );
  const report = {
    date: new Date().toISOString(),
    cores: cpus().length,
    loadavg: loadavg(),
    count,
    rounds,
    sourceBytes,
    concurrency,
    model: { id: manifest.id, version: manifest.version, input: inputSize, batch },
    buildPerSecond: rate('buildSeconds'),
    buildStowPerSecond: rate('buildStowSeconds'),
    deliveryPerSecond: rate('deliverySeconds'),
    inferencePerSecond: rate('inferenceSeconds'),
    deliveryOverInference: ratios.length === 0 ? undefined : median(ratios),
    rounds_: results,
  };
  writeFileSync(join(OUT_DIR, 'findings.json'), `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(
    `findings: ${count} SRs per round, ${rounds} rounds, sources ${(sourceBytes / 1e6).toFixed(1)} MB, concurrency ${concurrency}\n` +
      `  SR build                 ${report.buildPerSecond?.toFixed(1)} SR/s\n` +
      `  SR build + STOW-RS       ${report.buildStowPerSecond?.toFixed(1)} SR/s\n` +
      `  delivery (queue, store)  ${report.deliveryPerSecond?.toFixed(1)} SR/s\n` +
      (report.inferencePerSecond !== undefined
        ? `  inference (${inputSize}px, batch ${batch}) ${report.inferencePerSecond.toFixed(2)} images/s\n` +
          `  delivery / inference time: ${report.deliveryOverInference?.toFixed(3)} (median of per-round ratios)\n`
        : '') +
      `  load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}\n`,
  );
}
