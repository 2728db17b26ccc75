/**
 * What the compiled `cxr` loads (issue 13: commands load their modules lazily). Every module URL
 * the process resolves is recorded by a resolve hook; `cxr --help` must load commander and the
 * command line's own registration modules only, and `cxr dicom inspect` the DICOM parser too, but
 * no driver, SDK, runtime, image library or queue client.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publicDicomPath } from '@cxr/dicom/testing';

const BIN = fileURLToPath(new URL('../bin/cxr.js', import.meta.url));

// Registered off-thread by node's module.register: appends every resolved URL to a file.
const HOOKS = `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(process.env.CXR_RESOLVE_TRACE, result.url + '\\n');
  return result;
}`;
const PRELOAD = `import { register } from 'node:module';
register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(HOOKS)}`)});`;

/** Packages `cxr --help` and `cxr dicom inspect` must never load. */
const HEAVY = [
  'better-sqlite3',
  '/pg/',
  'hyparquet',
  '@aws-sdk',
  'onnxruntime',
  '@tensorflow',
  'sharp',
  'bullmq',
  'ioredis',
  'fastify',
  'prom-client',
  '@cornerstonejs',
  'dcmjs',
  'zod',
];

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cxr-lazy-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs the compiled bin as a user would (no source condition) and returns the URLs it resolved. */
async function resolvedBy(name: string, ...args: string[]): Promise<string[]> {
  const trace = join(dir, `${name}.txt`);
  const { NODE_OPTIONS: _sourceCondition, ...env } = process.env;
  const run = spawnSync(
    process.execPath,
    ['--import', `data:text/javascript,${encodeURIComponent(PRELOAD)}`, BIN, ...args],
    { encoding: 'utf8', env: { ...env, CXR_RESOLVE_TRACE: trace } },
  );
  expect(run.status, run.stderr).toBe(0);
  return (await readFile(trace, 'utf8')).trimEnd().split('\n');
}

const heavyIn = (urls: readonly string[]): string[] =>
  urls.filter((url) => HEAVY.some((name) => url.includes(name)));

describe('what cxr loads', () => {
  it('--help loads commander and the registration modules, nothing heavy', async () => {
    const urls = await resolvedBy('help', '--help');
    expect(urls.some((url) => url.includes('/commander/'))).toBe(true);
    expect(urls.some((url) => url.endsWith('/services/cli/dist/commands/train.js'))).toBe(true);
    expect(heavyIn(urls)).toEqual([]);
    // No command's action, no package root of a heavy package.
    expect(urls.filter((url) => url.includes('/services/cli/dist/actions/'))).toEqual([]);
    const roots = urls.filter((url) =>
      /\/packages\/(?:dicom|model|store|storage|imaging|queue|training|evaluation)\/dist\/index\.js$/.test(
        url,
      ),
    );
    expect(roots).toEqual([]);
  });

  it('dicom inspect loads the DICOM parser, and no runtime, image library, driver or SDK', async () => {
    const urls = await resolvedBy('inspect', 'dicom', 'inspect', publicDicomPath('siim_cr_jpegbaseline.dcm'));
    expect(urls.some((url) => url.endsWith('/packages/dicom/dist/index.js'))).toBe(true);
    expect(urls.some((url) => url.endsWith('/services/cli/dist/actions/dicom.js'))).toBe(true);
    expect(heavyIn(urls)).toEqual([]);
  });
});
