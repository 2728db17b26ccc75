/**
 * The end-of-run summary of `cxr screen`: counts per outcome and reason, throughput, per-stage
 * latency quantiles and where the results are. Pure: run-screen.ts gathers the numbers, this file
 * computes quantiles and formats them. Nothing here prints a URI or any DICOM attribute: counts,
 * reason codes, durations and the store location only.
 */
import type { SourceSkipCounts } from '@cxr/ingest';
import type { ReasonCount, StoredResult } from '@cxr/store';

/** Stages as stored per row (the `store` stage is the results service's upsert). */
export const SUMMARY_STAGES = ['fetch', 'decode', 'preprocess', 'batch_wait', 'infer', 'store'] as const;
export type SummaryStage = (typeof SUMMARY_STAGES)[number];

export interface StageLatency {
  /** Rows that reached the stage. */
  readonly n: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
}

export interface ScreenSummary {
  readonly runId: string;
  readonly model: {
    readonly id: string;
    readonly version: string;
    readonly runtime: string;
    /** The bundle's provenance warning (the seed model: random weights); `cxr screen` prints it on stderr. */
    readonly warning?: string;
  };
  /**
   * What the ingest did: new jobs, jobs already queued, objects already screened (skipped), and
   * entries of the source it did not list at all (links, loops, unreadable folders), per reason.
   */
  readonly ingest: {
    readonly listed: number;
    readonly enqueued: number;
    /** Of `enqueued`: objects the queue remembered as done that had no row (screened again). */
    readonly requeued: number;
    readonly duplicates: number;
    readonly skipped: number;
    readonly sourceSkipped: number;
    readonly sourceSkipReasons: SourceSkipCounts;
    readonly complete: boolean;
  };
  /** Rows of this run in the store, per outcome. */
  readonly outcomes: { readonly ok: number; readonly rejected: number; readonly failed: number };
  /** Rejected and failed rows of this run per reason code, most frequent first. */
  readonly reasons: readonly ReasonCount[];
  /** Images this process ran through the model (0 when everything was already screened). */
  readonly inferred: number;
  /** Seconds from the worker's start to the last result stored. */
  readonly wallSeconds: number;
  /** Rows of this run stored per wall-clock second. */
  readonly imagesPerSecond: number;
  readonly stages: Readonly<Partial<Record<SummaryStage, StageLatency>>>;
  /** Where the results are (a password in a PostgreSQL URL is masked). */
  readonly store: string;
  /** True when every listed object has its row: not interrupted, nothing missing, no PACS window left unlisted. */
  readonly complete: boolean;
  /** The run was interrupted (Ctrl-C, SIGTERM) before the queue drained and the check ended. */
  readonly interrupted: boolean;
  /** With `--findings-to`: the run's SRs per delivery state when the command ended. */
  readonly findings?: {
    readonly to: string;
    readonly sent: number;
    readonly failed: number;
    readonly pending: number;
  };
  /** Listed objects without a row for this model version after the queues drained. */
  readonly missing: number;
}

/** PACS study windows the listing could not (fully) list: their objects were never counted. */
export function unlistedWindows(reasons: SourceSkipCounts): number {
  return (reasons.query_failed ?? 0) + (reasons.query_truncated ?? 0);
}

/**
 * The q-quantile of ascending `sorted` values by linear interpolation between closest ranks
 * (Hyndman & Fan type 7, the default of R and NumPy). NaN for an empty array.
 */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (q < 0 || q > 1) throw new RangeError('quantile q must lie in [0, 1]');
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const position = (n - 1) * q;
  const lower = Math.floor(position);
  const upper = Math.min(lower + 1, n - 1);
  const a = sorted[lower] ?? Number.NaN;
  const b = sorted[upper] ?? Number.NaN;
  return a + (b - a) * (position - lower);
}

/** Collects per-stage durations from stored rows, then reports p50 / p95 per stage. */
export class StageLatencyCollector {
  readonly #values = new Map<SummaryStage, number[]>(SUMMARY_STAGES.map((stage) => [stage, []]));

  add(row: Pick<StoredResult, 'timings'>): void {
    for (const stage of SUMMARY_STAGES) {
      const ms = row.timings[stage];
      if (ms !== null) this.#values.get(stage)?.push(ms);
    }
  }

