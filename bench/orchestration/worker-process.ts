/**
 * The worker process of `pnpm bench orchestration`: one WorkerService with the null runtime, a
 * fetcher that returns a few bytes and a decoder that returns one pre-decoded image, so that the
 * process spends its time on the orchestration only (queue, batcher, result messages). Started by
 * bench/orchestration.ts with fork(); reports its CPU time on request over IPC.
 */
import { readFile } from 'node:fs/promises';
import { loadConfig } from '@cxr/config';
import { runDecodeTask, type ModelOutput, type PoolDecodeResult } from '@cxr/imaging';
import { loadBundle } from '@cxr/model';
import type { ObjectFetcher } from '@cxr/storage';
import { WorkerService } from '@cxr/worker';

/** What the parent passes in CXR_BENCH_WORKER (JSON). */
export interface WorkerProcessSpec {
  readonly env: Readonly<Record<string, string>>;
  readonly modelDir: string;
  /** A DICOM file decoded once; every job gets its result. */
  readonly templatePath: string;
}

/** Messages between the bench and this process. */
export type ToWorker = { readonly type: 'cpu' } | { readonly type: 'stop' };
export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'cpu'; readonly userMs: number; readonly systemMs: number }
  | { readonly type: 'stopped' };

function send(message: FromWorker): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.env.CXR_BENCH_WORKER ?? '') as WorkerProcessSpec;
  const config = loadConfig(spec.env);
  const { manifest } = await loadBundle(spec.modelDir);
  const template = await runDecodeTask(await readFile(spec.templatePath), {
    output: { model: manifest.input, accept: null },
  });
  const decoded: PoolDecodeResult<ModelOutput> = { ...template, queueMs: 0 };
  const bytes = new Uint8Array(256);
  const fetcher: ObjectFetcher = {
    fetch: () => Promise.resolve(bytes),
    close: () => Promise.resolve(),
  };
  const service = new WorkerService({
    config,
    modelDir: spec.modelDir,
    fetcher,
    decoder: { threads: 1, decode: () => Promise.resolve(decoded) },
  });
  await service.start();
  process.on('message', (message: ToWorker) => {
    if (message.type === 'cpu') {
      const { user, system } = process.cpuUsage();
      send({ type: 'cpu', userMs: user / 1000, systemMs: system / 1000 });
    } else {
      void service.stop().then(() => {
        send({ type: 'stopped' });
        process.disconnect();
      });
    }
  });
  send({ type: 'ready' });
}

await main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
