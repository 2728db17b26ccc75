/**
 * The RSS breakdown of `pnpm bench pipeline --peer python --breakdown`: run as its own process
 * (`node --import tsx/esm`, without the @cxr/source condition, so the packages are the compiled
 * ones `cxr screen` runs), it builds what the worker builds, one piece at a time, and prints the
 * process RSS after each (`rss`) and the kernel's peak RSS so far (`peak`, VmHWM) as one JSON line:
 *   start      node and this script
 *   modules    + the worker's packages (imaging with sharp, model, queue, store)
 *   session    + the onnx session loaded (weights, graph)
 *   inference  + three batches of `batch` at the model size (activations, arena, memory pattern)
 *   decode     + a decode pool of `threads` threads that decoded every archive file once
 *   queue      + `concurrency` model inputs held, as waiting jobs hold them before their batch
 * argv: MODEL_DIR BATCH THREADS CONCURRENCY FILE...; the onnx settings come from the CXR_ONNX_*
 * variables, as in the worker.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { loadConfig } from '@cxr/config';
import { DecodePool, packBatch } from '@cxr/imaging';
import { loadBundle, loadRuntime } from '@cxr/model';

const [modelDir = '', batchText = '8', threadsText = '2', concurrencyText = '16', ...files] =
  process.argv.slice(2);
const batch = Number(batchText);
const concurrency = Number(concurrencyText);
/** The kernel's peak RSS of this process so far (VmHWM), bytes. */
const hwm = (): number =>
  Number(/^VmHWM:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) * 1024;
const rss: Record<string, number> = { start: process.memoryUsage.rss() };
const peak: Record<string, number> = { start: hwm() };
const settle = async (): Promise<void> => {
  // Let freed memory be collected where it would be between stages of a long run.
  await new Promise((resolve) => setTimeout(resolve, 200));
};

await import('@cxr/queue');
await import('@cxr/store');
rss.modules = process.memoryUsage.rss();
peak.modules = hwm();

const config = loadConfig();
const bundle = await loadBundle(modelDir);
const runtime = await loadRuntime(bundle, {
  runtime: 'onnx',
  threads: config.runtime.threads,
  onnx: {
    allowSpinning: config.runtime.onnxAllowSpinning,
    enableCpuMemArena: config.runtime.onnxMemArena,
    enableMemPattern: config.runtime.onnxMemPattern,
  },
});
rss.session = process.memoryUsage.rss();
peak.session = hwm();

const input = bundle.manifest.input;
const one = new Float32Array(input.size * input.size * input.channels).fill(0.5);
for (let i = 0; i < 3; i++)
  await runtime.predict(packBatch(Array<Float32Array>(batch).fill(one), input), batch);
await settle();
rss.inference = process.memoryUsage.rss();
peak.inference = hwm();

const threads = Number(threadsText);
const pool = new DecodePool({ threads, vipsCache: config.decode.sharpCache });
// `threads` files in flight at once, as the worker's input budget allows for files this size.
for (let i = 0; i < files.length; i += threads) {
  await Promise.all(
    files.slice(i, i + threads).map(async (file) => {
      await pool.decode(await readFile(file), { output: { model: input, accept: null } }, { transfer: true });
    }),
  );
}
await settle();
rss.decode = process.memoryUsage.rss();
peak.decode = hwm();
const held: Float32Array[] = [];
while (held.length < concurrency) held.push(new Float32Array(one));
rss.queue = process.memoryUsage.rss();
peak.queue = hwm();

process.stdout.write(`${JSON.stringify({ rss, peak, held: held.length })}\n`);
await pool.close();
await runtime.close();
