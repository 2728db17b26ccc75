/**
 * Composition root of the worker: `tsx services/worker/src/main.ts --model DIR` or the container
 * entry point. Reads the environment once through @cxr/config. The model folder comes from
 * `--model DIR`, else the first positional argument, else CXR_MODEL_DIR. SIGTERM / SIGINT stop taking jobs, finish the active ones (their
 * batches run), then close the runtime, the decode pool and the Redis connections.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '@cxr/config';
import { errorSummary, jsonLineLogger, stopOnSignals } from '@cxr/config/log';
import { WorkerService } from './worker-service.js';

const config = loadConfig();
const log = jsonLineLogger('worker', config.logLevel);

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
  stopOnSignals(() => service.stop(), log);
} catch (error) {
  log('error', 'worker failed to start', errorSummary(error));
  process.exitCode = 1;
}
