/**
 * The `cxr` command line. Subcommands live in ./commands; this file only wires them together.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { registerDeidentifyCommand } from './commands/deidentify.js';
import { registerDicomCommands } from './commands/dicom.js';
import { registerEvaluateCommand } from './commands/evaluate.js';
import { registerIngestCommand } from './commands/ingest.js';
import { registerListenCommand } from './commands/listen.js';
import { registerModelCommands } from './commands/model.js';
import { registerPredictCommand } from './commands/predict.js';
import { registerResultsCommands } from './commands/results.js';
import { registerScreenCommand } from './commands/screen.js';
import { registerStudyCommands } from './commands/study.js';
import { registerTrainCommand } from './commands/train.js';
import { reportFailure } from './output.js';

/** The version of this package (services/cli/package.json, beside both src/ and dist/). */
function packageVersion(): string {
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return version;
}

export function buildProgram(): Command {
  const program = new Command('cxr')
    .description('Chest X-ray screening pipeline: DICOM tools, model tools, screening and evaluation')
    .version(packageVersion(), '-V, --version', 'print the version of cxr-pipeline')
    // Program options only before the command: `cxr model init --version 1.2.0` is the command's.
    .enablePositionalOptions()
    .showHelpAfterError()
    .configureHelp({ sortSubcommands: true })
    // Commander's own errors (unknown command or option, missing argument or required option)
    // become a thrown CommanderError instead of process.exit(1): reportFailure maps them to the
    // usage exit code. Set before the subcommands are added: they inherit it.
    .exitOverride();
  registerDeidentifyCommand(program);
  registerDicomCommands(program);
  registerEvaluateCommand(program);
  registerIngestCommand(program);
  registerListenCommand(program);
  registerModelCommands(program);
  registerPredictCommand(program);
  registerResultsCommands(program);
  registerScreenCommand(program);
  registerStudyCommands(program);
  registerTrainCommand(program);
  return program;
}

// `cxr results export ... | head`: a reader that stops early ends the command quietly.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  process.exitCode = reportFailure(error);
});

buildProgram()
  .parseAsync(process.argv)
  .catch((error: unknown) => {
    process.exitCode = reportFailure(error);
  });
