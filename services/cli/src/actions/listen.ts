/**
 * The action of `cxr listen` (loaded only when the command runs: it opens the SCP, Redis and the
 * storage of received instances).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadConfig } from '@cxr/config';
import { jsonLineLogger } from '@cxr/config/log';
import { buildOpsServer, listeningPort, type OpsServer } from '@cxr/http';
import { startScpService } from '@cxr/ingest';
import { createMetrics } from '@cxr/metrics';
import { readManifest } from '@cxr/model/manifest';
import { CliError, ExitCode } from '../output.js';

export interface ListenCommandOptions {
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

/** `cxr listen`: runs until Ctrl-C / SIGTERM. */
export async function listenCommand(options: ListenCommandOptions): Promise<void> {
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
}
