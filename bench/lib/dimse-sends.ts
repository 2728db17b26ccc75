/**
 * What `pnpm bench scp` and `pnpm bench scp-split` share: their arguments, dcmtk's storescu and
 * storescp run the same way for both, and the chest radiographs they send.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { DecodeFixture, FixtureSet } from '@cxr/fixtures';

export function option(args: readonly string[], name: string): string | undefined {
  const at = args.indexOf(name);
  return at === -1 ? undefined : args[at + 1];
}

export function positiveInteger(args: readonly string[], name: string, fallback: number): number {
  const value = Number(option(args, name) ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
  return value;
}

/**
 * DCMTK leaves Nagle's algorithm on unless TCP_NODELAY is set: each small PDU then waits for a
 * delayed ACK (about 40 ms per instance here). Set for storescu and storescp alike; our SCP sets
 * no-delay on its sockets itself.
 */
const NO_DELAY = { TCP_NODELAY: '1' };

/** Runs storescu inside bash and returns bash's own measure of its wall time in seconds. */
export function timedStorescu(args: readonly string[]): Promise<number> {
  const script =
    'start=$(date +%s%N); storescu "$@" || exit 90; end=$(date +%s%N); echo $(( (end - start) / 1000 ))';
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script, 'timed-storescu', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...NO_DELAY },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`storescu failed (${String(code)}): ${(out + err).slice(-800)}`));
      else resolve(Number(out.trim()) / 1e6);
    });
  });
}

/** dcmtk's storescp accepting every syntax it knows, writing to `dir`; resolves once it listens. */
export async function startStorescp(port: number, dir: string): Promise<ChildProcess> {
  const child = spawn('storescp', ['+xa', '-aet', 'STORESCP', '-od', dir, String(port)], {
    stdio: 'ignore',
    env: { ...process.env, ...NO_DELAY },
  });
  for (let i = 0; i < 100; i++) {
    const probe = spawn('echoscu', ['-aec', 'STORESCP', '127.0.0.1', String(port)], { stdio: 'ignore' });
    const code = await new Promise<number | null>((resolve) => probe.on('close', resolve));
    if (code === 0) return child;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill();
  throw new Error('storescp did not start');
}

/** The single-frame CR/DX Part 10 files of a fixture set that both dcmtk tools can send and take. */
export function chestFixtures(set: FixtureSet): DecodeFixture[] {
  const chest = set.fixtures.filter(
    (f): f is DecodeFixture =>
      f.kind === 'decode' &&
      f.expected.hadPreamble &&
      f.expected.hadFileMeta &&
      /^(CR|DX)$/.test(f.expected.modality ?? '') &&
      f.expected.frames === 1 &&
      // DCMTK 3.6.7's storescu cannot send HTJ2K, and its storescp +xa does not take JPEG
      // lossless process 14 (.57): both receivers get the same files.
      !f.transferSyntaxUid.startsWith('1.2.840.10008.1.2.4.20') &&
      f.transferSyntaxUid !== '1.2.840.10008.1.2.4.57',
  );
  if (chest.length === 0) throw new Error('no fixtures to send');
  return chest;
}
