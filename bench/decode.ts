/**
 * `pnpm bench decode [--runs 5] [--images 16] [--threads 1,2]`
 *
 * Decode speed of a 2048x2500 12-bit CR in every transfer syntax, ours against the native tools
 * (dcmtk, gdcm) on the same file in the same run, plus DecodePool throughput by thread count.
 * Native times are whole processes (start, read, decode, write a temp file); ours is the decode
 * call on bytes already in memory, so the native side carries the process overhead, which is
 * reported separately. Targets are reported, never enforced: the process exits 0 either way.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';

import { isDicomRejectedError, TransferSyntax, TRANSFER_SYNTAX_NAMES } from '@cxr/dicom';
import { DecodePool, runDecodeTask } from '@cxr/imaging';
import type { DecodeOutput } from '@cxr/imaging';

import { IMAGENET_NORMALIZATION } from '@cxr/model/manifest';
import { generateBenchSet, type DecodeFixture } from '@cxr/fixtures';

const OUT_DIR = join(dirname(fileURLToPath(import.meta.url)), 'out');
// "Preprocess" is what the worker does before inference: the seed model's input block (see
// seedManifest in packages/model/src/init.ts): 512x512x3 NCHW, file window, bilinear, ImageNet.
const PREPROCESS: DecodeOutput = {
  model: {
    size: 512,
    channels: 3,
    layout: 'NCHW',
    crop: 'none',
    resize: 'bilinear',
    intensity: { method: 'dicom-window' },
    normalization: {
      ...IMAGENET_NORMALIZATION,
      mean: [...IMAGENET_NORMALIZATION.mean],
      std: [...IMAGENET_NORMALIZATION.std],
    },
  },
  accept: null,
};

/** The dcmtk tool that decodes a transfer syntax, with the arguments that make it write native. */
function dcmtkTool(ts: string): { tool: string; args: string[] } | undefined {
  switch (ts) {
    case TransferSyntax.ImplicitVRLittleEndian:
    case TransferSyntax.ExplicitVRLittleEndian:
    case TransferSyntax.ExplicitVRBigEndian:
    case TransferSyntax.DeflatedExplicitVRLittleEndian:
      return { tool: 'dcmconv', args: ['+te'] };
    case TransferSyntax.JpegBaseline8Bit:
    case TransferSyntax.JpegExtended12Bit:
    case TransferSyntax.JpegLossless:
    case TransferSyntax.JpegLosslessSV1:
      return { tool: 'dcmdjpeg', args: [] };
    case TransferSyntax.JpegLsLossless:
    case TransferSyntax.JpegLsNearLossless:
      return { tool: 'dcmdjpls', args: [] };
    case TransferSyntax.RleLossless:
      return { tool: 'dcmdrle', args: [] };
    default:
      return undefined; // dcmtk has no JPEG 2000 / HTJ2K decoder
  }
}

interface Target {
  readonly name: string;
  readonly fixture: string;
  readonly maxRatio: number;
}

// From the issue: lossless JPEG within 2x of dcmtk; uncompressed, RLE and deflate within 1.5x.
const TARGETS: readonly Target[] = [
  { name: 'JPEG lossless SV1 within 2x of dcmdjpeg', fixture: 'jpeg-lossless-sv1', maxRatio: 2 },
  { name: 'explicit VR LE within 1.5x of dcmconv', fixture: 'explicit-le', maxRatio: 1.5 },
  { name: 'implicit VR LE within 1.5x of dcmconv', fixture: 'implicit-le', maxRatio: 1.5 },
  { name: 'explicit VR BE within 1.5x of dcmconv', fixture: 'explicit-be', maxRatio: 1.5 },
  { name: 'deflate within 1.5x of dcmconv', fixture: 'deflated', maxRatio: 1.5 },
  { name: 'RLE within 1.5x of dcmdrle', fixture: 'rle', maxRatio: 1.5 },
];
const THROUGHPUT_TARGET = 1.7;

interface Row {
  readonly fixture: string;
  readonly transferSyntax: string;
  readonly bitsStored: number;
  readonly bytes: number;
  /** Set when our decoder failed on this file. */
  readonly error?: string;
  readonly decodeMs?: number;
  readonly preprocessMs?: number;
  readonly preprocessStagesMs?: { readonly decode: number; readonly lut: number; readonly resize: number };
  readonly dcmtk?: { readonly tool: string; readonly ms?: number; readonly error?: string };
  readonly gdcmMs?: number;
  readonly gdcmError?: string;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function timeRuns(runs: number, task: () => Promise<unknown>): Promise<number[]> {
  await task(); // warm-up: wasm compilation, lazy module loading, JIT
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await task();
    times.push(performance.now() - t0);
  }
  return times;
}

