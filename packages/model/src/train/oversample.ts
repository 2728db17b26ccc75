import { mulberry32, shuffleInPlace } from './random.js';

/**
 * Random oversampling (as imbalanced-learn's RandomOverSampler): every sample is assigned to one
 * stratum, each stratum is repeated up to the size of the largest, and the result is shuffled.
 * A sample's stratum is its rarest positive label (for one-hot softmax labels: its class), or
 * "no positive label" for all-negative rows (sigmoid). With one sigmoid label at 5% positives,
 * an epoch is half positives: each positive appears about 19 times, each negative once.
 */
export function oversampleIndices(labels: Float32Array, outputs: number, seed: number): Uint32Array {
  if (!Number.isInteger(outputs) || outputs < 1) {
    throw new RangeError(`oversampleIndices: outputs must be a positive integer, got ${outputs}`);
  }
  if (labels.length % outputs !== 0) {
    throw new RangeError(
      `oversampleIndices: ${labels.length} label values are not a multiple of ${outputs} outputs`,
    );
  }
  const n = labels.length / outputs;
  const positives = new Array<number>(outputs).fill(0);
  for (let i = 0; i < labels.length; i++) if (labels[i]! >= 0.5) positives[i % outputs]! += 1;
  // Stratum `outputs` holds the all-negative rows.
  const strata: number[][] = Array.from({ length: outputs + 1 }, () => []);
  for (let row = 0; row < n; row++) {
    let stratum = outputs;
    for (let l = 0; l < outputs; l++) {
      if (labels[row * outputs + l]! >= 0.5 && (stratum === outputs || positives[l]! < positives[stratum]!)) {
        stratum = l;
      }
    }
    strata[stratum]!.push(row);
  }
  const used = strata.filter((s) => s.length > 0);
  const target = Math.max(0, ...used.map((s) => s.length));
  const random = mulberry32(seed);
  const order = new Uint32Array(target * used.length);
  let k = 0;
  for (const members of used) {
    // Whole passes over the stratum, each in a fresh random order, until `target` draws: repeat
    // counts differ by at most one, unlike draws with replacement.
    const pass = [...members];
    for (let filled = 0; filled < target; filled += pass.length) {
      shuffleInPlace(pass, random);
      for (let j = 0; j < pass.length && filled + j < target; j++) order[k++] = pass[j]!;
    }
  }
  shuffleInPlace(order, random);
  return order;
}
