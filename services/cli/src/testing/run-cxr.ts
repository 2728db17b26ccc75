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

/** Runs `cxr args...` with extra environment variables. */
export function cxrWithEnv(env: Readonly<Record<string, string>>, ...args: string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TSX_CLI, MAIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({ code, stdout, stderr });
    });
  });
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
