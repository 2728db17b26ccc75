/** The action of `cxr results send` (loaded only when it runs: it opens the store, Redis and the PACS). */
import { loadConfig } from '@cxr/config';
import { LogOutput } from '@cxr/config/log';
import { readManifest } from '@cxr/model/manifest';
import { redisConnectionFromUrl } from '@cxr/queue';
import { sendRun, type SendRunSummary } from '@cxr/results';
import { openStore } from '@cxr/store';
import { withInterrupt } from '../interrupt.js';
import { CliError, ExitCode } from '../output.js';
import { connectRedis } from '../redis.js';

export interface SendCommandOptions {
  readonly run: string;
  readonly to: string;
  readonly model?: string;
  readonly store?: string;
  readonly resend?: boolean;
  readonly waitSeconds?: number;
  readonly json?: boolean;
}

function formatSendSummary(summary: SendRunSummary): string {
  const lines = [
    `run ${summary.runId}: findings to ${summary.to}`,
    `queued ${summary.queued}` +
      (summary.skipped.alreadySent > 0
        ? `, ${summary.skipped.alreadySent} already sent (--resend sends them again)`
        : '') +
      (summary.skipped.otherModel > 0
        ? `, ${summary.skipped.otherModel} of another model version (not sent)`
        : ''),
    `sent ${summary.sent}, failed ${summary.failed}, pending ${summary.pending}` +
      (summary.pending > 0 ? ' (still queued: they go out when the PACS answers)' : ''),
  ];
  return `${lines.join('\n')}\n`;
}

/** `cxr results send`. Exit 1 when some delivery failed or is still pending. */
export async function sendCommand(options: SendCommandOptions): Promise<void> {
  const config = loadConfig({
    ...process.env,
    ...(options.store !== undefined ? { CXR_STORE_URL: options.store } : {}),
  });
  const modelDir = options.model ?? config.modelDir;
  if (modelDir === undefined) {
    throw new CliError(
      "cxr results send needs the run's model bundle: --model DIR or CXR_MODEL_DIR",
      ExitCode.Usage,
    );
  }
  const output = new LogOutput(process.stderr, config.logFormat);
  const log = output.logger('results-send', config.logLevel, { logUris: config.logUris });
  const manifest = await readManifest(modelDir);
  const store = await openStore(config.store.url, { mustExist: true });
  try {
    const counts = await store.countByOutcome(options.run);
    if (counts.ok + counts.rejected + counts.failed === 0) {
      throw new CliError(
        `run ${options.run} has no results in the store (see cxr results runs)`,
        ExitCode.Usage,
      );
    }
    const summary = await withInterrupt(async (signal) => {
      if (!(await connectRedis(config, log, signal))) return undefined;
      const prefix = config.queue.prefix;
      return sendRun({
        config,
        queue: {
          connection: redisConnectionFromUrl(config.queue.redisUrl),
          ...(prefix !== undefined ? { prefix } : {}),
        },
        store,
        manifest,
        runId: options.run,
        to: options.to,
        log,
        signal,
        ...(options.resend !== undefined ? { resend: options.resend } : {}),
        ...(options.waitSeconds !== undefined ? { waitSeconds: options.waitSeconds } : {}),
      });
    });
    if (summary === undefined) {
      process.exitCode = 130;
      return;
    }
    process.stdout.write(
      options.json === true ? `${JSON.stringify(summary, null, 2)}\n` : formatSendSummary(summary),
    );
    if (summary.failed > 0 || summary.pending > 0) process.exitCode = ExitCode.Failure;
  } finally {
    await store.close();
  }
}
