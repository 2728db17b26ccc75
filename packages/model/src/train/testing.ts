import { mulberry32 } from './random.js';

/** Synthetic feature sets for the trainer's tests and benchmark (not exported from the package index). */
export interface SyntheticSet {
  readonly features: Float32Array;
  readonly labels: Float32Array;
}

export interface SyntheticOptions {
  readonly n: number;
  readonly featureDim: number;
  /** Share of positives (sigmoid, one label) per sample. */
  readonly prevalence: number;
  /** Shift of the positives' mean along a fixed random unit direction, in noise standard deviations. */
  readonly separation: number;
  readonly seed: number;
  /** Seed of the class direction: train and validation sets share it. */
  readonly directionSeed?: number;
}

function gaussian(random: () => number): () => number {
  return () => {
    // Box-Muller; 1 - u keeps the logarithm's argument in (0, 1].
    const u = 1 - random();
    const v = random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
}

function direction(featureDim: number, seed: number): Float64Array {
  const normal = gaussian(mulberry32(seed));
  const d = Float64Array.from({ length: featureDim }, normal);
  const norm = Math.hypot(...d);
  return d.map((v) => v / norm);
}

/**
 * One sigmoid label: features ~ N(0, I) for negatives and N(separation x d, I) for positives,
 * d a random unit vector; non-negative like post-ReLU pooled features after a shift of +1.
 * Exactly round(n x prevalence) positives at random rows.
 */
export function syntheticBinary(options: SyntheticOptions): SyntheticSet {
  const { n, featureDim, prevalence, separation, seed } = options;
  const d = direction(featureDim, options.directionSeed ?? 1);
  const random = mulberry32(seed);
  const normal = gaussian(random);
  const labels = new Float32Array(n);
  const positives = Math.round(n * prevalence);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  for (let k = 0; k < positives; k++) labels[order[k]!] = 1;
  const features = new Float32Array(n * featureDim);
  for (let i = 0; i < n; i++) {
    const shift = labels[i] === 1 ? separation : 0;
    for (let f = 0; f < featureDim; f++) features[i * featureDim + f] = 1 + normal() + shift * d[f]!;
  }
  return { features, labels };
}

/** Three one-hot classes with means at separation x three random unit directions. */
export function syntheticThreeClass(options: Omit<SyntheticOptions, 'prevalence'>): SyntheticSet {
  const { n, featureDim, separation, seed } = options;
  const base = options.directionSeed ?? 1;
  const directions = [0, 1, 2].map((k) => direction(featureDim, base + 100 * k));
  const random = mulberry32(seed);
  const normal = gaussian(random);
  const labels = new Float32Array(n * 3);
  const features = new Float32Array(n * featureDim);
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    labels[i * 3 + c] = 1;
    for (let f = 0; f < featureDim; f++) {
      features[i * featureDim + f] = 1 + normal() + separation * directions[c]![f]!;
    }
  }
  return { features, labels };
}
