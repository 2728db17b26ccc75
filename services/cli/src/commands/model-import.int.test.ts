/**
 * `cxr model import` with DenseNet121s that PyTorch itself exported (packages/fixtures/src/torch_densenet.py,
 * run with Debian's python3-torch and python3-torchvision in this test's setup), then `cxr predict`
 * on real chest CRs compared with PyTorch's own forward pass on the very tensor the pipeline fed
 * the model (`--save-input`), and the xrv preset compared with TorchXRayVision's own recipe.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateChestPhantom, publicDicomPath, writeNativeImage } from '@cxr/dicom/testing';
import { XRV_PATHOLOGIES, type ModelManifest } from '@cxr/model';
import { cxr, expectNoCanary, type RunResult } from '../testing/run-cxr.js';

const run = promisify(execFile);

// Debian's interpreter: python3-torch and python3-torchvision install into its dist-packages, which
// another python3 on the PATH (pyenv, a venv) does not see.
const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('../../../../packages/fixtures/src/torch_densenet.py', import.meta.url));
const MISSING =
  'python3-torch, python3-torchvision and python3-pydicom are needed by this test (scripts/setup.sh installs them)';

// Brief's bound for ORT against PyTorch on the same tensor (measured: below 1e-6).
const TOLERANCE = 1e-4;

/** ChestX-ray14's findings, as a user would pass them for a 14-output model. */
const CHESTXRAY14 = [
  'Atelectasis',
  'Cardiomegaly',
  'Effusion',
  'Infiltration',
  'Mass',
  'Nodule',
  'Pneumonia',
  'Pneumothorax',
  'Consolidation',
  'Edema',
  'Emphysema',
  'Fibrosis',
  'Pleural_Thickening',
  'Hernia',
];

let dir: string;

