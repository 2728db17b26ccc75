/**
 * The truth of a reader study's cases from a labels file (the reader of `cxr evaluate`): each
 * case's stored result is matched by the file's key column (sop_instance_uid, uri, or file, the
 * object's base name as `cxr evaluate` matches it).
 */
import { fileKeyMatcher } from '@cxr/evaluation/keys';
import { readLabelMap, readLabelsFile, type LabelsTable } from '@cxr/evaluation/study';
import type { StoredResult } from '@cxr/store';

export type CaseTruth = Readonly<Record<string, boolean | undefined>>;

/** Reads a labels file for the study's labels (and the label map, if any). */
export async function readStudyLabels(
  path: string,
  labels: readonly string[],
  labelMapPath?: string,
): Promise<LabelsTable> {
  const labelMap = labelMapPath === undefined ? undefined : await readLabelMap(labelMapPath, labels);
  return readLabelsFile(path, { modelLabels: labels, ...(labelMap !== undefined ? { labelMap } : {}) });
}

/** A function giving the truth of a stored result (undefined when no label row matches it). */
export function truthMatcher(
  table: LabelsTable,
  labels: readonly string[],
): (row: StoredResult) => CaseTruth | undefined {
  const byKey = new Map(table.rows.map((row) => [row.key, row]));
  const fileMatch = table.keyKind === 'file' ? fileKeyMatcher(table.rows.map((row) => row.key)) : undefined;
  return (result) => {
    let row;
    if (table.keyKind === 'sop_instance_uid')
      row = result.sopInstanceUid === null ? undefined : byKey.get(result.sopInstanceUid);
    else if (table.keyKind === 'uri') row = byKey.get(result.uri);
    else {
      const index = fileMatch?.(result.uri);
      row = index === undefined ? undefined : table.rows[index];
    }
    if (row === undefined) return undefined;
    const truth: Record<string, boolean | undefined> = {};
    for (const label of labels) {
      const i = table.labels.indexOf(label);
      const value = i === -1 ? null : (row.values[i] ?? null);
      truth[label] = value === null ? undefined : value === 1;
    }
    return truth;
  };
}
