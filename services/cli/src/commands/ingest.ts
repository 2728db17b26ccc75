/**
 * `cxr ingest SOURCE --model DIR [--run-id ID] [--force] [--high-water N]`: lists a source and
 * enqueues one screening job per object on `cxr-screen` (one-shot). Progress goes to stderr (a bar
 * on a terminal, JSON lines otherwise); the final counts go to stdout as JSON. Ctrl-C stops after
 * the chunk in flight, and the same command with the same --run-id resumes from the stored cursor.
 */
import type { Command } from 'commander';
import { loadConfig } from '@cxr/config';
import { jsonLineLogger } from '@cxr/config/log';
import { runIngest } from '@cxr/ingest';
import { readManifest } from '@cxr/model/manifest';
import { integerOption } from '../options.js';
import { addPacsFilterOptions, pacsFiltersOf, type PacsFilterFlags } from '../pacs-options.js';
import { withInterrupt } from '../interrupt.js';
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
      const manifest = await readManifest(options.model);
      const runId = options.runId ?? newRunId();
      const pacsFilters = pacsFiltersOf(options);
      process.stderr.write(
        `${JSON.stringify({ level: 'info', msg: 'ingest started', data: { runId, model: manifest.id, version: manifest.version } })}\n`,
      );
      // First Ctrl-C / SIGTERM: stop after the chunk in flight (the cursor is saved); second: exit.
      const result = await withInterrupt((signal) =>
        runIngest({
          config,
          sourceUri,
          runId,
          modelId: manifest.id,
          modelVersion: manifest.version,
          ...(options.force !== undefined ? { force: options.force } : {}),
          ...(options.highWater !== undefined ? { highWater: options.highWater } : {}),
          ...(pacsFilters !== undefined ? { pacsFilters } : {}),
          progressStream: process.stderr,
          log: jsonLineLogger('ingest', config.logLevel),
          signal,
        }),
      );
      process.stdout.write(`${JSON.stringify({ runId, ...result }, null, 2)}\n`);
      // An interrupted ingest exits non-zero so scripts notice it has to be resumed.
      if (!result.complete) process.exitCode = 130;
    });
  // The PACS filters (--study-date, --modality, ...), shared with the other source commands.
  addPacsFilterOptions(command);
}
