/**
 * The Prometheus material of infra/prometheus through promtool (Debian package `prometheus`, which
 * CI installs): `check config`, `check rules`, and `test rules` with the unit tests of
 * infra/prometheus/tests. Also: every alert has tests where it fires and where it does not, the
 * conventions of cxr-alerts.yml hold, and a broken threshold makes the unit tests fail.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { PROMETHEUS_DIR, RULE_TESTS_DIR, RULES_DIR, filesIn, loadRules } from './monitoring-config.js';

const PROMTOOL = process.env.CXR_TEST_PROMTOOL ?? 'promtool';

interface RunResult {
  readonly code: number;
  readonly output: string;
}

/** Runs promtool; a missing binary fails the test with a message saying how to install it. */
async function promtool(args: readonly string[], cwd = PROMETHEUS_DIR): Promise<RunResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)(PROMTOOL, [...args], { cwd, timeout: 30_000 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { stdout?: string; stderr?: string; code?: unknown };
    if (failure.code === 'ENOENT') {
      throw new Error(`${PROMTOOL} not found: install the Debian package "prometheus" (CI does)`);
    }
    return {
      code: typeof failure.code === 'number' ? failure.code : -1,
      output: `${failure.stdout ?? ''}${failure.stderr ?? ''}`,
    };
  }
}

const temps: string[] = [];
afterAll(async () => {
  for (const dir of temps) await rm(dir, { recursive: true, force: true });
});

describe('promtool', () => {
  it('accepts prometheus.yml and the rule files it loads', async () => {
    const config = await promtool(['check', 'config', 'prometheus.yml']);
    expect(config.output).toContain('SUCCESS');
    expect(config.code).toBe(0);
    const rules = await promtool(['check', 'rules', ...filesIn(RULES_DIR, '.yml')]);
    expect(rules.code, rules.output).toBe(0);
    expect(rules.output).toContain(`SUCCESS: ${loadRules().length} rules found`);
  });

  it('passes the alert rule unit tests', async () => {
    const files = filesIn(RULE_TESTS_DIR, '.yml');
    expect(files.length).toBeGreaterThanOrEqual(3);
    const result = await promtool(['test', 'rules', ...files]);
    expect(result.code, result.output).toBe(0);
    expect(result.output.match(/SUCCESS/g)?.length).toBe(files.length);
  });

  it('fails the unit tests when a threshold is broken (the tests can fail)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cxr-promtool-'));
    temps.push(dir);
    await cp(PROMETHEUS_DIR, dir, { recursive: true });
    const rulesFile = join(dir, 'rules', 'cxr-alerts.yml');
    const original = await readFile(rulesFile, 'utf8');
    const broken = original.replace(
      'expr: cxr_prediction_drift_psi > 0.25',
      'expr: cxr_prediction_drift_psi > 0.5',
    );
    expect(broken).not.toBe(original);
    await writeFile(rulesFile, broken);
    const result = await promtool(['test', 'rules', join(dir, 'tests', 'drift.yml')], dir);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('CxrPredictionDriftCritical');
  });
});

interface AlertTest {
  readonly alertname: string;
  readonly exp_alerts?: readonly unknown[] | null;
}

/** Every alert_rule_test of every unit test file. */
async function alertTests(): Promise<AlertTest[]> {
  const tests: AlertTest[] = [];
  for (const file of filesIn(RULE_TESTS_DIR, '.yml')) {
    const doc = parseYaml(await readFile(file, 'utf8')) as {
      tests?: { alert_rule_test?: AlertTest[] }[];
    };
    for (const test of doc.tests ?? []) tests.push(...(test.alert_rule_test ?? []));
  }
  return tests;
}

describe('alert rules', () => {
  const alerts = loadRules().filter((rule) => rule.name.startsWith('Cxr'));

  it('cover drift, error and rejection rates, backlog age, stalled throughput and scrapes', () => {
    const exprs = alerts.map((rule) => rule.expr).join('\n');
    for (const needle of [
      'cxr_prediction_drift_psi > 0.1',
      'cxr_prediction_drift_psi > 0.25',
      'cxr_input_drift_psi > 0.1',
      'cxr_input_drift_psi > 0.25',
      'outcome="failed"',
      'outcome="rejected"',
      'cxr_queue_oldest_waiting_age_seconds',
      'or on () vector(0)',
      'up{job="cxr-results"} == 0',
      'absent(up{job="cxr-results"})',
    ]) {
      expect(exprs).toContain(needle);
    }
  });

  it('each have a sustained period, a severity and a runbook-like summary and description', () => {
    expect(alerts.length).toBeGreaterThanOrEqual(10);
    for (const rule of alerts) {
      expect(rule.for, rule.name).toMatch(/^\d+[mh]$/);
      expect(['warning', 'critical'], rule.name).toContain(rule.labels.severity);
      expect(typeof rule.annotations.summary, rule.name).toBe('string');
      const description = rule.annotations.description;
      expect(typeof description, rule.name).toBe('string');
      // Says what to do, not only what happened.
      expect(String(description), rule.name).toMatch(/\b(Check|check|Add|add|Fix|Inform|Tell)\b/);
      expect(String(description).length, rule.name).toBeGreaterThan(150);
    }
  });

  it('each have unit tests where they fire and where they stay quiet', async () => {
    const tests = await alertTests();
    const missing: string[] = [];
    for (const rule of alerts) {
      const own = tests.filter((t) => t.alertname === rule.name);
      if (!own.some((t) => (t.exp_alerts?.length ?? 0) > 0)) missing.push(`${rule.name}: no firing case`);
      if (!own.some((t) => (t.exp_alerts?.length ?? 0) === 0)) missing.push(`${rule.name}: no quiet case`);
    }
    expect(missing).toEqual([]);
  });
});
