import { spawnSync } from 'node:child_process';
import type { RejectReason } from '@cxr/dicom';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  FAILURE_REASONS,
  METRIC_CONTRACT,
  METRIC_NAMES,
  QUEUE_STATES,
  REJECT_REASON_LABELS,
  STAGES,
  type FailureReason,
  type Stage,
} from './contract.js';
import { createMetrics, safeLabelValue, type CxrMetrics } from './metrics.js';

interface Series {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: string;
}

/** Parses the sample lines of the Prometheus text format (our label values never need escapes). */
function parseSeries(text: string): Series[] {
  const out: Series[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const lm of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"/g)) {
      labels[lm[1]!] = lm[2]!;
    }
    out.push({ name: m[1]!, labels, value: m[3]! });
  }
  return out;
}

/** The series of one contract metric, including histogram _bucket/_sum/_count samples. */
function seriesOf(all: Series[], name: string): Series[] {
  return all.filter(
    (s) =>
      s.name === name ||
      (METRIC_CONTRACT[name as keyof typeof METRIC_CONTRACT].type === 'histogram' &&
        [`${name}_bucket`, `${name}_sum`, `${name}_count`].includes(s.name)),
  );
}

/** Calls every helper once so every contract metric has at least one series. */
function exerciseAll(m: CxrMetrics): void {
  m.countEnqueued('s3', 3);
  m.countDuplicates('manifest');
  m.setQueueCounts('cxr-screen', { waiting: 10, prioritized: 2, active: 1 });
  m.setQueueOldestWaitingAge('cxr-screen', 42.5);
  for (const stage of STAGES) m.observeStage(stage, 0.02);
  m.observeBatchSize(8);
  m.observeInferenceBatch('onnx', 1.7);
  m.countItem('ok');
  m.countItem('rejected', 'not_dicom');
  m.countItem('failed', 'fetch_error');
  m.observeEndToEnd(3600);
  m.observeScore('Cardiomegaly', 0.73);
  m.setPositiveRate('Cardiomegaly', 0.12);
  m.setPredictionDrift('Cardiomegaly', 0.05);
  m.setPredictionDriftJs('Cardiomegaly', 0.01);
  m.setInputDrift('image_mean', 0.3);
  m.setModelInfo('densenet121-res512', '1.0.0', 'onnx');
  m.setStoreUp(true);
  m.countStoreWriteError();
  m.observePacsRequest('wado', '2xx', 0.2);
  m.countPacsThrottled('pacs_429');
  m.countScpAssociation('accepted');
  m.countScpInstance('stored');
  m.countFindingsDelivery('sent');
  m.observeFindingsDeliveryLag(1.5);
}

const PROMTOOL_MISSING =
  'promtool not found on PATH: install the Debian package "prometheus" (apt-get install -y prometheus); ' +
  'this test lints the exposition format and must not be skipped';

