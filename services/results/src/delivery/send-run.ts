/**
 * Retrospective push (`cxr results send --run ID --to URI`): queues the SR of every ok result of a
 * finished run (of the manifest's model version; already sent ones only with `resend`), delivers
 * them in this process, and waits until none is pending or the wait ends. Deliveries still
 * pending then stay queued in Redis: any process delivering findings (the results service with
 * CXR_FINDINGS_TO, or this command again) sends them once the PACS answers.
 */
import type { AppConfig } from '@cxr/config';
import { silentLogger, type Logger } from '@cxr/config/log';
import type { CxrMetrics } from '@cxr/metrics';
import type { ModelManifest } from '@cxr/model/manifest';
import type { QueueLocation } from '@cxr/queue';
import type { ResultRow, ResultStore } from '@cxr/store';
import { parseFindingsDestination } from './destination.js';
import { openFindingsDelivery } from './open.js';

export interface SendRunOptions {
  readonly config: AppConfig;
  readonly queue: QueueLocation;
  readonly store: ResultStore;
  readonly manifest: ModelManifest;
  readonly runId: string;
  /** The destination URI. */
  readonly to: string;
  /** Send again results already sent (the PACS replaces them: same SOP Instance UID). */
  readonly resend?: boolean;
  /** How long to wait for pending deliveries (default CXR_FINDINGS_WAIT_SECONDS). */
  readonly waitSeconds?: number;
  readonly pollMs?: number;
  readonly metrics?: CxrMetrics;
  readonly log?: Logger;
  readonly signal?: AbortSignal;
}

export interface SendRunSummary {
  readonly runId: string;
  readonly to: string;
  /** Deliveries queued by this command. */
  readonly queued: number;
  /** Ok rows left out: already sent (without resend) or of another model version. */
  readonly skipped: { readonly alreadySent: number; readonly otherModel: number };
  /** The run's rows per delivery state when the command ended. */
  readonly sent: number;
  readonly failed: number;
  readonly pending: number;
}

const ENQUEUE_CHUNK = 500;

export async function sendRun(options: SendRunOptions): Promise<SendRunSummary> {
  const { store, manifest, runId } = options;
  const log = options.log ?? silentLogger;
  const to = parseFindingsDestination(options.to).uri;
  const opened = await openFindingsDelivery({
    config: options.config,
    queue: options.queue,
    store,
    manifest,
    ...(options.metrics !== undefined ? { metrics: options.metrics } : {}),
    log,
  });
  const { delivery } = opened;
  try {
    delivery.start();
    let queued = 0;
    let alreadySent = 0;
    let otherModel = 0;
    let chunk: ResultRow[] = [];
    const flush = async (): Promise<void> => {
      queued += await delivery.enqueue(chunk, to, Date.now());
      chunk = [];
    };
    for await (const row of store.iterateRun(runId, { batchSize: 2000 })) {
      if (row.outcome !== 'ok') continue;
      if (row.modelId !== manifest.id || row.modelVersion !== manifest.version) {
        otherModel += 1;
        continue;
      }
      if (options.resend !== true && row.delivery?.state === 'sent') {
        alreadySent += 1;
        continue;
      }
      chunk.push(row);
      if (chunk.length >= ENQUEUE_CHUNK) await flush();
    }
    await flush();
    log('info', 'findings queued', { runId, to, queued, alreadySent, otherModel });
    const deadline = Date.now() + (options.waitSeconds ?? options.config.findings.waitSeconds) * 1000;
    const pollMs = options.pollMs ?? 250;
    let counts = await store.deliveryCounts(runId);
    while (counts.pending > 0 && Date.now() < deadline && options.signal?.aborted !== true) {
      await new Promise((resolve) => setTimeout(resolve, pollMs));
      counts = await store.deliveryCounts(runId);
    }
    return { runId, to, queued, skipped: { alreadySent, otherModel }, ...counts };
  } finally {
    await opened.close();
  }
}
