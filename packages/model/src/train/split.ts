import { createHash } from 'node:crypto';

export interface SplitCase {
  /** Stable per-patient key (the caller passes a hash of the patient ID, never the ID itself). */
  readonly patientKey: string;
  /** Grouping value (site, scanner) for external validation. */
  readonly group?: string;
}

export interface SplitOptions {
  /** Share of the cases outside the hold-out groups that go to validation, in [0, 1). */
  readonly valFraction: number;
  readonly seed: number;
  /** Groups kept out of training entirely: all their cases go to validation. */
  readonly holdOutGroups?: readonly string[];
}

export interface Split {
  /** Case indices, ascending. */
  readonly train: number[];
  readonly validation: number[];
}

function patientRank(seed: number, patientKey: string): string {
  return createHash('sha256')
    .update(`${seed >>> 0}\0${patientKey}`)
    .digest('hex');
}

/**
 * Splits cases into training and validation by patient: all cases of a patient land on the same
 * side. Patients with any case in a hold-out group go to validation whole (so a patient seen at
 * two sites never leaks into training). The other patients are ordered by sha256(seed, key) —
 * an assignment that depends only on the seed and the patient, not on the order of the rows —
 * and walked in that order, each joining validation while that brings the validation case count
 * closer to valFraction of their cases. At least one patient goes to validation when
 * valFraction > 0 and two or more patients remain. Throws when no training case is left.
 */
export function patientSplit(cases: readonly SplitCase[], options: SplitOptions): Split {
  const { valFraction, seed } = options;
  if (!(valFraction >= 0 && valFraction < 1)) {
    throw new RangeError(`patientSplit: valFraction must be in [0, 1), got ${valFraction}`);
  }
  const holdOut = new Set(options.holdOutGroups ?? []);
  const byPatient = new Map<string, { cases: number[]; heldOut: boolean }>();
  const seenGroups = new Set<string>();
  cases.forEach((c, index) => {
    const held = c.group !== undefined && holdOut.has(c.group);
    if (held) seenGroups.add(c.group);
    const entry = byPatient.get(c.patientKey);
    if (entry === undefined) byPatient.set(c.patientKey, { cases: [index], heldOut: held });
    else {
      entry.cases.push(index);
      entry.heldOut ||= held;
    }
  });
  for (const group of holdOut) {
    if (!seenGroups.has(group))
      throw new RangeError(`patientSplit: hold-out group "${group}" matches no case`);
  }

  const validation: number[] = [];
  const candidates: { rank: string; cases: number[] }[] = [];
  for (const [key, entry] of byPatient) {
    if (entry.heldOut) validation.push(...entry.cases);
    else candidates.push({ rank: patientRank(seed, key), cases: entry.cases });
  }
  candidates.sort((a, b) => (a.rank < b.rank ? -1 : a.rank > b.rank ? 1 : 0));
  const remainingCases = candidates.reduce((sum, p) => sum + p.cases.length, 0);
  const target = valFraction * remainingCases;
  const train: number[] = [];
  let drawn = 0;
  for (const patient of candidates) {
    const k = patient.cases.length;
    if (Math.abs(drawn + k - target) < Math.abs(drawn - target)) {
      validation.push(...patient.cases);
      drawn += k;
    } else train.push(...patient.cases);
  }
  if (drawn === 0 && valFraction > 0 && candidates.length >= 2) {
    // A target below half the first patient's case count would otherwise leave validation empty.
    const first = candidates[0]!.cases;
    validation.push(...first);
    const moved = new Set(first);
    train.splice(0, train.length, ...train.filter((i) => !moved.has(i)));
  }
  if (train.length === 0) {
    throw new RangeError(
      `patientSplit: no training case left (${cases.length} cases, ${byPatient.size} patients, valFraction ${valFraction})`,
    );
  }
  train.sort((a, b) => a - b);
  validation.sort((a, b) => a - b);
  return { train, validation };
}
