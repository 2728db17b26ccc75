/**
 * The provisioned Grafana material of infra/grafana: dashboards load as Grafana 10/11 JSON with
 * core panels only, select their data source through the `datasource` variable (default: the
 * provisioned uid), lay out without overlaps, answer the night-shift questions (backlog and ETA in
 * one panel) and draw the drift alert thresholds. The metric names are checked against a running
 * service in metric-names.int.test.ts.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import {
  loadRules,
  GRAFANA_DIR,
  loadDashboards,
  panelsOf,
  targetsOf,
  variablesOf,
} from './monitoring-config.js';

/** Panel types that ship with Grafana 10 and 11 (no plugin to install). */
const CORE_PANELS = new Set([
  'row',
  'text',
  'stat',
  'timeseries',
  'bargauge',
  'piechart',
  'table',
  'heatmap',
]);

interface Grid {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

function gridOf(panel: Record<string, unknown>): Grid {
  return panel.gridPos as Grid;
}

function provisionedDatasourceUid(): string {
  const doc = parseYaml(
    readFileSync(`${GRAFANA_DIR}provisioning/datasources/cxr-prometheus.yml`, 'utf8'),
  ) as {
    datasources: { uid: string; type: string }[];
  };
  const prometheus = doc.datasources.find((d) => d.type === 'prometheus');
  if (prometheus === undefined) throw new Error('cxr-prometheus.yml: no prometheus data source');
  return prometheus.uid;
}

const dashboards = loadDashboards();
const byUid = new Map(dashboards.map((d) => [String(d.json.uid), d.json]));

function dashboard(uid: string): Record<string, unknown> {
  const found = byUid.get(uid);
  if (found === undefined) throw new Error(`no dashboard with uid ${uid}`);
  return found;
}

function panelTitled(uid: string, title: string): Record<string, unknown> {
  const panel = panelsOf(dashboard(uid)).find((p) => p.title === title);
  if (panel === undefined) throw new Error(`${uid}: no panel "${title}"`);
  return panel;
}

describe('Grafana dashboards', () => {
  it('are an operations and a drift dashboard with unique uids', () => {
    expect([...byUid.keys()].sort()).toEqual(['cxr-drift', 'cxr-operations']);
  });

  it.each(dashboards.map((d) => [d.file, d.json] as const))(
    '%s: Grafana 10/11 schema, core panels, data source by variable, no overlaps, no external assets',
    (file, json) => {
      expect(json.schemaVersion).toBeGreaterThanOrEqual(36);
      expect(typeof json.title).toBe('string');
      expect(JSON.stringify(json), file).not.toMatch(/https?:\/\//);

      const datasourceVar = variablesOf(json).find((v) => v.name === 'datasource');
      expect(datasourceVar?.type).toBe('datasource');
      expect(datasourceVar?.query).toBe('prometheus');
      expect((datasourceVar?.current as { value?: string } | undefined)?.value).toBe(
        provisionedDatasourceUid(),
      );
      const variables = new Set(variablesOf(json).map((v) => String(v.name)));

      const panels = panelsOf(json);
      const ids = panels.map((p) => p.id);
      expect(new Set(ids).size, 'unique panel ids').toBe(ids.length);
      const cells = new Map<string, string>();
      for (const panel of panels) {
        const title = String(panel.title);
        expect(CORE_PANELS, title).toContain(panel.type);
        const grid = gridOf(panel);
        expect(grid.x + grid.w, title).toBeLessThanOrEqual(24);
        for (let x = grid.x; x < grid.x + grid.w; x++) {
          for (let y = grid.y; y < grid.y + grid.h; y++) {
            const other = cells.get(`${x},${y}`);
            expect(other, `"${title}" overlaps "${other ?? ''}"`).toBeUndefined();
            cells.set(`${x},${y}`, title);
          }
        }
        if (panel.type === 'row' || panel.type === 'text') continue;
        expect(panel.datasource, title).toEqual({ type: 'prometheus', uid: '${datasource}' });
        const targets = targetsOf(panel);
        expect(targets.length, title).toBeGreaterThan(0);
        for (const target of targets) {
          expect(target.datasource, title).toEqual({ type: 'prometheus', uid: '${datasource}' });
          expect(typeof target.expr, title).toBe('string');
          // Every $variable a query or title uses is defined ($__ ones are Grafana's own).
          for (const [, name] of `${String(target.expr)} ${title}`.matchAll(/\$(?!__)\{?(\w+)/g)) {
            expect(variables, `${title}: $${String(name)}`).toContain(name);
          }
        }
        if (typeof panel.repeat === 'string') expect(variables, title).toContain(panel.repeat);
      }
    },
  );

  it('every quantile comes from a rate of _bucket series grouped by le', () => {
    let count = 0;
    for (const { json } of dashboards) {
      for (const panel of panelsOf(json)) {
        for (const target of targetsOf(panel)) {
          const expr = String(target.expr);
          if (!expr.includes('histogram_quantile')) continue;
          count++;
          expect(expr).toMatch(
            /histogram_quantile\(0\.\d+, sum by \(le(, \w+)*\) \(rate\(\w+_bucket(\{[^}]*\})?\[\$__rate_interval\]\)\)\)/,
          );
        }
      }
    }
    // Stages, end to end, inference batches (p50/p95/p99 each) and batch sizes.
    expect(count).toBeGreaterThanOrEqual(12);
  });

  it('operations: backlog and ETA in one panel, with the backlog of the contract', () => {
    const panel = panelTitled('cxr-operations', 'Backlog and ETA');
    const exprs = targetsOf(panel).map((t) => String(t.expr));
    const backlog =
      'sum(max by (state) (cxr_queue_jobs{queue="cxr-screen",state=~"waiting|prioritized|delayed|active"}))';
    expect(exprs[0]).toBe(backlog);
    expect(exprs[1]).toBe(`${backlog} / (sum(rate(cxr_items_total[30m])) > 0)`);
    expect(exprs[2]).toContain('time() +');
    // The ETA alert computes the same quantity.
    const eta = loadRules().find((rule) => rule.name === 'CxrBacklogEtaLong');
    expect(eta?.expr.replace(/\s+/g, ' ')).toContain(
      `${backlog} / on () (sum(rate(cxr_items_total[30m])) > 0)`,
    );
  });

  it('operations: latency per stage, batch size, model info and process metrics', () => {
    const exprs = panelsOf(dashboard('cxr-operations'))
      .flatMap((p) => targetsOf(p))
      .map((t) => String(t.expr))
      .join('\n');
    for (const needle of [
      'histogram_quantile(0.5, sum by (le) (rate(cxr_stage_duration_seconds_bucket{stage=~"$stage"}',
      'histogram_quantile(0.99, sum by (le) (rate(cxr_stage_duration_seconds_bucket{stage=~"$stage"}',
      'cxr_end_to_end_seconds_bucket',
      'cxr_batch_size_sum',
      'cxr_rejected_total',
      'cxr_model_info',
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_p99_seconds',
    ]) {
      expect(exprs).toContain(needle);
    }
    expect(panelTitled('cxr-operations', 'Stage latency: $stage').repeat).toBe('stage');
  });

  it('drift: PSI panels draw the alert thresholds 0.1 and 0.25 as lines', () => {
    const rules = loadRules();
    const thresholdOf = (name: string): number =>
      Number(/> ([\d.]+)$/.exec(rules.find((r) => r.name === name)?.expr ?? '')?.[1]);
    const warning = thresholdOf('CxrPredictionDriftWarning');
    const critical = thresholdOf('CxrPredictionDriftCritical');
    expect([warning, critical]).toEqual([0.1, 0.25]);
    expect(thresholdOf('CxrInputDriftWarning')).toBe(warning);
    expect(thresholdOf('CxrInputDriftCritical')).toBe(critical);

    for (const title of ['Prediction drift (PSI) per label', 'Input drift (PSI) per feature']) {
      const panel = panelTitled('cxr-drift', title);
      expect(panel.type).toBe('timeseries');
      const defaults = (panel.fieldConfig as { defaults: Record<string, unknown> }).defaults;
      const steps = (defaults.thresholds as { steps: { value: number | null; color: string }[] }).steps;
      expect(steps.map((s) => s.value)).toEqual([null, warning, critical]);
      expect((defaults.custom as { thresholdsStyle: { mode: string } }).thresholdsStyle.mode).toMatch(
        /^line/,
      );
    }
  });

  it('drift: positive rate per label and a score heatmap from the score buckets, per label', () => {
    const heatmap = panelsOf(dashboard('cxr-drift')).find((p) => p.type === 'heatmap');
    expect(heatmap?.repeat).toBe('label');
    const target = targetsOf(heatmap ?? {})[0];
    expect(target?.format).toBe('heatmap');
    expect(String(target?.expr)).toContain('cxr_prediction_score_bucket{label=~"$label"}');
    expect((heatmap?.options as { calculate?: boolean } | undefined)?.calculate).toBe(false);
    const positive = panelTitled('cxr-drift', 'Positive rate per label');
    expect(String(targetsOf(positive)[0]?.expr)).toContain('cxr_positive_rate');
  });

  it('provisioning: a file provider for the dashboards and a Prometheus data source', () => {
    const doc = parseYaml(
      readFileSync(`${GRAFANA_DIR}provisioning/dashboards/cxr-dashboards.yml`, 'utf8'),
    ) as {
      apiVersion: number;
      providers: { type: string; options: { path: string } }[];
    };
    expect(doc.apiVersion).toBe(1);
    expect(doc.providers[0]?.type).toBe('file');
    expect(doc.providers[0]?.options.path).toMatch(/^\//);
    expect(provisionedDatasourceUid()).toBe('cxr-prometheus');
  });
});
