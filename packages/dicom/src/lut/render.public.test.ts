import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { decodeFrame } from '../decode.js';
import { renderToDisplay, type RenderOptions } from './render.js';

/**
 * The display pipeline on real files (../shared/data/public-dicom, see its README) against
 * dcmtk's dcmj2pnm, an independent implementation of PS3.3 C.11 and of MONOCHROME1 polarity.
 * dcmtk writes 8-bit output by truncation, so floor(value * 255) is compared.
 */
const publicDir = fileURLToPath(new URL('../../../../../shared/data/public-dicom/', import.meta.url));

let work = '';
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'cxr-lut-public-'));
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

/** Pixels of a binary PGM (P5, maxval 255) written by dcmj2pnm --write-raw-pnm. */
function dcmtkRender(name: string, voiArgs: string[]): Uint8Array {
  const out = join(work, `${name}.pgm`);
  execFileSync('dcmj2pnm', ['--write-raw-pnm', ...voiArgs, join(publicDir, name), out], { stdio: 'pipe' });
  const pgm = readFileSync(out);
  // Header: "P5", width, height, maxval separated by whitespace, then one whitespace byte.
  let pos = 0;
  for (let field = 0; field < 4; field++) {
    while (pgm[pos] === 0x20 || pgm[pos] === 0x0a) pos++;
    while (pgm[pos] !== 0x20 && pgm[pos] !== 0x0a) pos++;
  }
  return new Uint8Array(pgm.subarray(pos + 1));
}

async function compare(
  name: string,
  options: RenderOptions,
  voiArgs: string[],
): Promise<{ exact: number; maxDiff: number; kind: string }> {
  const { frame, info } = await decodeFrame(new Uint8Array(readFileSync(join(publicDir, name))));
  const ours = renderToDisplay(frame, info, options);
  const theirs = dcmtkRender(name, voiArgs);
  expect(theirs.length).toBe(ours.values.length);
  let exact = 0;
  let maxDiff = 0;
  for (let i = 0; i < theirs.length; i++) {
    const d = Math.abs(Math.floor(ours.values[i]! * 255) - theirs[i]!);
    if (d === 0) exact++;
    if (d > maxDiff) maxDiff = d;
  }
  return { exact: exact / theirs.length, maxDiff, kind: ours.voiUsed.kind };
}

describe('renderToDisplay agrees with dcmtk on real files', () => {
  it('Fuji CR, 10-bit MONOCHROME1, file window 550/1024 (LINEAR + inversion)', async () => {
    const result = await compare('fuji_cr_mono1_10bit.dcm', {}, ['+Wi', '1']);
    expect(result.kind).toBe('file-window');
    expect(result.maxDiff).toBeLessThanOrEqual(1);
    expect(result.exact).toBeGreaterThanOrEqual(0.9999);
  });

  it('the comparison is sharp enough to tell LINEAR from LINEAR_EXACT on the same window', async () => {
    const wrong = await compare(
      'fuji_cr_mono1_10bit.dcm',
      { voi: { center: 550, width: 1024, function: 'LINEAR_EXACT' } },
      ['+Wi', '1'],
    );
    expect(wrong.exact).toBeLessThan(0.9999);
  });

  it('CT, rescale intercept -1024, first of two windows', async () => {
    const result = await compare('fo_IM-0001-0001-0001.dcm', {}, ['+Wi', '1']);
    expect(result.kind).toBe('file-window');
    expect(result.maxDiff).toBeLessThanOrEqual(1);
    expect(result.exact).toBeGreaterThanOrEqual(0.9999);
  });

  it('CR with a Modality LUT Sequence, MONOCHROME1, min-max window', async () => {
    // dcmtk computes its min-max window in double precision: a few pixels on 8-bit level
    // boundaries land one level apart.
    const result = await compare('fo_CR-ModalitySequenceLUT.dcm', { voi: 'minmax' }, ['+Wm']);
    expect(result.kind).toBe('minmax');
    expect(result.maxDiff).toBeLessThanOrEqual(1);
    expect(result.exact).toBeGreaterThanOrEqual(0.99);
  });
});