  result(): Partial<Record<SummaryStage, StageLatency>> {
    const out: Partial<Record<SummaryStage, StageLatency>> = {};
    for (const [stage, values] of this.#values) {
      if (values.length === 0) continue;
      const sorted = Float64Array.from(values).sort();
      out[stage] = { n: sorted.length, p50Ms: quantile(sorted, 0.5), p95Ms: quantile(sorted, 0.95) };
    }
    return out;
  }
}

/** A store URL fit for printing: the password of `postgres://user:pass@host/db` is masked. */
export function displayStoreUrl(url: string): string {
  if (!/^postgres(ql)?:\/\//.test(url)) return url;
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}

const count = (n: number): string => n.toLocaleString('en-US');
const ms = (value: number): string => (value >= 100 ? value.toFixed(0) : value.toFixed(1));

/** The summary for people (stdout of `cxr screen`; `--json` prints the object instead). */
export function formatSummary(summary: ScreenSummary): string {
  const { ingest, outcomes } = summary;
  const stored = outcomes.ok + outcomes.rejected + outcomes.failed;
  const requeued =
    ingest.requeued > 0 ? ` (${count(ingest.requeued)} of them again: no row in the store)` : '';
  const lines = [
    `run ${summary.runId}${summary.interrupted ? ' (interrupted: run the same command again to continue)' : ''}`,
    `model ${summary.model.id} ${summary.model.version} on ${summary.model.runtime}`,
    `listed ${count(ingest.listed)}: ${count(ingest.enqueued)} queued${requeued}, ${count(ingest.skipped)} already screened, ` +
      `${count(ingest.duplicates)} already queued`,
  ];
  if (ingest.sourceSkipped > 0) {
    // Entries that never became jobs: each was logged (`source entry skipped`) with its reason.
    const reasons = Object.entries(ingest.sourceSkipReasons)
      .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1))
      .map(([reason, n]) => `${reason} ${count(n)}`);
    lines.push(
      `not listed ${count(ingest.sourceSkipped)}: ${reasons.join(', ')} (logged as source entry skipped)`,
    );
  }
  lines.push(
    `stored ${count(stored)}: ok ${count(outcomes.ok)}, rejected ${count(outcomes.rejected)}, failed ${count(outcomes.failed)}`,
  );
  for (const { outcome, reason, count: n } of summary.reasons) {
    lines.push(`  ${outcome} ${reason}: ${count(n)}`);
  }
  if (summary.missing > 0) {
    lines.push(
      `INCOMPLETE: ${count(summary.missing)} listed objects have no result row; run the same command again to screen them`,
    );
  }
  const unlisted = unlistedWindows(ingest.sourceSkipReasons);
  if (unlisted > 0) {
    lines.push(
      `INCOMPLETE: ${count(unlisted)} PACS study windows could not be listed in full (logged as pacs window not listed); run the same command again once the PACS answers them`,
    );
  }
  if (summary.findings !== undefined) {
    const f = summary.findings;
    lines.push(
      `findings to ${f.to}: sent ${count(f.sent)}, failed ${count(f.failed)}, pending ${count(f.pending)}` +
        (f.pending > 0
          ? ' (still queued: the results service with CXR_FINDINGS_TO, or `cxr results send`, delivers them)'
          : ''),
    );
  }
  lines.push(
    `inferred ${count(summary.inferred)} images in ${summary.wallSeconds.toFixed(1)} s ` +
      `(${summary.imagesPerSecond.toFixed(2)} images/s stored)`,
  );
  const stageLines = SUMMARY_STAGES.flatMap((stage) => {
    const s = summary.stages[stage];
    return s === undefined ? [] : [`  ${stage.padEnd(10)} p50 ${ms(s.p50Ms)} ms  p95 ${ms(s.p95Ms)} ms`];
  });
  if (stageLines.length > 0) lines.push('latency per stage:', ...stageLines);
  lines.push(
    `results: ${summary.store} (run ${summary.runId}); export with ` +
      `cxr results export --run ${summary.runId} --format csv --out results.csv`,
  );
  return `${lines.join('\n')}\n`;
}