/** Median wall time of a whole native process; undefined with the error when it fails. */
function timeProcess(runs: number, tool: string, args: string[]): { ms?: number; error?: string } {
  const times: number[] = [];
  for (let i = 0; i < runs + 1; i++) {
    const t0 = performance.now();
    const result = spawnSync(tool, args, { encoding: 'utf8' });
    const elapsed = performance.now() - t0;
    if (result.error !== undefined) return { error: result.error.message };
    if (result.status !== 0)
      return { error: `${tool} exited ${result.status}: ${result.stderr.split('\n')[0] ?? ''}` };
    if (i > 0) times.push(elapsed); // the first run warms the page cache
  }
  return { ms: median(times) };
}

function fmt(ms: number | undefined, digits?: number): string {
  if (ms === undefined) return '-';
  return ms.toFixed(digits ?? (Math.abs(ms) < 10 ? 1 : 0));
}

function ratio(ours: number | undefined, native: number | undefined): number | undefined {
  return ours === undefined || native === undefined ? undefined : ours / native;
}

function shortError(error: unknown): string {
  if (isDicomRejectedError(error)) return `${error.reason}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

async function throughput(
  threads: number,
  inputs: readonly Uint8Array[],
): Promise<{ threads: number; images: number; seconds: number; imagesPerSecond: number }> {
  // One libvips thread per pool thread in every configuration, so the 1-thread baseline is one
  // core's worth of work (by default a lone pool thread would resize on all cores).
  const pool = new DecodePool({ threads, vipsConcurrency: 1 });
  try {
    // One task per thread first, so worker start-up and codec initialisation are not timed.
    await Promise.all(
      Array.from({ length: threads }, (_, i) =>
        pool.decode(inputs[i % inputs.length]!, { output: PREPROCESS }),
      ),
    );
    const t0 = performance.now();
    await Promise.all(inputs.map((bytes) => pool.decode(bytes, { output: PREPROCESS })));
    const seconds = (performance.now() - t0) / 1000;
    return { threads, images: inputs.length, seconds, imagesPerSecond: inputs.length / seconds };
  } finally {
    await pool.close();
  }
}

// A pure-compute control in worker threads: how well this machine scales from 1 to 2 threads at
// this moment (a shared machine's second core is not always free). The pool is judged against it.
const CONTROL_WORKER = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', (n) => {
  let x = 0;
  for (let i = 0; i < n; i++) x = (x + Math.sqrt(i)) % 1e9;
  parentPort.postMessage(x);
});
`;

async function controlTasksPerSecond(threads: number, tasks: number): Promise<number> {
  const workers = Array.from({ length: threads }, () => new Worker(CONTROL_WORKER, { eval: true }));
  try {
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve) => {
            const take = (): void => {
              if (next++ >= tasks) {
                resolve();
                return;
              }
              worker.once('message', take);
              worker.postMessage(1e8);
            };
            take();
          }),
      ),
    );
    return tasks / ((performance.now() - t0) / 1000);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** Runs the decode benchmark; see the file comment for arguments. */
