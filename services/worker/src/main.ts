/**
 * Composition root of the worker: `tsx services/worker/src/main.ts --model DIR` or the container
 * entry point. Reads the environment once through @cxr/config. The model folder comes from
 * `--model DIR`, else the first positional argument, else CXR_MODEL_DIR. Serves /metrics, /healthz
 * and /readyz on CXR_HTTP_HOST:CXR_HTTP_PORT. SIGTERM / SIGINT stop taking jobs, finish the active
 * ones (their batches run), then close the runtime, the decode pool, the Redis connections and
 * the server.
 *
 * The ops port is bound before the model loads and before any job is taken: a worker that cannot
 * serve its probes and metrics (port in use) would screen unobserved and unprobed, so it logs one
 * line and exits with code 1 instead, like the results service.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '@cxr/config';
import { errorSummary, jsonLineLogger, stopOnSignals } from '@cxr/config/log';
import { buildOpsServer, listeningPort, type OpsServer } from '@cxr/http';
import { reportRedisConnectionErrors } from '@cxr/queue';
import { WorkerService } from './worker-service.js';

const config = loadConfig();
const log = jsonLineLogger('worker', config.logLevel, undefined, { logUris: config.logUris });
reportRedisConnectionErrors(log);

let http: OpsServer | undefined;
try {
  const { values, positionals } = parseArgs({
    options: { model: { type: 'string' } },
    allowPositionals: true,
  });
  const modelDir = values.model ?? positionals[0] ?? config.modelDir;
  if (modelDir === undefined) {
    process.stderr.write('usage: worker --model DIR (or CXR_MODEL_DIR)\n');
    process.exit(2);
  }
  const service = new WorkerService({
    config,
    modelDir,
    log,
  });
  // /metrics (batch sizes, inference time, model info) and the Kubernetes probes; /readyz answers
  // 503 until the service has started.
  http = buildOpsServer({
    metrics: service.metrics,
    readiness: [{ name: 'worker', check: () => service.ready() }],
    timeouts: config.http,
  });
  await http.listen({ port: config.httpPort, host: config.http.host });
  log('info', 'worker http listening', {
    host: config.http.host,
    port: listeningPort(http, config.httpPort),
  });
  await service.start();
  const server = http;
  stopOnSignals(async () => {
    await service.stop();
    await server.close();
  }, log);
} catch (error) {
  log('error', 'worker failed to start', {
    ...errorSummary(error),
    host: config.http.host,
    port: config.httpPort,
  });
  process.exitCode = 1;
  // WorkerService.start releases what it opened when it fails; the server is all that is left.
  await http?.close();
}
