/** The action of `cxr ingest` (loaded only when the command runs: it loads BullMQ and the sources). */
import { loadConfig } from '@cxr/config';
import { LogOutput } from '@cxr/config/log';
import { runIngest } from '@cxr/ingest';
import { readManifest } from '@cxr/model/manifest';
import { newRunId } from '@cxr/store';
import { withInterrupt } from '../interrupt.js';
import { pacsFiltersOf, type PacsFilterFlags } from '../pacs-options.js';
import { connectRedis } from '../redis.js';

export interface IngestCommandOptions extends PacsFilterFlags {
  readonly model: string;
  readonly runId?: string;
  readonly force?: boolean;
  readonly highWater?: number;
}

/** `cxr ingest`. */
export async function ingestCommand(sourceUri: string, options: IngestCommandOptions): Promise<void> {
  const config = loadConfig();
  const output = new LogOutput(process.stderr, config.logFormat);
  const log = output.logger('ingest', config.logLevel, { logUris: config.logUris });
  const manifest = await readManifest(options.model);
  const runId = options.runId ?? newRunId();
  const pacsFilters = pacsFiltersOf(options);
  log('info', 'ingest started', { runId, model: manifest.id, version: manifest.version });
  // First Ctrl-C / SIGTERM: stop after the chunk in flight (the cursor is saved); second: exit.
  const result = await withInterrupt(async (signal) => {
    if (!(await connectRedis(config, log, signal))) return undefined;
    return runIngest({
      config,
      sourceUri,
      runId,
      modelId: manifest.id,
      modelVersion: manifest.version,
      ...(options.force !== undefined ? { force: options.force } : {}),
      ...(options.highWater !== undefined ? { highWater: options.highWater } : {}),
      ...(pacsFilters !== undefined ? { pacsFilters } : {}),
      output,
      log,
      signal,
    }).finally(() => {
      // A failure leaves the progress line drawn: end it so the error line starts on its own.
      output.endProgress();
    });
  });
  if (result === undefined) {
    // Interrupted while waiting for Redis: nothing was listed.
    process.exitCode = 130;
    return;
  }
  // Counts only: the listing cursor is the last object name, which may carry patient data
  // (the resume position is kept in Redis; --run-id resumes).
  const { cursor: _cursor, ...counts } = result;
  process.stdout.write(`${JSON.stringify({ runId, ...counts }, null, 2)}\n`);
  // An interrupted ingest exits non-zero so scripts notice it has to be resumed.
  if (!result.complete) process.exitCode = 130;
}
