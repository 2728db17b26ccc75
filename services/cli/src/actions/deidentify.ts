/**
 * The action of `cxr deidentify` (loaded only when the command runs): configuration, the run, the
 * summary and the exit code. Exit codes: 0 when every listed object was written or rejected for a reason
 * (rejections are outcomes, listed in the summary), 1 when some could not be read or written
 * (run the command again), 2 for bad usage (options, a map that cannot be used), 130 when
 * interrupted (run the same command again: the same map gives the same files).
 */
import { loadConfig } from '@cxr/config';
import { LogOutput } from '@cxr/config/log';
import { normalizeProfileOptions, ProfileOptionsError } from '@cxr/deid';
import type { CleanOption, RetainOption } from '@cxr/deid/options';
import { withInterrupt } from '../interrupt.js';
import { UsageError } from '../output.js';
import { runDeidentify } from '../deidentify/run-deidentify.js';
import { formatDeidentifySummary } from '../deidentify/summary.js';

/** The options `cxr deidentify` registers (commands/deidentify.ts). */
export interface DeidentifyCommandOptions {
  readonly out: string;
  readonly profile: 'basic';
  readonly retain: readonly RetainOption[];
  readonly clean: readonly CleanOption[];
  readonly map?: string;
  readonly rejectBurnedIn?: boolean;
  readonly json?: boolean;
}

export async function deidentifyCommand(sourceUri: string, options: DeidentifyCommandOptions): Promise<void> {
  let profile;
  try {
    profile = normalizeProfileOptions({ retain: options.retain, clean: options.clean });
  } catch (error) {
    if (error instanceof ProfileOptionsError) throw new UsageError(error.message);
    throw error;
  }
  const config = loadConfig();
  const output = new LogOutput(process.stderr, config.logFormat);
  const log = output.logger('deidentify', config.logLevel, { logUris: config.logUris });
  const summary = await withInterrupt((signal) =>
    runDeidentify({
      config,
      sourceUri,
      out: options.out,
      profile,
      ...(options.map === undefined ? {} : { mapPath: options.map }),
      rejectBurnedIn: options.rejectBurnedIn === true,
      log,
      output,
      signal,
    }).finally(() => {
      output.endProgress();
    }),
  );
  process.stdout.write(
    options.json === true ? `${JSON.stringify(summary, null, 2)}\n` : formatDeidentifySummary(summary),
  );
  if (summary.interrupted) process.exitCode = 130;
  else if (!summary.complete) process.exitCode = 1;
}
