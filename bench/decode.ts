/**
 * `pnpm build && pnpm bench decode [--rounds 5] [--warmup 100] [--only name,...] [--images 16] [--threads 1,2] [--pool-rounds 2]`
 *
 * Decode speed of a 2048x2500 12-bit CR in every transfer syntax, as alternating pairs in one run:
 * for each file, a pass of rounds alternating our preprocess with the seed's recipe, then a pass
 * alternating the other columns (each round times each column once, the order reversed every
 * other round), each after its warm-up (every column once, then each of ours up to `--warmup`
 * times in all or 3 s); each ratio is taken per round, then its median and spread (min-max).
 * Columns:
 * - ours: read the file + decode to stored values (`runDecodeTask` 'stored');
 * - ours preprocess: read the file + decode + preprocess to the seed model's 512x512x3 input,
 *   with the manifest default `decodeResolution: 'auto'`, and again with 'full' (the reference
 *   path); one thread (libvips limited to 1 thread);
 *   each of the three in a small persistent Node process of its own
 *   (bench/lib/decode-ours-peer.ts) running the compiled packages (`pnpm build` first), as the
 *   seed's recipe runs in a small python process, not in this one;
 * - seed: the seed's Python recipe (bench/decode_peer.py: pydicom + min-max + PIL resize to 512),
 *   timed from reading the file inside a persistent python process, one thread; skipped with a
 *   note when python3-pydicom / python3-pil are absent;
 * - dcmtk / gdcm: whole processes (start, read, decode, write a temp file) spawned from that
 *   small python process, not from this ~430 MB Node process (which adds 25-50 ms per spawn).
 * Plus DecodePool throughput by thread count. Targets are reported, never enforced: the
 * process exits 0 either way.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createInterface, type Interface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';

import { TransferSyntax, TRANSFER_SYNTAX_NAMES } from '@cxr/dicom';
import { DecodePool, setResizeConcurrency } from '@cxr/imaging';

import { generateBenchSet, type DecodeFixture } from '@cxr/fixtures';
import type { OursAnswer } from './lib/decode-ours-peer.js';
import { PREPROCESS } from './lib/seed-input.js';

const OUT_DIR = join(dirname(fileURLToPath(import.meta.url)), 'out');
const PEER = join(dirname(fileURLToPath(import.meta.url)), 'decode_peer.py');
const OURS_PEER = join(dirname(fileURLToPath(import.meta.url)), 'lib', 'decode-ours-peer.ts');
const COMPILED_IMAGING = fileURLToPath(new URL('../packages/imaging/dist/index.js', import.meta.url));
// Debian's python3, where python3-pydicom, python3-gdcm and python3-pil install (not a pyenv shim).
const PYTHON = process.env.CXR_BENCH_PYTHON ?? '/usr/bin/python3';

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

/** The issue-16 target: decode + preprocess at most 0.67x the seed recipe's time, every syntax. */
const SEED_TARGET = 0.67;
// Older targets, against dcmtk's whole processes: lossless JPEG within 2x, the rest within 1.5x.
const DCMTK_TARGETS: readonly { readonly fixture: string; readonly maxRatio: number }[] = [
  { fixture: 'jpeg-lossless-sv1', maxRatio: 2 },
  { fixture: 'explicit-le', maxRatio: 1.5 },
  { fixture: 'implicit-le', maxRatio: 1.5 },
  { fixture: 'explicit-be', maxRatio: 1.5 },
  { fixture: 'deflated', maxRatio: 1.5 },
  { fixture: 'rle', maxRatio: 1.5 },
];
const THROUGHPUT_TARGET = 1.7;

