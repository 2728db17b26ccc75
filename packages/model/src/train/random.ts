/**
 * Seeded randomness for training: every shuffle, oversampling draw and dropout mask comes from
 * here, so the same seed gives the same epochs and byte-identical head weights. Math.random is
 * never used.
 */

/** mulberry32, the seeded PRNG the evaluation bootstrap uses too (one implementation). */
export { mulberry32 } from '@cxr/evaluation';

/**
 * Derives an independent 32-bit seed from a base seed and a stream number (epoch, purpose), so
 * that epoch 3's shuffle does not depend on how many numbers epoch 2 drew.
 */
export function deriveSeed(seed: number, stream: number): number {
  let h = Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul((stream >>> 0) + 1, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x27d4eb2f);
  h ^= h >>> 15;
  return h >>> 0;
}

/** Fisher-Yates shuffle in place. */
export function shuffleInPlace(values: Uint32Array | number[], random: () => number): void {
  for (let i = values.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = values[i]!;
    values[i] = values[j]!;
    values[j] = t;
  }
}

/** 0, 1, ..., n-1 in a seeded random order. */
export function shuffledRange(n: number, random: () => number): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  shuffleInPlace(order, random);
  return order;
}
