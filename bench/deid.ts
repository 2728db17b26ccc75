/**
 * `pnpm bench deid [--copies 200] [--rounds 5]`
 *
 * De-identification throughput on copies of real chest CR/DX files (public-dicom): ours against
 * dcmtk's `dcmodify` doing the same edits, in the same run, rounds alternating, medians.
 *
 * - ours, library: read, deidentifyObject, write, for every copy, in this process (no start-up).
 * - ours, command: the compiled `cxr deidentify COPIES --out DIR` as users run it, a whole process
 *   (start-up included; the start-up alone, `cxr deidentify --help`, is timed beside it).
 *   Needs `pnpm build`.
 * - dcmodify: a shell script of one `dcmodify -nb` per copy, timed as one `sh` process. Its edits
 *   are what our output differs from the input by (found by comparing the two, not timed): erase
 *   (-ea) what we removed, insert or overwrite (-i) what we replaced or added, -ep for private
 *   attributes. dcmodify only applies a list of edits: it has no profile table, walks no nested
 *   sequence for attributes to clean, and cannot derive consistent replacement UIDs (it is given
 *   ours, as values), and it edits in place (no new file name, no map).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { DataSet, Element } from 'dicom-parser';
import { parseDicomBytes } from '@cxr/dicom';
import { publicDicomPath } from '@cxr/dicom/testing';
import { DeidSession, deidentifyObject } from '@cxr/deid';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const OUT_DIR = join(BENCH_DIR, 'out');
const REPO = join(BENCH_DIR, '..');

/** Real chest radiographs with file meta (dcmodify then reads and writes them the same way). */
const SOURCES = [
  'philips_cr_rg1_j2ki.dcm',
  'siim_cr_jpegbaseline.dcm',
  'nih_dx_implicit.dcm',
  'fo_CR-ModalitySequenceLUT.dcm',
];

/** A fixed key: every round de-identifies the same way. */
const KEY = new Uint8Array(32).fill(7);

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * A copy of a file with a different SOP Instance UID of the same length (in the meta and the data
 * set), so that copies are distinct instances: the last 4 digits become `1000 + index`.
 */
function distinctCopy(bytes: Uint8Array, index: number): Uint8Array {
  const { dataSet } = parseDicomBytes(bytes);
  const uid = (dataSet.string('x00080018') ?? '').replace(/\0/g, '').trim();
  const last = uid.slice(uid.lastIndexOf('.') + 1);
  if (last.length < 4) throw new Error(`SOP Instance UID ${uid} has too short a last component`);
  const replacement = `${uid.slice(0, -4)}${String(1000 + index)}`;
  const copy = Buffer.from(bytes);
  const from = Buffer.from(uid, 'latin1');
  let found = 0;
  for (let at = copy.indexOf(from); at !== -1; at = copy.indexOf(from, at + 1)) {
    copy.write(replacement, at, 'latin1');
    found += 1;
  }
  if (found === 0) throw new Error('SOP Instance UID not found in the bytes');
  return new Uint8Array(copy);
}

const TEXT_VRS = new Set([
  'AE',
  'AS',
  'CS',
  'DA',
  'DS',
  'DT',
  'IS',
  'LO',
  'LT',
  'PN',
  'SH',
  'ST',
  'TM',
  'UC',
  'UI',
  'UR',
  'UT',
]);

function tagText(key: string): string {
  return `(${key.slice(1, 5)},${key.slice(5, 9)})`;
}

function value(dataSet: DataSet, element: Element): string {
  return Buffer.from(dataSet.byteArray.subarray(element.dataOffset, element.dataOffset + element.length))
    .toString('latin1')
    .replace(/[\0 ]+$/, '');
}

function same(a: DataSet, ea: Element, b: DataSet, eb: Element): boolean {
  if (ea.length !== eb.length) return false;
  return Buffer.from(a.byteArray.subarray(ea.dataOffset, ea.dataOffset + ea.length)).equals(
    Buffer.from(b.byteArray.subarray(eb.dataOffset, eb.dataOffset + eb.length)),
  );
}

