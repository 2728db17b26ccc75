import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle, parseManifest, type ManifestOutput, type ModelManifest } from '../manifest.js';
import { loadRuntime } from '../runtime/select.js';
import { ModelImportError } from './errors.js';
import {
  checkImportedScores,
  importedModelId,
  importOnnxModel,
  type ImportOnnxModelOptions,
} from './import.js';
import { checkLabelNames, parseLabelsText, readLabelsOption, resolveImportLabels } from './labels.js';
import { presetInput, XRV_PATHOLOGIES } from './presets.js';
import { tinyClassifier, type TinyClassifierOptions } from './testing.js';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'cxr-import-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

let counter = 0;
/** Writes a tiny classifier to a fresh folder; returns the .onnx path and a new out folder. */
async function tinyFile(
  options: TinyClassifierOptions = {},
  name = 'tiny.onnx',
): Promise<{ file: string; out: string }> {
  const dir = path.join(root, `case-${counter++}`);
  await mkdir(dir);
  const file = path.join(dir, name);
  await writeFile(file, tinyClassifier(options));
  return { file, out: path.join(dir, 'bundle') };
}

/** Every pixel of the test image equals `value` (in the normalized units the model sees). */
function constantInput(value: number): ImportOnnxModelOptions['testInput'] {
  return (manifest: ModelManifest) => {
    const { size, channels } = manifest.input;
    return Promise.resolve({
      tensor: new Float32Array(channels * size * size).fill(value),
      description: 'constant test image',
    });
  };
}

async function importError(options: ImportOnnxModelOptions): Promise<ModelImportError> {
  const error: unknown = await importOnnxModel(options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ModelImportError);
  return error as ModelImportError;
}

/** A string as a literal regular expression. */
function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

