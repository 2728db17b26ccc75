/**
 * `pnpm bench cli [--rounds 10] [--file siim_cr_jpegbaseline.dcm] [--size 224]`
 *
 * Start-up of the compiled `cxr` as users run it (`node services/cli/bin/cxr.js`: `pnpm build`
 * first) against a bare `node -e 0` in the same run: `cxr --help`, `cxr dicom inspect` on a real
 * chest CR from ../shared/data/public-dicom (CXR_PUBLIC_DICOM_DIR), and `cxr predict` on the same
 * CR with a seed bundle at `--size` pixels, whose own time split (`timings_ms` of `--json`:
 * start-up, loading the action's modules, model load, read and decode, preprocess, inference) is
 * reported too. Every command is a whole process, timed from spawn to exit; each round runs every
 * command once, in an order that rotates from round to round, after one warm-up run of each
 * (page cache). Medians and min-max; the issue's targets are reported, never enforced: the process
 * exits 0 either way.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { publicDicomPath } from '@cxr/dicom/testing';
import { median } from './lib/stats.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'services', 'cli', 'bin', 'cxr.js');
const OUT_DIR = join(ROOT, 'bench', 'out');

interface Case {
  readonly name: string;
  readonly args: readonly string[];
  /** The issue's target: at most this many times `node -e 0` (median against median). */
  readonly maxRatio?: number;
}

interface Run {
  readonly ms: number;
  readonly stdout: string;
}

function positiveInteger(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`bench cli: ${name} must be a positive integer, got ${value}`);
  return n;
}

// The children run as a user's shell would run them: without the tsx loader and the @cxr/source
// condition that `pnpm bench` puts in NODE_OPTIONS (they would make the compiled bin load sources).
const CHILD_ENV: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '' };

/** One whole process, timed from spawn to exit; fails on a non-zero exit with its first stderr line. */
function runProcess(args: readonly string[]): Run {
  const start = performance.now();
  const result = spawnSync(process.execPath, args, { env: CHILD_ENV, encoding: 'utf8', maxBuffer: 1 << 26 });
  const ms = performance.now() - start;
  if (result.error !== undefined) throw result.error;
  if (result.status !== 0) {
    const first = result.stderr.split('\n').find((line) => line.trim() !== '') ?? '';
    throw new Error(`bench cli: node ${args.join(' ')} exited ${result.status}: ${first}`);
  }
  return { ms, stdout: result.stdout };
}

/** A seed bundle at `size` px in bench/out (made once with `cxr model init`, reused after). */
function seedBundle(size: number): string {
  const dir = join(OUT_DIR, `cli-seed-${size}`);
  if (!existsSync(join(dir, 'manifest.json'))) {
    runProcess([BIN, 'model', 'init', '--size', String(size), '--out', dir]);
  }
  return dir;
}

function fmt(ms: number): string {
  return ms.toFixed(ms < 100 ? 1 : 0);
}

/** Runs the benchmark (synchronously: every timed process is spawned and awaited in turn). */
function measure(argv: readonly string[]): void {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      rounds: { type: 'string' },
      file: { type: 'string' },
      size: { type: 'string' },
    },
  });
  const rounds = positiveInteger(values.rounds, '--rounds', 10);
  const size = positiveInteger(values.size, '--size', 224);
  const file = publicDicomPath(values.file ?? 'siim_cr_jpegbaseline.dcm');
  if (!existsSync(join(ROOT, 'services', 'cli', 'dist', 'main.js'))) {
    throw new Error('bench cli: services/cli/dist/main.js is missing: run `pnpm build` first');
  }
  if (!existsSync(file)) throw new Error(`bench cli: ${file} not found (set CXR_PUBLIC_DICOM_DIR)`);
  mkdirSync(OUT_DIR, { recursive: true });
  const model = seedBundle(size);

  const cases: readonly Case[] = [
    { name: 'node -e 0', args: ['-e', '0'] },
    { name: 'cxr --help', args: [BIN, '--help'], maxRatio: 6 },
    { name: 'cxr dicom inspect', args: [BIN, 'dicom', 'inspect', file], maxRatio: 10 },
    { name: `cxr predict (${size} px)`, args: [BIN, 'predict', file, '--model', model, '--json'] },
  ];
  const times = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  const splits: Record<string, number>[] = [];
  for (const c of cases) runProcess(c.args); // warm-up: page cache, the file system's metadata
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < cases.length; k++) {
      const c = cases[(round + k) % cases.length]!;
      const result = runProcess(c.args);
      times.get(c.name)?.push(result.ms);
      if (c.name.startsWith('cxr predict')) {
        splits.push((JSON.parse(result.stdout) as { timings_ms: Record<string, number> }).timings_ms);
      }
    }
  }

  const load = loadavg().map((l) => l.toFixed(2));
  process.stdout.write(
    `bench cli: ${rounds} rounds, ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), load average ${load.join(' ')}\n` +
      `file ${file}, model ${model}\n\n`,
  );
  const baseline = median(times.get('node -e 0') ?? []);
  const rows = cases.map((c) => {
    const t = times.get(c.name) ?? [];
    const m = median(t);
    const ratio = m / baseline;
    const target =
      c.maxRatio === undefined ? '' : `<= ${c.maxRatio}x: ${ratio <= c.maxRatio ? 'met' : 'NOT met'}`;
    return { name: c.name, median: m, min: Math.min(...t), max: Math.max(...t), ratio, target };
  });
  process.stdout.write(
    `${'command'.padEnd(24)} ${'median ms'.padStart(10)} ${'min-max ms'.padStart(14)} ${'x node -e 0'.padStart(12)}  target\n`,
  );
  for (const r of rows) {
    process.stdout.write(
      `${r.name.padEnd(24)} ${fmt(r.median).padStart(10)} ${`${fmt(r.min)}-${fmt(r.max)}`.padStart(14)} ${r.ratio.toFixed(2).padStart(12)}  ${r.target}\n`,
    );
  }
  const stages = [...new Set(splits.flatMap((s) => Object.keys(s)))];
  const split = Object.fromEntries(stages.map((stage) => [stage, median(splits.map((s) => s[stage] ?? 0))]));
  process.stdout.write(
    `\ncxr predict time split, median ms: ${stages.map((stage) => `${stage} ${fmt(split[stage] ?? 0)}`).join(', ')}\n`,
  );
  const out = join(OUT_DIR, 'cli.json');
  writeFileSync(
    out,
    `${JSON.stringify({ date: new Date().toISOString(), rounds, loadavg: loadavg(), file, model, rows, times: Object.fromEntries(times), predictSplits: splits }, null, 2)}\n`,
  );
  process.stdout.write(`wrote ${out}\n`);
}

export function run(argv: readonly string[]): Promise<void> {
  try {
    measure(argv);
    return Promise.resolve();
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}
