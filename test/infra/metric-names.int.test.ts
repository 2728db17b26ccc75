/**
 * Every metric name in the Grafana dashboards and the Prometheus alert rules is one the services
 * export: a running results service is scraped and the names are compared. The results service
 * registers the whole contract (createMetrics builds every metric of METRIC_CONTRACT in every
 * service) and prom-client's default process metrics, so names only the worker or ingest set
 * (cxr_batch_size, cxr_ingest_*, cxr_model_info) are declared in its scrape too, as `# TYPE`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRIC_NAMES } from '@cxr/metrics';
import { allPromqlUses, loadDashboards } from './monitoring-config.js';
import { exposedMetricNames, promqlMetricNames, variableQueryMetricNames } from './promql-names.js';
import { startTestResultsApp, type TestResultsApp } from './results-app.js';

/** Series Prometheus itself creates for every target (not exported by a service). */
const PROMETHEUS_SERIES = new Set(['up']);

function namesOf(use: { readonly expr: string; readonly kind: 'promql' | 'variable' }): string[] {
  return use.kind === 'variable' ? variableQueryMetricNames(use.expr) : promqlMetricNames(use.expr);
}

let results: TestResultsApp | undefined;
let exposition = '';

beforeAll(async () => {
  results = await startTestResultsApp();
  const response = await fetch(results.metricsUrl);
  expect(response.status).toBe(200);
  exposition = await response.text();
});

afterAll(async () => {
  await results?.cleanup();
});

describe('metric names of dashboards and alert rules', () => {
  it('are all exported by the running results service', () => {
    const exported = exposedMetricNames(exposition);
    const uses = allPromqlUses();
    // The material is really there and the extractor finds names in it.
    expect(uses.filter((u) => u.where.startsWith('cxr-alerts.yml')).length).toBeGreaterThanOrEqual(10);
    expect(
      uses.filter((u) => u.where.endsWith('.json') || u.where.includes('.json ')).length,
    ).toBeGreaterThan(30);

    const missing: string[] = [];
    const used = new Set<string>();
    for (const use of uses) {
      const names = namesOf(use);
      // Each expression selects at least one series; a panel query without a metric is a typo.
      if (names.length === 0) missing.push(`${use.where}: no metric name in ${use.expr}`);
      for (const name of names) {
        used.add(name);
        if (!exported.has(name) && !PROMETHEUS_SERIES.has(name)) missing.push(`${use.where}: ${name}`);
      }
    }
    expect(missing).toEqual([]);
    // Spot checks that the comparison covers histograms by suffix and the default process metrics.
    for (const name of [
      'cxr_queue_jobs',
      'cxr_stage_duration_seconds_bucket',
      'cxr_batch_size_sum',
      'cxr_prediction_score_bucket',
      'process_cpu_seconds_total',
      'nodejs_eventloop_lag_p99_seconds',
    ]) {
      expect(used, name).toContain(name);
      expect(exported, name).toContain(name);
    }
  });

  it('a metric the services do not export is reported (the check can fail)', () => {
    const exported = exposedMetricNames(exposition);
    const names = promqlMetricNames('sum(rate(cxr_items_totl[5m])) / sum(rate(cxr_items_total[5m]))');
    expect(names.filter((n) => !exported.has(n))).toEqual(['cxr_items_totl']);
  });

  it('the results scrape declares every contract metric, worker and ingest ones included', () => {
    const exported = exposedMetricNames(exposition);
    expect(METRIC_NAMES.filter((name) => !exported.has(name))).toEqual([]);
    for (const name of ['cxr_batch_size', 'cxr_ingest_enqueued_total', 'cxr_model_info']) {
      expect(exposition).toContain(`# TYPE ${name} `);
    }
  });

  it('every contract metric is shown on a dashboard', () => {
    const onDashboards = new Set<string>();
    for (const use of allPromqlUses()) {
      if (!use.where.includes('.json')) continue;
      for (const name of namesOf(use)) onDashboards.add(name.replace(/_(bucket|sum|count)$/, ''));
    }
    expect(loadDashboards().length).toBeGreaterThanOrEqual(2);
    expect(METRIC_NAMES.filter((name) => !onDashboards.has(name))).toEqual([]);
  });
});
