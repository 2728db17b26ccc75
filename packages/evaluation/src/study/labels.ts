/**
 * Ground truth for `cxr evaluate`: a labels CSV read in one of two layouts, recognised by header.
 *
 * - Columns: a key column (`sop_instance_uid`, `uri` or `file`; the first present in that order)
 *   and one column per model label holding 1, 0 or nothing (unknown). Other columns can group
 *   the report (`--group-by site`).
 * - NIH ChestX-ray14 `Data_Entry_2017.csv` as published: `Image Index` is the image file name,
 *   `Finding Labels` the findings separated by `|` ("No Finding" for none). A model label is 1 when
 *   a finding mapped to it is listed and 0 otherwise.
 *
 * Column and finding names map to model labels through a label map (`--label-map`, JSON object or
 * two-column CSV) or by name, compared case-insensitively with spaces, hyphens and underscores
 * equal. Errors name the file, the column and the line, never a cell's content: label files sit
 * beside patient data.
 */
import { readFile } from 'node:fs/promises';
import { baseName } from '../keys.js';
import { normalizeName, readCsvFile } from '@cxr/csv';
import { StudyInputError } from './errors.js';

export type LabelValue = 0 | 1 | null;
export const LABEL_KEY_KINDS = ['sop_instance_uid', 'uri', 'file'] as const;
export type LabelKeyKind = (typeof LABEL_KEY_KINDS)[number];

/** NIH ChestX-ray14 header columns that identify the layout. */
export const NIH_IMAGE_COLUMN = 'Image Index';
export const NIH_FINDINGS_COLUMN = 'Finding Labels';
export const NIH_NO_FINDING = 'No Finding';

export interface LabelRow {
  /** 1-based line of the record in the labels file (the header is line 1). */
  readonly line: number;
  /** The key as read (for `file`: the base name of the value). */
  readonly key: string;
  /** One value per entry of LabelsTable.labels, in that order. */
  readonly values: readonly LabelValue[];
  /** Values of the requested grouping columns, by requested name; null when empty. */
  readonly groups: Readonly<Record<string, string | null>>;
}

export interface LabelsTable {
  readonly source: string;
  readonly layout: 'columns' | 'nih';
  readonly keyKind: LabelKeyKind;
  /** Model labels the file carries, in model order. */
  readonly labels: readonly string[];
  /** Model labels the file does not carry (not evaluated). */
  readonly missing: readonly string[];
  readonly rows: readonly LabelRow[];
  /** Label cells that were empty or explicitly unknown, per label. */
  readonly unknownCells: Readonly<Record<string, number>>;
  readonly notes: readonly string[];
}

/** A labels or label-map file that cannot be used. */
export class LabelsError extends StudyInputError {
  override readonly name = 'LabelsError';
}

/** Source name (column or NIH finding) -> model label, compared by normalizeName. */
export type LabelMap = ReadonlyMap<string, string>;

function checkTargets(map: LabelMap, modelLabels: readonly string[], file: string): void {
  const known = new Set(modelLabels);
  for (const target of map.values()) {
    if (!known.has(target)) {
      throw new LabelsError(
        `${file}: maps to "${target}", which is not a model label (${modelLabels.join(', ')})`,
      );
    }
  }
}

/**
 * Reads a label map: a JSON object `{"Pneumonia": "pneumonia", ...}` or a CSV whose first two
 * columns are source name and model label (with a header line). Several sources may map to one label.
 */
export async function readLabelMap(path: string, modelLabels: readonly string[]): Promise<LabelMap> {
  const text = await readFile(path, 'utf8');
  const map = new Map<string, string>();
  const add = (source: string, target: string, where: string): void => {
    const key = normalizeName(source);
    if (key === '' || target.trim() === '') throw new LabelsError(`${path}: ${where}: empty name`);
    if (map.has(key)) throw new LabelsError(`${path}: ${where}: "${source}" is mapped twice`);
    map.set(key, target.trim());
  };
  if (text.trimStart().startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new LabelsError(`${path}: not valid JSON`);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw new LabelsError(`${path}: expected a JSON object of source name -> model label`);
    }
    for (const [source, target] of Object.entries(json)) {
      if (typeof target !== 'string') throw new LabelsError(`${path}: "${source}": expected a label name`);
      add(source, target, `"${source}"`);
    }
  } else {
    let header = true;
    for await (const { line, fields } of readCsvFile(path)) {
      if (header) {
        header = false;
        continue;
      }
      const [source, target] = fields;
      if (source === undefined || target === undefined) {
        throw new LabelsError(`${path}: line ${line}: expected two columns (source name, model label)`);
      }
      add(source, target, `line ${line}`);
    }
  }
  checkTargets(map, modelLabels, path);
  return map;
}

