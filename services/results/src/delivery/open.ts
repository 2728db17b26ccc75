/** Opens the findings delivery of a process from its configuration (results service, `cxr results send`). */
import { readFile } from 'node:fs/promises';
import type { AppConfig } from '@cxr/config';
import type { Logger } from '@cxr/config/log';
import type { CxrMetrics } from '@cxr/metrics';
import type { ModelManifest } from '@cxr/model/manifest';
import type { QueueLocation } from '@cxr/queue';
import { createObjectFetcher, dimseSettingsFromConfig, type ObjectFetcher } from '@cxr/storage';
import type { ResultStore } from '@cxr/store';
import { FindingsDelivery } from './findings-delivery.js';

export interface OpenFindingsDeliveryOptions {
  readonly config: AppConfig;
  readonly queue: QueueLocation;
  readonly store: ResultStore;
  readonly manifest: ModelManifest;
  readonly metrics?: CxrMetrics;
  readonly log?: Logger;
}

/** A findings delivery (not started) and the fetcher it owns; `close` stops both. */
export interface OpenedFindingsDelivery {
  readonly delivery: FindingsDelivery;
  close(): Promise<void>;
}

export async function openFindingsDelivery(
  options: OpenFindingsDeliveryOptions,
): Promise<OpenedFindingsDelivery> {
  const { config } = options;
  const ca =
    config.dicomweb.caFile !== undefined ? await readFile(config.dicomweb.caFile, 'utf8') : undefined;
  const fetcher: ObjectFetcher = createObjectFetcher({
    env: config.s3Env,
    dicomweb: config.dicomweb,
    dimse: dimseSettingsFromConfig(config),
    ...(options.log !== undefined ? { log: options.log } : {}),
  });
  const delivery = new FindingsDelivery({
    queue: options.queue,
    store: options.store,
    manifest: options.manifest,
    fetcher,
    senders: {
      dicomweb: {
        token: config.dicomweb.token,
        user: config.dicomweb.user,
        password: config.dicomweb.password,
        timeoutMs: config.dicomweb.timeoutMs,
        ...(ca !== undefined ? { ca } : {}),
      },
      dimse: { callingAeTitle: config.dimse.callingAeTitle, timeoutMs: config.dimse.timeoutMs },
    },
    maxObjectBytes: config.decode.maxObjectBytes,
    concurrency: config.findings.concurrency,
    backoff: { firstMs: config.findings.backoffMs, capMs: config.findings.backoffCapMs },
    ...(options.metrics !== undefined ? { metrics: options.metrics } : {}),
    ...(options.log !== undefined ? { log: options.log } : {}),
  });
  return {
    delivery,
    async close() {
      await delivery.stop();
      await fetcher.close();
    },
  };
}