/** Median and spread of one column over the rounds. */
interface Stat {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

type Column = 'ours' | 'oursPreprocess' | 'oursPreprocessFull' | 'seed' | 'dcmtk' | 'gdcm';
const COLUMNS: readonly Column[] = ['ours', 'oursPreprocess', 'oursPreprocessFull', 'seed', 'dcmtk', 'gdcm'];
const OURS_COLUMNS: readonly Column[] = ['ours', 'oursPreprocess', 'oursPreprocessFull'];
/** Time each of our columns may spend warming up at most (see measureFixture). */
const WARMUP_MS = 3000;
/** The columns each pass alternates (see measureFixture). */
const PASSES: readonly (readonly Column[])[] = [
  ['oursPreprocess', 'seed'],
  ['ours', 'oursPreprocessFull', 'dcmtk', 'gdcm'],
];

interface Row {
  readonly fixture: string;
  readonly transferSyntax: string;
  readonly bitsStored: number;
  readonly bytes: number;
  readonly dcmtkTool?: string;
  /** Milliseconds per column, one value per round. */
  readonly times: Partial<Record<Column, number[]>>;
  /**
   * CPU milliseconds per round of the preprocess columns and the seed recipe: the process's
   * CPU time (every thread) over the task, process.cpuUsage here, time.process_time in python.
   * Unlike wall time it does not count the time another process held the core.
   */
  readonly cpu: Partial<Record<Column, number[]>>;
  /** Why a column has no times (first error seen). */
  readonly errors: Partial<Record<Column, string>>;
  readonly stats: Partial<Record<Column, Stat>>;
  /** Per-round ratios: preprocess / seed ('auto' and 'full'), decode / dcmtk, decode / gdcm. */
  readonly ratios: {
    readonly seed?: Stat;
    /** Per-round CPU time ratio, preprocess ('auto') / seed. */
    readonly seedCpu?: Stat;
    readonly seedFull?: Stat;
    readonly dcmtk?: Stat;
    readonly gdcm?: Stat;
  };
  /** Our preprocess stages in the last round: decode / intensity / resize ms. */
  readonly stages?: { readonly decode: number; readonly lut: number; readonly resize: number };
  /** The reduced resolution level 'auto' decoded (JPEG 2000 / HTJ2K): each side 1 / 2^level. */
  readonly resolutionLevel?: number;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function stat(values: readonly number[] | undefined): Stat | undefined {
  if (values === undefined || values.length === 0) return undefined;
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), n: values.length };
}

/** Per-round ratios a[i] / b[i] over the rounds where both columns have a time. */
function pairedRatios(a: readonly number[] | undefined, b: readonly number[] | undefined): Stat | undefined {
  if (a === undefined || b === undefined) return undefined;
  const ratios: number[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) ratios.push(a[i]! / b[i]!);
  return stat(ratios);
}

/**
 * A small helper process answering one JSON line per request line, one request at a time: the
 * python peer (bench/decode_peer.py: the seed's recipe and native tools) and ours
 * (bench/lib/decode-ours-peer.ts).
 */
class Peer {
  private readonly child: ChildProcessByStdio<Writable, Readable, null>;
  private readonly lines: Interface;
  private readonly pending: ((line: string | undefined) => void)[] = [];
  private readonly buffered: string[] = [];
  private closed = false;

  constructor(
    command: string,
    args: readonly string[],
    private readonly label: string,
    stderr: 'ignore' | 'inherit',
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', stderr], env });
    this.child.on('error', () => {
      this.finish();
    });
    this.child.on('exit', () => {
      this.finish();
    });
    this.lines = createInterface({ input: this.child.stdout });
    this.lines.on('line', (line) => {
      const waiter = this.pending.shift();
      if (waiter === undefined) this.buffered.push(line);
      else waiter(line);
    });
  }

  private finish(): void {
    this.closed = true;
    for (const waiter of this.pending.splice(0)) waiter(undefined);
  }

  /** The next line the helper wrote, undefined once it has exited. */
  next(): Promise<string | undefined> {
    const line = this.buffered.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => this.pending.push(resolve));
  }

  /** One request and its answer line; ours and the python peer answer in the same shape. */
  async request(body: object): Promise<OursAnswer> {
    if (this.closed) return { error: `the ${this.label} helper exited` };
    this.child.stdin.write(`${JSON.stringify(body)}\n`);
    const line = await this.next();
    if (line === undefined) return { error: `the ${this.label} helper exited` };
    return JSON.parse(line) as OursAnswer;
  }

  close(): void {
    this.child.stdin.end();
  }
}