/** `-i PATH[i].(tag)=value` for every value in the items of a sequence, at any depth. */
function insertItems(path: string, sequence: Element): string[] {
  const args: string[] = [];
  (sequence.items ?? []).forEach((item, index) => {
    for (const [key, element] of Object.entries(item.dataSet?.elements ?? {})) {
      if (key.startsWith('xfffe')) continue; // item delimiters, as dicom-parser lists them
      const at = `${path}[${index}].${tagText(key)}`;
      if (element.items !== undefined) args.push(...insertItems(at, element));
      else args.push('-i', `${at}=${value(item.dataSet!, element)}`);
    }
  });
  return args;
}

/** The dcmodify arguments that turn `input` into what we wrote (`output`). */
function dcmodifyEdits(input: Uint8Array, output: Uint8Array): string[] {
  const before = parseDicomBytes(input).dataSet;
  const after = parseDicomBytes(output).dataSet;
  const args = ['-ep'];
  for (const key of Object.keys(before.elements)) {
    const group = Number.parseInt(key.slice(1, 5), 16);
    if (group % 2 === 1) continue; // -ep
    if (after.elements[key] === undefined) args.push('-ea', tagText(key));
  }
  for (const [key, element] of Object.entries(after.elements)) {
    if (key === 'x7fe00010') continue;
    const old = before.elements[key];
    if (element.items !== undefined) {
      if (old !== undefined && old.items !== undefined && old.length === element.length) continue;
      if (old !== undefined) args.push('-ea', tagText(key));
      args.push(...insertItems(tagText(key), element));
      continue;
    }
    if (old !== undefined && same(before, old, after, element)) continue;
    const vr = element.vr ?? '';
    if (vr !== '' && !TEXT_VRS.has(vr))
      throw new Error(`${tagText(key)}: no dcmodify edit for a changed ${vr} value`);
    args.push('-i', `${tagText(key)}=${value(after, element)}`);
  }
  return args;
}

const shellQuote = (word: string): string => `'${word.replaceAll("'", "'\\''")}'`;

/** Wall time of one whole process, in ms; throws when it fails. */
function timeProcess(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): number {
  const t0 = performance.now();
  const result = spawnSync(command, args, { encoding: 'utf8', env, maxBuffer: 64 * 1024 * 1024 });
  const ms = performance.now() - t0;
  if (result.error !== undefined) throw new Error(`${command} could not run: ${result.error.message}`);
  if (result.status !== 0)
    throw new Error(`${command} exited ${result.status}: ${result.stderr.slice(0, 400)}`);
  return ms;
}

