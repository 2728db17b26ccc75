/**
 * The labels file of `cxr train --data` (and `--val`): a CSV with one key column that names the
 * image and one 0/1 column per label. Key columns, in order of preference:
 * - `sop_instance_uid`: the image's SOP Instance UID (0008,0018), read from the file;
 * - `uri`: the object URI exactly as the source lists it (`s3://bucket/key`, `file:///path`);
 * - `file`: the object's base name (the last path segment of its URI), with or without an image
 *   extension (@cxr/evaluation/keys, the same matching as `cxr evaluate`).
 * Every other column is a label unless it is the `--group-by` column or `--labels` names a
 * subset. Errors name the file, line and column, never a cell's content (keys may carry patient
 * data in their folder names).
 */
import { readFile } from 'node:fs/promises';
import { normalizeName, readCsvFile } from '@cxr/csv';

export const LABEL_KEY_COLUMNS = ['sop_instance_uid', 'uri', 'file'] as const;
export type LabelKeyColumn = (typeof LABEL_KEY_COLUMNS)[number];

/** One row of a labels file. */
export interface LabelRow {
  /** 1-based line of the row (the header is line 1). */
  readonly line: number;
  /** Value of the key column, trimmed. */
  readonly key: string;
  /** 0/1 per label, in `LabelsFile.labels` order. */
  readonly values: readonly number[];
  /** Value of the group column (`--group-by`), when one was asked for. */
  readonly group?: string;
}

export interface LabelsFile {
  readonly path: string;
  /** sha256 input: the file's bytes. */
  readonly bytes: Uint8Array;
  readonly keyColumn: LabelKeyColumn;
  /** Label names as the header spells them (trimmed). */
  readonly labels: readonly string[];
  readonly rows: readonly LabelRow[];
}

/** A labels file that cannot be used: one line naming the file (and line/column) and the reason. */
export class LabelsFileError extends Error {
  override readonly name = 'LabelsFileError';
}

export interface ReadLabelsOptions {
  /** Column whose value groups rows (e.g. a site), kept out of the labels. */
  readonly groupBy?: string;
  /** Use only these label columns (header names); default every non-key, non-group column. */
  readonly labels?: readonly string[];
}

/** Reads and validates a labels CSV. Duplicate keys and non-0/1 values are errors. */
export async function readLabelsFile(path: string, options: ReadLabelsOptions = {}): Promise<LabelsFile> {
  const bytes = new Uint8Array(await readFile(path));
  let header: string[] | undefined;
  let keyIndex = -1;
  let keyColumn: LabelKeyColumn | undefined;
  let groupIndex = -1;
  let labelIndexes: number[] = [];
  let labels: string[] = [];
  const rows: LabelRow[] = [];
  const seen = new Map<string, number>();
  for await (const record of readCsvFile(path)) {
    if (header === undefined) {
      header = record.fields.map((f) => f.trim());
      const normalized = header.map(normalizeName);
      for (const candidate of LABEL_KEY_COLUMNS) {
        const index = normalized.indexOf(candidate);
        if (index >= 0) {
          keyIndex = index;
          keyColumn = candidate;
          break;
        }
      }
      if (keyColumn === undefined) {
        throw new LabelsFileError(
          `${path}: line 1: no key column (expected one of ${LABEL_KEY_COLUMNS.join(', ')})`,
        );
      }
      if (options.groupBy !== undefined) {
        groupIndex = normalized.indexOf(normalizeName(options.groupBy));
        if (groupIndex < 0)
          throw new LabelsFileError(`${path}: line 1: no column "${options.groupBy}" (--group-by)`);
      }
      const keyLike = new Set<string>(LABEL_KEY_COLUMNS);
      const candidates = header
        .map((name, index) => ({ name, index }))
        .filter(({ index }) => !keyLike.has(normalized[index]!) && index !== groupIndex);
      if (options.labels !== undefined) {
        const chosen = options.labels.map((wanted) => {
          const found = candidates.find((c) => normalizeName(c.name) === normalizeName(wanted));
          if (found === undefined)
            throw new LabelsFileError(`${path}: line 1: no label column "${wanted}" (--labels)`);
          return found;
        });
        labelIndexes = chosen.map((c) => c.index);
        labels = chosen.map((c) => c.name);
      } else {
        labelIndexes = candidates.map((c) => c.index);
        labels = candidates.map((c) => c.name);
      }
      if (labels.length === 0) throw new LabelsFileError(`${path}: line 1: no label column`);
      if (new Set(labels.map(normalizeName)).size !== labels.length) {
        throw new LabelsFileError(`${path}: line 1: duplicate label column`);
      }
      continue;
    }
    const fields = record.fields;
    if (fields.length !== header.length) {
      throw new LabelsFileError(
        `${path}: line ${record.line}: ${fields.length} fields, the header has ${header.length}`,
      );
    }
    const key = fields[keyIndex]!.trim();
    if (key === '') throw new LabelsFileError(`${path}: line ${record.line}: empty ${keyColumn}`);
    const previous = seen.get(key);
    if (previous !== undefined) {
      throw new LabelsFileError(`${path}: line ${record.line}: same ${keyColumn} as line ${previous}`);
    }
    seen.set(key, record.line);
    const values = labelIndexes.map((index, i) => {
      const raw = fields[index]!.trim();
      if (raw === '0' || raw === '1') return Number(raw);
      throw new LabelsFileError(
        `${path}: line ${record.line}: column "${labels[i]!}": expected 0 or 1${raw === '' ? ' (empty)' : ''}`,
      );
    });
    const group = groupIndex >= 0 ? fields[groupIndex]!.trim() : undefined;
    rows.push({ line: record.line, key, values, ...(group === undefined ? {} : { group }) });
  }
  if (header === undefined || keyColumn === undefined) throw new LabelsFileError(`${path}: empty file`);
  if (rows.length === 0) throw new LabelsFileError(`${path}: no rows`);
  return { path, bytes, keyColumn, labels, rows };
}
