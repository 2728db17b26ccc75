/** Runs the `cxr` command as a real process for the CLI tests. */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { expect, inject } from 'vitest';
import { CANARY_PATIENT_ID, CANARY_PATIENT_NAME, loadFixtureManifest, type FixtureSet } from '@cxr/fixtures';

const require = createRequire(import.meta.url);
const TSX_CLI = require.resolve('tsx/cli');
const MAIN = fileURLToPath(new URL('../main.ts', import.meta.url));

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CxrRunOptions {
  /** Extra environment variables. */
  readonly env?: Readonly<Record<string, string>>;
  /** Working directory (default: the test process's). */
  readonly cwd?: string;
  /** SIGKILL the command after this long (a command that hangs); `killed` says it happened. */
  readonly killAfterMs?: number;
}

export interface KillableRunResult extends RunResult {
  readonly killed: boolean;
}

/** Runs `cxr args...` as a process with the given options. */
export function runCxr(options: CxrRunOptions, ...args: string[]): Promise<KillableRunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TSX_CLI, MAIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
      ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
      // Its own process group, so the kill reaches the node process tsx starts as well.
      detached: options.killAfterMs !== undefined,
    });
    let stdout = '';
    let stderr = '';
    let killed = false;
    const timer =
      options.killAfterMs === undefined
        ? undefined
        : setTimeout(() => {
            killed = true;
            if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
          }, options.killAfterMs);
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, killed });
    });
  });
}

const shellQuote = (word: string): string => `'${word.replaceAll("'", "'\\''")}'`;

/**
 * Runs `cxr args...` on a pseudo terminal (util-linux `script`), as a person at a terminal runs
 * it: stderr and stdout are both the terminal, so `stdout` holds what the terminal received.
 */
export function runCxrOnTerminal(options: CxrRunOptions, ...args: string[]): Promise<KillableRunResult> {
  const command = [process.execPath, TSX_CLI, MAIN, ...args].map(shellQuote).join(' ');
  return new Promise((resolve, reject) => {
    // -q: no start/done lines, -e: the command's exit code, -c: run it; the typescript goes nowhere.
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
      ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({ code, stdout, stderr, killed: false });
    });
  });
}

/** Runs `cxr args...` with extra environment variables. */
export function cxrWithEnv(env: Readonly<Record<string, string>>, ...args: string[]): Promise<RunResult> {
  return runCxr({ env }, ...args);
}

export function expectNoCanary(result: RunResult): void {
  for (const text of [result.stdout, result.stderr]) {
    expect(text).not.toContain(CANARY_PATIENT_ID);
    expect(text).not.toContain(CANARY_PATIENT_NAME);
    expect(text).not.toContain('CANARY');
  }
}

/** Runs `cxr args...`. */
export function cxr(...args: string[]): Promise<RunResult> {
  return cxrWithEnv({}, ...args);
}

let fixtures: FixtureSet | undefined;

/** Path of a generated fixture by name (the set vitest's globalSetup provides). */
export function fixturePath(name: string): string {
  fixtures ??= loadFixtureManifest(inject('fixtureManifestPath'));
  const found = fixtures.fixtures.find((f) => f.name === name);
  if (!found) throw new Error(`no fixture named ${name}`);
  return found.path;
}
