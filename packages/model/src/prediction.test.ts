import { describe, expect, it } from 'vitest';
import { decide } from './decision.js';
import type { ManifestOutput } from './manifest.js';
import { predictionResponse } from './prediction.js';

const softmax: ManifestOutput = {
  activation: 'softmax',
  labels: ['normal', 'pneumonia', 'further_evaluation'],
  decision: 'argmax',
};

describe('predictionResponse', () => {
  it('builds the seed shape from a decision, rounding timings and dropping absent stages', () => {
    const decision = decide([0.2, 0.7, 0.1], softmax);
    const response = predictionResponse({
      decision,
      model: { id: 'm', version: '1' },
      runtime: { name: 'onnx', version: 'onnxruntime-node 1.30.0', backend: ['cpu'] },
      timingsMs: { decode: 1.23456, infer: 10, batch_wait: undefined },
    });
    expect(response).toEqual({
      diagnosis: 'pneumonia',
      confidence: 0.7,
      all_probabilities: { normal: 0.2, pneumonia: 0.7, further_evaluation: 0.1 },
      positives: ['pneumonia'],
      model: { id: 'm', version: '1' },
      runtime: { name: 'onnx', version: 'onnxruntime-node 1.30.0', backend: ['cpu'] },
      timings_ms: { decode: 1.23, infer: 10 },
    });
    expect(Object.keys(response.all_probabilities)).toEqual(['normal', 'pneumonia', 'further_evaluation']);
  });
});
