/**
 * The action of `cxr train` (loaded only when the command runs): options to @cxr/training's
 * runTrain, its events rendered on stderr, the summary on stdout; a TrainingInputError becomes a
 * one-line usage error (exit code 2).
 */
import { loadConfig } from '@cxr/config';
import { LogOutput } from '@cxr/config/log';
import type { ClassWeightsSetting } from '@cxr/model/train';
import { TrainingInputError, runTrain, type TrainSummary } from '@cxr/training';
import { CliError, ExitCode } from '../output.js';
import { TrainProgress } from '../train/progress.js';

export interface TrainCommandOptions {
  readonly data: string;
  readonly images: string;
  readonly base: string;
  readonly out: string;
  readonly valSplit?: number;
  readonly val?: string;
  readonly groupBy?: string;
  readonly holdOut?: string[];
  readonly labels?: string[];
  readonly epochs: number;
  readonly batch: number;
  readonly lr: number;
  readonly loss: 'ce' | 'focal';
  readonly focalGamma: number;
  readonly classWeights: ClassWeightsSetting;
  readonly oversample?: boolean;
  readonly seed: number;
  readonly patience?: number;
  readonly targetSensitivity: number;
  readonly cache?: string;
  readonly activation: 'sigmoid' | 'softmax';
  readonly id?: string;
  readonly version?: string;
  readonly fineTuneEpochs: number;
  readonly fineTuneLr?: number;
  readonly json?: boolean;
}

const pct = (x: number | null): string => (x === null ? 'n/a' : x.toFixed(3));

/** The human-readable summary. */
export function formatTrainSummary(s: TrainSummary): string {
  const d = s.data;
  const rejected = Object.entries(d.rejected)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
  const lines = [
    `model        ${s.model.id} ${s.model.version} (${s.activation}; labels ${s.labels.join(', ')})`,
    `bundles      ${s.onnxBundle} (onnx), ${s.tfjsBundle} (tfjs-layers)`,
    `data         ${d.listed} objects listed, ${d.matched} labelled images used; ${d.withoutLabelRow} without a label row; label rows without an image: ${Object.entries(
      d.rowsWithoutImage,
    )
      .map(([file, n]) => `${file} ${n}`)
      .join(
        ', ',
      )}${rejected === '' ? '' : `; rejected: ${rejected}`}${d.fetchFailed > 0 ? `; fetch failed ${d.fetchFailed}` : ''}${d.withoutPatientId > 0 ? `; ${d.withoutPatientId} without Patient ID` : ''}`,
    `features     ${d.computed} computed, ${d.cached} from cache (${s.featureCache.dir}) in ${d.seconds.toFixed(1)} s`,
    `split        ${s.split.method}: train ${s.split.train.images} images / ${s.split.train.patients} patients, validation ${s.split.validation.images} images / ${s.split.validation.patients} patients${s.split.patientsInBoth !== undefined && s.split.patientsInBoth > 0 ? ` (WARNING: ${s.split.patientsInBoth} patients in both files)` : ''}`,
    `best epoch   ${s.bestEpoch} of ${s.epochsRun}${s.fineTune === undefined ? '' : ` (head only: validation mean AUROC ${pct(s.fineTune.headMeanAuroc)})`}; validation mean AUROC ${pct(s.validation.meanAuroc)}`,
    ...(s.fineTune === undefined
      ? []
      : [
          `fine-tune    ${s.fineTune.epochs} epochs at lr ${s.fineTune.learningRate} on ${s.fineTune.backend}: ${s.fineTune.chosen === 'fine-tune' ? `epoch ${s.fineTune.bestEpoch} kept` : 'no epoch beat the head only model (kept)'}`,
        ]),
    ...s.labels.map((label) => {
      const m = s.validation.perLabel[label];
      return `  ${label.padEnd(24)} AUROC ${pct(m?.auroc ?? null)}  threshold ${(s.thresholds[label] ?? NaN).toFixed(4)}  sensitivity ${pct(m?.sensitivity ?? null)}  specificity ${pct(m?.specificity ?? null)}`;
    }),
  ];
  return `${lines.join('\n')}\n`;
}

/** `cxr train`. */
export async function trainCommand(options: TrainCommandOptions): Promise<void> {
  const config = loadConfig();
  const output = new LogOutput(process.stderr, config.logFormat);
  const log = output.logger('train', config.logLevel, { logUris: config.logUris });
  const progress = new TrainProgress({ output, log });
  const summary = await runTrain(
    {
      dataPath: options.data,
      imagesUri: options.images,
      baseDir: options.base,
      outDir: options.out,
      valSplit: options.valSplit,
      valPath: options.val,
      groupBy: options.groupBy,
      holdOut: options.holdOut,
      labels: options.labels,
      epochs: options.epochs,
      batchSize: options.batch,
      learningRate: options.lr,
      loss: options.loss,
      focalGamma: options.focalGamma,
      classWeights: options.classWeights,
      oversample: options.oversample === true,
      seed: options.seed,
      patience: options.patience,
      targetSensitivity: options.targetSensitivity,
      cacheDir: options.cache,
      activation: options.activation,
      id: options.id,
      version: options.version,
      fineTuneEpochs: options.fineTuneEpochs,
      fineTuneLearningRate: options.fineTuneLr,
    },
    {
      config,
      log,
      onEvent: (event) => {
        progress.render(event);
      },
    },
  )
    .catch((error: unknown) => {
      if (error instanceof TrainingInputError) throw new CliError(error.message, ExitCode.Usage);
      throw error;
    })
    .finally(() => {
      // A failure leaves the progress line drawn: end it so the error line starts on its own.
      output.endProgress();
    });
  process.stdout.write(
    options.json === true ? `${JSON.stringify(summary, null, 2)}\n` : formatTrainSummary(summary),
  );
}