export async function run(args: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      runs: { type: 'string', default: '5' },
      images: { type: 'string', default: '16' },
      threads: { type: 'string', default: '1,2' },
      rounds: { type: 'string', default: '2' },
    },
  });
  const runs = Number(values.runs);
  const images = Number(values.images);
  const threadCounts = values.threads.split(',').map(Number);
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be a positive integer');
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a positive integer');
  if (!Number.isInteger(images) || images < 1) throw new Error('--images must be a positive integer');
  if (threadCounts.some((n) => !Number.isInteger(n) || n < 1))
    throw new Error('--threads must list positive integers');

  mkdirSync(OUT_DIR, { recursive: true });
  process.stderr.write('bench decode: preparing the 2048x2500 set (cached in bench/out/fixtures)...\n');
  const set = await generateBenchSet(join(OUT_DIR, 'fixtures'));
  const fixtures = set.fixtures.filter((f): f is DecodeFixture => f.kind === 'decode');
  const temp = mkdtempSync(join(tmpdir(), 'cxr-bench-decode-'));
  const rows: Row[] = [];
  try {
    const loadBefore = loadavg()[0]!;
    const startup = timeProcess(runs, 'dcmdjpeg', ['--version']);
    for (const fixture of fixtures) {
      process.stderr.write(`bench decode: ${fixture.name}\n`);
      const bytes = new Uint8Array(readFileSync(fixture.path));
      const base = {
        fixture: fixture.name,
        transferSyntax: fixture.transferSyntaxUid,
        bitsStored: fixture.expected.bitsStored,
        bytes: bytes.byteLength,
      };
      const nativeOut = join(temp, 'out.dcm');
      const tool = dcmtkTool(fixture.transferSyntaxUid);
      const dcmtk =
        tool === undefined
          ? undefined
          : { tool: tool.tool, ...timeProcess(runs, tool.tool, [...tool.args, fixture.path, nativeOut]) };
      const gdcm = timeProcess(runs, 'gdcmconv', ['--raw', fixture.path, nativeOut]);
      const natives = {
        ...(dcmtk === undefined ? {} : { dcmtk }),
        ...(gdcm.ms === undefined ? {} : { gdcmMs: gdcm.ms }),
        ...(gdcm.error === undefined ? {} : { gdcmError: gdcm.error }),
      };
      try {
        const decodeTimes = await timeRuns(runs, () => runDecodeTask(bytes, { output: 'stored' }));
        const stages: { decode: number; lut: number; resize: number }[] = [];
        const preprocessTimes = await timeRuns(runs, async () => {
          const result = await runDecodeTask(bytes, { output: PREPROCESS });
          stages.push({
            decode: result.timings.decodeMs,
            lut: result.timings.lutMs,
            resize: result.timings.resizeMs,
          });
        });
        stages.shift(); // the warm-up
        rows.push({
          ...base,
          ...natives,
          decodeMs: median(decodeTimes),
          preprocessMs: median(preprocessTimes),
          preprocessStagesMs: {
            decode: median(stages.map((s) => s.decode)),
            lut: median(stages.map((s) => s.lut)),
            resize: median(stages.map((s) => s.resize)),
          },
        });
      } catch (error) {
        rows.push({ ...base, ...natives, error: shortError(error) });
      }
    }

    // Pool throughput on a mixed set: every lossless 12-bit syntax we decode, cycled to `images`.
    // JPEG 2000 is left out: at over a second per image it would make the mix its own benchmark.
    const mix = rows.filter(
      (r) =>
        r.error === undefined &&
        r.bitsStored === 12 &&
        fixtures.find((f) => f.name === r.fixture)?.lossless === true &&
        r.transferSyntax !== TransferSyntax.Jpeg2000Lossless,
    );
    const throughputs: Awaited<ReturnType<typeof throughput>>[] = [];
    let control: number | undefined;
    if (mix.length > 0) {
      const inputs = Array.from({ length: images }, (_, i) => {
        const name = mix[i % mix.length]!.fixture;
        return new Uint8Array(readFileSync(fixtures.find((f) => f.name === name)!.path));
      });
      // Thread counts alternate round by round and the best round counts: on a shared machine
      // other load only ever slows a round down, so the fastest is the least disturbed.
      const best = new Map<number, Awaited<ReturnType<typeof throughput>>>();
      for (let round = 0; round < rounds; round++) {
        for (const threads of threadCounts) {
          process.stderr.write(
            `bench decode: pool throughput, ${threads} thread(s), round ${round + 1}/${rounds}\n`,
          );
          const result = await throughput(threads, inputs);
          const previous = best.get(threads);
          if (previous === undefined || result.imagesPerSecond > previous.imagesPerSecond)
            best.set(threads, result);
        }
      }
      throughputs.push(...best.values());
      process.stderr.write('bench decode: compute-only control, 1 and 2 threads\n');
      const controlRates = { one: 0, two: 0 };
      for (let round = 0; round < rounds; round++) {
        controlRates.one = Math.max(controlRates.one, await controlTasksPerSecond(1, 8));
        controlRates.two = Math.max(controlRates.two, await controlTasksPerSecond(2, 8));
      }
      control = controlRates.two / controlRates.one;
    }

    const targets = TARGETS.map((t) => {
      const row = rows.find((r) => r.fixture === t.fixture);
      const r = ratio(row?.decodeMs, row?.dcmtk?.ms);
      return { name: t.name, ratio: r, met: r !== undefined && r <= t.maxRatio };
    });
    const one = throughputs.find((t) => t.threads === 1);
    const two = throughputs.find((t) => t.threads === 2);
    const scaling =
      one !== undefined && two !== undefined ? two.imagesPerSecond / one.imagesPerSecond : undefined;
    const allTargets = [
      ...targets,
      {
        name: `pool at 2 threads >= ${THROUGHPUT_TARGET}x of 1 thread`,
        ratio: scaling,
        met: scaling !== undefined && scaling >= THROUGHPUT_TARGET,
      },
    ];

    const load = { before: loadBefore, after: loadavg()[0]! };
    const report = renderMarkdown(
      rows,
      throughputs,
      allTargets,
      runs,
      startup.ms,
      mix.map((r) => r.fixture),
      load,
      control,
    );
    process.stdout.write(report);
    const json = {
      date: new Date().toISOString(),
      machine: { cpus: availableParallelism(), model: cpus()[0]?.model ?? 'unknown', node: process.version },
      loadAverage1m: load,
      runs,
      nativeProcessStartupMs: startup.ms,
      rows,
      throughput: {
        mix: mix.map((r) => r.fixture),
        results: throughputs,
        scaling2vs1: scaling,
        computeOnlyControlScaling2vs1: control,
      },
      targets: allTargets,
    };
    writeFileSync(join(OUT_DIR, 'decode.json'), `${JSON.stringify(json, null, 2)}\n`);
    process.stderr.write(`bench decode: wrote ${join(OUT_DIR, 'decode.json')}\n`);
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
}

