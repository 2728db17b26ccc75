/**
 * `cxr screen SOURCE --model DIR [--store URL] [--run-id ID] [--force] [--http-port N] [--findings-to URI] [--json]`:
 * screens a whole source on one machine (ingest, worker and results in one process against
 * Redis) and prints a summary. Progress and logs go to stderr, the summary to stdout. Exit codes:
 * 0 when every listed object has its row with a final outcome (rejections are outcomes), 1 when
 * some failed after their retries or some listed object has no row (run the command again to
 * retry or screen them), 130 when interrupted (run it again to continue: queued jobs stay in
 * Redis, stored results are skipped).
 */
import type { Command } from 'commander';
import type { ScreenCommandOptions } from '../actions/screen.js';
import { integerOption } from '../options.js';
import { addPacsFilterOptions } from '../pacs-options.js';

/** Registers `cxr screen` on the program. */
export function registerScreenCommand(program: Command): void {
  const command = program
    .command('screen')
    .description(
      'Screen every object of a source (s3://bucket/prefix, file:///dir, manifest:LIST.csv|.jsonl, dicomweb+http(s)://HOST:PORT/ROOT, dimse://AET@HOST:PORT, or a local folder or manifest path) on this machine and print a summary',
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
    .option(
      '--findings-to <uri>',
      'send each ok result as a DICOM SR to a PACS: dicomweb+http(s)://HOST:PORT/ROOT (STOW-RS) or dimse://AET@HOST:PORT (C-STORE) (default: CXR_FINDINGS_TO)',
    )
    .option('--json', 'print the summary as JSON')
    .action(async (sourceUri: string, options: ScreenCommandOptions) => {
      const { screenCommand } = await import('../actions/screen.js');
      await screenCommand(sourceUri, options);
    });
  // The PACS filters (--study-date, --modality, ...), shared with the other source commands.
  addPacsFilterOptions(command);
}
