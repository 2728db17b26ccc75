/**
 * `cxr model init | export-onnx | info` and `cxr predict` as a user runs them. The seed model is
 * built at 32x32 to keep the test fast; the architecture is the full DenseNet121 all the same.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  RUNTIME_CHOICES as CONFIG_RUNTIME_CHOICES,
  ONNX_EXECUTION_PROVIDERS as CONFIG_PROVIDERS,
} from '@cxr/config';
import { publicDicomPath } from '@cxr/dicom/testing';
import { ONNX_EXECUTION_PROVIDERS, RUNTIME_CHOICES, SEED_WEIGHTS_WARNING } from '@cxr/model';
import { cxr, cxrWithEnv, expectNoCanary, fixturePath as fixture } from './testing/run-cxr.js';

let dir: string;
const SEED_WARNING_LINE = `cxr: warning: model cxr-seed-densenet121: ${SEED_WEIGHTS_WARNING}`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cxr-model-cli-'));
  const tfjs = await cxr(
    'model',
    'init',
    '--out',
    join(dir, 'tfjs'),
    '--size',
    '32',
    '--format',
    'tfjs-layers',
    '--seed',
    '7',
  );
  expect(tfjs.code, tfjs.stderr).toBe(0);
  const onnx = await cxr('model', 'export-onnx', join(dir, 'tfjs'), '--out', join(dir, 'onnx'));
  expect(onnx.code, onnx.stderr).toBe(0);
}, 180_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('configuration contract', () => {
  it('config and model agree on runtime names and execution providers', () => {
    expect([...CONFIG_RUNTIME_CHOICES]).toEqual([...RUNTIME_CHOICES]);
    expect([...CONFIG_PROVIDERS].sort()).toEqual([...ONNX_EXECUTION_PROVIDERS].sort());
  });
});

describe('cxr model', () => {
  it('init writes a seeded tfjs-layers bundle with the full DenseNet121 parameter count', async () => {
    const result = await cxr('model', 'info', join(dir, 'tfjs'), '--json');
    expect(result.code, result.stderr).toBe(0);
    const info = JSON.parse(result.stdout) as {
      manifest: { format: string; input: { size: number }; output: { labels: string[] } };
      parameterCount: number;
      runtimes: { runtime: string; canLoad: boolean; reason?: string }[];
    };
    expect(info.manifest.format).toBe('tfjs-layers');
    expect(info.manifest.input.size).toBe(32);
    expect(info.manifest.output.labels).toEqual(['normal', 'pneumonia', 'further_evaluation']);
    // DenseNet121 base (7,037,504) + Dense(1024->256) + Dense(256->3).
    expect(info.parameterCount).toBe(7_037_504 + 1024 * 256 + 256 + 256 * 3 + 3);
    const byName = Object.fromEntries(info.runtimes.map((r) => [r.runtime, r]));
    expect(byName['tfjs-wasm']?.canLoad).toBe(true);
    expect(byName.onnx?.canLoad).toBe(false);
    expect(byName['tfjs-node']).toMatchObject({
      canLoad: false,
      reason: expect.stringContaining('not installed') as unknown,
    });
  });

  it('export-onnx writes an ONNX bundle that the onnx runtime can load', async () => {
    const manifest = JSON.parse(await readFile(join(dir, 'onnx', 'manifest.json'), 'utf8')) as {
      format: string;
      weights: string[];
    };
    expect(manifest).toMatchObject({ format: 'onnx', weights: ['model.onnx'] });
    const result = await cxr('model', 'info', join(dir, 'onnx'));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^ {2}onnx\s+yes$/m);
  });

  it('refuses a folder without a manifest with one line naming the problem', async () => {
    const result = await cxr('model', 'info', dir);
    expect(result.code).toBe(1);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('manifest.json');
  });
});

describe('cxr predict', () => {
  it('answers in the seed response shape with model, runtime and timings', async () => {
    const result = await cxr('predict', fixture('jpeg-lossless-sv1'), '--model', join(dir, 'onnx'), '--json');
    expect(result.code, result.stderr).toBe(0);
    const response = JSON.parse(result.stdout) as {
      diagnosis: string;
      confidence: number;
      all_probabilities: Record<string, number>;
      model: { id: string; version: string };
      runtime: { name: string };
      timings_ms: Record<string, number>;
    };
    const probabilities = Object.values(response.all_probabilities);
    expect(Object.keys(response.all_probabilities)).toEqual(['normal', 'pneumonia', 'further_evaluation']);
    expect(probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect(response.confidence).toBe(Math.max(...probabilities));
    expect(response.all_probabilities[response.diagnosis]).toBe(response.confidence);
    expect(response.model.id).toBe('cxr-seed-densenet121');
    expect(response.runtime.name).toBe('onnx');
    expect(response.timings_ms.infer).toBeGreaterThan(0);
    // The command's time split (issue 13): start-up (process start to the action), the action's
    // modules, the model, decoding, preprocessing and inference.
    expect(Object.keys(response.timings_ms)).toEqual([
      'startup',
      'load_modules',
      'load_model',
      'read_and_decode',
      'decode',
      'preprocess',
      'infer',
    ]);
    expect(response.timings_ms.startup).toBeGreaterThan(0);
    expect(response.timings_ms.load_modules).toBeGreaterThan(0);
    expectNoCanary(result);
    // The seed bundle's weights are random, and predict says so (audit finding 5).
    expect(result.stderr).toBe(`${SEED_WARNING_LINE}\n`);
  });

  it('refuses images the model does not apply to, unscored: CT, multi-frame, palette (audit finding 5)', async () => {
    const cases = [
      ['fo_D_CLUNIE_CT1_RLE_FRAGS.dcm', 'Modality (0008,0060) CT is not one the model accepts (CR, DX)'],
      ['fo_multiframe.dcm', 'Modality (0008,0060) SC is not one the model accepts (CR, DX)'],
      [
        'other_TestPattern_Palette_16.jpeg_ls_lossless.dcm',
        'Modality (0008,0060) OT is not one the model accepts (CR, DX)',
      ],
    ] as const;
    for (const [name, why] of cases) {
      const file = publicDicomPath(name);
      const result = await cxr('predict', file, '--model', join(dir, 'onnx'), '--json');
      expect(result.code, result.stderr).toBe(3);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe(
        `${SEED_WARNING_LINE}\ncxr: ${file}: rejected (not_applicable): not for this model: ${why}\n`,
      );
    }
  });

  it('gives the same scores on tfjs-wasm (tfjs-layers bundle) as on onnx (exported bundle)', async () => {
    const file = fixture('monochrome1');
    const [onnx, wasm] = await Promise.all([
      cxr('predict', file, '--model', join(dir, 'onnx'), '--json'),
      cxrWithEnv({ CXR_RUNTIME: 'tfjs-wasm' }, 'predict', file, '--model', join(dir, 'tfjs'), '--json'),
    ]);
    expect(onnx.code, onnx.stderr).toBe(0);
    expect(wasm.code, wasm.stderr).toBe(0);
    const a = (JSON.parse(onnx.stdout) as { all_probabilities: Record<string, number> }).all_probabilities;
    const b = (JSON.parse(wasm.stdout) as { all_probabilities: Record<string, number> }).all_probabilities;
    for (const label of Object.keys(a)) expect(Math.abs(a[label]! - b[label]!)).toBeLessThan(1e-4);
  });

  it('rejects a bad file with the same one-line error as cxr dicom decode', async () => {
    const file = fixture('truncated');
    const [predict, decode] = await Promise.all([
      cxr('predict', file, '--model', join(dir, 'onnx')),
      cxr('dicom', 'decode', file, '--out', join(dir, 'x.f32')),
    ]);
    expect(predict.code).toBe(3);
    // The seed model's warning, then the same one rejection line.
    expect(predict.stderr).toBe(`${SEED_WARNING_LINE}\n${decode.stderr}`);
    expect(decode.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('refuses an unknown runtime name as a usage error', async () => {
    const result = await cxr(
      'predict',
      fixture('truncated'),
      '--model',
      join(dir, 'onnx'),
      '--runtime',
      'pytorch',
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('--runtime must be one of auto, onnx');
  });
});
