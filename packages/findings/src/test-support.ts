/**
 * Shared by the findings tests: phantom sources with the canary patient, manifests, results and
 * the Debian verifiers (dciodvfy of dicom3tools, dsrdump and dcmdump of dcmtk).
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import {
  Tag,
  generateChestPhantom,
  littleEndianBytes,
  writeDicom,
  type DataElement,
} from '@cxr/dicom/testing';
import { buildChestDataSet, type ChestImageSpec } from '@cxr/fixtures';
import { parseManifest, type ModelManifest } from '@cxr/model/manifest';
import type { ScreeningResult } from './interpret.js';

const SIZE = { rows: 64, columns: 48 } as const;

/** A small phantom chest CR (canary patient unless `spec` says otherwise), optionally edited. */
export function phantomSource(
  spec: Partial<ChestImageSpec> = {},
  edit: (elements: DataElement[]) => DataElement[] = (elements) => elements,
): Uint8Array {
  const full: ChestImageSpec = { ...SIZE, seed: 'findings', bitsAllocated: 16, bitsStored: 12, ...spec };
  const pixels = generateChestPhantom({ rows: full.rows, columns: full.columns, seed: 3, bitsStored: 12 });
  return writeDicom(edit(buildChestDataSet(full, { kind: 'native', bytes: littleEndianBytes(pixels) })));
}

/** `elements` with the element of `tag` replaced by `value` (same VR), or removed when undefined. */
export function withElement(
  elements: DataElement[],
  tag: number,
  value: DataElement['value'] | undefined,
): DataElement[] {
  const kept = elements.filter((e) => e.tag !== tag);
  const old = elements.find((e) => e.tag === tag);
  return value === undefined || old === undefined ? kept : [...kept, { ...old, value }];
}

export { Tag };

/** The seed model's manifest shape: softmax over three labels, argmax. */
export function argmaxManifest(extra: Record<string, unknown> = {}): ModelManifest {
  return parseManifest({
    id: 'cxr-densenet121-seed',
    version: '0.1.0',
    architecture: 'densenet121',
    format: 'onnx',
    weights: ['model.onnx'],
    input: {
      size: 512,
      channels: 3,
      layout: 'NCHW',
      crop: 'none',
      resize: 'bilinear',
      intensity: { method: 'dicom-window' },
      normalization: { method: 'unit' },
    },
    output: {
      activation: 'softmax',
      labels: ['normal', 'pneumonia', 'further_evaluation'],
      decision: 'argmax',
    },
    provenance: { warning: 'random weights, not a trained model' },
    ...extra,
  });
}

/** A multi-label model deciding by per-label thresholds. */
export function thresholdsManifest(extra: Record<string, unknown> = {}): ModelManifest {
  return parseManifest({
    ...argmaxManifest(),
    id: 'cxr-multilabel',
    version: '2.0.0',
    output: {
      activation: 'sigmoid',
      labels: ['Atelectasis', 'Cardiomegaly', 'Effusion'],
      thresholds: { Atelectasis: 0.4, Cardiomegaly: 0.5, Effusion: 0.6 },
      decision: 'thresholds',
    },
    provenance: undefined,
    ...extra,
  });
}

/** An ok result of `manifest` with the given scores and the decision its rule gives. */
export function okResult(
  manifest: ModelManifest,
  scores: Record<string, number>,
  decision: string,
): ScreeningResult {
  return {
    modelId: manifest.id,
    modelVersion: manifest.version,
    runtime: 'onnx',
    outcome: 'ok',
    scores,
    decision,
  };
}

/** Runs a verifier on bytes written to `path`; returns stdout and stderr (exit status ignored: dciodvfy exits 1 on warnings). */
function runVerifier(command: string, args: readonly string[], path: string, bytes: Uint8Array): string {
  writeFileSync(path, bytes);
  const run = spawnSync(command, [...args, path], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (run.error !== undefined)
    throw new Error(`${command} could not run (install dcmtk / dicom3tools): ${run.error.message}`);
  return `${run.stdout}${run.stderr}`;
}

/** dciodvfy's Error and Warning lines for an object. */
export function dciodvfy(path: string, bytes: Uint8Array): { errors: string[]; warnings: string[] } {
  const lines = runVerifier('dciodvfy', [], path, bytes).split('\n');
  return {
    errors: lines.filter((line) => line.startsWith('Error')),
    warnings: lines.filter((line) => line.startsWith('Warning')),
  };
}

/**
 * dsrdump's rendering of an SR and what it complained about on stderr (its checks of value types,
 * relationship constraints and content items); throws when it could not parse the document.
 */
export function dsrdump(path: string, bytes: Uint8Array): { tree: string; complaints: string } {
  writeFileSync(path, bytes);
  const run = spawnSync('dsrdump', [path], { encoding: 'utf8' });
  if (run.error !== undefined || run.status !== 0) {
    throw new Error(`dsrdump failed (${String(run.status)}): ${run.stderr}`);
  }
  return { tree: run.stdout, complaints: run.stderr };
}

/** dcmdump's dump (long values in full). */
export function dcmdump(path: string, bytes: Uint8Array): string {
  return runVerifier('dcmdump', ['+L'], path, bytes);
}

/** The value column of top-level dcmdump lines for `tag` ("(0010,0010)"), e.g. "[NAME]" or "(no value available)". */
export function topLevelValue(dump: string, tag: string): string | undefined {
  const line = dump.split('\n').find((l) => l.startsWith(tag));
  return line?.slice(tag.length + 4).replace(/\s+#.*$/, '');
}