export async function run(args: readonly string[]): Promise<void> {
  await Promise.resolve();
  const { values } = parseArgs({
    args: [...args],
    options: { copies: { type: 'string', default: '200' }, rounds: { type: 'string', default: '5' } },
  });
  const copies = Number(values.copies);
  const rounds = Number(values.rounds);
  const work = join(OUT_DIR, 'deid');
  rmSync(work, { recursive: true, force: true });
  const pristine = join(work, 'copies');
  mkdirSync(pristine, { recursive: true });

  // Copies and the dcmodify script (untimed).
  const session = new DeidSession(KEY, { retain: [], clean: [] });
  const originals = SOURCES.map((name) => new Uint8Array(readFileSync(publicDicomPath(name))));
  const script = ['#!/bin/sh', 'set -e'];
  let bytesTotal = 0;
  for (let i = 0; i < copies; i++) {
    const copy = distinctCopy(originals[i % originals.length]!, i);
    const name = `copy-${String(i).padStart(5, '0')}.dcm`;
    writeFileSync(join(pristine, name), copy);
    bytesTotal += copy.length;
    const edits = dcmodifyEdits(copy, deidentifyObject(copy, session).bytes);
    script.push(['dcmodify', '-nb', '-q', ...edits, name].map(shellQuote).join(' '));
  }
  const scriptPath = join(work, 'dcmodify.sh');
  writeFileSync(scriptPath, `${script.join('\n')}\n`);

  const bin = join(REPO, 'services', 'cli', 'bin', 'cxr.js');
  if (!existsSync(join(REPO, 'services', 'cli', 'dist', 'main.js'))) {
    throw new Error('bench deid: services/cli/dist/main.js is missing: run `pnpm build` first');
  }
  // Without the `@cxr/source` condition `pnpm bench` puts in NODE_OPTIONS (it would load sources).
  const env = { ...process.env, NODE_OPTIONS: '', CXR_LOG_LEVEL: 'error' };
  const times = {
    library: [] as number[],
    command: [] as number[],
    startup: [] as number[],
    dcmodify: [] as number[],
  };

  const oursLibrary = (): void => {
    const out = join(work, 'library');
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out);
    const s = new DeidSession(KEY, { retain: [], clean: [] });
    const t0 = performance.now();
    for (const name of readdirSync(pristine)) {
      const result = deidentifyObject(readFileSync(join(pristine, name)), s);
      writeFileSync(join(out, result.fileName), result.bytes);
    }
    times.library.push(performance.now() - t0);
  };
  const oursCommand = (): void => {
    const out = join(work, 'command');
    rmSync(out, { recursive: true, force: true });
    times.command.push(timeProcess(process.execPath, [bin, 'deidentify', pristine, '--out', out], env));
    // What of that is start-up: the same process printing its help.
    times.startup.push(timeProcess(process.execPath, [bin, 'deidentify', '--help'], env));
  };
  const dcmodify = (): void => {
    const dir = join(work, 'dcmodify');
    rmSync(dir, { recursive: true, force: true });
    cpSync(pristine, dir, { recursive: true });
    times.dcmodify.push(timeProcess('sh', ['-c', `cd ${shellQuote(dir)} && sh ${shellQuote(scriptPath)}`]));
  };

  oursLibrary(); // warm-up: module loading, JIT, page cache
  for (let round = 0; round < rounds; round++) {
    const order =
      round % 2 === 0 ? [oursLibrary, oursCommand, dcmodify] : [dcmodify, oursCommand, oursLibrary];
    for (const step of order) step();
  }

  const perSecond = (ms: number): number => copies / (ms / 1000);
  const rows = [
    { what: 'ours, library (in this process)', ms: median(times.library) },
    { what: 'ours, `cxr deidentify` process (start-up included)', ms: median(times.command) },
    { what: 'dcmodify, one process per file (sh loop)', ms: median(times.dcmodify) },
  ];
  const startupMs = median(times.startup);
  const dcmodifyMs = median(times.dcmodify);
  const report = [
    `de-identification of ${copies} copies of ${SOURCES.length} real CR/DX files (${(bytesTotal / copies / 1024).toFixed(0)} KiB each on average), ${rounds} rounds, medians`,
    `machine: ${cpus().length} cores, load average ${loadavg()[0]!.toFixed(2)}`,
    '',
    '| run | s | instances/s | vs dcmodify |',
    '| --- | --: | --: | --: |',
    ...rows.map(
      (r) =>
        `| ${r.what} | ${(r.ms / 1000).toFixed(2)} | ${perSecond(r.ms).toFixed(0)} | ${(dcmodifyMs / r.ms).toFixed(1)}x |`,
    ),
    '',
    `start-up of the cxr process (\`cxr deidentify --help\`): ${(startupMs / 1000).toFixed(2)} s; ` +
      `the command without it: ${perSecond(median(times.command) - startupMs).toFixed(0)} instances/s`,
    '',
  ].join('\n');
  process.stdout.write(report);
  mkdirSync(OUT_DIR, { recursive: true });
  writeFileSync(
    join(OUT_DIR, 'deid.json'),
    `${JSON.stringify({ copies, rounds, loadavg: loadavg(), times, rows }, null, 2)}\n`,
  );
  process.stderr.write(`bench deid: wrote ${join(OUT_DIR, 'deid.json')}\n`);
}
