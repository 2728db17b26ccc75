/**
 * Process management for the end-to-end tests: the pipeline runs as the separate processes of
 * production (worker, results, `cxr ingest`, a dedicated redis-server), spawned with an explicit
 * environment. Every line a process writes is kept (the privacy test reads them all), tests can
 * wait for a log line, and `ProcessGroup.stopAll()` (called from afterAll) ends whatever is still
 * running, SIGTERM first, then SIGKILL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
/**
 * tsx's loader, run as `node --import <loader> ENTRY`: one process per service. The `tsx` CLI
 * would run the entry point in a child process of its own, which a SIGKILL of the CLI leaves
 * running (a signal that cannot be relayed), so a killed "worker" would keep working.
 */
const TSX_LOADER = pathToFileURL(require.resolve('tsx')).href;
/**
 * The export condition under which the workspace packages resolve to their TypeScript sources
 * instead of their compiled dist/ (tsconfig.base.json, vitest.config.ts); worker threads inherit it.
 */
const SOURCE_CONDITION = '--conditions=@cxr/source';
const repoFile = (path: string): string => fileURLToPath(new URL(`../../${path}`, import.meta.url));

/** Entry points of the production processes. */
export const ENTRY = {
  worker: repoFile('services/worker/src/main.ts'),
  results: repoFile('services/results/src/main.ts'),
  ingest: repoFile('services/ingest/src/main.ts'),
  cli: repoFile('services/cli/src/main.ts'),
} as const;

/**
 * The compiled entry points (`pnpm build`; the vitest global setup builds before the tests), as
 * the images and a production install run them: `node services/<svc>/dist/main.js`.
 */
export const COMPILED_ENTRY = {
  worker: repoFile('services/worker/dist/main.js'),
  results: repoFile('services/results/dist/main.js'),
  ingest: repoFile('services/ingest/dist/main.js'),
  cli: repoFile('services/cli/bin/cxr.js'),
} as const;

/** One line a process wrote. */
export interface OutputLine {
  readonly stream: 'stdout' | 'stderr';
  readonly text: string;
}

/** How a process ended. */
export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

type LineMatcher = RegExp | ((line: string) => boolean);

function matches(matcher: LineMatcher, line: string): boolean {
  return typeof matcher === 'function' ? matcher(line) : matcher.test(line);
}

