/**
 * The `cxr dicom` commands as a user runs them: real processes, generated fixtures, exit codes
 * and the one-line error contract. Canary patient data must never reach stdout or stderr.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyModalityLut, decodeFrame } from '@cxr/dicom';
import { cxr, expectNoCanary, fixturePath as fixture } from './testing/run-cxr.js';

let out: string;

beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), 'cxr-cli-'));
});
afterAll(async () => {
  await rm(out, { recursive: true, force: true });
});

describe('cxr dicom inspect', () => {
  it('prints the technical description as JSON without patient data', async () => {
    const result = await cxr('dicom', 'inspect', fixture('jpeg-lossless-sv1'), '--json');
    expect(result.code).toBe(0);
    const view = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(view).toMatchObject({
      transferSyntax: { uid: '1.2.840.10008.1.2.4.70' },
      modality: 'CR',
      rows: 320,
      columns: 256,
      bitsAllocated: 16,
      bitsStored: 12,
      frames: 1,
    });
    expect(view).not.toHaveProperty('patientId');
    expectNoCanary(result);
  });

  it('prints text by default', async () => {
    const result = await cxr('dicom', 'inspect', fixture('monochrome1'));
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^photometricInterpretation\s+MONOCHROME1$/m);
    expectNoCanary(result);
  });
});

describe('cxr dicom decode', () => {
  it('writes little-endian float32 with the Modality LUT applied and nothing else', async () => {
    const file = fixture('modality-lut-sequence');
    const target = join(out, 'frame.f32');
    const result = await cxr('dicom', 'decode', file, '--out', target);
    expect(result.code).toBe(0);
    const bytes = await readFile(target);
    const written = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    const { frame, info } = await decodeFrame(await readFile(file));
    expect(info.modalityLut.kind).toBe('table');
    expect(written).toEqual(applyModalityLut(frame.samples, info.modalityLut));
  });

  it('writes the requested frame of a multi-frame file', async () => {
    const file = fixture('multiframe-native');
    const target = join(out, 'frame2.f32');
    expect((await cxr('dicom', 'decode', file, '--out', target, '--frame', '2')).code).toBe(0);
    const bytes = await readFile(target);
    const { frame, info } = await decodeFrame(await readFile(file), { frame: 2 });
    expect(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)).toEqual(
      applyModalityLut(frame.samples, info.modalityLut),
    );
  });

  it.each([
    ['truncated', 'truncated'],
    ['not-dicom', 'not_dicom'],
    ['no-pixel-data', 'no_pixel_data'],
    ['corrupt-jpeg-lossless', 'corrupt_stream'],
    ['unsupported-mpeg2', 'unsupported_transfer_syntax'],
  ])('rejects %s with exit 3 and one line naming the file and %s', async (name, reason) => {
    const file = fixture(name);
    const result = await cxr('dicom', 'decode', file, '--out', join(out, `${name}.f32`));
    expect(result.code).toBe(3);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(file);
    expect(lines[0]).toContain(`rejected (${reason})`);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expectNoCanary(result);
  });

  it('rejects a frame index beyond the last frame', async () => {
    const result = await cxr(
      'dicom',
      'decode',
      fixture('multiframe-native'),
      '--out',
      join(out, 'x.f32'),
      '--frame',
      '9',
    );
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('rejected (frame_out_of_range)');
  });
});

describe('cxr dicom render', () => {
  it('writes an 8-bit PNG whose longest side is --size', async () => {
    const target = join(out, 'render.png');
    const result = await cxr(
      'dicom',
      'render',
      fixture('jpeg-lossless-sv1'),
      '--out',
      target,
      '--size',
      '160',
    );
    expect(result.code).toBe(0);
    const png = await readFile(target);
    // PNG signature, then the IHDR chunk: width, height (big-endian), bit depth (PNG spec 11.2.2).
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(png.readUInt32BE(16)).toBe(128);
    expect(png.readUInt32BE(20)).toBe(160);
    expect(png.readUInt8(24)).toBe(8);
  });
});

describe('cxr --help', () => {
  it.each([
    [[]],
    [['dicom']],
    [['dicom', 'inspect']],
    [['dicom', 'decode']],
    [['dicom', 'render']],
    [['model', 'init']],
    [['model', 'export-onnx']],
    [['model', 'import']],
    [['model', 'info']],
    [['predict']],
    [['ingest']],
  ])('prints usage for %j', async (args) => {
    const result = await cxr(...args, '--help');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: cxr/m);
  });
});
