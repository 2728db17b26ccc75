/**
 * The design of a reader study, pure and seeded: which cases (a stratified sample of a run's ok
 * results) and, for each reader, the sequence of (case, arm) readings.
 *
 * - Sampling: cases are grouped by stratum (the truth's positive labels when a labels file is
 *   given, else the model's stored decision); each stratum gets its share of N by largest
 *   remainder (at least one case per non-empty stratum while N allows), drawn without
 *   replacement by a seeded shuffle.
 * - crossover: the cases are split at random into halves A and B, the readers (in a shuffled
 *   order) into groups alternately. Session 1: every case once, group 1 reads A with the AI and B
 *   without, group 2 the opposite. Session 2, after the washout: every case again in the other
 *   arm, in a new shuffled order. So each reader reads each case once per arm, half the readers
 *   start with the AI on each half of the cases, and arm and session are balanced.
 * - sequential: per case, without the AI and immediately after with it (cases in a shuffled
 *   order per reader).
 */
import { mulberry32 } from '@cxr/evaluation';
import type { StudyArm, StudyAssignment, StudyDesign } from '@cxr/store';

/** A seeded Fisher-Yates shuffle (a copy). */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** How many of `n` each stratum gets: proportional, largest remainder, each non-empty stratum >= 1 while n allows. */
export function allocate(sizes: ReadonlyMap<string, number>, n: number): Map<string, number> {
  const total = [...sizes.values()].reduce((a, b) => a + b, 0);
  if (!Number.isInteger(n) || n < 1) throw new RangeError('the number of cases must be a positive integer');
  if (n > total) throw new RangeError(`asked for ${n} cases, the run has ${total} ok results`);
  const keys = [...sizes.keys()].sort();
  const quota = new Map(keys.map((k) => [k, (n * (sizes.get(k) ?? 0)) / total]));
  const counts = new Map(keys.map((k) => [k, Math.floor(quota.get(k) ?? 0)]));
  // At least one case of every stratum (a rare finding is represented), taken from the largest.
  for (const k of keys) {
    if ((counts.get(k) ?? 0) === 0 && (sizes.get(k) ?? 0) > 0 && keys.length <= n) counts.set(k, 1);
  }
  let assigned = [...counts.values()].reduce((a, b) => a + b, 0);
  while (assigned > n) {
    const largest = keys.reduce((a, b) => ((counts.get(b) ?? 0) > (counts.get(a) ?? 0) ? b : a));
    counts.set(largest, (counts.get(largest) ?? 0) - 1);
    assigned -= 1;
  }
  const byRemainder = [...keys].sort(
    (a, b) =>
      (quota.get(b) ?? 0) - (counts.get(b) ?? 0) - ((quota.get(a) ?? 0) - (counts.get(a) ?? 0)) ||
      (a < b ? -1 : 1),
  );
  for (let i = 0; assigned < n; i = (i + 1) % byRemainder.length) {
    const k = byRemainder[i]!;
    if ((counts.get(k) ?? 0) < (sizes.get(k) ?? 0)) {
      counts.set(k, (counts.get(k) ?? 0) + 1);
      assigned += 1;
    }
  }
  return counts;
}

/** A stratified, seeded sample of `n` candidates; returned in a shuffled order. */
export function sampleStratified<T>(
  candidates: readonly T[],
  stratumOf: (candidate: T) => string,
  n: number,
  random: () => number,
): T[] {
  const strata = new Map<string, T[]>();
  for (const candidate of candidates) {
    const key = stratumOf(candidate);
    const list = strata.get(key) ?? [];
    list.push(candidate);
    strata.set(key, list);
  }
  const counts = allocate(new Map([...strata].map(([k, v]) => [k, v.length])), n);
  const chosen: T[] = [];
  for (const key of [...strata.keys()].sort()) {
    chosen.push(...shuffled(strata.get(key) ?? [], random).slice(0, counts.get(key) ?? 0));
  }
  return shuffled(chosen, random);
}

/** Every reader's reading sequence (positions 0..2N-1) for the design. */
export function assignReadings(
  design: StudyDesign,
  readerIds: readonly string[],
  caseIds: readonly string[],
  random: () => number,
): StudyAssignment[] {
  if (readerIds.length === 0) throw new RangeError('a study needs at least one reader');
  if (caseIds.length === 0) throw new RangeError('a study needs at least one case');
  const assignments: StudyAssignment[] = [];
  if (design === 'sequential') {
    for (const readerId of readerIds) {
      shuffled(caseIds, random).forEach((caseId, i) => {
        assignments.push({ readerId, position: 2 * i, caseId, arm: 'without_ai', session: 1 });
        assignments.push({ readerId, position: 2 * i + 1, caseId, arm: 'with_ai', session: 1 });
      });
    }
    return assignments;
  }
  const order = shuffled(caseIds, random);
  const halfA = new Set(order.slice(0, Math.ceil(order.length / 2)));
  shuffled(readerIds, random).forEach((readerId, r) => {
    const firstArm = (caseId: string): StudyArm =>
      halfA.has(caseId) === (r % 2 === 0) ? 'with_ai' : 'without_ai';
    const session1 = shuffled(caseIds, random);
    const session2 = shuffled(caseIds, random);
    session1.forEach((caseId, i) => {
      assignments.push({ readerId, position: i, caseId, arm: firstArm(caseId), session: 1 });
    });
    session2.forEach((caseId, i) => {
      const arm: StudyArm = firstArm(caseId) === 'with_ai' ? 'without_ai' : 'with_ai';
      assignments.push({ readerId, position: caseIds.length + i, caseId, arm, session: 2 });
    });
  });
  return assignments.sort((a, b) =>
    a.readerId === b.readerId ? a.position - b.position : a.readerId < b.readerId ? -1 : 1,
  );
}

export { mulberry32 };
