import { describe, expect, it } from 'vitest';
import { createMetrics } from '@cxr/metrics';
import { hashPatientId, InvalidResultRowError } from '@cxr/store';
import type { ResultMessage } from '@cxr/queue';
import { CANARY_PATIENT_ID, CANARY_PATIENT_NAME } from '@cxr/fixtures';
import { parseManifest } from '@cxr/model/manifest';
import { resultRowFromMessage } from './result-row.js';
import { recordStoredResult } from './record-metrics.js';
import { sampleMessages } from './testing/messages.js';

const HASH = hashPatientId(CANARY_PATIENT_ID, 'unit-test-salt-0123456789');

function pick(outcome: ResultMessage['outcome']): ResultMessage {
  const found = sampleMessages(5, { patientIdHash: HASH, enqueuedAt: 1_700_000_000_000 }).find(
    (m) => m.outcome === outcome,
  );
  if (found === undefined) throw new Error('no sample');
  return found;
}

describe('resultRowFromMessage', () => {
  it('maps an ok message field by field, carrying the patient ID hash as is', () => {
    const row = resultRowFromMessage(pick('ok'));
    expect(row).toMatchObject({
      runId: 'run-results-test',
      uri: 's3://archive/study-0000.dcm',
      etag: '"etag-0000"',
      sopInstanceUid: '1.2.826.0.1.3680043.8.498.1.1.1',
      patientIdHash: HASH,
      institution: 'General Hospital',
      photometric: 'MONOCHROME2',
      transferSyntax: '1.2.840.10008.1.2.1',
      rows: 2500,
      columns: 2048,
      imageMean: 1500,
      imageStd: 300.5,
      bitsStored: 12,
      runtime: 'onnx',
      outcome: 'ok',
      reason: null,
      decision: 'normal',
      scores: { normal: 0.7, pneumonia: 0.2, further_evaluation: 0.1 },
      timings: { fetch: 5, decode: 120, preprocess: 20, batch_wait: 15, infer: 250, store: null },
      enqueuedAt: '2023-11-14T22:13:20.000Z',
    });
    expect(JSON.stringify(row)).not.toContain(CANARY_PATIENT_ID);
  });

  it('keeps reason and no scores for rejected and failed messages', () => {
    expect(resultRowFromMessage(pick('rejected'))).toMatchObject({
      outcome: 'rejected',
      reason: 'not_dicom',
      scores: null,
      decision: null,
      timings: { fetch: 4, decode: null },
    });
    expect(resultRowFromMessage(pick('failed'))).toMatchObject({
      outcome: 'failed',
      reason: 'fetch_error',
      scores: null,
    });
  });

  it('gives ok results of the served model their suspicion: the highest score but the normal label', () => {
    const manifest = parseManifest({
      id: 'seed-densenet121',
      version: '1.0.0',
      architecture: 'densenet121',
      format: 'onnx',
      weights: ['model.onnx'],
      input: {
        size: 32,
        channels: 3,
        layout: 'NHWC',
        crop: 'none',
        resize: 'bilinear',
        intensity: { method: 'dicom-window' },
        normalization: { method: 'unit' },
      },
      output: {
        activation: 'softmax',
        labels: ['normal', 'pneumonia', 'further_evaluation'],
        decision: 'argmax',
        normalLabel: 'normal',
      },
    });
    // scores: normal 0.7, pneumonia 0.2, further_evaluation 0.1.
    expect(resultRowFromMessage(pick('ok'), manifest).suspicion).toBe(0.2);
    expect(resultRowFromMessage(pick('ok')).suspicion).toBeNull();
    expect(resultRowFromMessage({ ...pick('ok'), modelVersion: '2.0.0' }, manifest).suspicion).toBeNull();
    expect(resultRowFromMessage(pick('rejected'), manifest).suspicion).toBeNull();
    const { normalLabel: _dropped, ...withoutNormal } = manifest.output;
    expect(resultRowFromMessage(pick('ok'), { ...manifest, output: withoutNormal }).suspicion).toBe(0.7);
  });

  it('refuses a message whose UID field carries free text, without echoing it', () => {
    const bad = { ...pick('ok'), uids: { sopInstanceUid: CANARY_PATIENT_NAME } };
    const error: unknown = (() => {
      try {
        return resultRowFromMessage(bad);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(InvalidResultRowError);
    expect(String(error)).not.toContain(CANARY_PATIENT_NAME);
  });
});

describe('recordStoredResult', () => {
  it('counts outcomes and reasons, maps unknown reasons to closed labels, observes stages', async () => {
    const metrics = createMetrics();
    const now = 1_700_000_010_000;
    recordStoredResult(metrics, pick('ok'), now, 0.05);
    recordStoredResult(metrics, pick('rejected'), now, 0.05);
    recordStoredResult(metrics, pick('failed'), now, 0.05);
    expect(
      recordStoredResult(
        metrics,
        { ...pick('failed'), reason: 'weird free text' } as ResultMessage,
        now,
        0.05,
      ),
    ).toEqual({
      unknownReason: true,
    });
    expect(
      recordStoredResult(
        metrics,
        { ...pick('rejected'), reason: 'weird free text' } as ResultMessage,
        now,
        0.05,
      ),
    ).toEqual({
      unknownReason: true,
    });
    const text = await metrics.registry.metrics();
    expect(text).toContain('cxr_items_total{outcome="ok"} 1');
    expect(text).toContain('cxr_items_total{outcome="rejected"} 2');
    expect(text).toContain('cxr_items_total{outcome="failed"} 2');
    expect(text).toContain('cxr_rejected_total{reason="not_dicom"} 1');
    expect(text).toContain('cxr_rejected_total{reason="fetch_error"} 1');
    expect(text).toContain('cxr_rejected_total{reason="internal_error"} 1');
    expect(text).not.toContain('weird');
    expect(text).toContain('cxr_stage_duration_seconds_count{stage="store"} 5');
    expect(text).toContain('cxr_stage_duration_seconds_count{stage="infer"} 1');
    expect(text).toContain('cxr_stage_duration_seconds_count{stage="fetch"} 3');
    expect(text).toContain('cxr_prediction_score_count{label="pneumonia"} 1');
    // enqueuedAt -> stored is 10 s for every sample: all in the 10 s bucket, none in the 5 s one.
    expect(text).toContain('cxr_end_to_end_seconds_bucket{le="5"} 0');
    expect(text).toContain('cxr_end_to_end_seconds_bucket{le="10"} 5');
  });
});
