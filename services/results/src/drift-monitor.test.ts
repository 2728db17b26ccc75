import { describe, expect, it } from 'vitest';
import {
  CATEGORICAL_FEATURES,
  createMetrics,
  NUMERIC_FEATURES,
  type CxrMetrics,
  type DriftReference,
} from '@cxr/metrics';
import {
  parseManifest,
  REFERENCE_CATEGORICAL_FEATURES,
  REFERENCE_NUMERIC_FEATURES,
  REFERENCE_OTHER_CATEGORY,
  type ModelManifest,
} from '@cxr/model/manifest';
import { openStore, parseResultRow, type ResultRow } from '@cxr/store';
import type { LogLevel } from '@cxr/config';
import { OTHER_CATEGORY } from '@cxr/metrics';
import { DriftMonitor } from './drift-monitor.js';
import { driftObservation } from './drift-observation.js';

const REFERENCE: DriftReference = {
  version: 1,
  n: 10,
  source: {
    kind: 'run',
    runId: 'ref',
    modelId: 'm',
    modelVersion: '1',
    computedAt: '2026-11-27T00:00:00.000Z',
  },
  scores: { b: { edges: [0, 0.5, 1], probabilities: [0.5, 0.5], n: 10 } },
  numeric: { image_mean: { edges: [0, 100, 200], probabilities: [0.5, 0.5], n: 10 } },
  categorical: {},
};

function manifest(withReference = true, decision: 'argmax' | 'thresholds' = 'thresholds'): ModelManifest {
  return parseManifest({
    id: 'm',
    version: '1',
    architecture: 'densenet121',
    format: 'onnx',
    weights: ['model.onnx'],
    input: {
      size: 32,
      channels: 1,
      layout: 'NHWC',
      crop: 'none',
      resize: 'bilinear',
      intensity: { method: 'min-max' },
      normalization: { method: 'unit' },
    },
    output: {
      activation: 'sigmoid',
      labels: ['a', 'b'],
      ...(decision === 'thresholds' ? { thresholds: { a: 0.5, b: 0.3 } } : {}),
      decision,
    },
    ...(withReference ? { reference: REFERENCE } : {}),
  });
}

function row(i: number, overrides: Partial<ResultRow> = {}): ResultRow {
  return parseResultRow({
    runId: 'r',
    uri: `u${i}`,
    modelId: 'm',
    modelVersion: '1',
    outcome: 'ok',
    scores: { a: 0.6, b: i % 2 === 0 ? 0.2 : 0.8 },
    decision: 'a',
    imageMean: i % 2 === 0 ? 50 : 150,
    ...overrides,
  });
}

function logSink(): {
  lines: { level: LogLevel; msg: string }[];
  log: (level: LogLevel, msg: string) => void;
} {
  const lines: { level: LogLevel; msg: string }[] = [];
  return { lines, log: (level, msg) => lines.push({ level, msg }) };
}

async function driftLines(metrics: CxrMetrics): Promise<string[]> {
  return (await metrics.contractMetricsText())
    .split('\n')
    .filter((l) => /^cxr_(prediction_drift|input_drift|positive_rate)/.test(l))
    .sort();
}

describe('feature names', () => {
  it('the manifest schema and the metrics package list the same features and `other` bucket', () => {
    expect([...REFERENCE_NUMERIC_FEATURES]).toEqual([...NUMERIC_FEATURES]);
    expect([...REFERENCE_CATEGORICAL_FEATURES]).toEqual([...CATEGORICAL_FEATURES]);
    expect(REFERENCE_OTHER_CATEGORY).toBe(OTHER_CATEGORY);
  });
});