/**
 * Our three columns, each in a process of its own: a decode thread of the worker runs one kind of
 * task over and over, and mixing them in one process slowed 'preprocess' by about 30 % (the
 * other tasks' garbage and freshly allocated frames; explicit VR LE, steady state: a median of
 * about 19 ms alone, 25 ms between 'stored' and 'full' tasks).
 */
type OursPeers = Record<'stored' | 'preprocess' | 'full', Peer>;

function startOursPeers(): OursPeers {
  if (!existsSync(COMPILED_IMAGING)) {
    throw new Error(
      'bench decode: packages/imaging/dist is missing: run `pnpm build` first (ours runs compiled)',
    );
  }
  // The compiled packages, as production runs them: without the @cxr/source condition this
  // process runs under (tsx and TypeScript sources; only the peer's own file goes through tsx).
  // Under the tsx command line's loader the same tasks took about 30 % longer (explicit VR LE as
  // a pair with the recipe: 23-25 ms against 17-18 ms compiled).
  const env = {
    ...process.env,
    NODE_OPTIONS: (process.env.NODE_OPTIONS ?? '').replace('--conditions=@cxr/source', '').trim(),
  };
  const start = (output: string): Peer =>
    new Peer(process.execPath, ['--import', 'tsx/esm', OURS_PEER], `ours ${output}`, 'inherit', env);
  return { stored: start('stored'), preprocess: start('preprocess'), full: start('full') };
}

/** The python peer's first line: whether the recipe's python modules import. */
async function pythonReady(peer: Peer): Promise<{ recipe: boolean; note?: string }> {
  const line = await peer.next();
  if (line === undefined) return { recipe: false, note: `${PYTHON} ${PEER} did not start` };
  const ready = JSON.parse(line) as { recipe: boolean; missing?: string };
  return ready.recipe
    ? { recipe: true }
    : {
        recipe: false,
        note: `python module ${ready.missing ?? '?'} is missing (Debian python3-pydicom, python3-gdcm, python3-pil)`,
      };
}

function fmt(ms: number | undefined, digits?: number): string {
  if (ms === undefined) return '-';
  return ms.toFixed(digits ?? (Math.abs(ms) < 10 ? 1 : 0));
}

function ratio(ours: number | undefined, native: number | undefined): number | undefined {
  return ours === undefined || native === undefined ? undefined : ours / native;
}

/** median [min-max] of a Stat. */
function fmtStat(s: Stat | undefined, digits?: number): string {
  if (s === undefined) return '-';
  return `${fmt(s.median, digits)} [${fmt(s.min, digits)}-${fmt(s.max, digits)}]`;
}