/** A spawned process with its captured output. */
export class ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Every complete line of stdout and stderr, in arrival order per stream. */
  readonly lines: OutputLine[] = [];
  readonly exited: Promise<ExitStatus>;
  readonly #partial = { stdout: '', stderr: '' };
  readonly #listeners = new Set<(line: string) => void>();
  #status: ExitStatus | undefined;

  constructor(name: string, command: string, args: readonly string[], env: NodeJS.ProcessEnv) {
    this.name = name;
    this.child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    for (const stream of ['stdout', 'stderr'] as const) {
      this.child[stream]?.on('data', (chunk: Buffer) => {
        this.#onData(stream, chunk.toString('utf8'));
      });
    }
    this.exited = new Promise((resolve) => {
      this.child.once('error', (error) => {
        this.lines.push({ stream: 'stderr', text: `spawn failed: ${error.message}` });
        this.#status ??= { code: null, signal: null };
        resolve(this.#status);
      });
      // 'close' (not 'exit'): the output streams are fully read by then.
      this.child.once('close', (code, signal) => {
        for (const stream of ['stdout', 'stderr'] as const) {
          if (this.#partial[stream] !== '') this.#pushLine(stream, this.#partial[stream]);
          this.#partial[stream] = '';
        }
        this.#status = { code, signal };
        resolve(this.#status);
      });
    });
  }

  /** Whether the process has ended (its output is complete then). */
  get running(): boolean {
    return this.#status === undefined;
  }

  /** All output as one string (stdout and stderr lines). */
  get text(): string {
    return this.lines.map((line) => line.text).join('\n');
  }

  /** The stdout lines only. */
  get stdout(): string {
    return this.lines
      .filter((line) => line.stream === 'stdout')
      .map((line) => line.text)
      .join('\n');
  }

  /** Resolves with the first line (already written or future) that matches; rejects on exit or timeout. */
  waitForLine(matcher: LineMatcher, timeoutMs: number): Promise<string> {
    const seen = this.lines.find((line) => matches(matcher, line.text));
    if (seen !== undefined) return Promise.resolve(seen.text);
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#listeners.delete(listener);
      };
      const listener = (line: string): void => {
        if (!matches(matcher, line)) return;
        done();
        resolve(line);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.name}: no line matching ${String(matcher)} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#listeners.add(listener);
      void this.exited.then((status) => {
        if (!this.#listeners.has(listener)) return;
        done();
        reject(
          new Error(
            `${this.name} exited (code ${String(status.code)}, signal ${String(status.signal)}) before a line matching ${String(matcher)}; last output: ${this.lines
              .slice(-5)
              .map((line) => line.text)
              .join(' | ')}`,
          ),
        );
      });
    });
  }

  /** Resolves with the exit status; rejects after `timeoutMs`. */
  async waitForExit(timeoutMs: number): Promise<ExitStatus> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new Error(`${this.name} did not exit within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends a signal (no-op once the process ended). */
  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /** SIGKILL now and wait for the process to be gone. */
  async kill(): Promise<ExitStatus> {
    this.signal('SIGKILL');
    return this.exited;
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 10_000): Promise<ExitStatus> {
    if (!this.running) return this.exited;
    this.signal('SIGTERM');
    try {
      return await this.waitForExit(graceMs);
    } catch {
      return this.kill();
    }
  }

  #onData(stream: 'stdout' | 'stderr', text: string): void {
    const parts = (this.#partial[stream] + text).split('\n');
    this.#partial[stream] = parts.pop() ?? '';
    for (const part of parts) this.#pushLine(stream, part);
  }

  #pushLine(stream: 'stdout' | 'stderr', raw: string): void {
    const text = raw.replace(/\r$/, '');
    this.lines.push({ stream, text });
    for (const listener of [...this.#listeners]) listener(text);
  }
}

/**
 * The processes of one test file. `stopAll()` in afterAll ends every one still running; a
 * process-exit hook SIGKILLs them if the test runner itself dies first.
 */
export class ProcessGroup {
  readonly #processes: ManagedProcess[] = [];
  readonly #killOnExit = (): void => {
    for (const managed of this.#processes) managed.signal('SIGKILL');
  };

  constructor() {
    process.once('exit', this.#killOnExit);
  }

  /** Every process started so far (ended ones included: their output stays readable). */
  get all(): readonly ManagedProcess[] {
    return this.#processes;
  }

  /** Starts `command args...` with exactly `env` (plus PATH and HOME of the test process). */
  spawn(
    name: string,
    command: string,
    args: readonly string[],
    env: Readonly<Record<string, string>>,
  ): ManagedProcess {
    const managed = new ManagedProcess(name, command, args, {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ...env,
    });
    this.#processes.push(managed);
    return managed;
  }

  /** Starts a TypeScript entry point through tsx's loader (one process, see TSX_LOADER). */
  spawnTsx(
    name: string,
    entry: string,
    args: readonly string[],
    env: Readonly<Record<string, string>>,
  ): ManagedProcess {
    return this.spawn(
      name,
      process.execPath,
      [SOURCE_CONDITION, '--import', TSX_LOADER, entry, ...args],
      env,
    );
  }

  /** A compiled entry point (COMPILED_ENTRY) run by plain Node, as in production. */
  spawnCompiled(
    name: string,
    entry: string,
    args: readonly string[],
    env: Readonly<Record<string, string>>,
  ): ManagedProcess {
    return this.spawn(name, process.execPath, [entry, ...args], env);
  }

  /** The worker service: `tsx services/worker/src/main.ts --model DIR`. */
  startWorker(name: string, modelDir: string, env: Readonly<Record<string, string>>): ManagedProcess {
    // The worker serves /metrics and the probes too: on any free port, beside the results service.
    return this.spawnTsx(name, ENTRY.worker, ['--model', modelDir], { ...env, CXR_HTTP_PORT: '0' });
  }

  /** The results service: `tsx services/results/src/main.ts`. */
  startResults(name: string, env: Readonly<Record<string, string>>): ManagedProcess {
    return this.spawnTsx(name, ENTRY.results, [], env);
  }

  /** `cxr ingest SOURCE --model DIR --run-id ID` (one-shot; await `exited`). */
  startIngest(
    name: string,
    source: string,
    modelDir: string,
    runId: string,
    env: Readonly<Record<string, string>>,
  ): ManagedProcess {
    return this.spawnTsx(name, ENTRY.cli, ['ingest', source, '--model', modelDir, '--run-id', runId], env);
  }

  /** Ends every running process (SIGTERM, then SIGKILL after `graceMs`); never throws. */
  async stopAll(graceMs = 10_000): Promise<void> {
    await Promise.allSettled(this.#processes.map((managed) => managed.stop(graceMs)));
    process.removeListener('exit', this.#killOnExit);
  }
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export { freePort } from '@cxr/storage/testing';

/** Polls `condition` every `intervalMs` until it holds; throws naming `what` after `timeoutMs`. */
export async function waitUntil(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
