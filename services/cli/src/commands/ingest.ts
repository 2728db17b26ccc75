/**
 * `cxr ingest SOURCE --model DIR [--run-id ID] [--force] [--high-water N]`: lists a source and
 * enqueues one screening job per object on `cxr-screen` (one-shot). Progress goes to stderr (a
 * redrawn line below the log lines on a terminal, JSON log lines otherwise or with
 * CXR_LOG_FORMAT=json); the final counts go to stdout as JSON. Ctrl-C stops after
 * the chunk in flight, and the same command with the same --run-id resumes from the stored cursor.
 */
import type { Command } from 'commander';
import type { IngestCommandOptions } from '../actions/ingest.js';
import { integerOption } from '../options.js';
import { addPacsFilterOptions } from '../pacs-options.js';

/** Registers `cxr ingest` on the program. */
export function registerIngestCommand(program: Command): void {
  const command = program
    .command('ingest')
    .description(
      'Enqueue every object of a source (s3://bucket/prefix, file:///dir, manifest:LIST.csv|.jsonl, dicomweb+http(s)://HOST:PORT/ROOT, dimse://AET@HOST:PORT, or a local folder or manifest path) for screening',
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
      const { ingestCommand } = await import('../actions/ingest.js');
      await ingestCommand(sourceUri, options);
    });
  // The PACS filters (--study-date, --modality, ...), shared with the other source commands.
  addPacsFilterOptions(command);
}
