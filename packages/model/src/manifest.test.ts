import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  acceptRulesOf,
  DEFAULT_ACCEPT,
  loadBundle,
  ModelBundleError,
  parseManifest,
  readManifest,
  withManifestReference,
  writeBundle,
  writeManifestReference,
  type ModelManifest,
} from './manifest.js';

function validManifest(): ModelManifest {
  return {
    id: 'cxr-test',
    version: '1.0.0',
    architecture: 'densenet121',
    format: 'onnx',
    weights: ['model.onnx'],
    input: {
      size: 512,
      channels: 3,
      layout: 'NCHW',
      crop: 'center-square',
      resize: 'bilinear',
      intensity: { method: 'percentiles', low: 0.5, high: 99.5 },
      normalization: { method: 'imagenet', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
    },
    output: {
      activation: 'sigmoid',
      labels: ['atelectasis', 'effusion'],
      thresholds: { atelectasis: 0.3, effusion: 0.6 },
      decision: 'thresholds',
    },
    reference: {
      version: 1,
      n: 12,
      source: {
        kind: 'run',
        runId: 'validation-2026-11',
        modelId: 'cxr-test',
        modelVersion: '1.0.0',
        computedAt: '2026-11-27T00:00:00.000Z',
      },
      scores: { effusion: { edges: [0, 0.5, 1], probabilities: [0.75, 0.25], n: 12 } },
      numeric: { bits_stored: { edges: [11, 11.5, 12.5, 13], probabilities: [0, 1, 0], n: 12 } },
      categorical: { manufacturer: { probabilities: { ACME: 0.5, unknown: 0.25, other: 0.25 }, n: 12 } },
    },
    provenance: {
      trainingData: 'ChestX-ray14 train split',
      metrics: { auroc: 0.81 },
      date: '2026-11-01T00:00:00Z',
      seed: 1,
    },
  };
}

const DELETE = Symbol('delete');

/** Sets (or deletes) a dotted path in a fresh valid manifest and returns parseManifest's error message. */
function errorFor(...edits: [string, unknown][]): string {
  const m = structuredClone(validManifest()) as unknown as Record<string, unknown>;
  for (const [dotted, value] of edits) {
    const keys = dotted.split('.');
    let target = m;
    for (const key of keys.slice(0, -1)) target = target[key] as Record<string, unknown>;
    const last = keys[keys.length - 1]!;
    if (value === DELETE) Reflect.deleteProperty(target, last);
    else target[last] = value;
  }
  try {
    parseManifest(m);
  } catch (error) {
    expect(error).toBeInstanceOf(ModelBundleError);
    expect((error as ModelBundleError).code).toBe('manifest_invalid');
    return (error as Error).message;
  }
  throw new Error('expected parseManifest to throw');
}

describe('parseManifest', () => {
  it('accepts a valid multi-label manifest with a version 1 drift reference', () => {
    const m = parseManifest(validManifest());
    expect(m.output.labels).toEqual(['atelectasis', 'effusion']);
    expect(m.reference).toEqual(validManifest().reference);
  });

  it.each([
    ['input.size: expected a positive integer', 'input.size', 0],
    ['input.size: expected a positive integer', 'input.size', 224.5],
    ['input.size: required', 'input.size', DELETE],
    ['id: required', 'id', DELETE],
    ['format: expected "onnx" | "tfjs-layers"', 'format', 'pt'],
    ['architecture: expected "densenet121"', 'architecture', 'resnet50'],
    ['input.channels: expected 1 or 3', 'input.channels', 2],
    ['input.layout: expected "NHWC" | "NCHW"', 'input.layout', 'CHW'],
    ['input.resize: expected "nearest" | "bilinear" | "cubic" | "lanczos3"', 'input.resize', 'area'],
    ['input.intensity.high: expected low < high', 'input.intensity.high', 0.1],
    ['input.normalization.std: expected 3 value(s)', 'input.normalization.std', [0.2]],
    ['input.normalization.method: expected', 'input.normalization', { method: 'zscore' }],
    ['output.labels[1]: duplicate label "atelectasis"', 'output.labels', ['atelectasis', 'atelectasis']],
    ['output.thresholds.nodule: not one of output.labels', 'output.thresholds.nodule', 0.5],
    ['output.thresholds.effusion: expected a number in [0,1]', 'output.thresholds.effusion', 1.5],
    [
      'output.thresholds.effusion: required when decision is "thresholds"',
      'output.thresholds.effusion',
      DELETE,
    ],
    ['output.activation: expected "softmax" | "sigmoid" | "none"', 'output.activation', 'relu'],
    ['output.normalLabel: not one of output.labels', 'output.normalLabel', 'no_finding'],
    ['weights[0]: expected a relative file name', 'weights', ['../model.onnx']],
    ['weights: format onnx expects exactly one .onnx file', 'weights', ['model.json']],
    [
      'reference.scores.effusion.probabilities: expected edges.length - 1 probabilities',
      'reference.scores.effusion.probabilities',
      [1],
    ],
    [
      'reference.scores.effusion.probabilities: expected probabilities summing to 1',
      'reference.scores.effusion.probabilities',
      [0.5, 0.25],
    ],
    [
      'reference.scores.effusion.edges[2]: expected strictly increasing',
      'reference.scores.effusion.edges',
      [0, 1, 1],
    ],
    [
      'reference.scores.nodule: not one of output.labels',
      'reference.scores.nodule',
      { edges: [0, 1], probabilities: [1], n: 1 },
    ],
    ['reference.version: expected version 1', 'reference.version', 2],
    ['reference.n: expected a positive integer', 'reference.n', 0],
    [
      'reference.numeric: unknown key(s) "pixel_spacing"',
      'reference.numeric.pixel_spacing',
      { edges: [0, 1], probabilities: [1], n: 1 },
    ],
    [
      'reference.categorical.manufacturer.probabilities.other: required',
      'reference.categorical.manufacturer.probabilities',
      { ACME: 1 },
    ],
    [
      'reference.categorical.manufacturer.probabilities.ACME: expected a probability in [0,1]',
      'reference.categorical.manufacturer.probabilities.ACME',
      1.5,
    ],
    ['reference.source.computedAt: expected an ISO 8601 date-time', 'reference.source.computedAt', 'today'],
    ['reference: unknown key(s) "note"', 'reference.note', 'free-form'],
    ['provenance.date: expected an ISO 8601 date-time', 'provenance.date', 'yesterday'],
    ['provenance.warning: expected a non-empty string', 'provenance.warning', ''],
    ['accept.modalities: expected at least one value (leave the key out', 'accept', { modalities: [] }],
    ['accept.sopClassUids[0]: expected a UID', 'accept', { sopClassUids: ['CR Image Storage'] }],
    ['accept.minRows: expected a positive integer', 'accept', { minRows: 0 }],
    ['accept.singleFrame: expected boolean', 'accept', { singleFrame: 'yes' }],
    ['accept: unknown key(s) "modality"', 'accept', { modality: 'CR' }],
    ['(root): unknown key(s) "labels"', 'labels', []],
  ])('names the bad field: %s', (expected, dotted, value) => {
    const message = errorFor([dotted, value]);
    expect(message.startsWith('manifest.json: ')).toBe(true);
    expect(message).toContain(expected);
    expect(message).not.toContain('\n');
  });

  it('keeps a bundle without accept loadable: it gets the chest radiograph rules', () => {
    const m = parseManifest(validManifest());
    expect(m.accept).toBeUndefined();
    expect(acceptRulesOf(m)).toEqual({
      modalities: ['CR', 'DX'],
      bodyParts: ['CHEST', 'THORAX', 'LUNG'],
      photometric: ['MONOCHROME1', 'MONOCHROME2'],
      minRows: 128,
      minColumns: 128,
      singleFrame: true,
    });
    expect(acceptRulesOf(m)).toBe(DEFAULT_ACCEPT);
    const own = parseManifest({ ...validManifest(), accept: { modalities: ['CT'], minRows: 256 } });
    expect(acceptRulesOf(own)).toEqual({ modalities: ['CT'], minRows: 256 });
    expect(acceptRulesOf(parseManifest({ ...validManifest(), accept: {} }))).toEqual({});
  });

  it('lists every bad field, not only the first', () => {
    const message = errorFor(['input.size', -1], ['output.decision', 'vote']);
    expect(message).toContain('input.size: expected a positive integer');
    expect(message).toContain('output.decision: expected "argmax" | "thresholds"');
  });

  it('allows raw-score thresholds outside [0,1] when the graph applies no activation', () => {
    const m = validManifest();
    expect(() =>
      parseManifest({
        ...m,
        output: { ...m.output, activation: 'none', thresholds: { atelectasis: -2, effusion: 3 } },
      }),
    ).not.toThrow();
  });

  it('accepts an optional findings section: summary image, series number, standard codes of labels', () => {
    const m = validManifest();
    const findings = {
      summaryImage: true,
      seriesNumber: 9100,
      codes: { effusion: { value: '41699000', scheme: 'SCT', meaning: 'Effusion' } },
    };
    expect(parseManifest({ ...m, findings }).findings).toEqual(findings);
    expect(parseManifest(m).findings).toBeUndefined();
  });

  it('refuses findings codes for unknown labels, codes DICOM cannot hold and unknown keys', () => {
    const m = validManifest();
    const message = (() => {
      try {
        parseManifest({
          ...m,
          findings: {
            codes: {
              nodule: { value: '27925004', scheme: 'SCT', meaning: 'Nodule' },
              effusion: { value: '41699000', scheme: 'SNOMED-CT-INTERNATIONAL', meaning: 'Effusion' },
            },
            seriesNumber: 0,
            colour: 'red',
          },
        });
      } catch (error) {
        return (error as Error).message;
      }
      return '';
    })();
    expect(message).toContain('findings.codes.nodule: not one of output.labels');
    expect(message).toContain('findings.codes.effusion.scheme: expected at most 16 characters');
    expect(message).toContain('findings.seriesNumber: expected a positive integer');
    expect(message).toContain('findings: unknown key(s) "colour"');
  });
});

describe('bundle folders', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'cxr-manifest-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes and loads a bundle', async () => {
    const out = path.join(dir, 'ok');
    await writeBundle(out, validManifest(), { 'model.onnx': new Uint8Array([1, 2, 3]) });
    const bundle = await loadBundle(out);
    expect(bundle.manifest.id).toBe('cxr-test');
    expect(bundle.weightPaths).toEqual([path.join(out, 'model.onnx')]);
  });

  it('refuses a bundle whose weight file is missing, naming the file', async () => {
    const out = path.join(dir, 'missing');
    await writeBundle(out, validManifest(), { 'model.onnx': new Uint8Array([1]) });
    await rm(path.join(out, 'model.onnx'));
    await expect(loadBundle(out)).rejects.toThrow('manifest.json: weights[0]: file "model.onnx" is missing');
    await expect(loadBundle(out)).rejects.toMatchObject({ code: 'weights_missing' });
  });

  it('refuses to write a bundle without the content of a named weight file', async () => {
    await expect(writeBundle(path.join(dir, 'x'), validManifest(), {})).rejects.toThrow(
      /weights\[0\]: no content for "model.onnx"/,
    );
  });

  it('reports a missing manifest and a manifest that is not JSON', async () => {
    await expect(readManifest(path.join(dir, 'nowhere'))).rejects.toMatchObject({ code: 'manifest_missing' });
    const bad = path.join(dir, 'bad');
    await writeBundle(bad, validManifest(), { 'model.onnx': new Uint8Array([1]) });
    await writeFile(path.join(bad, 'manifest.json'), '{"id": ');
    await expect(readManifest(bad)).rejects.toMatchObject({ code: 'manifest_not_json' });
  });
});

