/**
 * `cxr deidentify SOURCE --out DIR [--profile basic] [--retain OPTIONS] [--clean descriptors]
 * [--map FILE] [--reject-burned-in] [--json]`: de-identifies every object of a source for sharing
 * (PS3.15 Annex E Basic Application Level Confidentiality Profile and options). Only the options
 * are registered here; the action loads when the command runs (../actions/deidentify.ts).
 */
import type { Command } from 'commander';
import { CLEAN_OPTIONS, RETAIN_OPTIONS } from '@cxr/deid/options';
import type { DeidentifyCommandOptions } from '../actions/deidentify.js';
import { choiceOption, listOption } from '../options.js';

/** Registers `cxr deidentify` on the program. */
export function registerDeidentifyCommand(program: Command): void {
  program
    .command('deidentify')
    .description(
      'De-identify the DICOM objects of a source (folder, file, s3://, manifest) into a folder: PS3.15 ' +
        'Basic Application Level Confidentiality Profile, UIDs replaced consistently, patients pseudonymised; ' +
        'pixel data is not cleaned',
    )
    .argument('<source>', 'source URI or local path (a folder, one DICOM file, or a .csv/.jsonl manifest)')
    .requiredOption('--out <dir>', 'output folder (created); files are named <new SOP Instance UID>.dcm')
    .option(
      '--profile <profile>',
      'confidentiality profile (basic: the only one; --retain and --clean add its options)',
      choiceOption('--profile', ['basic'] as const),
      'basic' as const,
    )
    .option(
      '--retain <options>',
      `keep what the profile would remove: ${RETAIN_OPTIONS.join(', ')} (comma-separated or repeated)`,
      listOption('--retain', RETAIN_OPTIONS),
      [],
    )
    .option(
      '--clean <options>',
      `clean instead of remove: ${CLEAN_OPTIONS.join(', ')}`,
      listOption('--clean', CLEAN_OPTIONS),
      [],
    )
    .option(
      '--map <file>',
      're-identification map (created with a new key, mode 0600; reuse it to keep replacements ' +
        'consistent across runs); never inside --out. Without it nothing can be re-identified',
    )
    .option('--reject-burned-in', 'do not write images whose Burned In Annotation (0028,0301) is YES')
    .option('--json', 'print the summary as JSON')
    .action(async (sourceUri: string, options: DeidentifyCommandOptions) => {
      const { deidentifyCommand } = await import('../actions/deidentify.js');
      await deidentifyCommand(sourceUri, options);
    });
}
