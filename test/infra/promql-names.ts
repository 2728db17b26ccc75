/**
 * Metric names used by PromQL expressions (alert rules, Grafana targets and variables), so tests
 * can check them against what the services export. Not a PromQL parser: it removes everything
 * that can hold an identifier that is not a metric name (strings, label matchers, label lists of
 * by/without/on/ignoring/group_*, range and subquery brackets, Grafana variables), then keeps the
 * identifiers that are not called as functions and are not keywords.
 */

/** Binary-operator keywords and modifiers; never metric names. */
const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'offset',
  'bool',
  'atan2',
  'inf',
  'nan',
]);

/** The metric names an expression selects, sorted and deduplicated. */
export function promqlMetricNames(expr: string): string[] {
  let rest = expr
    // Comments run to the end of the line.
    .replace(/#[^\n]*/g, ' ')
    // Strings (label values, label_replace arguments) may hold any text.
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    // Grafana variables: $var, ${var}, ${var:format}, $__rate_interval, [[var]].
    .replace(/\$\{[^}]*\}|\$\w+|\[\[[^\]]*\]\]/g, ' ')
    // Label matchers: after removing strings only label names and operators are left inside.
    .replace(/\{[^}]*\}/g, ' ')
    // Ranges, subqueries and durations: [5m], [1h:30s], [].
    .replace(/\[[^\]]*\]/g, ' ')
    // Label lists of grouping and vector matching modifiers.
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  // Numbers (0.95, 1e-9, 0x1f, 8 * 3600) are not identifiers: drop them before scanning.
  rest = rest.replace(/(^|[^\w:.])(\d[\w.]*(?:[eE][+-]?\d+)?)/g, '$1 ');
  const names = new Set<string>();
  for (const match of rest.matchAll(/[A-Za-z_:][\w:]*/g)) {
    const name = match[0];
    const after = rest.slice(match.index + name.length).trimStart();
    if (after.startsWith('(')) continue; // a function or aggregation call
    if (KEYWORDS.has(name.toLowerCase())) continue;
    names.add(name);
  }
  return [...names].sort();
}

/**
 * The metric names of a Grafana Prometheus variable query: `label_values(metric{...}, label)`,
 * `label_values(label)`, `metrics(regex)`, `label_names()` or `query_result(expr)`.
 */
export function variableQueryMetricNames(query: string): string[] {
  const trimmed = query.trim();
  const labelValues = /^label_values\s*\((.*)\)$/s.exec(trimmed);
  if (labelValues) {
    const args = labelValues[1] ?? '';
    const comma = args.lastIndexOf(',');
    // One argument is a label name alone (values over all series): no metric.
    return comma < 0 ? [] : promqlMetricNames(args.slice(0, comma));
  }
  const queryResult = /^query_result\s*\((.*)\)$/s.exec(trimmed);
  if (queryResult) return promqlMetricNames(queryResult[1] ?? '');
  if (/^(metrics|label_names)\s*\(/.test(trimmed)) return [];
  return promqlMetricNames(trimmed);
}

/**
 * Metric names in Prometheus text exposition: every sample name and every `# TYPE` name, plus the
 * `_bucket`/`_sum`/`_count` series of histograms (and `_sum`/`_count` of summaries) whose `# TYPE`
 * is present even before the first observation creates a sample.
 */
export function exposedMetricNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\w+)/.exec(line);
    if (type) {
      const [, name = '', kind] = type;
      names.add(name);
      if (kind === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
      if (kind === 'summary') for (const s of ['_sum', '_count']) names.add(name + s);
      continue;
    }
    if (line.startsWith('#') || line.trim() === '') continue;
    const sample = /^([A-Za-z_:][\w:]*)/.exec(line);
    if (sample?.[1] !== undefined) names.add(sample[1]);
  }
  return names;
}