describe('withManifestReference', () => {
  const withoutReference = (): Omit<ModelManifest, 'reference'> => {
    const { reference: _dropped, ...rest } = validManifest();
    return rest;
  };
  const newReference = (): NonNullable<ModelManifest['reference']> => ({
    ...validManifest().reference!,
    n: 40,
    scores: { atelectasis: { edges: [0, 0.5, 1], probabilities: [0.25, 0.75], n: 40 } },
  });

  it('appends the member and keeps every other byte, with the indentation of the file', () => {
    // Hand-formatted: odd spacing and key order that JSON.stringify would not reproduce.
    const original =
      JSON.stringify(withoutReference(), null, 4).replace('"id": "cxr-test"', '"id":   "cxr-test"') + '\n';
    const out = withManifestReference(original, newReference());
    const cut = original.lastIndexOf('\n}');
    expect(out.slice(0, cut)).toBe(original.slice(0, cut));
    expect(out.slice(cut)).toBe(
      `,\n    "reference": ${JSON.stringify(newReference(), null, 4).replaceAll('\n', '\n    ')}\n}\n`,
    );
    expect(parseManifest(JSON.parse(out)).reference).toEqual(newReference());
  });

  it('replaces an existing reference in place', () => {
    const original = JSON.stringify(validManifest(), null, 2);
    const out = withManifestReference(original, newReference());
    const start = original.indexOf('"reference": ') + '"reference": '.length;
    const end = original.indexOf('\n  "provenance"') - 1; // the comma after the old value
    expect(out.slice(0, start)).toBe(original.slice(0, start));
    expect(out.slice(out.length - (original.length - end))).toBe(original.slice(end));
    expect(JSON.parse(out)).toEqual({ ...validManifest(), reference: newReference() });
  });

  it('refuses a reference that does not validate, naming the field', () => {
    const bad = { ...newReference(), scores: { nodule: { edges: [0, 1], probabilities: [1], n: 1 } } };
    expect(() => withManifestReference(JSON.stringify(validManifest()), bad)).toThrow(
      'reference.scores.nodule: not one of output.labels',
    );
  });

  it('writeManifestReference replaces manifest.json atomically (no temporary file left)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cxr-manifest-ref-'));
    try {
      await writeBundle(dir, validManifest(), { 'model.onnx': new Uint8Array([1]) });
      const manifest = await writeManifestReference(dir, newReference());
      expect(manifest.reference).toEqual(newReference());
      expect((await readManifest(dir)).reference).toEqual(newReference());
      expect((await readdir(dir)).sort()).toEqual(['manifest.json', 'model.onnx']);
      const before = await readFile(path.join(dir, 'manifest.json'), 'utf8');
      await expect(writeManifestReference(dir, { version: 2 })).rejects.toThrow(/reference\.version/);
      expect(await readFile(path.join(dir, 'manifest.json'), 'utf8')).toBe(before);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
