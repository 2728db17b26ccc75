/**
 * `pnpm bench <name> [args...]`: runs bench/<name>.ts, whose module exports
 * `run(args: readonly string[]): Promise<void>`.
 */
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** What every benchmark module exports. */
export interface BenchModule {
  run(args: readonly string[]): Promise<void>;
}

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));

function available(): string[] {
  return readdirSync(BENCH_DIR)
    .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.endsWith('.test.ts'))
    .map((f) => f.slice(0, -3))
    .sort();
}

function isBenchModule(value: unknown): value is BenchModule {
  return (
    typeof value === 'object' && value !== null && typeof (value as { run?: unknown }).run === 'function'
  );
}

async function main(argv: readonly string[]): Promise<void> {
  const [name, ...args] = argv;
  // The name becomes a path: allow only plain module names.
  if (name === undefined || !/^[a-z0-9-]+$/.test(name) || !existsSync(join(BENCH_DIR, `${name}.ts`))) {
    process.stderr.write(`usage: pnpm bench <name> [args]; benchmarks: ${available().join(', ')}\n`);
    process.exitCode = 2;
    return;
  }
  const loaded: unknown = await import(pathToFileURL(join(BENCH_DIR, `${name}.ts`)).href);
  if (!isBenchModule(loaded)) throw new Error(`bench/${name}.ts does not export run(args)`);
  await loaded.run(args);
}

await main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
