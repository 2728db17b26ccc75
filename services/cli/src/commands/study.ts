/**
 * `cxr study create|status|report`: reader studies (issue 17 §1). `create` samples cases from a screened
 * run, assigns them to readers in a counterbalanced design and writes the study to the store and
 * to a folder (study.json, and links.csv with each reader's secret link, mode 0600); the results
 * service serves the reading page those links open (/study/read). `status` shows each reader's
 * progress. `report` reads the readings
 * back, joins the truth of a labels file and writes report.json and report.html. Only the options
 * are registered here; the actions load when a command runs (../actions/study.ts).
 */
import type { Command } from 'commander';
import type { StudyCreateOptions, StudyReportOptions, StudyStatusOptions } from '../actions/study.js';
import { choiceOption, integerOption } from '../options.js';

/** Registers `cxr study` and its subcommands on the program. */
export function registerStudyCommands(program: Command): void {
  const study = program
    .command('study')
    .description(
      'Reader studies: clinicians read sampled cases without and with the AI; the report measures the difference',
    );
  study
    .command('create')
    .description(
      'Sample cases from a screened run (stratified, seeded), assign them to readers (crossover or sequential) ' +
        'and write the study to the store and to a folder with each reader’s secret link',
    )
    .requiredOption('--run <id>', 'run id in the results store (see `cxr results runs`)')
    .requiredOption(
      '--cases <n>',
      'number of cases to sample from the run’s ok results',
      integerOption('--cases', 1),
    )
    .requiredOption(
      '--design <design>',
      'crossover: each case without and, after a washout, with the AI, counterbalanced; sequential: without, then at once with the AI',
      choiceOption('--design', ['crossover', 'sequential'] as const),
    )
    .requiredOption('--readers <file>', 'readers: CSV with columns id,name (or a JSON array of {id, name})')
    .requiredOption('--out <dir>', 'study folder to create: study.json and links.csv (secret, mode 0600)')
    .option(
      '--seed <n>',
      'seed of the sample and the reading orders',
      integerOption('--seed', 0, 2 ** 32 - 1),
      1,
    )
    .option('--store <url>', 'results store: sqlite:PATH or postgres://... (default: CXR_STORE_URL)')
    .option('--id <id>', 'study id (default: the name of the --out folder)')
    .option(
      '--findings <labels>',
      'labels the readers decide on, comma-separated (default: the model’s labels but its normal label with --model, else every scored label)',
    )
    .option(
      '--model <dir>',
      'model bundle: its labels, normal label and decision rule (which labels the AI called positive)',
    )
    .option('--labels <file>', 'labels CSV (as for `cxr evaluate`): stratify by the truth where known')
    .option('--label-map <file>', 'map from label-file column or NIH finding to model label')
    .option(
      '--base-url <url>',
      'address of the results service in the reading links',
      'http://localhost:8080',
    )
    .action(async (options: StudyCreateOptions) => {
      const { studyCreateCommand } = await import('../actions/study.js');
      await studyCreateCommand(options);
    });
  study
    .command('status')
    .description('Progress of a reader study: readings recorded per reader, and where each will continue')
    .requiredOption('--study <dir>', 'the study folder of `cxr study create`')
    .option('--store <url>', 'results store: sqlite:PATH or postgres://... (default: CXR_STORE_URL)')
    .option('--json', 'print the progress as JSON')
    .action(async (options: StudyStatusOptions) => {
      const { studyStatusCommand } = await import('../actions/study.js');
      await studyStatusCommand(options);
    });
  study
    .command('report')
    .description(
      'Analyse a reader study: per reader and pooled, without and with the AI; report.json and report.html',
    )
    .requiredOption('--study <dir>', 'the study folder of `cxr study create`')
    .requiredOption('--labels <file>', 'labels CSV (as for `cxr evaluate`): the truth of the cases')
    .option('--label-map <file>', 'map from label-file column or NIH finding to model label')
    .requiredOption('--out <dir>', 'report folder (created)')
    .option('--store <url>', 'results store: sqlite:PATH or postgres://... (default: CXR_STORE_URL)')
    .option('--seed <n>', 'seed of the reading-time bootstrap', integerOption('--seed', 0, 2 ** 32 - 1), 1)
    .action(async (options: StudyReportOptions) => {
      const { studyReportCommand } = await import('../actions/study.js');
      await studyReportCommand(options);
    });
}
