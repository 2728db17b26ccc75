import { readFile, stat } from 'node:fs/promises';
import { ModelImportError } from './errors.js';
import { presetLabels, type ImportPreset } from './presets.js';

/** Output labels of an imported model and where they came from. */
export interface ImportLabels {
  readonly labels: readonly string[];
  /** 'given', the preset's list, or placeholders. */
  readonly kind: 'given' | 'preset' | 'placeholder';
  /** One line for the import report and provenance. */
  readonly source: string;
}

/** Throws labels_invalid unless every label is a non-empty name and no name repeats. */
export function checkLabelNames(labels: readonly string[], source: string): void {
  if (labels.length === 0) throw new ModelImportError('labels_invalid', `${source}: no labels`);
  const seen = new Set<string>();
  labels.forEach((label, i) => {
    if (label.trim() === '') {
      throw new ModelImportError('labels_invalid', `${source}: label ${i + 1} is empty`);
    }
    if (label !== label.trim()) {
      throw new ModelImportError(
        'labels_invalid',
        `${source}: label ${i + 1} "${label}" has surrounding spaces`,
      );
    }
    if (seen.has(label)) {
      throw new ModelImportError('labels_invalid', `${source}: label "${label}" appears twice`);
    }
    seen.add(label);
  });
}

/**
 * The labels of a labels file: a JSON array of strings, or else one label per line (surrounding
 * spaces trimmed, blank lines skipped). `source` names the file in errors.
 */
export function parseLabelsText(text: string, source: string): string[] {
  const body = text.replace(/^\uFEFF/, '').trim();
  let labels: string[];
  if (body.startsWith('[')) {
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch (cause) {
      const detail = cause instanceof Error ? cause.message : String(cause);
      throw new ModelImportError('labels_invalid', `${source}: not valid JSON (${detail})`, { cause });
    }
    if (!Array.isArray(json) || !json.every((x): x is string => typeof x === 'string')) {
      throw new ModelImportError('labels_invalid', `${source}: expected a JSON array of strings`);
    }
    labels = json;
  } else {
    labels = body
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter((line) => line !== '');
  }
  checkLabelNames(labels, source);
  return labels;
}

async function isFile(candidate: string): Promise<boolean> {
  try {
    return (await stat(candidate)).isFile();
  } catch {
    return false;
  }
}

/**
 * The value of `--labels`: an existing file is read (parseLabelsText); anything else is a
 * comma-separated list. A value that looks like a path but names no file is an error rather than
 * a one-label list called "labels.txt".
 */
export async function readLabelsOption(value: string): Promise<readonly string[]> {
  if (await isFile(value)) {
    let text: string;
    try {
      text = await readFile(value, 'utf8');
    } catch (cause) {
      throw new ModelImportError('labels_invalid', `${value}: cannot read the labels file`, { cause });
    }
    return parseLabelsText(text, value);
  }
  if (!value.includes(',') && (/[/\\]/.test(value) || /\.(txt|json|csv)$/i.test(value))) {
    throw new ModelImportError('labels_invalid', `${value}: no such labels file`);
  }
  const labels = value.split(',').map((label) => label.trim());
  checkLabelNames(labels, '--labels');
  return labels;
}

/**
 * The labels for `outputs` scores: the given ones (their count must match), else the preset's
 * list when it has one of that length, else placeholders label_0..label_{n-1}.
 */
export function resolveImportLabels(options: {
  readonly given: readonly string[] | undefined;
  readonly preset: ImportPreset;
  readonly outputs: number;
  readonly file: string;
}): ImportLabels {
  const { given, preset, outputs, file } = options;
  if (given !== undefined) {
    checkLabelNames(given, 'labels');
    if (given.length !== outputs) {
      throw new ModelImportError(
        'labels_invalid',
        `${file}: ${given.length} labels given but the graph has ${outputs} outputs`,
      );
    }
    return { labels: [...given], kind: 'given', source: 'given with --labels' };
  }
  const known = presetLabels(preset, outputs);
  if (known !== undefined) return { labels: [...known.labels], kind: 'preset', source: known.source };
  return {
    labels: Array.from({ length: outputs }, (_, i) => `label_${i}`),
    kind: 'placeholder',
    source: `placeholders label_0..label_${outputs - 1} (no labels given)`,
  };
}
