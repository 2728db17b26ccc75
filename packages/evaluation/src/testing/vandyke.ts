/**
 * The Van Dyke et al. (1993) reader study (5 readers, 114 cases, 2 modalities, 5-point ratings) from
 * readers/fixtures/vandyke.tsv (RJafroc's dataset02; see the file's header for the source).
 */
import { readFileSync } from 'node:fs';

export interface VanDyke {
  readonly readers: number;
  readonly truth: Uint8Array;
  /** ratings[modality][reader] in case order. */
  readonly ratings: Float64Array[][];
}

export function loadVanDyke(): VanDyke {
  const text = readFileSync(new URL('../readers/fixtures/vandyke.tsv', import.meta.url), 'utf8');
  const rows = text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .slice(1)
    .map((line) => line.split('\t').map(Number));
  const readers = 5;
  const cases = 114;
  const truth = new Uint8Array(cases);
  const ratings = [0, 1].map(() => Array.from({ length: readers }, () => new Float64Array(cases)));
  for (const [reader, kase, t, r1, r2] of rows as [number, number, number, number, number][]) {
    truth[kase - 1] = t;
    (ratings[0] as Float64Array[])[reader - 1]![kase - 1] = r1;
    (ratings[1] as Float64Array[])[reader - 1]![kase - 1] = r2;
  }
  return { readers, truth, ratings };
}
