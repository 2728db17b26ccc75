/**
 * `cxr listen --ae-title AET --port N --to URI --model DIR [--host H] [--allow-calling A,B]
 * [--run-id ID] [--http-port N]`: the C-STORE SCP. A PACS or modality routes chest radiographs
 * to AET at this host and port; every instance is written durably to URI (`file:///dir`, a
 * folder, or `s3://bucket/prefix`), enqueued for screening and only then acknowledged. Workers
 * and the results service screen and store them. Runs until Ctrl-C / SIGTERM, which stops taking
 * associations and answers the C-STOREs in progress. Flags override the CXR_SCP_* settings.
 */
import type { Command } from 'commander';
import type { ListenCommandOptions } from '../actions/listen.js';
import { integerOption } from '../options.js';

/** Registers `cxr listen` on the program. */
export function registerListenCommand(program: Command): void {
  program
    .command('listen')
    .description(
      'Run the DICOM C-STORE SCP: store every instance a PACS or modality sends durably, enqueue it for screening, then acknowledge it',
    )
    .option('--ae-title <aet>', 'our AE title, which senders call (default: CXR_SCP_AE_TITLE)')
    .option('--port <n>', 'DICOM port (default: CXR_SCP_PORT, 11112)', integerOption('--port', 0, 65535))
    .option('--host <address>', 'listen address (default: CXR_SCP_HOST, 127.0.0.1)')
    .option(
      '--to <uri>',
      'where received instances go: file:///dir, a folder, or s3://bucket/prefix (default: CXR_SCP_STORE_TO)',
    )
    .option(
      '--allow-calling <aets>',
      'comma-separated calling AE titles allowed to send (default: CXR_SCP_ALLOWED_CALLING_AETS, any)',
    )
    .requiredOption(
      '--model <dir>',
      'model bundle folder (its manifest gives the model id and version of the jobs)',
    )
    .option('--run-id <id>', 'run id of the jobs (default: scp-YYYY-MM-DD, the day each instance arrives)')
    .option(
      '--http-port <n>',
      'serve /metrics, /healthz and /readyz on this port',
      integerOption('--http-port', 0, 65535),
    )
    .action(async (options: ListenCommandOptions) => {
      const { listenCommand } = await import('../actions/listen.js');
      await listenCommand(options);
    });
}
