/**
 * `cxr model reference DIR (--from RUN_ID [--store URL] [--force] | --from-source URI)`: computes the drift reference
 * (score and input-feature distributions, @cxr/metrics DriftReferenceBuilder) from the ok results
 * of one run in the store and writes it into DIR/manifest.json as `reference`, every other byte of
 * the file unchanged. The results service compares its sliding window with it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@cxr/config';
import { LogOutput } from '@cxr/config/log';
import { ResultQueue, ScreenQueue, redisConnectionFromUrl } from '@cxr/queue';
import { DriftReferenceBuilder, type DriftReferenceSource } from '@cxr/metrics';
import { MANIFEST_FILE, readManifest, writeManifestReference } from '@cxr/model/manifest';
import { driftObservation } from '@cxr/results';
import { openStore } from '@cxr/store';
import { CliError, ExitCode } from '../output.js';
import { connectRedis } from '../redis.js';
import { runScreen } from '../screen/run-screen.js';

/** Below this many results a reference's own sampling noise is a visible part of every PSI. */
const SMALL_REFERENCE = 1000;

export interface ModelReferenceOptions {
  /** Run id whose ok results become the reference. */
  readonly from: string;
  readonly store?: string;
  /** Use the run's ok results even when another model (id or version) produced them. */
  readonly force?: boolean;
}

/** Runs the command; throws CliError for a usage problem (unknown run, another model, no ok rows). */
export async function modelReferenceCommand(dir: string, options: ModelReferenceOptions): Promise<void> {
  const manifest = await readManifest(dir);
  const served = `${manifest.id} ${manifest.version}`;
  const builder = new DriftReferenceBuilder({
    labels: manifest.output.labels,
    // Raw scores (no activation) have no fixed range: bin them at the reference's deciles.
    scoreBins: manifest.output.activation === 'none' ? 'quantile' : 'unit',
    source: placeholderSource(options.from),
  });
  const used = new Map<string, { modelId: string; modelVersion: string; n: number }>();
  const others = new Map<string, number>();
  let total = 0;
  const store = await openStore(options.store ?? loadConfig().store.url, { mustExist: true });
  try {
    for await (const row of store.iterateRun(options.from)) {
      total += 1;
      if (row.outcome !== 'ok') continue;
      const model = `${row.modelId} ${row.modelVersion}`;
      if (model !== served) {
        others.set(model, (others.get(model) ?? 0) + 1);
        if (options.force !== true) continue;
      }
      const observation = driftObservation(row, manifest.output);
      if (observation === undefined) continue;
      builder.add(observation);
      const entry = used.get(model) ?? { modelId: row.modelId, modelVersion: row.modelVersion, n: 0 };
      used.set(model, { ...entry, n: entry.n + 1 });
    }
  } finally {
    await store.close();
  }
  if (total === 0) throw new CliError(`run ${options.from} has no results in the store`, ExitCode.Usage);
  if (others.size > 0 && options.force !== true) {
    const list = [...others].map(([model, n]) => `${model}: ${n}`).join(', ');
    throw new CliError(
      `run ${options.from} holds ok results of another model (${list}), not only of this bundle's ${served}; ` +
        '--force uses them anyway',
      ExitCode.Usage,
    );
  }
  if (builder.count === 0) {
    throw new CliError(`run ${options.from} has no ok results to compute a reference from`, ExitCode.Usage);
  }
  // The source names the model that produced most of the rows (the bundle's own without --force).
  const main = [...used.values()].sort((a, b) => b.n - a.n)[0];
  const reference = {
    ...builder.build(),
    source: {
      ...placeholderSource(options.from),
      modelId: main?.modelId ?? manifest.id,
      modelVersion: main?.modelVersion ?? manifest.version,
    },
  };
  await writeManifestReference(dir, reference);
  const features = [...Object.keys(reference.numeric), ...Object.keys(reference.categorical)];
  process.stderr.write(
    `wrote reference to ${dir}/${MANIFEST_FILE}: ${reference.n} ok results of run ${options.from} ` +
      `(scores ${Object.keys(reference.scores).join(',')}; features ${features.join(',')})\n`,
  );
  if (reference.n < SMALL_REFERENCE) {
    process.stderr.write(
      `note: fewer than ${SMALL_REFERENCE} results; the reference's own sampling noise adds about ` +
        `9 / ${reference.n} to a 10-bin PSI\n`,
    );
  }
}

function placeholderSource(runId: string): DriftReferenceSource {
  return { kind: 'run', runId, modelId: '-', modelVersion: '-', computedAt: new Date().toISOString() };
}

/**
 * `--from-source URI`: screens the source (a validation folder, bucket prefix or manifest) with
 * this bundle, exactly as `cxr screen` would, into a throwaway SQLite store on queues of their
 * own, then computes the reference from that run. Needs Redis (CXR_REDIS_URL) like `cxr screen`.
 */
export async function modelReferenceFromSource(dir: string, sourceUri: string): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'cxr-reference-'));
  const store = `sqlite:${join(work, 'reference.sqlite')}`;
  const prefix = `cxr-reference-${randomBytes(4).toString('hex')}`;
  const runId = `reference-${new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}`;
  const config = loadConfig({ ...process.env, CXR_STORE_URL: store, CXR_QUEUE_PREFIX: prefix });
  const output = new LogOutput(process.stderr, config.logFormat);
  const log = output.logger('reference', config.logLevel, { logUris: config.logUris });
  // Before the try below: its cleanup talks to Redis, and would wait forever for one not there.
  await connectRedis(config, log).catch(async (error: unknown) => {
    await rm(work, { recursive: true, force: true });
    throw error;
  });
  try {
    const summary = await runScreen({
      config,
      sourceUri,
      modelDir: dir,
      runId,
      force: true,
      log,
      output,
    });
    if (!summary.complete) throw new CliError('screening of the source did not complete', ExitCode.Failure);
    await modelReferenceCommand(dir, { from: runId, store });
  } finally {
    output.endProgress();
    const location = { connection: redisConnectionFromUrl(config.queue.redisUrl), prefix };
    for (const queue of [new ScreenQueue(location), new ResultQueue(location)]) {
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
    }
    await rm(work, { recursive: true, force: true });
  }
}
