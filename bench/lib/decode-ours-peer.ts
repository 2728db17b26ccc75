/**
 * Our side of `pnpm bench decode` in a small process of its own, as the seed's recipe runs in a
 * small python process (bench/decode_peer.py): one file at a time, one thread (libvips limited to
 * one), timed from reading the file. Keeping these tasks out of the benchmark's own process keeps
 * that process's work (the other columns' garbage, its generated fixtures) out of their times.
 * Driven by bench/decode.ts with one JSON request per line on stdin and one JSON answer per line
 * on stdout. The first line is {"ready": true}. Then:
 * - {"path": file, "output": "stored" | "preprocess" | "full"}: read the file and decode it to
 *   stored values ('stored'), or decode and preprocess it to the seed model's 512x512x3 input with
 *   the manifest default decodeResolution 'auto' ('preprocess') or 'full' ('full');
 *   answers {"ms": wall ms, "cpuMs": this process's CPU ms, "stages": {...}, "resolutionLevel"?}
 *   or {"error": "<reason>: <message>"}.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { isDicomRejectedError } from '@cxr/dicom';
import { runDecodeTask, setResizeConcurrency, type DecodeOutput } from '@cxr/imaging';
import { PREPROCESS, PREPROCESS_FULL } from './seed-input.js';

const OUTPUTS: Record<string, DecodeOutput> = {
  stored: 'stored',
  preprocess: PREPROCESS,
  full: PREPROCESS_FULL,
};

/** One task's answer line. */
export interface OursAnswer {
  readonly ms?: number;
  readonly cpuMs?: number;
  readonly stages?: { readonly decode: number; readonly lut: number; readonly resize: number };
  readonly resolutionLevel?: number;
  readonly error?: string;
}

async function task(path: string, name: string): Promise<OursAnswer> {
  const output = OUTPUTS[name];
  if (output === undefined) return { error: `unknown output ${name}` };
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  // A Buffer is a Uint8Array: the file's bytes as read, no second copy.
  const result = await runDecodeTask(readFileSync(path), { output });
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return {
    ms,
    cpuMs: (c.user + c.system) / 1000,
    stages: { decode: result.timings.decodeMs, lut: result.timings.lutMs, resize: result.timings.resizeMs },
    ...(result.resolutionLevel === undefined ? {} : { resolutionLevel: result.resolutionLevel }),
  };
}

setResizeConcurrency(1);
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === '') continue;
  let answer: OursAnswer;
  try {
    const request = JSON.parse(line) as { path: string; output: string };
    answer = await task(request.path, request.output);
  } catch (error) {
    const text = isDicomRejectedError(error)
      ? `${error.reason}: ${error.message}`
      : error instanceof Error
        ? error.message
        : String(error);
    answer = { error: text.split('\n')[0]!.slice(0, 200) };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