/** The model label a column or finding name stands for: by the map when given, else by name. */
function modelLabelFor(
  name: string,
  modelLabels: readonly string[],
  map: LabelMap | undefined,
): string | undefined {
  const key = normalizeName(name);
  if (map !== undefined) return map.get(key);
  return modelLabels.find((label) => normalizeName(label) === key);
}

const POSITIVE = new Set(['1', '1.0', 'true']);
const NEGATIVE = new Set(['0', '0.0', 'false']);
// Empty, or said to be unknown. CheXpert-style -1 (uncertain) counts as unknown too.
const UNKNOWN = new Set(['', '-1', '-1.0', 'na', 'nan', 'n/a', 'u', 'unknown', 'uncertain']);

function parseLabelValue(raw: string): LabelValue | undefined {
  const value = raw.trim().toLowerCase();
  if (POSITIVE.has(value)) return 1;
  if (NEGATIVE.has(value)) return 0;
  if (UNKNOWN.has(value)) return null;
  return undefined;
}

export interface ReadLabelsOptions {
  /** The model's labels, in model order. */
  readonly modelLabels: readonly string[];
  readonly labelMap?: LabelMap;
  /** Columns of the labels file to carry for grouping (names as the user typed them). */
  readonly groupColumns?: readonly string[];
}

// Grouping by these would print patient identifiers in the report.
const IDENTIFYING = /patient[\s_-]*(id|name)|birth|accession/i;

function resolveColumns(
  header: readonly string[],
  wanted: readonly string[],
  file: string,
): Map<string, number> {
  const columns = new Map<string, number>();
  for (const name of wanted) {
    if (IDENTIFYING.test(name)) {
      throw new LabelsError(`--group-by ${name}: refused, it would put patient identifiers in the report`);
    }
    const index = header.findIndex((h) => normalizeName(h) === normalizeName(name));
    if (index === -1) throw new LabelsError(`${file}: no column "${name}" to group by`);
    columns.set(name, index);
  }
  return columns;
}

interface Collector {
  readonly rows: LabelRow[];
  readonly firstLine: Map<string, number>;
}

function addRow(collector: Collector, row: LabelRow, keyColumn: string, file: string): void {
  const first = collector.firstLine.get(row.key);
  if (first !== undefined) {
    throw new LabelsError(
      `${file}: line ${row.line}: duplicate key in column ${keyColumn} (first on line ${first})`,
    );
  }
  collector.firstLine.set(row.key, row.line);
  collector.rows.push(row);
}

/** Reads a labels file in either layout (see the module comment). */
export async function readLabelsFile(path: string, options: ReadLabelsOptions): Promise<LabelsTable> {
  const records = readCsvFile(path);
  const first = await records.next();
  if (first.done === true) throw new LabelsError(`${path}: empty file`);
  const header = first.value.fields.map((h) => h.trim());
  const isNih = header.includes(NIH_IMAGE_COLUMN) && header.includes(NIH_FINDINGS_COLUMN);
  return isNih ? readNih(path, header, records, options) : readColumns(path, header, records, options);
}

function groupValues(
  fields: readonly string[],
  columns: ReadonlyMap<string, number>,
): Record<string, string | null> {
  const groups: Record<string, string | null> = {};
  for (const [name, index] of columns) {
    const value = fields[index]?.trim() ?? '';
    groups[name] = value === '' ? null : value;
  }
  return groups;
}

function checkWidth(fields: readonly string[], header: readonly string[], line: number, file: string): void {
  if (fields.length !== header.length) {
    throw new LabelsError(`${file}: line ${line}: ${fields.length} fields, the header has ${header.length}`);
  }
}

