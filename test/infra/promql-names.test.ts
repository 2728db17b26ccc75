import { describe, expect, it } from 'vitest';
import { exposedMetricNames, promqlMetricNames, variableQueryMetricNames } from './promql-names.js';

describe('promqlMetricNames', () => {
  it('keeps selected metrics and drops functions, aggregations, label lists and keywords', () => {
    expect(
      promqlMetricNames(
        'histogram_quantile(0.95, sum by (le, stage) (rate(cxr_stage_duration_seconds_bucket{stage=~"$stage"}[$__rate_interval])))',
      ),
    ).toEqual(['cxr_stage_duration_seconds_bucket']);
    expect(
      promqlMetricNames(
        `sum(max by (state) (cxr_queue_jobs{queue="cxr-screen",state=~"waiting|active"})) > 0
         and on ()
         (sum(rate(cxr_items_total[10m])) or on () vector(0)) == 0`,
      ),
    ).toEqual(['cxr_items_total', 'cxr_queue_jobs']);
    expect(promqlMetricNames('up{job="cxr-results"} == 0 or absent(up{job="cxr-results"})')).toEqual(['up']);
    expect(
      promqlMetricNames(
        'a / ignoring(instance) group_left(model) b unless without_x offset 5m > bool 1e-9 * 8 * 3600',
      ),
    ).toEqual(['a', 'b', 'without_x']);
  });

  it('ignores identifiers inside strings, matchers and Grafana variables', () => {
    expect(
      promqlMetricNames(
        'label_replace(cxr_model_info{model!="x y"}, "dst", "$1", "src", "(not_a_metric)") * ${scale} + $__range_s',
      ),
    ).toEqual(['cxr_model_info']);
    expect(promqlMetricNames('(time() + 3) * 1000')).toEqual([]);
  });

  it('handles a space between a function name and its parenthesis', () => {
    expect(promqlMetricNames('sum (rate (cxr_items_total [5m]))')).toEqual(['cxr_items_total']);
  });
});

describe('variableQueryMetricNames', () => {
  it('takes the metric of label_values and ignores the label argument', () => {
    expect(variableQueryMetricNames('label_values(cxr_prediction_score_count{job="x"}, label)')).toEqual([
      'cxr_prediction_score_count',
    ]);
    expect(variableQueryMetricNames('label_values(job)')).toEqual([]);
    expect(variableQueryMetricNames('query_result(topk(3, cxr_positive_rate))')).toEqual([
      'cxr_positive_rate',
    ]);
  });
});

describe('exposedMetricNames', () => {
  it('adds histogram suffixes from # TYPE, before any observation', () => {
    const names = exposedMetricNames(
      [
        '# HELP cxr_batch_size Images per batch.',
        '# TYPE cxr_batch_size histogram',
        '# HELP cxr_items_total Items.',
        '# TYPE cxr_items_total counter',
        'cxr_items_total{outcome="ok"} 3',
        'process_cpu_seconds_total 0.5',
      ].join('\n'),
    );
    expect([...names].sort()).toEqual([
      'cxr_batch_size',
      'cxr_batch_size_bucket',
      'cxr_batch_size_count',
      'cxr_batch_size_sum',
      'cxr_items_total',
      'process_cpu_seconds_total',
    ]);
  });
});
