/**
 * `cxr listen --ae-title AET --port N --to URI --model DIR [--host H] [--allow-calling A,B]
 * [--run-id ID] [--http-port N]`: the C-STORE SCP. A PACS or modality routes chest radiographs
 * to AET at this host and port; every instance is written durably to URI (`file:///dir`, a
 * folder, or `s3://bucket/prefix`), enqueued for screening and only then acknowledged. Workers
 * and the results service screen and store them. Runs until Ctrl-C / SIGTERM, which stops taking
 * associations and answers the C-STOREs in progress. Flags override the CXR_SCP_* settings.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import { loadConfig } from '@cxr/config';
import { jsonLineLogger } from '@cxr/config/log';
import { buildOpsServer, listeningPort, type OpsServer } from '@cxr/http';
import { startScpService } from '@cxr/ingest';
import { createMetrics } from '@cxr/metrics';
import { readManifest } from '@cxr/model/manifest';
import { integerOption } from '../options.js';
import { CliError, ExitCode } from '../output.js';

interface ListenCommandOptions {
  readonly aeTitle?: string;
  readonly port?: number;
  readonly host?: string;
  readonly to?: string;
  readonly allowCalling?: string;
  readonly model: string;
  readonly runId?: string;
  readonly httpPort?: number;
}

/** A storage location as a URI: file:// and s3:// as given, a plain path as its file:// URI. */
function locationUri(to: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(to) ? to : pathToFileURL(resolve(to)).href;
}

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
      const config = loadConfig({
        ...process.env,
        ...(options.aeTitle !== undefined ? { CXR_SCP_AE_TITLE: options.aeTitle } : {}),
        ...(options.port !== undefined ? { CXR_SCP_PORT: String(options.port) } : {}),
        ...(options.host !== undefined ? { CXR_SCP_HOST: options.host } : {}),
        ...(options.to !== undefined ? { CXR_SCP_STORE_TO: locationUri(options.to) } : {}),
        ...(options.allowCalling !== undefined ? { CXR_SCP_ALLOWED_CALLING_AETS: options.allowCalling } : {}),
      });
      const { aeTitle, storeTo } = config.scp;
      if (aeTitle === undefined)
        throw new CliError('cxr listen needs --ae-title (or CXR_SCP_AE_TITLE)', ExitCode.Usage);
      if (storeTo === undefined)
        throw new CliError('cxr listen needs --to (or CXR_SCP_STORE_TO)', ExitCode.Usage);
      const log = jsonLineLogger('listen', config.logLevel);
      const manifest = await readManifest(options.model);
      const metrics = createMetrics({ collectDefault: true });
      const scp = await startScpService({
        config,
        scp: { ...config.scp, aeTitle, storeTo },
        modelId: manifest.id,
        modelVersion: manifest.version,
        metrics,
        log,
        ...(options.runId !== undefined ? { runId: options.runId } : {}),
      });
      let http: OpsServer | undefined;
      try {
        if (options.httpPort !== undefined) {
          http = buildOpsServer({
            metrics,
            readiness: [{ name: 'redis', check: () => scp.ready() }],
            timeouts: config.http,
          });
          await http.listen({ port: options.httpPort, host: config.http.host });
        }
      } catch (error) {
        await scp.stop();
        throw error;
      }
      log('info', 'scp listening', {
        aeTitle,
        host: config.scp.host,
        port: scp.port,
        model: manifest.id,
        version: manifest.version,
        ...(http !== undefined ? { httpPort: listeningPort(http, options.httpPort ?? 0) } : {}),
      });
      await new Promise<void>((resolveStop) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolveStop();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      log('info', 'shutdown requested', {});
      await scp.stop();
      await http?.close();
      log('info', 'shutdown complete', {});
    });
}
