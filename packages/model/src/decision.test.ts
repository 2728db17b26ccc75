import { describe, expect, it } from 'vitest';
import { NEGATIVE_DIAGNOSIS, decide } from './decision.js';
import type { ManifestOutput } from './manifest.js';

const softmax: ManifestOutput = {
  activation: 'softmax',
  labels: ['normal', 'pneumonia', 'further_evaluation'],
  decision: 'argmax',
};

const multiLabel: ManifestOutput = {
  activation: 'sigmoid',
  labels: ['effusion', 'nodule', 'pneumothorax'],
  thresholds: { effusion: 0.4, nodule: 0.7, pneumothorax: 0.2 },
  decision: 'thresholds',
};

describe('decide', () => {
  it('argmax picks the top label and reports its probability', () => {
    const d = decide([0.2, 0.7, 0.1], softmax);
    expect(d.diagnosis).toBe('pneumonia');
    expect(d.confidence).toBeCloseTo(0.7, 12);
    expect(d.positives).toEqual(['pneumonia']);
    expect(d.scores).toEqual({ normal: 0.2, pneumonia: 0.7, further_evaluation: 0.1 });
  });

  it('argmax resolves ties to the first label in manifest order', () => {
    expect(decide([0.4, 0.4, 0.2], softmax).diagnosis).toBe('normal');
  });

  it('thresholds: every label at or above its own threshold is positive, best first', () => {
    // effusion 0.5 >= 0.4, nodule 0.6 < 0.7, pneumothorax 0.2 >= 0.2 (boundary counts).
    const d = decide([0.5, 0.6, 0.2], multiLabel);
    expect(d.positives).toEqual(['effusion', 'pneumothorax']);
    expect(d.diagnosis).toBe('effusion');
    expect(d.confidence).toBeCloseTo(0.5, 12);
  });

  it('thresholds: no positive label gives the negative diagnosis', () => {
    const d = decide([0.3, 0.6, 0.1], multiLabel);
    expect(d.positives).toEqual([]);
    expect(d.diagnosis).toBe(NEGATIVE_DIAGNOSIS);
    expect(d.confidence).toBeCloseTo(0.4, 12);
  });

  it('refuses a score vector of the wrong length', () => {
    expect(() => decide([0.5, 0.5], softmax)).toThrow(/expected 3 scores/);
  });
});
