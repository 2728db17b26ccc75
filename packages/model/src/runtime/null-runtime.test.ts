import { rm } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelBundle } from '../manifest.js';
import { NULL_RUNTIME, NullRuntime } from './null-runtime.js';
import { AUTO_ORDER, loadRuntime } from './select.js';
import { smallBundles } from './testing.js';
import { isModelRuntimeError, RUNTIME_CHOICES } from './types.js';

let root: string;
let onnx: ModelBundle;

beforeAll(async () => {
  ({ root, onnx } = await smallBundles(32));
}, 60_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** `n` images of the bundle's input shape; image i filled with the value `values[i]`. */
function batchOf(bundle: ModelBundle, values: readonly number[]): Float32Array {
  const { channels, size } = bundle.manifest.input;
  const per = channels * size * size;
  const batch = new Float32Array(values.length * per);
  values.forEach((v, i) => batch.fill(v, i * per, (i + 1) * per));
  return batch;
}

describe('null runtime (CXR_RUNTIME=null)', () => {
  it('is a CXR_RUNTIME choice that auto never selects', () => {
    expect(RUNTIME_CHOICES).toContain('null');
    expect(AUTO_ORDER).not.toContain('null');
  });

  it('loads from a bundle without reading its weights and describes itself as a stand-in', async () => {
    // A bundle whose weights file does not exist: an engine fails, the null runtime reads none.
    const noWeights: ModelBundle = { ...onnx, weightPaths: [path.join(root, 'absent', 'model.onnx')] };
    const engine: unknown = await loadRuntime(noWeights, { runtime: 'onnx', threads: 1 }).catch(
      (e: unknown) => e,
    );
    expect(engine).toBeInstanceOf(Error);
    const runtime = await loadRuntime(noWeights, { runtime: NULL_RUNTIME, nullLatencyMs: 0 });
    try {
      expect(runtime.name).toBe('null');
      const description = runtime.describe();
      expect(description.selection).toMatchObject({ requested: 'null', reason: 'CXR_RUNTIME=null' });
      expect(description.workerThread).toBe(false);
      expect(String(description.details.note)).toMatch(/benchmarks and tests only/);
    } finally {
      await runtime.close();
    }
  });

  it('gives equal inputs equal scores, different inputs different ones, in the manifest label order', async () => {
    const runtime = new NullRuntime(onnx.manifest, { latencyMs: 0 });
    const labels = onnx.manifest.output.labels.length;
    const first = await runtime.predict(batchOf(onnx, [0.2, 0.7, 0.2]), 3);
    const again = await runtime.predict(batchOf(onnx, [0.2]), 1);
    expect(first).toHaveLength(3 * labels);
    expect([...first.subarray(0, labels)]).toEqual([...again]);
    expect([...first.subarray(2 * labels, 3 * labels)]).toEqual([...again]);
    expect([...first.subarray(labels, 2 * labels)]).not.toEqual([...again]);
    for (const score of first) expect(score >= 0 && score <= 1).toBe(true);
    if (onnx.manifest.output.activation === 'softmax') {
      const sum = [...first.subarray(0, labels)].reduce((a, b) => a + b, 0);
      expect(sum).toBeCloseTo(1, 5);
    }
  });

  it('waits its configured latency per batch, whatever the batch size', async () => {
    const runtime = new NullRuntime(onnx.manifest, { latencyMs: 40 });
    const start = performance.now();
    await runtime.predict(batchOf(onnx, new Array<number>(8).fill(0.5)), 8);
    const elapsed = performance.now() - start;
    expect(elapsed).toBeGreaterThanOrEqual(38);
    expect(() => new NullRuntime(onnx.manifest, { latencyMs: -1 })).toThrow(RangeError);
  });

  it('checks the batch like a real runtime and refuses to run after close', async () => {
    const runtime = new NullRuntime(onnx.manifest, { latencyMs: 0 });
    const bad: unknown = await runtime.predict(new Float32Array(5), 1).catch((e: unknown) => e);
    expect(isModelRuntimeError(bad, 'input_invalid')).toBe(true);
    await runtime.close();
    const closed: unknown = await runtime.predict(batchOf(onnx, [0.1]), 1).catch((e: unknown) => e);
    expect(isModelRuntimeError(closed, 'runtime_closed')).toBe(true);
  });
});