describe('driftObservation', () => {
  it('maps row columns to features and applies the decision rule for positives', () => {
    const r = row(1, { manufacturer: 'ACME', photometric: 'MONOCHROME1', bitsStored: 12, rows: 10 });
    expect(driftObservation(r, manifest().output)).toEqual({
      scores: { a: 0.6, b: 0.8 },
      // thresholds a 0.5, b 0.3: both positive.
      positives: ['b', 'a'],
      numeric: { image_mean: 150, image_std: null, rows: 10, columns: null, bits_stored: 12 },
      categorical: {
        manufacturer: 'ACME',
        modality: null,
        view_position: null,
        photometric_interpretation: 'MONOCHROME1',
        transfer_syntax: null,
      },
    });
    // argmax: only the top label.
    expect(driftObservation(r, manifest(true, 'argmax').output)?.positives).toEqual(['b']);
    // A missing label score: no positives, still an observation.
    expect(driftObservation(row(1, { scores: { a: 0.9 } }), manifest().output)?.positives).toEqual([]);
    expect(
      driftObservation(row(1, { outcome: 'failed', reason: 'timeout', scores: null }), manifest().output),
    ).toBeUndefined();
  });
});

describe('DriftMonitor', () => {
  it('is off, with one info line, without a manifest or without a reference', () => {
    const sink = logSink();
    const metrics = createMetrics();
    expect(DriftMonitor.create({ manifest: undefined, metrics, log: sink.log })).toBeUndefined();
    expect(DriftMonitor.create({ manifest: manifest(false), metrics, log: sink.log })).toBeUndefined();
    expect(sink.lines).toEqual([
      { level: 'info', msg: 'drift monitoring off: no model manifest (CXR_MODEL_DIR unset or unreadable)' },
      {
        level: 'info',
        msg: 'drift monitoring off: the model manifest has no reference (see cxr model reference)',
      },
    ]);
  });

  it('publishes gauges for the served model only and removes them below minSamples', async () => {
    const metrics = createMetrics();
    const monitor = DriftMonitor.create({ manifest: manifest(), metrics, minSamples: 4, windowSeconds: 60 })!;
    // Another version and a failed row are ignored.
    monitor.observe(
      [
        row(0),
        row(1),
        row(2, { modelVersion: '2' }),
        row(3, { outcome: 'failed', reason: 'x', scores: null }),
      ],
      1000,
    );
    expect(monitor.size).toBe(2);
    monitor.publish(1000);
    // 2 results < minSamples 4: positive rate only. a: 0.6 >= 0.5 in both; b: 0.8 >= 0.3 in one.
    expect(await driftLines(metrics)).toEqual([
      'cxr_positive_rate{label="a"} 1',
      'cxr_positive_rate{label="b"} 0.5',
    ]);
    monitor.observe([row(4), row(5)], 2000);
    monitor.publish(2000);
    // b: 0.2, 0.8, 0.2, 0.8 -> [0.5, 0.5] = reference -> 0; image_mean 50/150 alternating -> 0.
    expect(await driftLines(metrics)).toEqual([
      'cxr_input_drift_psi{feature="image_mean"} 0',
      'cxr_positive_rate{label="a"} 1',
      'cxr_positive_rate{label="b"} 0.5',
      'cxr_prediction_drift_js{label="b"} 0',
      'cxr_prediction_drift_psi{label="b"} 0',
    ]);
    // 61 s after the first two: they age out (60 s window), 2 left < 4: drift series removed.
    monitor.publish(61_500);
    expect(await driftLines(metrics)).toEqual([
      'cxr_positive_rate{label="a"} 1',
      'cxr_positive_rate{label="b"} 0.5',
    ]);
    // Everything aged out: no series at all.
    monitor.publish(100_000);
    expect(await driftLines(metrics)).toEqual([]);
  });

  it('rebuilds the window from the store with each row at its updated_at', async () => {
    const store = await openStore('sqlite::memory:');
    try {
      await store.upsertResults([row(0), row(1), row(2), row(3), row(4, { modelVersion: '2' })]);
      const metrics = createMetrics();
      const monitor = DriftMonitor.create({ manifest: manifest(), metrics, minSamples: 4, windowCount: 3 })!;
      expect(await monitor.rebuild(store)).toBe(3);
      expect(monitor.size).toBe(3);
      // With a 1 s age limit, rows written "now" are still in; an hour later they are gone.
      const aged = DriftMonitor.create({ manifest: manifest(), metrics: createMetrics(), windowSeconds: 1 })!;
      expect(await aged.rebuild(store, Date.now() + 3_600_000)).toBe(0);
    } finally {
      await store.close();
    }
  });
});
