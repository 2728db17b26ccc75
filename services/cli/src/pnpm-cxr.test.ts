/**
 * `pnpm -s cxr ...` from the repository root, as the README tells users to run it: pnpm adds
 * nothing to the command's own output (no registry warning about the pnpm pin, no `$ tsx ...`
 * echo of a script, no `[ELIFECYCLE] Command failed` line), so a one-line rejection stays one line
 * and the exit code is the command's.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

describe('pnpm -s cxr', () => {
  it('prints only the command output, and passes the exit code through', () => {
    // As a user runs it: the compiled command (without the tests' source export condition).
    const { NODE_OPTIONS: _sourceCondition, ...env } = process.env;
    const run = spawnSync('pnpm', ['-s', 'cxr', 'dicom', 'inspect', '/nonexistent/file.dcm'], {
      cwd: ROOT,
      encoding: 'utf8',
      env,
    });
    expect(run.stdout).toBe('');
    expect(run.stderr.trimEnd().split('\n')).toEqual(['cxr: /nonexistent/file.dcm: cannot read (ENOENT)']);
    expect(run.status).not.toBe(0);
  });
});

describe('the cxr bin', () => {
  it('is executable as a file (mode and shebang) and prints the package version', () => {
    const bin = fileURLToPath(new URL('../bin/cxr.js', import.meta.url));
    expect(statSync(bin).mode & 0o111).toBe(0o111);
    const { NODE_OPTIONS: _sourceCondition, ...env } = process.env;
    const run = spawnSync(bin, ['--version'], { encoding: 'utf8', env });
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    expect(run.stdout.trim()).toBe(version);
    expect(run.status).toBe(0);
    // A command's own --version option stays the command's (the model version of cxr train).
    const train = spawnSync(bin, ['train', '--version', '3'], { encoding: 'utf8', env });
    expect(train.stdout).toBe('');
    expect(train.stderr).toContain("required option '--data <csv>' not specified");
    expect(train.status).toBe(2);
  });
});
