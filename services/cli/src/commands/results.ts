/**
 * `cxr results export --run ID --format csv|jsonl|parquet [--out FILE] [--store URL] [--model DIR]
 * [--deidentify [--map FILE]]` exports one run for a study (de-identified to share with the images); `cxr results runs [--store URL] [--json]` lists the runs of a store;
 * `cxr results send --run ID --to URI [--model DIR] [--store URL] [--resend] [--wait-seconds N] [--json]`
 * sends the run's findings (DICOM SR) to a PACS.
 * The store URL defaults to CXR_STORE_URL. Data goes to stdout or the --out file; the one-line
 * summary goes to stderr, so `cxr results export ... > run.csv` stays clean.
 */
import type { Command } from 'commander';
import { EXPORT_FORMATS } from '@cxr/store/names';
import type { ExportCommandOptions, RunsCommandOptions } from '../actions/results.js';
import type { SendCommandOptions } from '../actions/results-send.js';
import { choiceOption, integerOption } from '../options.js';

/** Registers `cxr results export` and `cxr results runs` on the program. */
export function registerResultsCommands(program: Command): void {
  const results = program.command('results').description('Export and list screening results of the store');

  results
    .command('export')
    .description(
      'Export one run for a study: uri, sop_instance_uid, study_instance_uid, outcome, reason, decision, ' +
        'one score_<label> column per label, then the technical columns',
    )
    .requiredOption('--run <id>', 'run id (see `cxr results runs`)')
    .requiredOption(
      '--format <format>',
      `output format (${EXPORT_FORMATS.join(' | ')})`,
      choiceOption('--format', EXPORT_FORMATS),
    )
    .option('--out <file>', 'output file; `-` or absent: stdout (csv and jsonl only)')
    .option('--store <url>', 'results store: sqlite:PATH or postgres://... (default: CXR_STORE_URL)')
    .option(
      '--model <dir>',
      "model bundle folder: its manifest's labels fix the score columns (default: the run's score keys)",
    )
    .option(
      '--deidentify',
      'replace or remove identifiers as `cxr deidentify` does (uri becomes the de-identified file name, UIDs their replacements)',
    )
    .option(
      '--map <file>',
      'the map of `cxr deidentify`: the rows then match the images it wrote (with --deidentify)',
    )
    .action(async (options: ExportCommandOptions) => {
      const { exportCommand } = await import('../actions/results.js');
      await exportCommand(options);
    });

  results
    .command('send')
    .description(
      'Send the findings of a finished run to a PACS as DICOM SRs (one per ok result): ' +
        'dicomweb+http(s)://HOST:PORT/ROOT (STOW-RS) or dimse://AET@HOST:PORT (C-STORE)',
    )
    .requiredOption('--run <id>', 'run id (see `cxr results runs`)')
    .requiredOption('--to <uri>', 'destination PACS')
    .option('--model <dir>', "the run's model bundle folder (default: CXR_MODEL_DIR)")
    .option('--store <url>', 'results store: sqlite:PATH or postgres://... (default: CXR_STORE_URL)')
    .option('--resend', 'send again the results already sent (the PACS replaces them)')
    .option(
      '--wait-seconds <n>',
      'wait at most this long for deliveries (default: CXR_FINDINGS_WAIT_SECONDS); pending ones stay queued',
      integerOption('--wait-seconds', 0, 7 * 24 * 3600),
    )
    .option('--json', 'print the summary as JSON')
    .action(async (options: SendCommandOptions) => {
      const { sendCommand } = await import('../actions/results-send.js');
      await sendCommand(options);
    });

  results
    .command('runs')
    .description('List the runs of the store with their counts per outcome, most recently updated first')
    .option('--store <url>', 'results store: sqlite:PATH or postgres://... (default: CXR_STORE_URL)')
    .option('--json', 'print the runs as JSON')
    .action(async (options: RunsCommandOptions) => {
      const { runsCommand } = await import('../actions/results.js');
      await runsCommand(options);
    });
}
