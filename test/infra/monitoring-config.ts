/**
 * Loads the monitoring material of infra/ (Prometheus alert rules, Grafana dashboards) for the
 * tests: every PromQL expression with where it comes from.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

export const INFRA_DIR = fileURLToPath(new URL('../../infra/', import.meta.url));
export const PROMETHEUS_DIR = `${INFRA_DIR}prometheus/`;
export const RULES_DIR = `${PROMETHEUS_DIR}rules/`;
export const RULE_TESTS_DIR = `${PROMETHEUS_DIR}tests/`;
export const GRAFANA_DIR = `${INFRA_DIR}grafana/`;
export const DASHBOARDS_DIR = `${GRAFANA_DIR}dashboards/`;

/** One PromQL expression and where it is used (file and rule/panel), for failure messages. */
export interface PromqlUse {
  readonly where: string;
  readonly expr: string;
  /** Grafana variable queries (`label_values(...)`) are not plain PromQL. */
  readonly kind: 'promql' | 'variable';
}

/** `*.yml` / `*.json` files of a directory, sorted, as absolute paths. */
export function filesIn(dir: string, extension: string): string[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith(extension))
    .sort()
    .map((name) => dir + name);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? (value as unknown[]) : [];
}

function fileName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** Alert and recording rules of one Prometheus rule file. */
export interface RuleDefinition {
  readonly group: string;
  readonly name: string;
  readonly expr: string;
  readonly labels: Readonly<Record<string, unknown>>;
  readonly annotations: Readonly<Record<string, unknown>>;
  readonly for?: string;
}

/** Every rule of every file in infra/prometheus/rules. */
export function loadRules(): (RuleDefinition & { readonly file: string })[] {
  const rules: (RuleDefinition & { readonly file: string })[] = [];
  for (const path of filesIn(RULES_DIR, '.yml')) {
    const doc: unknown = parseYaml(readFileSync(path, 'utf8'));
    if (!isRecord(doc)) throw new Error(`${fileName(path)}: not a rule file (no top-level mapping)`);
    for (const group of asArray(doc.groups)) {
      if (!isRecord(group)) throw new Error(`${fileName(path)}: a group is not a mapping`);
      for (const rule of asArray(group.rules)) {
        if (!isRecord(rule) || typeof rule.expr !== 'string') {
          throw new Error(`${fileName(path)}: a rule of group ${String(group.name)} has no expr`);
        }
        const name = typeof rule.alert === 'string' ? rule.alert : String(rule.record);
        rules.push({
          file: fileName(path),
          group: String(group.name),
          name,
          expr: rule.expr,
          labels: isRecord(rule.labels) ? rule.labels : {},
          annotations: isRecord(rule.annotations) ? rule.annotations : {},
          ...(typeof rule.for === 'string' ? { for: rule.for } : {}),
        });
      }
    }
  }
  return rules;
}

/** A Grafana dashboard file, parsed. */
export interface DashboardFile {
  readonly file: string;
  readonly json: Record<string, unknown>;
}

export function loadDashboards(): DashboardFile[] {
  return filesIn(DASHBOARDS_DIR, '.json').map((path) => {
    const json: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (!isRecord(json)) throw new Error(`${fileName(path)}: dashboard JSON is not an object`);
    return { file: fileName(path), json };
  });
}

/** Every panel of a dashboard, including panels nested in collapsed rows. */
export function panelsOf(dashboard: Record<string, unknown>): Record<string, unknown>[] {
  const panels: Record<string, unknown>[] = [];
  for (const panel of asArray(dashboard.panels)) {
    if (!isRecord(panel)) continue;
    panels.push(panel);
    for (const nested of asArray(panel.panels)) if (isRecord(nested)) panels.push(nested);
  }
  return panels;
}

/** The targets of a panel. */
export function targetsOf(panel: Record<string, unknown>): Record<string, unknown>[] {
  return asArray(panel.targets).filter(isRecord);
}

/** Templating variables of a dashboard. */
export function variablesOf(dashboard: Record<string, unknown>): Record<string, unknown>[] {
  const templating = dashboard.templating;
  return isRecord(templating) ? asArray(templating.list).filter(isRecord) : [];
}

/** Every PromQL expression of the alert rules and the dashboards (targets and query variables). */
export function allPromqlUses(): PromqlUse[] {
  const uses: PromqlUse[] = loadRules().map((rule) => ({
    where: `${rule.file} ${rule.name}`,
    expr: rule.expr,
    kind: 'promql',
  }));
  for (const { file, json } of loadDashboards()) {
    for (const panel of panelsOf(json)) {
      for (const target of targetsOf(panel)) {
        if (typeof target.expr !== 'string') continue;
        uses.push({
          where: `${file} "${String(panel.title)}" ${String(target.refId)}`,
          expr: target.expr,
          kind: 'promql',
        });
      }
    }
    for (const variable of variablesOf(json)) {
      if (variable.type !== 'query') continue;
      const query = isRecord(variable.query) ? variable.query.query : variable.query;
      if (typeof query !== 'string') continue;
      uses.push({ where: `${file} variable ${String(variable.name)}`, expr: query, kind: 'variable' });
    }
  }
  return uses;
}
