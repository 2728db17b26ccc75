/**
 * Composition root of the worker: `tsx services/worker/src/main.ts --model DIR` or the container
 * entry point. Reads the environment once through @cxr/config. The model folder comes from
 * `--model DIR`, else the first positional argument, else CXR_MODEL_DIR. Serves /metrics, /healthz
 * and /readyz on CXR_HTTP_PORT. SIGTERM / SIGINT stop taking jobs, finish the active ones (their
 * batches run), then close the runtime, the decode pool, the Redis connections and the server.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '@cxr/config';
import { errorSummary, jsonLineLogger, stopOnSignals } from '@cxr/config/log';
import { buildOpsServer, listeningPort } from '@cxr/http';
import { reportRedisConnectionErrors } from '@cxr/queue';
import { WorkerService } from './worker-service.js';

const config = loadConfig();
const log = jsonLineLogger('worker', config.logLevel, undefined, { logUris: config.logUris });
reportRedisConnectionErrors(log);

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
  await service.start();
  // /metrics (batch sizes, inference time, model info) and the Kubernetes probes.
  const http = buildOpsServer({
    metrics: service.metrics,
    readiness: [{ name: 'worker', check: () => service.ready() }],
  });
  await http.listen({ port: config.httpPort, host: '0.0.0.0' });
  log('info', 'worker http listening', { port: listeningPort(http, config.httpPort) });
  stopOnSignals(async () => {
    await service.stop();
    await http.close();
  }, log);
} catch (error) {
  log('error', 'worker failed to start', errorSummary(error));
  process.exitCode = 1;
}
