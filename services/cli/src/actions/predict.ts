/**
 * The action of `cxr predict` (loaded only when the command runs): one image through the
 * pipeline's applicability rules, decode, preprocessing, runtime and decision rule.
 */
import { writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { loadConfig, type RuntimeChoice } from '@cxr/config';
import { decodeFrame } from '@cxr/dicom';
import { checkApplicability, preprocessForModel } from '@cxr/imaging';
// Subpaths, not the package root: the root loads tfjs on this thread, and inference runs on the
// runtime's worker thread anyway.
import { decide } from '@cxr/model/decision';
import { acceptRulesOf, loadBundle } from '@cxr/model/manifest';
import { predictionResponse } from '@cxr/model/prediction';
import { loadRuntime } from '@cxr/model/runtime';
import { float32LittleEndian, readInput } from './input.js';

/** The response shape lives in @cxr/model: `POST /v1/predict` answers with the same one. */
export type { PredictionResponse } from '@cxr/model/prediction';

export interface PredictOptions {
  readonly model: string;
  readonly runtime?: RuntimeChoice;
  /** File to write the preprocessed input tensor to (raw little-endian float32). */
  readonly saveInput?: string;
  readonly json?: boolean;
}

/**
 * `cxr predict`. `startedAt`: performance.now() when the command's action began (it counts from
 * the process's start, so that is the start-up: node, the command line's modules, parsing); what
 * follows until here is loading this action's modules (decoders, runtimes).
 */
export async function predictCommand(
  file: string,
  options: PredictOptions,
  startedAt: number = performance.now(),
): Promise<void> {
  const modulesMs = performance.now() - startedAt;
  const config = loadConfig();
  const t0 = performance.now();
  const bundle = await loadBundle(options.model);
  const warning = bundle.manifest.provenance?.warning;
  if (warning !== undefined) process.stderr.write(`cxr: warning: model ${bundle.manifest.id}: ${warning}\n`);
  const accept = acceptRulesOf(bundle.manifest);
  const runtime = await loadRuntime(bundle, {
    runtime: options.runtime ?? config.runtime.runtime,
    threads: config.runtime.threads,
    onnx: { executionProviders: config.runtime.onnxExecutionProviders },
  });
  try {
    const t1 = performance.now();
    const { frame, info, decodeMs } = await readInput(file, async (bytes) => {
      const start = performance.now();
      // The header decides first: an image the model was not made for is never decoded or scored.
      const decoded = await decodeFrame(bytes, {
        checkHeader: (info) => {
          checkApplicability(info, accept);
        },
        maxImagePixels: config.decode.maxImagePixels,
      });
      return { ...decoded, decodeMs: performance.now() - start };
    });
    const t2 = performance.now();
    const { tensor } = await preprocessForModel(frame, info, bundle.manifest.input);
    const t3 = performance.now();
    if (options.saveInput !== undefined) await writeFile(options.saveInput, float32LittleEndian(tensor));
    const scores = await runtime.predict(tensor, 1);
    const t4 = performance.now();
    const decision = decide(scores, bundle.manifest.output);
    const response = predictionResponse({
      decision,
      model: bundle.manifest,
      runtime: runtime.describe(),
      timingsMs: {
        startup: startedAt,
        load_modules: modulesMs,
        load_model: t1 - t0,
        read_and_decode: t2 - t1,
        decode: decodeMs,
        preprocess: t3 - t2,
        infer: t4 - t3,
      },
    });
    if (options.json === true) {
      process.stdout.write(`${JSON.stringify(response, null, 2)}\n`);
      return;
    }
    const lines = [
      `diagnosis     ${response.diagnosis} (${response.confidence.toFixed(4)})`,
      ...Object.entries(response.all_probabilities).map(
        ([label, p]) => `  ${label.padEnd(24)} ${p.toFixed(4)}`,
      ),
      `model         ${response.model.id} ${response.model.version}`,
      `runtime       ${response.runtime.name} ${response.runtime.version} [${response.runtime.backend.join(', ')}]`,
      `timings (ms)  ${Object.entries(response.timings_ms)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await runtime.close();
  }
}
