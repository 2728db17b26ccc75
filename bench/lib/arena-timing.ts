/**
 * Inference time with onnxruntime's arena and memory pattern on (its defaults) against off (the
 * worker's defaults): two sessions of one bundle in one process, batches of `batch` alternating
 * between them, so a load change of the machine hits both alike. Prints one JSON line.
 * argv: MODEL_DIR BATCH ROUNDS. Run as memory-probe.ts is (see docs/benchmarks.md#memory).
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { packBatch } from '@cxr/imaging';
import { loadBundle, loadRuntime } from '@cxr/model';

const [modelDir = '', batchText = '8', roundsText = '5'] = process.argv.slice(2);
const batch = Number(batchText);
const bundle = await loadBundle(modelDir);
const load = (on: boolean): ReturnType<typeof loadRuntime> =>
  loadRuntime(bundle, {
    runtime: 'onnx',
    threads: availableParallelism(),
    onnx: { enableCpuMemArena: on, enableMemPattern: on },
  });
const sessions = { on: await load(true), off: await load(false) };
const input = bundle.manifest.input;
const one = new Float32Array(input.size * input.size * input.channels).fill(0.5);
const packed = packBatch(Array<Float32Array>(batch).fill(one), input);
const ms: { on: number[]; off: number[] } = { on: [], off: [] };
// One warm-up run each, then alternating order per round.
await sessions.on.predict(packed, batch);
await sessions.off.predict(packed, batch);
for (let round = 0; round < Number(roundsText); round++) {
  for (const key of round % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const)) {
    const start = performance.now();
    await sessions[key].predict(packed, batch);
    ms[key].push(performance.now() - start);
  }
}
const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] ?? NaN;
const ratios = ms.off.map((off, i) => off / (ms.on[i] ?? NaN));
process.stdout.write(
  `${JSON.stringify({ batch, onMs: ms.on, offMs: ms.off, medianOnMs: median(ms.on), medianOffMs: median(ms.off), medianRatioOffOverOn: median(ratios) })}\n`,
);
await sessions.on.close();
await sessions.off.close();
