/**
 * The action of `cxr screen` (loaded only when the command runs: it starts the ingest, worker and
 * results services in this process).
 */
import { loadConfig } from '@cxr/config';
import { LogOutput } from '@cxr/config/log';
import { newRunId } from '@cxr/store';
import { withInterrupt } from '../interrupt.js';
import { pacsFiltersOf, type PacsFilterFlags } from '../pacs-options.js';
import { connectRedis } from '../redis.js';
import { runScreen } from '../screen/run-screen.js';
import { formatSummary } from '../screen/summary.js';

export interface ScreenCommandOptions extends PacsFilterFlags {
  readonly model: string;
  readonly store?: string;
  readonly runId?: string;
  readonly force?: boolean;
  readonly httpPort?: number;
  readonly findingsTo?: string;
  readonly json?: boolean;
}

/** `cxr screen`. */
export async function screenCommand(sourceUri: string, options: ScreenCommandOptions): Promise<void> {
  const config = loadConfig({
    ...process.env,
    ...(options.store !== undefined ? { CXR_STORE_URL: options.store } : {}),
    ...(options.findingsTo !== undefined ? { CXR_FINDINGS_TO: options.findingsTo } : {}),
  });
  const output = new LogOutput(process.stderr, config.logFormat);
  const log = output.logger('screen', config.logLevel, { logUris: config.logUris });
  const runId = options.runId ?? newRunId();
  const pacsFilters = pacsFiltersOf(options);
  // First Ctrl-C / SIGTERM: stop listing, let active jobs finish, store and summarise; second: exit.
  const summary = await withInterrupt(async (signal) => {
    if (!(await connectRedis(config, log, signal))) return undefined;
    return runScreen({
      config,
      sourceUri,
      modelDir: options.model,
      runId,
      log,
      output,
      signal,
      ...(options.force !== undefined ? { force: options.force } : {}),
      ...(options.httpPort !== undefined ? { httpPort: options.httpPort } : {}),
      ...(pacsFilters !== undefined ? { pacsFilters } : {}),
    }).finally(() => {
      // A failure leaves the progress line drawn: end it so the error line starts on its own.
      output.endProgress();
    });
  });
  if (summary === undefined) {
    // Interrupted while waiting for Redis: nothing was started.
    process.exitCode = 130;
    return;
  }
  process.stdout.write(
    options.json === true ? `${JSON.stringify(summary, null, 2)}\n` : formatSummary(summary),
  );
  if (summary.model.warning !== undefined) {
    process.stderr.write(`cxr: warning: model ${summary.model.id}: ${summary.model.warning}\n`);
  }
  if (summary.interrupted) process.exitCode = 130;
  else if (!summary.complete || summary.outcomes.failed > 0) process.exitCode = 1;
}
