/** The actions of `cxr results export | runs` (loaded only when one runs: they open the store). */
import { loadConfig } from '@cxr/config';
import { readManifest } from '@cxr/model/manifest';
import type { DeidSession } from '@cxr/deid/session';
import {
  UnknownRunError,
  deidentifyExportRow,
  exportRun,
  openStore,
  type ExportFormat,
  type ResultStore,
  type RunSummary,
} from '@cxr/store';
import { CliError, ExitCode } from '../output.js';

export interface ExportCommandOptions {
  readonly run: string;
  readonly format: ExportFormat;
  readonly out?: string;
  readonly store?: string;
  readonly model?: string;
  readonly deidentify?: boolean;
  readonly map?: string;
}

export interface RunsCommandOptions {
  readonly store?: string;
  readonly json?: boolean;
}

/**
 * Opens the store named by --store, else by CXR_STORE_URL; runs `use`, then closes it. These
 * commands only read: a store that does not exist is an error, never created.
 */
async function withStore<T>(url: string | undefined, use: (store: ResultStore) => Promise<T>): Promise<T> {
  const store = await openStore(url ?? loadConfig().store.url, { mustExist: true });
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

/**
 * The session that de-identifies the rows: the map's (its key and profile, so the rows match the
 * images `cxr deidentify` wrote with it), or a key of this export only.
 */
async function exportSession(options: ExportCommandOptions): Promise<DeidSession | undefined> {
  if (options.deidentify !== true) {
    if (options.map !== undefined) throw new CliError('--map goes with --deidentify', ExitCode.Usage);
    return undefined;
  }
  const { BASIC_PROFILE, ephemeralSession, MapFileError, openMapFile } = await import('@cxr/deid');
  if (options.map === undefined) {
    process.stderr.write(
      'cxr: --deidentify without --map: the UIDs and file names will not match any de-identified images\n',
    );
    return ephemeralSession(BASIC_PROFILE);
  }
  try {
    return (await openMapFile(options.map)).session;
  } catch (error) {
    if (error instanceof MapFileError) throw new CliError(error.message, ExitCode.Usage);
    throw error;
  }
}

/** `cxr results export`. */
export async function exportCommand(options: ExportCommandOptions): Promise<void> {
  const file = options.out === '-' ? undefined : options.out;
  const toStdout = file === undefined;
  if (toStdout && options.format === 'parquet') {
    throw new CliError(
      '--format parquet needs --out FILE (Parquet cannot be written to stdout)',
      ExitCode.Usage,
    );
  }
  const labels = options.model === undefined ? undefined : (await readManifest(options.model)).output.labels;
  const session = await exportSession(options);
  // A closed pipe (`| head`) surfaces as an error of the next write instead of an unhandled event.
  const ignore = (): void => undefined;
  if (toStdout) process.stdout.on('error', ignore);
  try {
    const summary = await withStore(options.store, async (store) => {
      try {
        return await exportRun(
          store,
          options.run,
          {
            format: options.format,
            ...(labels === undefined ? {} : { labels }),
            ...(session === undefined ? {} : { transformRow: (row) => deidentifyExportRow(row, session) }),
          },
          file ?? process.stdout,
        );
      } catch (error) {
        if (error instanceof UnknownRunError) throw new CliError(error.message, ExitCode.Usage);
        throw error;
      }
    });
    const where = file ?? 'stdout';
    const scoreColumns =
      summary.labels.length === 0 ? 'no score columns' : `labels ${summary.labels.join(',')}`;
    const deidentified = session === undefined ? '' : ', de-identified';
    process.stderr.write(
      `exported ${summary.rows} rows of run ${options.run} as ${options.format} to ${where} (${scoreColumns}${deidentified})\n`,
    );
  } finally {
    if (toStdout) process.stdout.off('error', ignore);
  }
}

function runsTable(runs: readonly RunSummary[]): string {
  const header = ['run', 'total', 'ok', 'rejected', 'failed', 'first created', 'last updated'];
  const rows = runs.map((r) => [
    r.runId,
    String(r.total),
    String(r.byOutcome.ok),
    String(r.byOutcome.rejected),
    String(r.byOutcome.failed),
    r.firstCreatedAt,
    r.lastUpdatedAt,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  return [header, ...rows]
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** `cxr results runs`. */
export async function runsCommand(options: RunsCommandOptions): Promise<void> {
  const runs = await withStore(options.store, (store) => store.listRuns());
  if (options.json === true) {
    process.stdout.write(`${JSON.stringify(runs, null, 2)}\n`);
  } else if (runs.length === 0) {
    process.stderr.write('no runs in the store\n');
  } else {
    process.stdout.write(`${runsTable(runs)}\n`);
  }
}
