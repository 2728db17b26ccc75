/**
 * Composition root of the results service: `node services/results/src/main.ts` (via tsx) or the
 * container entry point. Reads the environment once through @cxr/config; SIGTERM / SIGINT stop
 * consuming, store the pending batch, then close the HTTP server, Redis and the store. A failed
 * start (port in use, no API token on a network address, store unreachable) is one log line and
 * exit code 1.
 */
import { loadConfig } from '@cxr/config';
import { startResultsApp } from './app.js';
import { UnauthenticatedBindError } from './auth.js';
import { errorSummary, jsonLineLogger, stopOnSignals } from '@cxr/config/log';
import { reportRedisConnectionErrors } from '@cxr/queue';

const config = loadConfig();
const log = jsonLineLogger('results', config.logLevel, undefined, { logUris: config.logUris });
reportRedisConnectionErrors(log);

try {
  const app = await startResultsApp({
    config,
    port: config.httpPort,
    log,
  });
  stopOnSignals(() => app.stop(), log);
} catch (error) {
  log('error', 'results service failed to start', {
    ...errorSummary(error),
    host: config.http.host,
    port: config.httpPort,
    // A sentence of ours naming settings only (errors of adapters may echo URLs: never passed on).
    ...(error instanceof UnauthenticatedBindError ? { reason: error.message } : {}),
  });
  process.exitCode = 1;
}
