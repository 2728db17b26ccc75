/**
 * Inference cost of a batch of 8 run on the CPU as runs of 1, 2 (the default) or 8 images
 * (`cpuRunBatch`, CXR_ONNX_CPU_RUN_BATCH): three sessions of one bundle in one process, their
 * order alternating per round; wall time and the process's CPU time per batch, with onnxruntime's
 * spin-waiting off so that CPU time counts work, not waiting. Prints one JSON line.
 * argv: MODEL_DIR ROUNDS. Run as memory-probe.ts is (see docs/benchmarks.md#memory).
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { packBatch } from '@cxr/imaging';
import { loadBundle, loadRuntime } from '@cxr/model';

const [modelDir = '', roundsText = '5'] = process.argv.slice(2);
const bundle = await loadBundle(modelDir);
const runs = [1, 2, 8] as const;
const runtimes = await Promise.all(
  runs.map((run) =>
    loadRuntime(bundle, {
      runtime: 'onnx',
      threads: availableParallelism(),
      onnx: { allowSpinning: false, cpuRunBatch: run },
    }),
  ),
);
const input = bundle.manifest.input;
const one = new Float32Array(input.size * input.size * input.channels).fill(0.5);
const batch = packBatch(Array<Float32Array>(8).fill(one), input);
for (const runtime of runtimes) await runtime.predict(batch, 8);
const wall: number[][] = runs.map(() => []);
const cpu: number[][] = runs.map(() => []);
for (let round = 0; round < Number(roundsText); round++) {
  for (const i of round % 2 === 0 ? [0, 1, 2] : [2, 1, 0]) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await runtimes[i]!.predict(batch, 8);
    wall[i]!.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu[i]!.push((c.user + c.system) / 1000);
  }
}
const median = (v: number[]): number => [...v].sort((a, b) => a - b)[v.length >> 1] ?? NaN;
process.stdout.write(
  `${JSON.stringify(
    Object.fromEntries(
      runs.map((run, i) => [
        `runsOf${run}`,
        {
          medianWallMs: Math.round(median(wall[i]!)),
          medianCpuMs: Math.round(median(cpu[i]!)),
          wall: wall[i]!.map(Math.round),
          cpu: cpu[i]!.map(Math.round),
        },
      ]),
    ),
  )}\n`,
);
for (const runtime of runtimes) await runtime.close();
