/**
 * The `cxr dicom` commands as a user runs them: real processes, generated fixtures, exit codes
 * and the one-line error contract. Canary patient data must never reach stdout or stderr.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyModalityLut, decodeFrame } from '@cxr/dicom';
import { imagePixelElements, rleFrame, writeDicom } from '@cxr/dicom/testing';
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

describe('cxr dicom decode: warnings and the quirks of issue 12', () => {
  it('prints a warning line naming the file and still writes the frame (exit 0)', async () => {
    const file = join(out, 'slope-zero.dcm');
    await writeFile(
      file,
      writeDicom([
        ...imagePixelElements({ rows: 2, columns: 2, bitsAllocated: 16, bitsStored: 12 }),
        { tag: 0x00281052, vr: 'DS', value: '-1024' },
        { tag: 0x00281053, vr: 'DS', value: '0' },
        { tag: 0x7fe00010, vr: 'OW', value: Uint16Array.of(0, 1, 2, 3) },
      ]),
    );
    const target = join(out, 'slope-zero.f32');
    const result = await cxr('dicom', 'decode', file, '--out', target);
    expect(result.code).toBe(0);
    const warnings = result.stderr.split('\n').filter((line) => line.includes('warning'));
    expect(warnings).toEqual([
      `cxr: ${file}: warning (rescale_slope_ignored): Rescale Slope (0028,1053) is 0; read as 1`,
    ]);
    const bytes = await readFile(target);
    expect(Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, 4))).toEqual([
      -1024, -1023, -1022, -1021,
    ]);
    const inspect = await cxr('dicom', 'inspect', file, '--json');
    expect(inspect.code).toBe(0);
    expect((JSON.parse(inspect.stdout) as { warnings: string[] }).warnings).toEqual([
      'rescale_slope_ignored: Rescale Slope (0028,1053) is 0; read as 1',
    ]);
  });

  it('rejects encapsulated Pixel Data without its Sequence Delimitation Item as truncated (exit 3)', async () => {
    const whole = writeDicom(
      [
        ...imagePixelElements({ rows: 2, columns: 2, bitsAllocated: 8 }),
        {
          tag: 0x7fe00010,
          vr: 'OB',
          value: { kind: 'encapsulated', frames: [[rleFrame([Uint8Array.of(1, 2, 3, 4)])]] },
        },
      ],
      { transferSyntaxUid: '1.2.840.10008.1.2.5' },
    );
    const file = join(out, 'no-delimiter.dcm');
    await writeFile(file, whole.subarray(0, whole.length - 8));
    const result = await cxr('dicom', 'decode', file, '--out', join(out, 'no-delimiter.f32'));
    expect(result.code).toBe(3);
    expect(result.stderr.trimEnd().split('\n')).toEqual([
      `cxr: ${file}: rejected (truncated): file ends inside encapsulated Pixel Data (no Sequence Delimitation Item after the last fragment)`,
    ]);
  });

  it('writes Float Pixel Data values as they are', async () => {
    const values = Float32Array.of(-1.5, 0.25, 3e-7, 1e6);
    const file = join(out, 'float.dcm');
    await writeFile(
      file,
      writeDicom([
        ...imagePixelElements({ rows: 2, columns: 2, bitsAllocated: 32 }),
        { tag: 0x7fe00008, vr: 'OF', value: new Uint8Array(values.buffer) },
      ]),
    );
    const target = join(out, 'float.f32');
    expect((await cxr('dicom', 'decode', file, '--out', target)).code).toBe(0);
    const bytes = await readFile(target);
    expect(new Float32Array(bytes.buffer, bytes.byteOffset, 4)).toEqual(values);
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