function renderMarkdown(
  rows: readonly Row[],
  throughputs: readonly { threads: number; images: number; seconds: number; imagesPerSecond: number }[],
  targets: readonly { name: string; ratio: number | undefined; met: boolean }[],
  runs: number,
  startupMs: number | undefined,
  mix: readonly string[],
  load: { readonly before: number; readonly after: number },
  control: number | undefined,
): string {
  const lines: string[] = [];
  lines.push(`## Decode, 2048x2500 CR (median of ${runs} runs, ms)`, '');
  const cores = availableParallelism();
  lines.push(
    `Machine: ${cores} cores, 1-minute load average ${load.before.toFixed(1)} before and ${load.after.toFixed(1)} after` +
      (Math.max(load.before, load.after) > cores ? ' (busy: other processes competed for the cores).' : '.'),
    '',
  );
  lines.push(
    '| file | transfer syntax | ours decode | ours decode+preprocess to the 512x512x3 model input (decode/intensity/resize) | dcmtk tool | dcmtk | ours/dcmtk | gdcmconv --raw | ours/gdcm |',
    '|---|---|---:|---|---|---:|---:|---:|---:|',
  );
  for (const r of rows) {
    // The manifest may hold a syntax we have no name for (that row then also fails to decode).
    const names: Partial<Record<string, string>> = TRANSFER_SYNTAX_NAMES;
    const tsName = names[r.transferSyntax] ?? r.transferSyntax;
    const stages =
      r.preprocessStagesMs === undefined
        ? ''
        : ` (${fmt(r.preprocessStagesMs.decode)}/${fmt(r.preprocessStagesMs.lut)}/${fmt(r.preprocessStagesMs.resize)})`;
    const ours = r.error === undefined ? fmt(r.decodeMs) : `fails: ${r.error.slice(0, 60)}`;
    const dcmtkMs = r.dcmtk === undefined ? '-' : r.dcmtk.error === undefined ? fmt(r.dcmtk.ms) : 'fails';
    const gdcm = r.gdcmError === undefined ? fmt(r.gdcmMs) : 'fails';
    lines.push(
      `| ${r.fixture} (${r.bitsStored}-bit) | ${tsName} | ${ours} | ${r.error === undefined ? `${fmt(r.preprocessMs)}${stages}` : '-'} | ${r.dcmtk?.tool ?? '-'} | ${dcmtkMs} | ${fmt(ratio(r.decodeMs, r.dcmtk?.ms), 2)} | ${gdcm} | ${fmt(ratio(r.decodeMs, r.gdcmMs), 2)} |`,
    );
  }
  lines.push(
    '',
    `Native times are whole processes writing a temp file; process start-up alone (dcmdjpeg --version): ${fmt(startupMs, 1)} ms.`,
  );
  if (throughputs.length > 0) {
    lines.push(
      '',
      `## DecodePool throughput (decode + preprocess to the 512x512x3 model input, ${throughputs[0]!.images} images: ${mix.join(', ')}; best round, 1 libvips thread per pool thread)`,
      '',
    );
    lines.push('| threads | seconds | images/s | vs 1 thread |', '|---:|---:|---:|---:|');
    const base = throughputs.find((t) => t.threads === 1)?.imagesPerSecond;
    for (const t of throughputs) {
      lines.push(
        `| ${t.threads} | ${t.seconds.toFixed(2)} | ${t.imagesPerSecond.toFixed(2)} | ${fmt(ratio(t.imagesPerSecond, base), 2)} |`,
      );
    }
    lines.push(
      '',
      `Compute-only control (pure JS loop in worker threads, same run): 2 threads = ${fmt(control, 2)}x of 1 thread.`,
    );
  }
  lines.push('', '## Targets', '', '| target | measured ratio | met |', '|---|---:|---|');
  for (const t of targets)
    lines.push(
      `| ${t.name} | ${fmt(t.ratio, 2)} | ${t.ratio === undefined ? 'n/a' : t.met ? 'yes' : 'NO'} |`,
    );
  lines.push('');
  return `${lines.join('\n')}\n`;
}
