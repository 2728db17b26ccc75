/**
 * A real Prometheus (Debian package `prometheus`) on loopback scrapes a running results service
 * every second with the alert rules of infra/prometheus loaded: a drift series set in the service
 * is queryable through the HTTP API with its labels and follows changes, every rule evaluates
 * without error against real series, and the drift rules go pending on a drift above 0.25.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessGroup, freePort, waitUntil, type ManagedProcess } from '../e2e/processes.js';
import { RULES_DIR, filesIn, loadRules } from './monitoring-config.js';
import { startTestResultsApp, type TestResultsApp } from './results-app.js';

const PROMETHEUS = process.env.CXR_TEST_PROMETHEUS ?? '/usr/bin/prometheus';

interface Sample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

interface RuleState {
  readonly name: string;
  readonly health: string;
  readonly lastError?: string;
}

interface AlertState {
  readonly labels: Record<string, string>;
  readonly state: string;
}

let results: TestResultsApp | undefined;
let dataDir: string | undefined;
const processes = new ProcessGroup();
let prometheus: ManagedProcess | undefined;
let api = '';

/** GET an API path of the test Prometheus and return its `data`. */
async function apiData<T>(path: string): Promise<T> {
  const response = await fetch(`${api}${path}`);
  const body = (await response.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`prometheus ${path}: ${body.error ?? body.status}`);
  return body.data;
}

async function query(promql: string): Promise<Sample[]> {
  const data = await apiData<{ resultType: string; result: Sample[] }>(
    `/api/v1/query?query=${encodeURIComponent(promql)}`,
  );
  return data.result;
}

beforeAll(async () => {
  if (!existsSync(PROMETHEUS)) {
    throw new Error(`${PROMETHEUS} not found: install the Debian package "prometheus" (CI does)`);
  }
  results = await startTestResultsApp();
  results.app.metrics.setPredictionDrift('Pneumonia', 0.3);
  results.app.metrics.setInputDrift('image_mean', 0.04);

  dataDir = await mkdtemp(join(tmpdir(), 'cxr-prometheus-'));
  const port = await freePort();
  api = `http://127.0.0.1:${port}`;
  const config = [
    'global:',
    '  scrape_interval: 1s',
    '  evaluation_interval: 1s',
    'rule_files:',
    ...filesIn(RULES_DIR, '.yml').map((file) => `  - ${JSON.stringify(file)}`),
    'scrape_configs:',
    '  - job_name: cxr-results',
    '    static_configs:',
    `      - targets: ['127.0.0.1:${results.app.port}']`,
    '',
  ].join('\n');
  const configFile = join(dataDir, 'prometheus.yml');
  await writeFile(configFile, config);
  prometheus = processes.spawn(
    'prometheus',
    PROMETHEUS,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dataDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    {},
  );
  await waitUntil(
    'prometheus ready',
    async () => {
      if (prometheus?.running !== true) throw new Error(`prometheus exited:\n${prometheus?.text ?? ''}`);
      return (await fetch(`${api}/-/ready`).catch(() => undefined))?.status === 200;
    },
    15_000,
  );
});

afterAll(async () => {
  await processes.stopAll(5_000);
  await results?.cleanup();
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
});

describe('Prometheus scraping the results service', () => {
  it('serves the drift series with its labels and follows changes', async () => {
    const target = `127.0.0.1:${results?.app.port ?? 0}`;
    let samples: Sample[] = [];
    await waitUntil(
      'drift series in prometheus',
      async () => (samples = await query('cxr_prediction_drift_psi')).length > 0,
      15_000,
    );
    expect(samples).toHaveLength(1);
    expect(samples[0]?.metric).toEqual({
      __name__: 'cxr_prediction_drift_psi',
      job: 'cxr-results',
      instance: target,
      label: 'Pneumonia',
    });
    expect(Number(samples[0]?.value[1])).toBe(0.3);

    expect((await query('up{job="cxr-results"}')).map((s) => s.value[1])).toEqual(['1']);
    const input = await query('cxr_input_drift_psi');
    expect(input.map((s) => [s.metric.feature, Number(s.value[1])])).toEqual([['image_mean', 0.04]]);

    results?.app.metrics.setPredictionDrift('Pneumonia', 0.05);
    await waitUntil(
      'new drift value scraped',
      async () => (await query('cxr_prediction_drift_psi{label="Pneumonia"}'))[0]?.value[1] === '0.05',
      10_000,
    );
  });

  it('evaluates every alert rule without error and puts the drift rules in pending', async () => {
    results?.app.metrics.setPredictionDrift('Pneumonia', 0.05);
    results?.app.metrics.setPredictionDrift('Cardiomegaly', 0.3);
    let rules: RuleState[] = [];
    await waitUntil(
      'every rule evaluated',
      async () => {
        const data = await apiData<{ groups: { rules: RuleState[] }[] }>('/api/v1/rules');
        rules = data.groups.flatMap((g) => g.rules);
        return rules.length > 0 && rules.every((r) => r.health !== 'unknown');
      },
      15_000,
    );
    expect(rules.map((r) => r.name).sort()).toEqual(
      loadRules()
        .map((r) => r.name)
        .sort(),
    );
    expect(rules.filter((r) => r.health !== 'ok')).toEqual([]);

    // 30 minutes of `for` have not passed: pending, and only for the label above the thresholds
    // (Pneumonia's pending alerts end at the first evaluation after its 0.05 was scraped).
    const expected = [
      ['CxrPredictionDriftCritical', 'Cardiomegaly', 'critical', 'pending'],
      ['CxrPredictionDriftWarning', 'Cardiomegaly', 'warning', 'pending'],
    ];
    let drift: (string | undefined)[][] = [];
    await waitUntil(
      'drift alerts pending for Cardiomegaly only',
      async () => {
        const { alerts } = await apiData<{ alerts: AlertState[] }>('/api/v1/alerts');
        drift = alerts
          .filter((a) => a.labels.alertname?.startsWith('CxrPredictionDrift') === true)
          .map((a) => [a.labels.alertname, a.labels.label, a.labels.severity, a.state])
          .sort();
        return JSON.stringify(drift) === JSON.stringify(expected);
      },
      15_000,
    ).catch(() => undefined);
    expect(drift).toEqual(expected);
  });
});
