/**
 * `cxr ingest SOURCE --model DIR [--run-id ID] [--force] [--high-water N]`: lists a source and
 * enqueues one screening job per object on `cxr-screen` (one-shot). Progress goes to stderr (a
 * redrawn line below the log lines on a terminal, JSON log lines otherwise or with
 * CXR_LOG_FORMAT=json); the final counts go to stdout as JSON. Ctrl-C stops after
 * the chunk in flight, and the same command with the same --run-id resumes from the stored cursor.
 */
import type { Command } from 'commander';
import { loadConfig } from '@cxr/config';
import { LogOutput } from '@cxr/config/log';
import { runIngest } from '@cxr/ingest';
import { readManifest } from '@cxr/model/manifest';
import { integerOption } from '../options.js';
import { addPacsFilterOptions, pacsFiltersOf, type PacsFilterFlags } from '../pacs-options.js';
import { withInterrupt } from '../interrupt.js';
import { connectRedis } from '../redis.js';
import { newRunId } from '../run-id.js';

interface IngestCommandOptions extends PacsFilterFlags {
  readonly model: string;
  readonly runId?: string;
  readonly force?: boolean;
  readonly highWater?: number;
}

/** Registers `cxr ingest` on the program. */
export function registerIngestCommand(program: Command): void {
  const command = program
    .command('ingest')
    .description(
      'Enqueue every object of a source (s3://bucket/prefix, file:///dir, manifest:LIST.csv|.jsonl, dicomweb+http(s)://HOST:PORT/ROOT, or a local folder or manifest path) for screening',
    )
    .argument('<source>', 'source URI or local path')
    .requiredOption('--model <dir>', 'model bundle folder (its manifest gives the model id and version)')
    .option('--run-id <id>', 'run id; pass the id of an interrupted ingest to resume it (default: a new id)')
    .option('--force', 're-screen objects already queued or with a final result')
    .option(
      '--high-water <n>',
      'pause listing while this many jobs wait (default: CXR_INGEST_HIGH_WATER)',
      integerOption('--high-water', 1),
    )
    .action(async (sourceUri: string, options: IngestCommandOptions) => {
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
    });
  // The PACS filters (--study-date, --modality, ...), shared with the other source commands.
  addPacsFilterOptions(command);
}
