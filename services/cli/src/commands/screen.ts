/**
 * `cxr screen SOURCE --model DIR [--store URL] [--run-id ID] [--force] [--http-port N] [--json]`:
 * screens a whole source on one machine (ingest, worker and results in one process against
 * Redis) and prints a summary. Progress and logs go to stderr, the summary to stdout. Exit codes:
 * 0 when every listed object has its row with a final outcome (rejections are outcomes), 1 when
 * some failed after their retries or some listed object has no row (run the command again to
 * retry or screen them), 130 when interrupted (run it again to continue: queued jobs stay in
 * Redis, stored results are skipped).
 */
import type { Command } from 'commander';
import { loadConfig } from '@cxr/config';
import { LogOutput } from '@cxr/config/log';
import { integerOption } from '../options.js';
import { addPacsFilterOptions, pacsFiltersOf, type PacsFilterFlags } from '../pacs-options.js';
import { withInterrupt } from '../interrupt.js';
import { connectRedis } from '../redis.js';
import { newRunId } from '../run-id.js';
import { runScreen } from '../screen/run-screen.js';
import { formatSummary } from '../screen/summary.js';

interface ScreenCommandOptions extends PacsFilterFlags {
  readonly model: string;
  readonly store?: string;
  readonly runId?: string;
  readonly force?: boolean;
  readonly httpPort?: number;
  readonly json?: boolean;
}

/** Registers `cxr screen` on the program. */
export function registerScreenCommand(program: Command): void {
  const command = program
    .command('screen')
    .description(
      'Screen every object of a source (s3://bucket/prefix, file:///dir, manifest:LIST.csv|.jsonl, dicomweb+http(s)://HOST:PORT/ROOT, or a local folder or manifest path) on this machine and print a summary',
    )
    .argument('<source>', 'source URI or local path')
    .requiredOption('--model <dir>', 'model bundle folder')
    .option('--store <url>', 'results store: sqlite:PATH or postgres://... (default: CXR_STORE_URL)')
    .option('--run-id <id>', 'run id (default: a new id); the same id resumes an interrupted listing')
    .option('--force', 're-screen objects that already have a result for this model version')
    .option(
      '--http-port <n>',
      'serve /metrics, /healthz and /readyz on this port during the run (default: any free port)',
      integerOption('--http-port', 0, 65535),
    )
    .option('--json', 'print the summary as JSON')
    .action(async (sourceUri: string, options: ScreenCommandOptions) => {
      const config = loadConfig(
        options.store !== undefined ? { ...process.env, CXR_STORE_URL: options.store } : process.env,
      );
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
    });
  // The PACS filters (--study-date, --modality, ...), shared with the other source commands.
  addPacsFilterOptions(command);
}
