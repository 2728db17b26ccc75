import { describe, expect, it } from 'vitest';
import { NEGATIVE_DIAGNOSIS, decide, suspicionOf } from './decision.js';
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

describe('suspicionOf', () => {
  it('is the highest score among the labels other than the normal label', () => {
    const seed: ManifestOutput = { ...softmax, normalLabel: 'normal' };
    // A confident normal image is the least suspicious, whatever its top score.
    expect(suspicionOf({ normal: 0.9, pneumonia: 0.06, further_evaluation: 0.04 }, seed)).toBe(0.06);
    expect(suspicionOf({ normal: 0.2, pneumonia: 0.3, further_evaluation: 0.5 }, seed)).toBe(0.5);
  });

  it('takes every label when the manifest names no normal label (multi-label findings)', () => {
    expect(suspicionOf({ effusion: 0.3, nodule: 0.65, pneumothorax: 0.1 }, multiLabel)).toBe(0.65);
  });

  it('ignores scores of labels the manifest does not have, and is undefined without a finding label', () => {
    expect(suspicionOf({ effusion: 0.3, other: 0.99 }, multiLabel)).toBe(0.3);
    expect(suspicionOf({}, multiLabel)).toBeUndefined();
    const onlyNormal: ManifestOutput = {
      activation: 'sigmoid',
      labels: ['normal'],
      normalLabel: 'normal',
      thresholds: { normal: 0.5 },
      decision: 'thresholds',
    };
    expect(suspicionOf({ normal: 0.2 }, onlyNormal)).toBeUndefined();
  });
});
