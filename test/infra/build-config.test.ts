/**
 * The build configuration of the workspace stays complete as packages come and go: every
 * production package and service (all but the test-only @cxr/fixtures) has a tsconfig.build.json
 * that the root tsconfig.build.json references, whose project references are exactly its
 * workspace dependencies, and whose package.json ships dist/ and exports each entry under the
 * `@cxr/source` condition (TypeScript sources, for tests) and `default` (compiled JavaScript).
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { repoFile, workspacePackages } from './deploy-files.js';

/** Packages that are never built: test-only code. */
const NOT_BUILT = new Set(['@cxr/fixtures', '@cxr/test', '@cxr/bench']);

interface Manifest {
  readonly dependencies?: Record<string, string>;
  readonly exports?: Record<string, unknown>;
  readonly files?: string[];
}

interface BuildConfig {
  readonly references?: { readonly path: string }[];
  readonly compilerOptions?: Record<string, unknown>;
}

const packages = [...workspacePackages()].filter(([name]) => !NOT_BUILT.has(name));

describe('build configuration', () => {
  it('covers every production package and service from the root tsconfig.build.json', () => {
    const root = JSON.parse(repoFile('tsconfig.build.json')) as BuildConfig;
    const referenced = (root.references ?? []).map((ref) => ref.path).sort();
    expect(referenced).toEqual(packages.map(([, dir]) => `${dir}/tsconfig.build.json`).sort());
  });

  it.each(packages)(
    '%s: references exactly its workspace dependencies and compiles to dist/',
    (name, dir) => {
      expect(existsSync(`${dir}/tsconfig.build.json`), name).toBe(true);
      const manifest = JSON.parse(repoFile(`${dir}/package.json`)) as Manifest;
      const config = JSON.parse(repoFile(`${dir}/tsconfig.build.json`)) as BuildConfig;
      const dirs = new Map(workspacePackages());
      const expected = Object.keys(manifest.dependencies ?? {})
        .filter((dep) => dep.startsWith('@cxr/'))
        .map((dep) => `${dirs.get(dep) ?? dep}/tsconfig.build.json`)
        .sort();
      const actual = (config.references ?? [])
        .map((ref) => new URL(ref.path, `file:///repo/${dir}/`).pathname.replace('/repo/', ''))
        .sort();
      expect(actual, name).toEqual(expected);
      expect(config.compilerOptions).toMatchObject({ composite: true, outDir: 'dist', rootDir: 'src' });
      expect(manifest.files, name).toContain('dist');
    },
  );

  it.each(packages)(
    '%s: exports sources under @cxr/source and compiled JavaScript by default',
    (name, dir) => {
      const manifest = JSON.parse(repoFile(`${dir}/package.json`)) as Manifest;
      for (const [path, target] of Object.entries(manifest.exports ?? {})) {
        if (typeof target === 'string') {
          // Test helpers only (never imported by production code): sources, never built.
          expect(target, `${name} ${path}`).toMatch(/\/testing\//);
          continue;
        }
        const conditions = target as Record<string, string>;
        expect(Object.keys(conditions), `${name} ${path}`).toEqual(['@cxr/source', 'default']);
        const source = conditions['@cxr/source'] ?? '';
        expect(conditions.default, `${name} ${path}`).toBe(
          source.replace('./src/', './dist/').replace(/\.ts$/, '.js'),
        );
      }
    },
  );
});
