/**
 * The documentation stays true to the code: the README is a front door of at most about 15 KB,
 * its command table names every `cxr` command (read from the compiled CLI's own help, as users
 * see it), every export column is documented, and every relative link resolves
 * (scripts/check-links.ts, which `pnpm check` also runs).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportHeader } from '@cxr/store';
import { anchorsOf, checkLinks, linksOf, slugOf } from '../../scripts/check-links.js';
import { ROOT, repoFile } from './deploy-files.js';

const execFileAsync = promisify(execFile);

/** The compiled CLI's help, without the tests' source export condition (as users run it). */
async function help(...command: string[]): Promise<string> {
  const { NODE_OPTIONS: _sourceCondition, ...env } = process.env;
  const { stdout } = await execFileAsync(
    process.execPath,
    [join(ROOT, 'services/cli/bin/cxr.js'), ...command, '--help'],
    { encoding: 'utf8', env },
  );
  return stdout;
}

/** Command names listed under "Commands:" in a commander help text (without `help`). */
function subcommands(text: string): string[] {
  const section = text.split('\nCommands:\n')[1] ?? '';
  return [...section.matchAll(/^ {2}([a-z][a-z0-9-]*)\b/gm)]
    .map((match) => match[1] ?? '')
    .filter((name) => name !== 'help');
}

/** Every leaf command path, e.g. `dicom inspect`, `screen` (the help of siblings is read in parallel). */
async function leafCommands(prefix: string[] = []): Promise<string[]> {
  const children = subcommands(await help(...prefix));
  if (children.length === 0) return [prefix.join(' ')];
  const leaves = await Promise.all(children.map((child) => leafCommands([...prefix, child])));
  return leaves.flat();
}

describe('documentation', () => {
  it('keeps the README a front door (at most about 15 KB)', () => {
    expect(statSync(join(ROOT, 'README.md')).size).toBeLessThanOrEqual(15_500);
  });

  it('lists every cxr command in the README command table', async () => {
    const readme = repoFile('README.md');
    const commands = await leafCommands();
    expect(commands.length).toBeGreaterThan(10);
    for (const command of commands) expect(readme, command).toContain(`\`cxr ${command}`);
  }, 240_000);

  it('documents every export column', () => {
    const screening = repoFile('docs/screening.md');
    for (const column of exportHeader([])) expect(screening, column).toContain(`| \`${column}\``);
    expect(screening).toContain('| `score_<label>`');
  });

  it('has no broken relative link and no link out of the repository', () => {
    expect(checkLinks()).toEqual([]);
  });

  it('computes GitHub anchors and finds links outside code', () => {
    expect(slugOf('Models (`packages/model`)'.replace(/`/g, ''))).toBe('models-packagesmodel');
    expect([
      ...anchorsOf('# A b\n## A b\n```\n# not a heading\n```\n### Dashboards and alerts (`infra/grafana`)'),
    ]).toEqual(['a-b', 'a-b-1', 'dashboards-and-alerts-infragrafana']);
    expect(linksOf('see [x](docs/a.md#b) and `[y](no.md)`\n```\n[z](no.md)\n```')).toEqual([
      { line: 1, target: 'docs/a.md#b' },
    ]);
  });
});