async function readColumns(
  path: string,
  header: readonly string[],
  records: AsyncIterable<{ line: number; fields: readonly string[] }>,
  options: ReadLabelsOptions,
): Promise<LabelsTable> {
  const normalized = header.map(normalizeName);
  const keyKind = LABEL_KEY_KINDS.find((kind) => normalized.includes(kind));
  if (keyKind === undefined) {
    throw new LabelsError(
      `${path}: no key column: expected one of ${LABEL_KEY_KINDS.join(', ')} (or NIH's "${NIH_IMAGE_COLUMN}")`,
    );
  }
  const keyIndex = normalized.indexOf(keyKind);
  // Model label -> column index; a label claimed by two columns is ambiguous.
  const labelColumns = new Map<string, number>();
  header.forEach((name, index) => {
    if (index === keyIndex) return;
    const label = modelLabelFor(name, options.modelLabels, options.labelMap);
    if (label === undefined) return;
    if (labelColumns.has(label)) throw new LabelsError(`${path}: two columns hold label "${label}"`);
    labelColumns.set(label, index);
  });
  const labels = options.modelLabels.filter((label) => labelColumns.has(label));
  if (labels.length === 0) {
    throw new LabelsError(
      `${path}: no column matches a model label (${options.modelLabels.join(', ')}); use --label-map to map them`,
    );
  }
  const indices = labels.map((label) => labelColumns.get(label) ?? -1);
  const groupColumns = resolveColumns(header, options.groupColumns ?? [], path);
  const unknownCells: Record<string, number> = Object.fromEntries(labels.map((l) => [l, 0]));
  const collector: Collector = { rows: [], firstLine: new Map() };
  for await (const { line, fields } of records) {
    checkWidth(fields, header, line, path);
    const rawKey = fields[keyIndex]?.trim() ?? '';
    if (rawKey === '') throw new LabelsError(`${path}: line ${line}: empty ${keyKind}`);
    const values = indices.map((index, i): LabelValue => {
      const value = parseLabelValue(fields[index] ?? '');
      const label = labels[i] ?? '';
      if (value === undefined) {
        throw new LabelsError(
          `${path}: line ${line}: column ${header[index] ?? label}: expected 1, 0 or empty`,
        );
      }
      if (value === null) unknownCells[label] = (unknownCells[label] ?? 0) + 1;
      return value;
    });
    const key = keyKind === 'file' ? baseName(rawKey) : rawKey;
    addRow(collector, { line, key, values, groups: groupValues(fields, groupColumns) }, keyKind, path);
  }
  return {
    source: path,
    layout: 'columns',
    keyKind,
    labels,
    missing: options.modelLabels.filter((label) => !labelColumns.has(label)),
    rows: collector.rows,
    unknownCells,
    notes: [],
  };
}

/** The 14 findings of ChestX-ray14 (Wang et al., CVPR 2017), as spelled in Data_Entry_2017.csv. */
export const NIH_FINDINGS = [
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
] as const;

async function readNih(
  path: string,
  header: readonly string[],
  records: AsyncIterable<{ line: number; fields: readonly string[] }>,
  options: ReadLabelsOptions,
): Promise<LabelsTable> {
  const imageIndex = header.indexOf(NIH_IMAGE_COLUMN);
  const findingsIndex = header.indexOf(NIH_FINDINGS_COLUMN);
  const groupColumns = resolveColumns(header, options.groupColumns ?? [], path);
  const collector: Collector = { rows: [], firstLine: new Map() };
  // First the rows with their finding sets; which labels they cover is known once all are read.
  const findingsByRow: string[][] = [];
  const seen = new Set<string>(NIH_FINDINGS);
  seen.add(NIH_NO_FINDING);
  // Published versions differ in a trailing comma; rows are read by position, not strictly by width.
  const needed = Math.max(imageIndex, findingsIndex, ...groupColumns.values()) + 1;
  for await (const { line, fields } of records) {
    if (fields.length < needed) {
      throw new LabelsError(`${path}: line ${line}: ${fields.length} fields, expected at least ${needed}`);
    }
    const image = fields[imageIndex]?.trim() ?? '';
    if (image === '') throw new LabelsError(`${path}: line ${line}: empty ${NIH_IMAGE_COLUMN}`);
    const findings = (fields[findingsIndex] ?? '')
      .split('|')
      .map((f) => f.trim())
      .filter((f) => f !== '');
    if (findings.length === 0) throw new LabelsError(`${path}: line ${line}: empty ${NIH_FINDINGS_COLUMN}`);
    for (const finding of findings) seen.add(finding);
    findingsByRow.push(findings);
    addRow(
      collector,
      { line, key: baseName(image), values: [], groups: groupValues(fields, groupColumns) },
      NIH_IMAGE_COLUMN,
      path,
    );
  }
  // Finding -> model label; findings that map to no label are ignored and named in the notes.
  const findingLabel = new Map<string, string>();
  const ignored: string[] = [];
  for (const finding of seen) {
    const label = modelLabelFor(finding, options.modelLabels, options.labelMap);
    if (label === undefined) ignored.push(finding);
    else findingLabel.set(finding, label);
  }
  const covered = new Set(findingLabel.values());
  const labels = options.modelLabels.filter((label) => covered.has(label));
  if (labels.length === 0) {
    throw new LabelsError(
      `${path}: no NIH finding matches a model label (${options.modelLabels.join(', ')}); use --label-map to map them`,
    );
  }
  const rows = collector.rows.map((row, i): LabelRow => {
    const positive = new Set((findingsByRow[i] ?? []).map((f) => findingLabel.get(f)));
    return { ...row, values: labels.map((label) => (positive.has(label) ? 1 : 0)) };
  });
  const notes =
    ignored.length === 0
      ? []
      : [`NIH findings not mapped to a model label (ignored): ${ignored.sort().join(', ')}`];
  return {
    source: path,
    layout: 'nih',
    keyKind: 'file',
    labels,
    missing: options.modelLabels.filter((label) => !covered.has(label)),
    rows,
    unknownCells: Object.fromEntries(labels.map((l) => [l, 0])),
    notes,
  };
}
