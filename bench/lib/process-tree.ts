/**
 * Peak resident memory of a child process and everything it starts, for the benches: Linux
 * /proc polling. Every `intervalMs` the tree under the root pid is walked
 * (/proc/PID/task/TID/children) and the VmRSS of its processes summed; the peak of that sum is
 * the tree's peak RSS. The kernel's own per-process peak (VmHWM, exact, between samples too) is
 * kept for each process seen, so a spike shorter than the interval still shows in `maxHwmBytes`.
 */
import { spawn, type SpawnOptions } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** What one measured process run gives. */
export interface MeasuredRun {
  readonly code: number | null;
  readonly stdout: string;
  /** The last 4,000 characters of stderr. */
  readonly stderr: string;
  /** Spawn to exit. */
  readonly wallSeconds: number;
  /** Largest sum of VmRSS over the process tree seen by one sample. */
  readonly peakTreeRssBytes: number;
  /** Largest VmHWM (kernel-tracked peak RSS) of any single process of the tree. */
  readonly maxHwmBytes: number;
  /** Distinct processes seen in the tree. */
  readonly processes: number;
  readonly samples: number;
}

/** Reads a `Name:   123 kB` line of /proc/PID/status in bytes; undefined when the process is gone. */
export function statusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return match?.[1] === undefined ? undefined : Number(match[1]) * 1024;
}

/** The pid and all its descendants that exist now (children of every thread). */
export function processTree(root: number): number[] {
  const seen: number[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    seen.push(pid);
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tasks) {
      let children = '';
      try {
        children = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const child of children.split(' ')) if (child.trim() !== '') stack.push(Number(child));
    }
  }
  return seen;
}

/** Spawns `command args`, samples its tree's RSS until it exits. */
export function runMeasured(
  command: string,
  args: readonly string[],
  options: SpawnOptions & { readonly intervalMs?: number } = {},
): Promise<MeasuredRun> {
  const { intervalMs = 25, ...spawnOptions } = options;
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { ...spawnOptions, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let peak = 0;
    let samples = 0;
    const hwm = new Map<number, number>();
    const sample = (): void => {
      if (child.pid === undefined) return;
      let sum = 0;
      for (const pid of processTree(child.pid)) {
        const rss = statusKiB(pid, 'VmRSS');
        if (rss === undefined) continue;
        sum += rss;
        hwm.set(pid, Math.max(hwm.get(pid) ?? 0, statusKiB(pid, 'VmHWM') ?? 0));
      }
      samples++;
      peak = Math.max(peak, sum);
    };
    const timer = setInterval(sample, intervalMs);
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    child.on('error', (error) => {
      clearInterval(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearInterval(timer);
      resolve({
        code,
        stdout,
        stderr,
        wallSeconds: (performance.now() - started) / 1000,
        peakTreeRssBytes: peak,
        maxHwmBytes: Math.max(0, ...hwm.values()),
        processes: hwm.size,
        samples,
      });
    });
  });
}
