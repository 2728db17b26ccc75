/**
 * The C-STORE SCP as a pipeline input (`cxr listen`, or the ingest service with CXR_SCP_AE_TITLE):
 * every instance a PACS or modality pushes is written durably to CXR_SCP_STORE_TO under its SOP
 * Instance UID and put on `cxr-screen` (the same job identity rules as the ingest: the stored
 * object's URI and size, and the model), and only then acknowledged. A storage or queue error
 * answers the sender Out of Resources, so it keeps the instance and sends it again later.
 *
 * Instances that arrive as the C-MOVE a worker asked for (Move Originator = our calling AE
 * title, see @cxr/storage's dimse-source.ts) are written to the `retrieved/` area for that worker
 * and not enqueued: their job already exists, under the `dimse://` URI.
 */
import type { AppConfig } from '@cxr/config';
import { silentLogger, type Logger } from '@cxr/config/log';
import { startStoreScp, type ReceivedInstance } from '@cxr/dicomnet';
import type { CxrMetrics } from '@cxr/metrics';
import { ScreenQueue, redisConnectionFromUrl, type ScreenJobPayload } from '@cxr/queue';
import { openReceivedInstanceStore, type ReceivedInstanceStore } from '@cxr/storage';

export interface ScpServiceOptions {
  readonly config: Pick<AppConfig, 'queue' | 's3Env' | 'dimse' | 'decode'>;
  /** The SCP: AE title, listen address and port, storage, allowed calling AE titles. */
  readonly scp: {
    readonly aeTitle: string;
    readonly host: string;
    readonly port: number;
    readonly storeTo: string;
    readonly allowedCallingAeTitles: readonly string[];
  };
  readonly modelId: string;
  readonly modelVersion: string;
  /** Run id of the jobs; default `scp-YYYY-MM-DD`, the UTC day each instance arrives. */
  readonly runId?: string;
  readonly metrics?: Pick<
    CxrMetrics,
    'countScpAssociation' | 'countScpInstance' | 'countEnqueued' | 'countDuplicates'
  >;
  readonly log?: Logger;
  /** Milliseconds clock (tests); default Date.now. */
  readonly now?: () => number;
}

export interface RunningScpService {
  /** The DICOM port listened on. */
  readonly port: number;
  /** Readiness: Redis answers on the queue the SCP writes to. */
  ready(): Promise<unknown>;
  /** Stops taking associations, answers the C-STOREs in progress, closes storage and queue. */
  stop(): Promise<void>;
}

/** Starts the SCP with its storage and queue; fails (closing what it opened) if any cannot start. */
export async function startScpService(options: ScpServiceOptions): Promise<RunningScpService> {
  const { config, scp } = options;
  const log = options.log ?? silentLogger;
  const now = options.now ?? Date.now;
  const metrics = options.metrics;
  const store: ReceivedInstanceStore = openReceivedInstanceStore(scp.storeTo, { env: config.s3Env });
  const prefix = config.queue.prefix;
  const { screenAttempts, screenBackoffMs, screenRetrySeconds } = config.queue;
  const queue = new ScreenQueue({
    connection: redisConnectionFromUrl(config.queue.redisUrl),
    ...(prefix !== undefined ? { prefix } : {}),
    retry: {
      ...(screenAttempts !== undefined ? { attempts: screenAttempts } : {}),
      ...(screenBackoffMs !== undefined ? { backoffDelayMs: screenBackoffMs } : {}),
      ...(screenRetrySeconds !== undefined ? { budgetSeconds: screenRetrySeconds } : {}),
    },
  });

  const enqueue = async (uri: string, size: number): Promise<void> => {
    const enqueuedAt = now();
    const payload: ScreenJobPayload = {
      uri,
      size,
      runId: options.runId ?? `scp-${new Date(enqueuedAt).toISOString().slice(0, 10)}`,
      modelId: options.modelId,
      modelVersion: options.modelVersion,
      enqueuedAt,
    };
    const { added, duplicates } = await queue.enqueueBulk([payload]);
    if (added > 0) metrics?.countEnqueued('scp', added);
    // The same instance sent again while its job is still known: nothing new to screen.
    if (duplicates > 0) metrics?.countDuplicates('scp', duplicates);
  };
  // Answered only once the instance is durable and enqueued (the enqueue overlaps the folder's
  // fsync, the last step of the durable write: see ReceivedInstanceStore.put).
  const onInstance = async (instance: ReceivedInstance): Promise<void> => {
    const retrieved = instance.moveOriginatorAeTitle === config.dimse.callingAeTitle;
    const size = instance.bytes.byteLength;
    await store.put(
      instance.sopInstanceUid,
      instance.bytes,
      retrieved ? 'retrieved' : 'received',
      retrieved ? undefined : (uri) => enqueue(uri, size),
    );
  };

  let running;
  try {
    await store.prepare();
    running = await startStoreScp({
      aeTitle: scp.aeTitle,
      host: scp.host,
      port: scp.port,
      allowedCallingAeTitles: scp.allowedCallingAeTitles,
      maxObjectBytes: config.decode.maxObjectBytes,
      timeoutMs: config.dimse.timeoutMs,
      onInstance,
      log,
      observer: {
        association: (result) => metrics?.countScpAssociation(result),
        instance: (outcome) => metrics?.countScpInstance(outcome),
      },
    });
  } catch (error) {
    await Promise.allSettled([queue.close(), store.close()]);
    throw error;
  }
  const listener = running;
  return {
    port: listener.port,
    ready: () => queue.counts(),
    async stop(): Promise<void> {
      await listener.close();
      await Promise.allSettled([queue.close(), store.close()]);
    },
  };
}