describe('importOnnxModel', () => {
  it('writes a bundle the onnx runtime loads, with the graph facts, the preset and a test run', async () => {
    const { file, out } = await tinyFile({ size: 16, classes: 3 }, 'Tiny Net v2.onnx');
    const result = await importOnnxModel({
      modelPath: file,
      outDir: out,
      labels: ['a', 'b', 'c'],
      testInput: constantInput(2),
      threads: 1,
      date: new Date('2026-12-01T00:00:00Z'),
    });
    const bundle = await loadBundle(out);
    expect(bundle.manifest).toEqual(result.bundle.manifest);
    expect(await readdir(out)).toEqual(['manifest.json', 'model.onnx']);
    expect(await readFile(path.join(out, 'model.onnx'))).toEqual(
      Buffer.from(tinyClassifier({ size: 16, classes: 3 })),
    );
    const m = bundle.manifest;
    expect(m).toMatchObject({
      id: 'Tiny-Net-v2',
      architecture: 'densenet121',
      format: 'onnx',
      weights: ['model.onnx'],
      input: {
        size: 16,
        channels: 1,
        layout: 'NCHW',
        crop: 'center-square',
        resize: 'bilinear',
        intensity: { method: 'bits-stored' },
        normalization: { method: 'xrv' },
      },
      output: {
        activation: 'sigmoid',
        labels: ['a', 'b', 'c'],
        thresholds: { a: 0.5, b: 0.5, c: 0.5 },
        decision: 'thresholds',
      },
      accept: { modalities: ['CR', 'DX'] },
      provenance: {
        date: '2026-12-01T00:00:00.000Z',
        importedFrom: {
          file: 'Tiny Net v2.onnx',
          producer: 'pytorch 1.13.1',
          opset: 17,
          input: { name: 'input', shape: ['batch', 1, 16, 16] },
          output: { name: 'scores', activationNode: 'Sigmoid "sigmoid"' },
        },
        preset: { name: 'xrv' },
        labels: 'given with --labels',
        thresholds: 'operating thresholds are 0.5 for every label, not calibrated on a validation set',
      },
    });
    expect(m.version).toMatch(/^sha256-[0-9a-f]{12}$/);
    // The tiny graph is no DenseNet121, and the bundle says so wherever it is used.
    expect(m.provenance?.warning).toContain('the graph has 0 Conv nodes where DenseNet121 has 120');
    expect(m.provenance?.warning).toMatch(
      /^imported model: operating thresholds are 0\.5 for every label, not calibrated/,
    );
    // Constant input 2: pooled 2, logits W * 2 + b with the tiny head's weights (see testing.ts).
    const w = [-0.75, -0.4, -0.05];
    const b = [-0.3, -0.1, 0.1];
    expect(result.check.scores).toHaveLength(3);
    result.check.scores.forEach((score, k) => {
      expect(score).toBeCloseTo(sigmoid(w[k]! * 2 + b[k]!), 6);
    });
    expect(result.check).toMatchObject({
      input: 'constant test image',
      runtime: expect.stringMatching(/^onnx \(onnxruntime-node/) as unknown,
    });
    // No staging folder is left next to the bundle.
    expect(await readdir(path.dirname(out))).toEqual(['Tiny Net v2.onnx', 'bundle']);
  });

  it('runs a graph with dynamic height and width at --size (the runtime accepts symbolic H and W)', async () => {
    const { file, out } = await tinyFile({ size: 'dynamic', layout: 'NHWC', channels: 3, head: 'softmax' });
    const result = await importOnnxModel({
      modelPath: file,
      outDir: out,
      size: 24,
      testInput: constantInput(1),
      threads: 1,
    });
    expect(result.bundle.manifest.input).toMatchObject({ size: 24, channels: 3, layout: 'NHWC' });
    expect(result.preset).toBe('imagenet');
    expect(result.bundle.manifest.output).toMatchObject({ activation: 'softmax', decision: 'argmax' });
    expect(result.check.scores.reduce((a, s) => a + s, 0)).toBeCloseTo(1, 6);
    const runtime = await loadRuntime(await loadBundle(out), { runtime: 'onnx', threads: 1 });
    try {
      expect((await runtime.predict(new Float32Array(2 * 24 * 24 * 3), 2)).length).toBe(6);
    } finally {
      await runtime.close();
    }
  });

  it('uses placeholders with a warning when no labels are given and the preset has none of that width', async () => {
    const { file, out } = await tinyFile({ classes: 4, head: 'none' });
    const result = await importOnnxModel({
      modelPath: file,
      outDir: out,
      testInput: constantInput(0),
      threads: 1,
    });
    expect(result.bundle.manifest.output).toEqual({
      activation: 'none',
      labels: ['label_0', 'label_1', 'label_2', 'label_3'],
      decision: 'argmax',
    });
    expect(result.warnings).toContain(
      'labels are placeholders label_0..label_3 (no labels given): give the real ones with --labels',
    );
    expect(result.bundle.manifest.provenance?.warning).toContain('scores are raw and decided by argmax');
  });

  it("takes TorchXRayVision's 18 pathologies for an 18-output graph under the xrv preset", async () => {
    const { file, out } = await tinyFile({ classes: 18 });
    const result = await importOnnxModel({
      modelPath: file,
      outDir: out,
      testInput: constantInput(0.5),
      threads: 1,
    });
    expect(result.bundle.manifest.output.labels).toEqual([...XRV_PATHOLOGIES]);
    expect(result.labels.kind).toBe('preset');
    expect(result.bundle.manifest.provenance?.warning).toContain(
      "labels are assumed to be TorchXRayVision's 18 pathologies (datasets.default_pathologies order): check that the weights use this order",
    );
  });

  it('fails the test run and leaves nothing behind when the scores break the declared activation', async () => {
    // Softmax over a size-1 axis: every score is 1, so they sum to 3.
    const { file, out } = await tinyFile({ head: 'softmax-last-of-4d' });
    const error = await importError({
      modelPath: file,
      outDir: out,
      testInput: constantInput(1),
      threads: 1,
    });
    expect(error.code).toBe('check_failed');
    expect(error.message).toBe(
      `${file}: the test run's softmax scores sum to 3, not 1 (is the softmax over the classes?)`,
    );
    expect(await readdir(path.dirname(out))).toEqual(['tiny.onnx']);
  });

  it('fails the test run when the graph returns another number of scores than it declares', async () => {
    const { file, out } = await tinyFile({ classes: 4, declaredClasses: 3 });
    const error = await importError({
      modelPath: file,
      outDir: out,
      testInput: constantInput(1),
      threads: 1,
    });
    expect(error.code).toBe('check_failed');
    expect(error.message).toMatch(
      new RegExp(
        `^${escape(file)}: the written bundle does not load: bundle tiny@sha256-[0-9a-f]{12} \\(${escape(out)}\\): graph output \\[batch,4\\] does not match manifest.output.labels \\(3 labels => \\[batch,3\\]\\)$`,
      ),
    );
    expect(await readdir(path.dirname(out))).toEqual(['tiny.onnx']);
  });

  it('passes an error of the test image through and removes the staged bundle', async () => {
    const { file, out } = await tinyFile();
    const failure = new Error('test.dcm: rejected');
    const error: unknown = await importOnnxModel({
      modelPath: file,
      outDir: out,
      testInput: () => Promise.reject(failure),
    }).catch((e: unknown) => e);
    expect(error).toBe(failure);
    expect(await readdir(path.dirname(out))).toEqual(['tiny.onnx']);
  });

  it('refuses an output folder that holds files, and leaves it as it was', async () => {
    const { file, out } = await tinyFile();
    await mkdir(out);
    await writeFile(path.join(out, 'notes.txt'), 'keep me');
    const error = await importError({ modelPath: file, outDir: out, testInput: constantInput(0) });
    expect(error).toMatchObject({ code: 'out_not_empty' });
    expect(error.message).toBe(`${path.resolve(out)}: already holds files; give an empty or new folder`);
    expect(await readdir(out)).toEqual(['notes.txt']);
  });

  it('fills an existing empty folder', async () => {
    const { file, out } = await tinyFile();
    await mkdir(out);
    await importOnnxModel({ modelPath: file, outDir: out, testInput: constantInput(0), threads: 1 });
    expect((await readdir(out)).sort()).toEqual(['manifest.json', 'model.onnx']);
  });

  it('refuses a file that is not ONNX, naming it', async () => {
    const { out } = await tinyFile();
    const file = path.join(path.dirname(out), 'notes.onnx');
    await writeFile(file, 'this is not a protobuf\n');
    const error = await importError({ modelPath: file, outDir: out, testInput: constantInput(0) });
    expect(error.code).toBe('not_onnx');
    expect(error.message).toMatch(new RegExp(`^${escape(file)}: not an ONNX model \\(`));
    const missing = await importError({
      modelPath: `${file}.missing`,
      outDir: out,
      testInput: constantInput(0),
    });
    expect(missing.message).toBe(`${file}.missing: cannot read (ENOENT)`);
  });

  it('refuses a preset that does not fit the channel count, and labels of the wrong count', async () => {
    const { file, out } = await tinyFile({ channels: 3 });
    const preset = await importError({
      modelPath: file,
      outDir: out,
      preset: 'xrv',
      testInput: constantInput(0),
    });
    expect(preset).toMatchObject({
      code: 'preset_mismatch',
      message: `${file}: preset xrv makes 1-channel inputs but the graph takes 3 (use --preset imagenet)`,
    });
    const labels = await importError({
      modelPath: file,
      outDir: out,
      labels: ['a', 'b'],
      testInput: constantInput(0),
    });
    expect(labels).toMatchObject({
      code: 'labels_invalid',
      message: `${file}: 2 labels given but the graph has 3 outputs`,
    });
  });
});

describe('checkImportedScores', () => {
  const output = (activation: ManifestOutput['activation']): ManifestOutput => ({
    activation,
    labels: ['a', 'b'],
    decision: 'argmax',
  });

  it('accepts probabilities and raw scores that fit the activation', () => {
    expect(() => {
      checkImportedScores([0.2, 0.8], output('softmax'), 'm');
      checkImportedScores([0, 1], output('sigmoid'), 'm');
      checkImportedScores([-7, 12], output('none'), 'm');
    }).not.toThrow();
  });

  it.each<[ManifestOutput['activation'], number[], string]>([
    [
      'sigmoid',
      [0.2, 1.5],
      'm: the test run scored "b" 1.5, outside [0,1] although the graph ends with a sigmoid',
    ],
    ['none', [0.2, Number.NaN], 'm: the test run scored "b" NaN'],
    [
      'softmax',
      [0.2, 0.7],
      "m: the test run's softmax scores sum to 0.8999999999999999, not 1 (is the softmax over the classes?)",
    ],
    ['sigmoid', [0.2], 'm: the test run gave 1 scores, expected 2'],
  ])('refuses %s scores %j', (activation, scores, message) => {
    expect(() => {
      checkImportedScores(scores, output(activation), 'm');
    }).toThrow(message);
  });
});

describe('labels', () => {
  it('reads a JSON array or one label per line', () => {
    expect(parseLabelsText('["Effusion", "Lung Opacity"]\n', 'l.json')).toEqual(['Effusion', 'Lung Opacity']);
    expect(parseLabelsText('\uFEFFEffusion\r\n  Lung Opacity \n\n', 'l.txt')).toEqual([
      'Effusion',
      'Lung Opacity',
    ]);
  });

  it('refuses duplicates, empty names, non-strings and bad JSON, naming the source', () => {
    expect(() => parseLabelsText('a\nb\na\n', 'l.txt')).toThrow('l.txt: label "a" appears twice');
    expect(() => parseLabelsText('["a", ""]', 'l.json')).toThrow('l.json: label 2 is empty');
    expect(() => parseLabelsText('["a", 2]', 'l.json')).toThrow('l.json: expected a JSON array of strings');
    expect(() => parseLabelsText('[a]', 'l.json')).toThrow(/^l\.json: not valid JSON/);
    expect(() => parseLabelsText('\n', 'l.txt')).toThrow('l.txt: no labels');
    expect(() => {
      checkLabelNames([' a'], '--labels');
    }).toThrow('--labels: label 1 " a" has surrounding spaces');
  });

  it('reads --labels as a file when one exists, else as a comma-separated list', async () => {
    const file = path.join(root, 'labels.txt');
    await writeFile(file, 'x\ny\n');
    expect(await readLabelsOption(file)).toEqual(['x', 'y']);
    expect(await readLabelsOption('Effusion, Lung Opacity')).toEqual(['Effusion', 'Lung Opacity']);
    expect(await readLabelsOption('pneumonia')).toEqual(['pneumonia']);
    await expect(readLabelsOption(path.join(root, 'missing.txt'))).rejects.toThrow(
      `${path.join(root, 'missing.txt')}: no such labels file`,
    );
    await expect(readLabelsOption('a,,b')).rejects.toThrow('--labels: label 2 is empty');
  });

  it('resolves given labels, the preset list of the right width, else placeholders', () => {
    expect(resolveImportLabels({ given: ['a'], preset: 'xrv', outputs: 1, file: 'm' }).kind).toBe('given');
    expect(resolveImportLabels({ given: undefined, preset: 'xrv', outputs: 18, file: 'm' }).labels).toEqual([
      ...XRV_PATHOLOGIES,
    ]);
    // The 18 names only fit an 18-wide output; the ImageNet preset knows no chest labels.
    expect(resolveImportLabels({ given: undefined, preset: 'xrv', outputs: 14, file: 'm' }).kind).toBe(
      'placeholder',
    );
    expect(resolveImportLabels({ given: undefined, preset: 'imagenet', outputs: 18, file: 'm' }).kind).toBe(
      'placeholder',
    );
  });
});

describe('presets', () => {
  it('xrv is the TorchXRayVision recipe and imagenet the torchvision one; both validate', () => {
    const xrv = presetInput('xrv', { size: 224, channels: 1, layout: 'NCHW' }, 'm');
    expect(xrv).toEqual({
      size: 224,
      channels: 1,
      layout: 'NCHW',
      crop: 'center-square',
      resize: 'bilinear',
      intensity: { method: 'bits-stored' },
      normalization: { method: 'xrv' },
    });
    const imagenet = presetInput('imagenet', { size: 224, channels: 3, layout: 'NHWC' }, 'm');
    expect(imagenet.normalization).toEqual({
      method: 'imagenet',
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
    });
    for (const input of [xrv, imagenet]) {
      expect(() =>
        parseManifest({
          id: 'm',
          version: '1',
          architecture: 'densenet121',
          format: 'onnx',
          weights: ['model.onnx'],
          input,
          output: { activation: 'sigmoid', labels: ['a'], thresholds: { a: 0.5 }, decision: 'thresholds' },
        }),
      ).not.toThrow();
    }
  });

  it('default ids come from the file name', () => {
    expect(importedModelId('/models/densenet121-res224-all.onnx')).toBe('densenet121-res224-all');
    expect(importedModelId('__.ONNX')).toBe('imported-model');
  });
});