/** The peers answer a failed task with its reason and message already. */
function shortError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** One file's alternating rounds; see the file comment. */
async function measureFixture(
  fixture: DecodeFixture,
  rounds: number,
  warmup: number,
  peer: Peer,
  ours: OursPeers,
  recipe: boolean,
  nativeOut: string,
): Promise<Row> {
  const tool = dcmtkTool(fixture.transferSyntaxUid);
  const times: Partial<Record<Column, number[]>> = {};
  const cpu: Partial<Record<Column, number[]>> = {};
  const errors: Partial<Record<Column, string>> = {};
  let stages: Row['stages'];
  let resolutionLevel: number | undefined;
  // Each task's wall time, and its CPU time where the column records one.
  type Timed = { readonly ms: number; readonly cpuMs?: number };
  const ourTask = async (output: 'stored' | 'preprocess' | 'full'): Promise<Timed> => {
    const answer = await ours[output].request({ path: fixture.path, output });
    const { ms, cpuMs } = answer;
    if (ms === undefined) throw new Error(answer.error ?? 'no answer');
    if (output === 'preprocess') {
      stages = answer.stages;
      resolutionLevel = answer.resolutionLevel;
    }
    return output === 'stored' || cpuMs === undefined ? { ms } : { ms, cpuMs };
  };
  const run: Record<Column, (() => Promise<Timed>) | undefined> = {
    ours: () => ourTask('stored'),
    oursPreprocess: () => ourTask('preprocess'),
    oursPreprocessFull: () => ourTask('full'),
    seed: recipe
      ? async () => {
          const answer = await peer.request({ recipe: fixture.path });
          if (answer.ms === undefined) throw new Error(answer.error ?? 'no answer');
          return answer.cpuMs === undefined ? { ms: answer.ms } : { ms: answer.ms, cpuMs: answer.cpuMs };
        }
      : undefined,
    dcmtk:
      tool === undefined
        ? undefined
        : async () => {
            const answer = await peer.request({ native: [tool.tool, ...tool.args, fixture.path, nativeOut] });
            if (answer.ms === undefined) throw new Error(answer.error ?? 'no answer');
            return { ms: answer.ms };
          },
    gdcm: async () => {
      const answer = await peer.request({ native: ['gdcmconv', '--raw', fixture.path, nativeOut] });
      if (answer.ms === undefined) throw new Error(answer.error ?? 'no answer');
      return { ms: answer.ms };
    },
  };
  const attempt = async (column: Column): Promise<Timed | undefined> => {
    const task = run[column];
    if (task === undefined || errors[column] !== undefined) return undefined;
    try {
      return await task();
    } catch (error) {
      errors[column] = shortError(error).slice(0, 120);
      return undefined;
    }
  };
  // Two passes of alternating rounds: our preprocess against the seed's recipe alone, then the
  // other columns. The native tools' and the full-resolution path's big allocations and temp
  // files slowed whatever ran next by about 30 % (both sides: explicit VR BE, ours 19-21 ms and
  // the recipe 37-39 ms as a pair, 20-36 and 39-57 ms with the full path between them).
  // Each pass starts with its warm-up, not recorded: every column once (page cache, python
  // imports, wasm compilation), then each of ours until it has run `warmup` times or for
  // WARMUP_MS: our first calls in a fresh process are slow (explicit VR LE, 2026-12-07: 34-110 ms
  // for each of the first six, and some processes stayed at 28 ms for 30-odd calls before
  // settling at 17-20 ms; with 30 calls of warm-up the first file of a run came out at 0.66-0.79
  // of the recipe, with 80 at 0.53). A worker screening an archive runs at that steady state.
  for (const pass of PASSES) {
    for (const column of pass) await attempt(column);
    for (const column of pass) {
      if (!OURS_COLUMNS.includes(column)) continue;
      const started = performance.now();
      for (let i = 1; i < warmup && performance.now() - started < WARMUP_MS; i++) await attempt(column);
    }
    for (let round = 1; round <= rounds; round++) {
      const order = round % 2 === 0 ? pass : [...pass].reverse();
      for (const column of order) {
        const timed = await attempt(column);
        if (timed === undefined) continue;
        (times[column] ??= []).push(timed.ms);
        if (timed.cpuMs !== undefined) (cpu[column] ??= []).push(timed.cpuMs);
      }
    }
  }
  // A column that failed in any round reports its error, not the rounds before it.
  const kept = (column: Column): number[] | undefined =>
    errors[column] === undefined ? times[column] : undefined;
  const stats: Partial<Record<Column, Stat>> = {};
  for (const column of COLUMNS) {
    const s = stat(kept(column));
    if (s !== undefined) stats[column] = s;
  }
  const seed = pairedRatios(kept('oursPreprocess'), kept('seed'));
  const keptCpu = (column: Column): number[] | undefined =>
    errors[column] === undefined ? cpu[column] : undefined;
  const seedCpu = pairedRatios(keptCpu('oursPreprocess'), keptCpu('seed'));
  // Round i of the second pass against round i of the first.
  const seedFull = pairedRatios(kept('oursPreprocessFull'), kept('seed'));
  const dcmtk = pairedRatios(kept('ours'), kept('dcmtk'));
  const gdcm = pairedRatios(kept('ours'), kept('gdcm'));
  return {
    fixture: fixture.name,
    transferSyntax: fixture.transferSyntaxUid,
    bitsStored: fixture.expected.bitsStored,
    bytes: readFileSync(fixture.path).byteLength,
    ...(tool === undefined ? {} : { dcmtkTool: tool.tool }),
    times,
    cpu,
    errors,
    stats,
    ratios: {
      ...(seed === undefined ? {} : { seed }),
      ...(seedCpu === undefined ? {} : { seedCpu }),
      ...(seedFull === undefined ? {} : { seedFull }),
      ...(dcmtk === undefined ? {} : { dcmtk }),
      ...(gdcm === undefined ? {} : { gdcm }),
    },
    ...(stages === undefined ? {} : { stages }),
    ...(resolutionLevel === undefined ? {} : { resolutionLevel }),
  };
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
      rounds: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '100' },
      only: { type: 'string' },
      images: { type: 'string', default: '16' },
      threads: { type: 'string', default: '1,2' },
      'pool-rounds': { type: 'string', default: '2' },
    },
  });
  const rounds = Number(values.rounds);
  const warmup = Number(values.warmup);
  const images = Number(values.images);
  const threadCounts = values.threads === '' ? [] : values.threads.split(',').map(Number);
  const poolRounds = Number(values['pool-rounds']);
  const only = values.only?.split(',');
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be a positive integer');
  if (!Number.isInteger(warmup) || warmup < 1) throw new Error('--warmup must be a positive integer');
  if (!Number.isInteger(poolRounds) || poolRounds < 1)
    throw new Error('--pool-rounds must be a positive integer');
  if (!Number.isInteger(images) || images < 1) throw new Error('--images must be a positive integer');
  if (threadCounts.some((n) => !Number.isInteger(n) || n < 1))
    throw new Error('--threads must list positive integers (or be empty: no pool throughput)');

  // One thread on our side, as on the seed's: libvips (sharp's resize) may not fan out.
  setResizeConcurrency(1);
  mkdirSync(OUT_DIR, { recursive: true });
  process.stderr.write('bench decode: preparing the 2048x2500 set (cached in bench/out/fixtures)...\n');
  const set = await generateBenchSet(join(OUT_DIR, 'fixtures'));
  const fixtures = set.fixtures
    .filter((f): f is DecodeFixture => f.kind === 'decode')
    .filter((f) => only === undefined || only.includes(f.name));
  const temp = mkdtempSync(join(tmpdir(), 'cxr-bench-decode-'));
  // gdcm prints warnings on stderr for some files; they are not ours to show.
  const peer = new Peer(PYTHON, [PEER], 'python', 'ignore');
  const ours = startOursPeers();
  const rows: Row[] = [];
  try {
    const ready = await pythonReady(peer);
    for (const one of Object.values(ours))
      if ((await one.next()) === undefined) throw new Error(`${OURS_PEER} did not start`);
    if (!ready.recipe) process.stderr.write(`bench decode: seed recipe skipped: ${ready.note ?? ''}\n`);
    const loadBefore = loadavg()[0]!;
    const startupTimes: number[] = [];
    for (let i = 0; i <= rounds; i++) {
      const answer = await peer.request({ native: ['dcmdjpeg', '--version'] });
      if (i > 0 && answer.ms !== undefined) startupTimes.push(answer.ms);
    }
    for (const fixture of fixtures) {
      process.stderr.write(`bench decode: ${fixture.name}, ${rounds} alternating rounds\n`);
      rows.push(
        await measureFixture(fixture, rounds, warmup, peer, ours, ready.recipe, join(temp, 'out.dcm')),
      );
    }

    // Pool throughput on a mixed set: every lossless 12-bit syntax, cycled to `images`.
    const mix = rows.filter(
      (r) =>
        r.errors.oursPreprocess === undefined &&
        r.bitsStored === 12 &&
        fixtures.find((f) => f.name === r.fixture)?.lossless === true,
    );
    const throughputs: Awaited<ReturnType<typeof throughput>>[] = [];
    let control: number | undefined;
    if (mix.length > 0 && threadCounts.length > 0) {
      const inputs = Array.from({ length: images }, (_, i) => {
        const name = mix[i % mix.length]!.fixture;
        return new Uint8Array(readFileSync(fixtures.find((f) => f.name === name)!.path));
      });
      // Thread counts alternate round by round and the best round counts: on a shared machine
      // other load only ever slows a round down, so the fastest is the least disturbed.
      const best = new Map<number, Awaited<ReturnType<typeof throughput>>>();
      for (let round = 0; round < poolRounds; round++) {
        for (const threads of threadCounts) {
          process.stderr.write(
            `bench decode: pool throughput, ${threads} thread(s), round ${round + 1}/${poolRounds}\n`,
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
      for (let round = 0; round < poolRounds; round++) {
        controlRates.one = Math.max(controlRates.one, await controlTasksPerSecond(1, 8));
        controlRates.two = Math.max(controlRates.two, await controlTasksPerSecond(2, 8));
      }
      control = controlRates.two / controlRates.one;
    }

    const names: Partial<Record<string, string>> = TRANSFER_SYNTAX_NAMES;
    const targets: { name: string; ratio: number | undefined; met: boolean }[] = [];
    for (const r of rows) {
      if (r.ratios.seed === undefined) continue;
      const m = r.ratios.seed.median;
      targets.push({
        name: `${r.fixture} (${names[r.transferSyntax] ?? r.transferSyntax}): decode + preprocess <= ${SEED_TARGET}x the seed recipe`,
        ratio: m,
        met: m <= SEED_TARGET,
      });
      if (r.ratios.seedCpu !== undefined) {
        const c = r.ratios.seedCpu.median;
        targets.push({
          name: `${r.fixture}: decode + preprocess CPU time <= ${SEED_TARGET}x the seed recipe's`,
          ratio: c,
          met: c <= SEED_TARGET,
        });
      }
    }
    for (const t of DCMTK_TARGETS) {
      const r = rows.find((row) => row.fixture === t.fixture)?.ratios.dcmtk?.median;
      if (r === undefined) continue;
      targets.push({
        name: `${t.fixture}: decode within ${t.maxRatio}x of dcmtk`,
        ratio: r,
        met: r <= t.maxRatio,
      });
    }
    const one = throughputs.find((t) => t.threads === 1);
    const two = throughputs.find((t) => t.threads === 2);
    const scaling =
      one !== undefined && two !== undefined ? two.imagesPerSecond / one.imagesPerSecond : undefined;
    if (scaling !== undefined) {
      targets.push({
        name: `pool at 2 threads >= ${THROUGHPUT_TARGET}x of 1 thread`,
        ratio: scaling,
        met: scaling >= THROUGHPUT_TARGET,
      });
    }

    const load = { before: loadBefore, after: loadavg()[0]! };
    const startup = stat(startupTimes);
    const report = renderMarkdown({
      rows,
      throughputs,
      targets,
      rounds,
      startup,
      mix: mix.map((r) => r.fixture),
      load,
      control,
      ...(ready.note === undefined ? {} : { seedNote: ready.note }),
    });
    process.stdout.write(report);
    const json = {
      date: new Date().toISOString(),
      machine: { cpus: availableParallelism(), model: cpus()[0]?.model ?? 'unknown', node: process.version },
      loadAverage1m: load,
      rounds,
      nativeProcessStartupMs: startup,
      seedRecipe: ready,
      rows,
      throughput: {
        mix: mix.map((r) => r.fixture),
        results: throughputs,
        scaling2vs1: scaling,
        computeOnlyControlScaling2vs1: control,
      },
      targets,
    };
    writeFileSync(join(OUT_DIR, 'decode.json'), `${JSON.stringify(json, null, 2)}\n`);
    process.stderr.write(`bench decode: wrote ${join(OUT_DIR, 'decode.json')}\n`);
  } finally {
    peer.close();
    for (const one of Object.values(ours)) one.close();
    rmSync(temp, { recursive: true, force: true });
  }
}

function renderMarkdown(report: {
  readonly rows: readonly Row[];
  readonly throughputs: readonly {
    threads: number;
    images: number;
    seconds: number;
    imagesPerSecond: number;
  }[];
  readonly targets: readonly { name: string; ratio: number | undefined; met: boolean }[];
  readonly rounds: number;
  readonly startup: Stat | undefined;
  readonly mix: readonly string[];
  readonly load: { readonly before: number; readonly after: number };
  readonly control: number | undefined;
  readonly seedNote?: string;
}): string {
  const { rows, throughputs, targets, rounds, startup, mix, load, control } = report;
  const lines: string[] = [];
  lines.push(
    `## Decode, 2048x2500 CR: median [min-max] of ${rounds} alternating rounds, ms; ratios per round`,
    '',
  );
  const cores = availableParallelism();
  lines.push(
    `Machine: ${cores} cores, 1-minute load average ${load.before.toFixed(1)} before and ${load.after.toFixed(1)} after` +
      (Math.max(load.before, load.after) > cores ? ' (busy: other processes competed for the cores).' : '.'),
    '',
  );
  if (report.seedNote !== undefined) lines.push(`Seed recipe column skipped: ${report.seedNote}.`, '');
  lines.push(
    '| file | transfer syntax | ours: read + decode + preprocess to 512x512x3 (decode/intensity/resize) | seed recipe (pydicom + PIL) | ours / seed | CPU ms, ours / seed | CPU ours / seed | ours, decodeResolution full | full / seed | ours: read + decode | dcmtk tool | dcmtk | decode / dcmtk | gdcmconv --raw | decode / gdcm |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  );
  const names: Partial<Record<string, string>> = TRANSFER_SYNTAX_NAMES;
  const cell = (r: Row, c: Column): string =>
    r.errors[c] !== undefined ? `fails: ${r.errors[c].slice(0, 50)}` : fmtStat(r.stats[c]);
  for (const r of rows) {
    const stages =
      (r.stages === undefined
        ? ''
        : ` (${fmt(r.stages.decode)}/${fmt(r.stages.lut)}/${fmt(r.stages.resize)})`) +
      (r.resolutionLevel === undefined ? '' : `, decoded at 1/${2 ** r.resolutionLevel}`);
    lines.push(
      `| ${r.fixture} (${r.bitsStored}-bit) | ${names[r.transferSyntax] ?? r.transferSyntax} | ${cell(r, 'oursPreprocess')}${stages} | ${cell(r, 'seed')} | ${fmtStat(r.ratios.seed, 2)} | ${fmt(stat(r.cpu.oursPreprocess)?.median)} / ${fmt(stat(r.cpu.seed)?.median)} | ${fmtStat(r.ratios.seedCpu, 2)} | ${cell(r, 'oursPreprocessFull')} | ${fmtStat(r.ratios.seedFull, 2)} | ${cell(r, 'ours')} | ${r.dcmtkTool ?? '-'} | ${r.dcmtkTool === undefined ? '-' : cell(r, 'dcmtk')} | ${fmtStat(r.ratios.dcmtk, 2)} | ${cell(r, 'gdcm')} | ${fmtStat(r.ratios.gdcm, 2)} |`,
    );
  }
  lines.push(
    '',
    `Native tools are whole processes writing a temp file, spawned from a small python process; start-up alone (dcmdjpeg --version): ${fmtStat(startup, 1)} ms.`,
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
  lines.push(
    '',
    '## Targets (median of the per-round ratios)',
    '',
    '| target | measured ratio | met |',
    '|---|---:|---|',
  );
  for (const t of targets)
    lines.push(
      `| ${t.name} | ${fmt(t.ratio, 2)} | ${t.ratio === undefined ? 'n/a' : t.met ? 'yes' : 'NO'} |`,
    );
  lines.push('');
  return `${lines.join('\n')}\n`;
}
