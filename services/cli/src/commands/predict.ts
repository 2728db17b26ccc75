/**
 * `cxr predict FILE --model DIR`: one image through the same applicability rules, decode,
 * preprocessing, runtime and decision rule as the pipeline, printed in the seed's response shape.
 * An image the model does not apply to is rejected (`not_applicable`, exit code 3) unscored; a
 * bundle's provenance warning (the seed model's random weights) goes to stderr. `--save-input`
 * writes the tensor the runtime was given, so another framework can be run on exactly that input.
 */
import { writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import type { Command } from 'commander';
import { RUNTIME_CHOICES, loadConfig, type RuntimeChoice } from '@cxr/config';
import { decodeFrame } from '@cxr/dicom';
import { checkApplicability, preprocessForModel } from '@cxr/imaging';
import { acceptRulesOf, decide, loadBundle, loadRuntime, predictionResponse } from '@cxr/model';
import { choiceOption } from '../options.js';
import { float32LittleEndian, readInput } from './dicom.js';

/** The response shape lives in @cxr/model: `POST /v1/predict` answers with the same one. */
export type { PredictionResponse } from '@cxr/model';

interface PredictOptions {
  readonly model: string;
  readonly runtime?: RuntimeChoice;
  /** File to write the preprocessed input tensor to (raw little-endian float32). */
  readonly saveInput?: string;
  readonly json?: boolean;
}

export function registerPredictCommand(program: Command): void {
  program
    .command('predict')
    .description('Classify one DICOM file with a model bundle (decode, preprocess, infer, decide)')
    .argument('<file>', 'DICOM file')
    .requiredOption('--model <dir>', 'model bundle folder')
    .option(
      '--runtime <name>',
      `inference runtime (${RUNTIME_CHOICES.join(' | ')}; default: CXR_RUNTIME or auto)`,
      choiceOption('--runtime', RUNTIME_CHOICES),
    )
    .option(
      '--save-input <file>',
      'also write the preprocessed input tensor as raw little-endian float32, in the manifest layout',
    )
    .option('--json', 'print JSON')
    .action(async (file: string, options: PredictOptions) => {
      const config = loadConfig();
      const t0 = performance.now();
      const bundle = await loadBundle(options.model);
      const warning = bundle.manifest.provenance?.warning;
      if (warning !== undefined)
        process.stderr.write(`cxr: warning: model ${bundle.manifest.id}: ${warning}\n`);
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
    });
}