async function python(...args: string[]): Promise<string> {
  const { stdout } = await run(PYTHON, [SCRIPT, ...args], { maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

/** PyTorch's scores of model `name` on the float32 tensor in `file`. */
async function torchScores(name: string, file: string): Promise<number[]> {
  const out = JSON.parse(await python('score', dir, `${name}=${file}`)) as Record<string, number[]>;
  return out[name]!;
}

function expectOk(result: RunResult): void {
  expect(result.code, result.stderr).toBe(0);
  expectNoCanary(result);
}

function maxAbsDiff(a: readonly number[], b: readonly number[]): number {
  expect(a.length).toBe(b.length);
  return Math.max(...a.map((x, i) => Math.abs(x - b[i]!)));
}

beforeAll(async () => {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: ${MISSING}`);
  try {
    await run(PYTHON, ['-c', 'import torch, torchvision, pydicom']);
  } catch (error) {
    throw new Error(`${PYTHON} cannot import torch, torchvision and pydicom: ${MISSING}`, { cause: error });
  }
  dir = await mkdtemp(join(tmpdir(), 'cxr-model-import-'));
  await python('export', dir);
}, 180_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('cxr model import + cxr predict against PyTorch', () => {
  it(
    "xrv: a 1-channel DenseNet121 becomes a TorchXRayVision bundle whose scores on a real CR are PyTorch's",
    { timeout: 120_000 },
    async () => {
      const bundle = join(dir, 'xrv-bundle');
      const imported = await cxr('model', 'import', join(dir, 'xrv18.onnx'), '--out', bundle);
      expectOk(imported);
      expect(imported.stdout).toContain(
        'output        "scores": 18 scores, activation sigmoid (Sigmoid "/Sigmoid"), decision thresholds',
      );
      expect(imported.stdout).toMatch(
        /^test run {6}synthetic radiograph on onnx \(onnxruntime-node .*\): load \d+ ms, infer \d+ ms$/m,
      );
      expect(imported.stderr).toBe(
        'cxr: warning: operating thresholds are 0.5 for every label, not calibrated on a validation set\n' +
          "cxr: warning: labels are assumed to be TorchXRayVision's 18 pathologies (datasets.default_pathologies order): check that the weights use this order\n",
      );
      const manifest = JSON.parse(await readFile(join(bundle, 'manifest.json'), 'utf8')) as ModelManifest;
      expect(manifest.input).toEqual({
        size: 224,
        channels: 1,
        layout: 'NCHW',
        crop: 'center-square',
        resize: 'bilinear',
        intensity: { method: 'bits-stored' },
        normalization: { method: 'xrv' },
      });
      expect(manifest.output.labels).toEqual([...XRV_PATHOLOGIES]);
      expect(manifest.provenance).toMatchObject({
        importedFrom: { producer: expect.stringMatching(/^pytorch \d/) as unknown, opset: 14 },
      });

      // Fuji CR: 10-bit MONOCHROME1, no preamble: stored / 1023, inverted, 440 -> 224.
      const tensor = join(dir, 'xrv-input.f32');
      const predicted = await cxr(
        'predict',
        publicDicomPath('fuji_cr_mono1_10bit.dcm'),
        '--model',
        bundle,
        '--save-input',
        tensor,
        '--json',
      );
      expectOk(predicted);
      const scores = (JSON.parse(predicted.stdout) as { all_probabilities: Record<string, number> })
        .all_probabilities;
      expect(Object.keys(scores)).toEqual([...XRV_PATHOLOGIES]);
      const values = new Float32Array(new Uint8Array(await readFile(tensor)).buffer);
      expect(values.length).toBe(224 * 224);
      expect(Math.min(...values)).toBeGreaterThanOrEqual(-1024);
      expect(Math.max(...values)).toBeLessThanOrEqual(1024);
      const reference = await torchScores('xrv18', tensor);
      const diff = maxAbsDiff(Object.values(scores), reference);
      expect(diff).toBeLessThan(TOLERANCE);
      // The comparison means something only if the scores are not all saturated or equal.
      expect(new Set(reference.map((s) => s.toFixed(3))).size).toBeGreaterThan(10);
    },
  );

  it(
    'imagenet: a 3-channel DenseNet121 with --labels FILE scores a real CR as PyTorch does',
    { timeout: 120_000 },
    async () => {
      const labels = join(dir, 'labels.txt');
      await writeFile(labels, `${CHESTXRAY14.join('\n')}\n`);
      const bundle = join(dir, 'imagenet-bundle');
      const imported = await cxr(
        'model',
        'import',
        join(dir, 'rgb14.onnx'),
        '--out',
        bundle,
        '--labels',
        labels,
        '--id',
        'chestxray14-densenet121',
        '--version',
        '1.0.0',
        '--test-image',
        publicDicomPath('nih_dx_implicit.dcm'),
        '--json',
      );
      expectOk(imported);
      const report = JSON.parse(imported.stdout) as {
        preset: string;
        bundle: { manifest: ModelManifest };
        check: { input: string; scores: number[] };
      };
      expect(report.preset).toBe('imagenet');
      expect(report.check.input).toBe(publicDicomPath('nih_dx_implicit.dcm'));
      expect(report.check.scores).toHaveLength(14);
      const manifest = report.bundle.manifest;
      expect(manifest).toMatchObject({ id: 'chestxray14-densenet121', version: '1.0.0' });
      expect(manifest.output.labels).toEqual(CHESTXRAY14);
      expect(manifest.input).toMatchObject({
        channels: 3,
        layout: 'NCHW',
        normalization: { method: 'imagenet' },
      });

      const tensor = join(dir, 'imagenet-input.f32');
      const predicted = await cxr(
        'predict',
        publicDicomPath('siim_cr_jpegbaseline.dcm'),
        '--model',
        bundle,
        '--save-input',
        tensor,
        '--json',
      );
      expectOk(predicted);
      const scores = Object.values(
        (JSON.parse(predicted.stdout) as { all_probabilities: Record<string, number> }).all_probabilities,
      );
      const reference = await torchScores('rgb14', tensor);
      expect(maxAbsDiff(scores, reference)).toBeLessThan(TOLERANCE);
      expect(new Set(reference.map((s) => s.toFixed(3))).size).toBeGreaterThan(8);
    },
  );

  it(
    "xrv preset: the pipeline's tensor is TorchXRayVision's (read_xray_dcm, normalize, XRayCenterCrop)",
    { timeout: 60_000 },
    async () => {
      // 12-bit MONOCHROME1 CR, 224 wide and 300 tall: the centre crop is 224 x 224 and no resize is
      // needed (TorchXRayVision's XRayResizer needs skimage, not installed here). The file's window
      // would change every value if it were applied: read_xray_dcm does not apply it.
      const file = join(dir, 'portrait-mono1.dcm');
      const phantom = generateChestPhantom({ rows: 300, columns: 224, seed: 5, bitsStored: 12 });
      await writeFile(
        file,
        writeNativeImage(
          {
            rows: 300,
            columns: 224,
            samplesPerPixel: 1,
            bitsAllocated: 16,
            bitsStored: 12,
            pixelRepresentation: 0,
            photometricInterpretation: 'MONOCHROME1',
            samples: phantom,
          },
          { modality: 'CR', window: { center: 1500, width: 800 } },
        ),
      );
      const ours = join(dir, 'portrait-ours.f32');
      const theirs = join(dir, 'portrait-xrv.f32');
      const predicted = await cxr('predict', file, '--model', join(dir, 'xrv-bundle'), '--save-input', ours);
      expectOk(predicted);
      await python('xrv-recipe', file, theirs);
      const a = new Float32Array(new Uint8Array(await readFile(ours)).buffer);
      const b = new Float32Array(new Uint8Array(await readFile(theirs)).buffer);
      expect(a.length).toBe(224 * 224);
      // The resize step keeps values at 1/65535 steps: 2048 / 65535 / 2 ~ 0.016 on the xrv scale.
      expect(maxAbsDiff([...a], [...b])).toBeLessThan(0.02);
    },
  );
});

describe('cxr model import refusals', () => {
  it('refuses a preset that does not fit the graph and a non-empty --out as usage errors (exit 2)', async () => {
    const preset = await cxr(
      'model',
      'import',
      join(dir, 'rgb14.onnx'),
      '--out',
      join(dir, 'x'),
      '--preset',
      'xrv',
    );
    expect(preset.code).toBe(2);
    expect(preset.stderr).toBe(
      `cxr: ${join(dir, 'rgb14.onnx')}: preset xrv makes 1-channel inputs but the graph takes 3 (use --preset imagenet)\n`,
    );
    const busy = join(dir, 'busy');
    await mkdir(busy);
    await writeFile(join(busy, 'keep.txt'), 'x');
    const notEmpty = await cxr('model', 'import', join(dir, 'rgb14.onnx'), '--out', busy);
    expect(notEmpty.code).toBe(2);
    expect(notEmpty.stderr).toBe(`cxr: ${busy}: already holds files; give an empty or new folder\n`);
    expect(await readdir(busy)).toEqual(['keep.txt']);
  });

  it('rejects a file that is not ONNX (exit 3) and a test image the model does not apply to, writing nothing', async () => {
    const notOnnx = publicDicomPath('siim_cr_jpegbaseline.dcm');
    const bad = await cxr('model', 'import', notOnnx, '--out', join(dir, 'y'));
    expect(bad.code).toBe(3);
    expect(bad.stderr).toMatch(
      new RegExp(`^cxr: ${notOnnx.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not an ONNX model \\(.*\\)\\n$`),
    );
    const ct = publicDicomPath('fo_D_CLUNIE_CT1_RLE_FRAGS.dcm');
    const out = join(dir, 'z');
    const refused = await cxr('model', 'import', join(dir, 'rgb14.onnx'), '--out', out, '--test-image', ct);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toBe(
      `cxr: ${ct}: rejected (not_applicable): not for this model: Modality (0008,0060) CT is not one the model accepts (CR, DX)\n`,
    );
    expect(existsSync(out)).toBe(false);
    expect((await readdir(dir)).filter((name) => name.includes('importing'))).toEqual([]);
  });
});