/** Runs `promtool check metrics` on `text`; throws a clear error when promtool is absent. */
function promtoolCheckMetrics(text: string): { status: number | null; output: string } {
  const result = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (result.error) {
    if ((result.error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(PROMTOOL_MISSING);
    throw result.error;
  }
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('createMetrics: the contract', () => {
  it('METRIC_NAMES lists exactly the ARCHITECTURE.md metrics', () => {
    expect([...METRIC_NAMES].sort()).toEqual(
      [
        'cxr_batch_size',
        'cxr_end_to_end_seconds',
        'cxr_inference_batch_duration_seconds',
        'cxr_ingest_duplicates_total',
        'cxr_ingest_enqueued_total',
        'cxr_input_drift_psi',
        'cxr_items_total',
        'cxr_model_info',
        'cxr_positive_rate',
        'cxr_prediction_drift_js',
        'cxr_prediction_drift_psi',
        'cxr_prediction_score',
        'cxr_queue_jobs',
        'cxr_queue_oldest_waiting_age_seconds',
        'cxr_rejected_total',
        'cxr_stage_duration_seconds',
        'cxr_store_up',
        'cxr_store_write_errors_total',
        'cxr_pacs_requests_total',
        'cxr_pacs_request_duration_seconds',
        'cxr_pacs_throttled_total',
        'cxr_scp_associations_total',
        'cxr_scp_instances_received_total',
        'cxr_findings_delivered_total',
        'cxr_findings_delivery_lag_seconds',
      ].sort(),
    );
  });

  it('exports every contract metric with its TYPE line and exactly its label names', async () => {
    const m = createMetrics();
    exerciseAll(m);
    const text = await m.registry.metrics();
    const all = parseSeries(text);
    for (const name of METRIC_NAMES) {
      const contract = METRIC_CONTRACT[name];
      expect(text, name).toContain(`# TYPE ${name} ${contract.type}\n`);
      expect(text, name).toMatch(new RegExp(`^# HELP ${name} \\S`, 'm'));
      const series = seriesOf(all, name);
      expect(series.length, name).toBeGreaterThan(0);
      for (const s of series) {
        const expected: string[] = [...contract.labelNames];
        if (s.name.endsWith('_bucket')) expected.push('le');
        expect(Object.keys(s.labels).sort(), s.name).toEqual(expected.sort());
      }
    }
    // Nothing outside the contract in a registry created without default metrics.
    const names = new Set(all.map((s) => s.name.replace(/_(bucket|sum|count)$/, '')));
    for (const n of names) expect(METRIC_NAMES as readonly string[]).toContain(n);
  });

  it('uses the documented buckets (scores 0..1 by 0.1, batch sizes 1..128, end-to-end to 12 h)', async () => {
    const m = createMetrics();
    exerciseAll(m);
    const all = parseSeries(await m.registry.metrics());
    const les = (name: string): string[] =>
      all.filter((s) => s.name === `${name}_bucket`).map((s) => s.labels.le!);
    expect(les('cxr_prediction_score')).toEqual([
      '0.1',
      '0.2',
      '0.3',
      '0.4',
      '0.5',
      '0.6',
      '0.7',
      '0.8',
      '0.9',
      '1',
      '+Inf',
    ]);
    expect(les('cxr_batch_size')).toEqual(['1', '2', '4', '8', '16', '32', '64', '128', '+Inf']);
    expect(les('cxr_end_to_end_seconds').at(-2)).toBe('43200');
    const stageLes = all
      .filter((s) => s.name === 'cxr_stage_duration_seconds_bucket' && s.labels.stage === 'fetch')
      .map((s) => s.labels.le);
    expect(stageLes[0]).toBe('0.001');
    expect(stageLes.at(-2)).toBe('60');
    // A score of 0.73 lands in le=0.8 but not le=0.7.
    const score = (le: string): string | undefined =>
      all.find((s) => s.name === 'cxr_prediction_score_bucket' && s.labels.le === le)?.value;
    expect(score('0.7')).toBe('0');
    expect(score('0.8')).toBe('1');
  });

  it('passes promtool check metrics (our metrics, without the default Node metrics)', async () => {
    const m = createMetrics({ collectDefault: true });
    exerciseAll(m);
    const ours = await m.contractMetricsText();
    expect(ours).not.toContain('nodejs_');
    expect(ours).not.toContain('process_');
    const result = promtoolCheckMetrics(ours);
    expect(result.output).toBe('');
    expect(result.status).toBe(0);
    // The full registry does carry the default metrics when asked to.
    expect(await m.registry.metrics()).toContain('process_cpu_user_seconds_total');
  });

  it('promtool really lints: a counter without _total is reported', () => {
    const bad = '# HELP cxr_bad A counter.\n# TYPE cxr_bad counter\ncxr_bad 1\n';
    const result = promtoolCheckMetrics(bad);
    expect(result.status).not.toBe(0);
    expect(result.output).toMatch(/_total/);
  });

  it('registers into a given registry and not into the global one', async () => {
    const registry = new Registry();
    const m = createMetrics({ registry });
    expect(m.registry).toBe(registry);
    expect(await registry.getSingleMetricAsString('cxr_items_total')).toContain('cxr_items_total');
    // Two independent instances do not collide (the global registry would throw on re-register).
    expect(() => createMetrics()).not.toThrow();
  });
});

describe('createMetrics: label safety', () => {
  it('maps free-form label values that are not short identifiers to "other"', async () => {
    const m = createMetrics();
    // Free text such as a URI path or a DICOM person name must never reach a label.
    m.countEnqueued('s3://bucket/DOE^JOHN/1.dcm');
    m.observeScore('Patient Name', 0.5);
    m.setInputDrift('x'.repeat(65), 0.1);
    m.setModelInfo('densenet', 'v 1', 'onnx');
    const text = await m.registry.metrics();
    expect(text).not.toContain('DOE');
    expect(text).not.toContain('Patient Name');
    expect(text).not.toContain('x'.repeat(65));
    expect(text).toContain('cxr_ingest_enqueued_total{source="other"} 1');
    expect(text).toContain('cxr_input_drift_psi{feature="other"} 0.1');
    expect(text).toContain('cxr_model_info{model="densenet",version="other",runtime="onnx"} 1');
  });

  it('safeLabelValue keeps identifiers and rejects everything else', () => {
    for (const ok of ['s3', 'cxr-screen', 'Pleural_Effusion', '1.2.840.10008', 'a:b', 'x'.repeat(64)]) {
      expect(safeLabelValue(ok)).toBe(ok);
    }
    for (const bad of ['', 'a b', 'a/b', 'a"b', 'é', 'x'.repeat(65), 'a\nb']) {
      expect(safeLabelValue(bad)).toBe('other');
    }
    expect(safeLabelValue(undefined as unknown as string)).toBe('other');
  });

  it('throws on enumerated label values outside the contract, without echoing the value', () => {
    const m = createMetrics();
    const secret = 'DOE^JOHN';
    expect(() => {
      m.observeStage(secret as Stage, 1);
    }).toThrow(TypeError);
    expect(() => {
      m.observeStage(secret as Stage, 1);
    }).toThrow(/expected one of: fetch, decode/);
    let message = '';
    try {
      m.observeStage(secret as Stage, 1);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/metric label "stage"/);
    expect(message).not.toContain(secret);
    expect(() => m.startStageTimer('gpu' as Stage)).toThrow(TypeError);
    expect(() => {
      m.setQueueCounts('q', { bogus: 1 } as never);
    }).toThrow(/"state"/);
  });

  it('countItem checks that the reason fits the outcome and counts nothing on a bad call', async () => {
    const m = createMetrics();
    expect(() => {
      m.countItem('rejected', 'fetch_error' as RejectReason);
    }).toThrow(/"reason"/);
    expect(() => {
      m.countItem('failed', 'not_dicom' as FailureReason);
    }).toThrow(/"reason"/);
    expect(() => {
      (m.countItem as (o: string, r?: string) => void)('ok', 'timeout');
    }).toThrow(/takes no reason/);
    expect(() => {
      (m.countItem as (o: string) => void)('maybe');
    }).toThrow(/"outcome"/);
    expect(await m.registry.getSingleMetricAsString('cxr_items_total')).not.toMatch(/outcome=/);

    m.countItem('ok');
    m.countItem('rejected', 'truncated');
    m.countItem('rejected', 'truncated');
    m.countItem('failed', 'timeout');
    const all = parseSeries(await m.contractMetricsText());
    const value = (name: string, labels: Record<string, string>): string | undefined =>
      all.find((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels))?.value;
    expect(value('cxr_items_total', { outcome: 'ok' })).toBe('1');
    expect(value('cxr_items_total', { outcome: 'rejected' })).toBe('2');
    expect(value('cxr_items_total', { outcome: 'failed' })).toBe('1');
    expect(value('cxr_rejected_total', { reason: 'truncated' })).toBe('2');
    expect(value('cxr_rejected_total', { reason: 'timeout' })).toBe('1');
  });

  it('reason codes of rejections and failures do not overlap', () => {
    const rejects: readonly string[] = REJECT_REASON_LABELS;
    for (const f of FAILURE_REASONS) expect(rejects).not.toContain(f);
  });

  it('rejects impossible numbers', () => {
    const m = createMetrics();
    expect(() => {
      m.observeStage('decode', Number.NaN);
    }).toThrow(RangeError);
    expect(() => {
      m.observeStage('decode', -0.1);
    }).toThrow(RangeError);
    expect(() => {
      m.observeEndToEnd(Number.POSITIVE_INFINITY);
    }).toThrow(RangeError);
    expect(() => {
      m.observeScore('Edema', 1.01);
    }).toThrow(RangeError);
    expect(() => {
      m.setPositiveRate('Edema', -0.01);
    }).toThrow(RangeError);
    expect(() => {
      m.countEnqueued('s3', -1);
    }).toThrow(RangeError);
    expect(() => {
      m.setQueueCounts('q', { waiting: Number.NaN });
    }).toThrow(RangeError);
  });
});

describe('createMetrics: helpers', () => {
  it('clear* removes exactly the drift series of one label or feature', async () => {
    const m = createMetrics();
    for (const label of ['a', 'b']) {
      m.setPredictionDrift(label, 0.2);
      m.setPredictionDriftJs(label, 0.03);
      m.setPositiveRate(label, 0.5);
    }
    m.setInputDrift('image_mean', 0.4);
    m.setInputDrift('rows', 0.1);
    m.clearPredictionDrift('a');
    m.clearPositiveRate('b');
    m.clearInputDrift('rows');
    const series = parseSeries(await m.contractMetricsText())
      .filter((s) => /drift|positive_rate/.test(s.name))
      .map((s) => `${s.name}${JSON.stringify(s.labels)}=${s.value}`)
      .sort();
    expect(series).toEqual([
      'cxr_input_drift_psi{"feature":"image_mean"}=0.4',
      'cxr_positive_rate{"label":"a"}=0.5',
      'cxr_prediction_drift_js{"label":"b"}=0.03',
      'cxr_prediction_drift_psi{"label":"b"}=0.2',
    ]);
    expect(() => {
      m.setPredictionDriftJs('a', 1.5);
    }).toThrow(RangeError);
  });

  it('setModelInfo leaves exactly one info series, the latest', async () => {
    const m = createMetrics();
    m.setModelInfo('densenet121', '1.0.0', 'tfjs');
    m.setModelInfo('densenet121', '1.1.0', 'onnx');
    const info = parseSeries(await m.contractMetricsText()).filter((s) => s.name === 'cxr_model_info');
    expect(info).toEqual([
      {
        name: 'cxr_model_info',
        labels: { model: 'densenet121', version: '1.1.0', runtime: 'onnx' },
        value: '1',
      },
    ]);
  });

  it('setQueueCounts sets the given states and leaves the others untouched', async () => {
    const m = createMetrics();
    m.setQueueCounts('cxr-screen', { waiting: 5, active: 2 });
    m.setQueueCounts('cxr-screen', { waiting: 3, prioritized: undefined });
    const jobs = parseSeries(await m.contractMetricsText()).filter((s) => s.name === 'cxr_queue_jobs');
    expect(jobs).toEqual([
      { name: 'cxr_queue_jobs', labels: { queue: 'cxr-screen', state: 'waiting' }, value: '3' },
      { name: 'cxr_queue_jobs', labels: { queue: 'cxr-screen', state: 'active' }, value: '2' },
    ]);
    // Every BullMQ state of the contract is accepted, including prioritized.
    expect(() => {
      m.setQueueCounts('cxr-screen', Object.fromEntries(QUEUE_STATES.map((s) => [s, 0])));
    }).not.toThrow();
  });

  it('startStageTimer observes the elapsed time once', async () => {
    const m = createMetrics();
    const stop = m.startStageTimer('infer');
    const until = Date.now() + 5;
    while (Date.now() < until) {
      // busy-wait a few milliseconds so the elapsed time is measurably positive
    }
    const seconds = stop();
    expect(seconds).toBeGreaterThanOrEqual(0.004);
    expect(seconds).toBeLessThan(5);
    const all = parseSeries(await m.contractMetricsText());
    const count = all.find(
      (s) => s.name === 'cxr_stage_duration_seconds_count' && s.labels.stage === 'infer',
    );
    expect(count?.value).toBe('1');
  });
});
