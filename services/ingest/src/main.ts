/**
 * Composition root of the ingest service (long-running): `node --import tsx
 * services/ingest/src/main.ts` or the container entry point. Lists CXR_INGEST_SOURCES every
 * CXR_INGEST_INTERVAL_SECONDS for the model bundle in CXR_MODEL_DIR (its manifest gives the model
 * id and version of the jobs) and serves /metrics, /healthz and /readyz on
 * CXR_HTTP_HOST:CXR_HTTP_PORT. SIGTERM / SIGINT stop after the chunk in flight (its cursor is
 * saved) and close the server. A failed start (port in use, Redis URL unusable) is one log line,
 * the connections opened so far closed, and exit code 1.
 *
 * With CXR_SCP_AE_TITLE set it also runs the C-STORE SCP (CXR_SCP_HOST:CXR_SCP_PORT, storage
 * CXR_SCP_STORE_TO): pushed instances are stored, enqueued, then acknowledged. CXR_INGEST_SOURCES
 * may then be empty (an SCP-only ingest).
 */
import { loadConfig } from '@cxr/config';
import { errorSummary, jsonLineLogger, stopOnSignals } from '@cxr/config/log';
import { buildOpsServer, listeningPort, type OpsServer } from '@cxr/http';
import { createMetrics } from '@cxr/metrics';
import { readManifest } from '@cxr/model/manifest';
import { ScreenQueue, redisConnectionFromUrl, reportRedisConnectionErrors } from '@cxr/queue';
import { IngestService } from './ingest-service.js';
import { startScpService, type RunningScpService } from './scp-service.js';

const config = loadConfig();
const log = jsonLineLogger('ingest', config.logLevel, undefined, { logUris: config.logUris });
reportRedisConnectionErrors(log);

let probeQueue: ScreenQueue | undefined;
let http: OpsServer | undefined;
let scp: RunningScpService | undefined;
try {
  if (config.modelDir === undefined)
    throw new Error('CXR_MODEL_DIR is not set: the jobs need a model id and version');
  const manifest = await readManifest(config.modelDir);
  const metrics = createMetrics({ collectDefault: true });
  const prefix = config.queue.prefix;
  // Readiness only: Redis answers on the queue the ingest writes to.
  probeQueue = new ScreenQueue({
    connection: redisConnectionFromUrl(config.queue.redisUrl),
    ...(prefix !== undefined ? { prefix } : {}),
  });
  const { aeTitle: scpAeTitle, storeTo: scpStoreTo } = config.scp;
  if (scpAeTitle !== undefined && scpStoreTo === undefined) {
    throw new Error('CXR_SCP_AE_TITLE is set but CXR_SCP_STORE_TO is not: the SCP needs storage');
  }
  const service =
    config.ingest.sources.length > 0 || scpAeTitle === undefined
      ? new IngestService({
          config,
          sources: config.ingest.sources,
          modelId: manifest.id,
          modelVersion: manifest.version,
          intervalMs: config.ingest.intervalSeconds * 1000,
          metrics,
          log,
          ...(config.ingest.runId !== undefined ? { runId: config.ingest.runId } : {}),
        })
      : undefined;
  service?.onPass((summary) => {
    log('info', 'ingest pass done', { ...summary });
  });
  const probe = probeQueue;
  http = buildOpsServer({
    metrics,
    readiness: [{ name: 'redis', check: () => probe.counts() }],
    timeouts: config.http,
  });
  await http.listen({ port: config.httpPort, host: config.http.host });
  const server = http;
  if (scpAeTitle !== undefined && scpStoreTo !== undefined) {
    scp = await startScpService({
      config,
      scp: { ...config.scp, aeTitle: scpAeTitle, storeTo: scpStoreTo },
      modelId: manifest.id,
      modelVersion: manifest.version,
      metrics,
      log,
      ...(config.ingest.runId !== undefined ? { runId: config.ingest.runId } : {}),
    });
    log('info', 'scp listening', { aeTitle: scpAeTitle, host: config.scp.host, port: scp.port });
  }
  const listener = scp;
  log('info', 'ingest service started', {
    host: config.http.host,
    port: listeningPort(http, config.httpPort),
    sources: config.ingest.sources.length,
    intervalSeconds: config.ingest.intervalSeconds,
    model: manifest.id,
    version: manifest.version,
  });
  service?.start();
  stopOnSignals(async () => {
    await listener?.stop();
    await service?.stop();
    await server.close();
    await probe.close();
  }, log);
} catch (error) {
  log('error', 'ingest service failed to start', {
    ...errorSummary(error),
    host: config.http.host,
    port: config.httpPort,
  });
  process.exitCode = 1;
  // An open Redis connection would keep the process alive without its ops port.
  await scp?.stop();
  await http?.close();
  await probeQueue?.close();
}
