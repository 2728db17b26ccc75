/**
 * vitest globalSetup: compiles the workspace (`pnpm build`, i.e. `tsc -b tsconfig.build.json`,
 * incremental: a no-op when dist/ is current) before any test runs. Most tests run the TypeScript
 * sources, but the tests of what ships (the `cxr` bin, the service entry points as the images run
 * them) run the compiled JavaScript, and must never test a stale build.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export default function setup(): void {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const build = spawnSync(process.execPath, [tsc, '-b', 'tsconfig.build.json'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (build.status !== 0) {
    throw new Error(`pnpm build failed before the tests:\n${build.stdout}${build.stderr}`);
  }
}
