/**
 * The optional fine-tuning phase of `cxr train` (`--fine-tune-epochs N`): after the head is
 * trained on cached features, the last dense block (conv5_*), the final bn and the head are
 * trained on the images themselves (BatchNorm in inference mode, see @cxr/model/train fineTune).
 * Images are streamed from the --images source batch by batch every epoch, decoded and
 * preprocessed by the same DecodePool path as feature extraction, with the base bundle's own
 * (tfjs-layers, NHWC) input spec; nothing is cached on disk (every epoch decodes again).
 */
import type { AppConfig as Config } from '@cxr/config';
import type { Logger } from '@cxr/config/log';
import { isDicomRejectedError } from '@cxr/dicom';
import { DecodePool, packBatch } from '@cxr/imaging';
import { acceptRulesOf } from '@cxr/model';
import {
  fineTune,
  type EpochReport,
  type FineTuneResult,
  type HeadActivation,
  type HeadWeights,
  type LossKind,
  type ValidationScore,
} from '@cxr/model/train';
import { openObjectSource } from '@cxr/storage';
import type { BaseModel } from './base-model.js';
import type { TrainingImage } from './extract.js';

export interface FineTuneSettings {
  readonly imagesUri: string;
  readonly epochs: number;
  readonly learningRate: number;
  readonly batchSize: number;
  readonly loss: LossKind;
  readonly focalGamma: number;
  /** Class weights used by the head phase, or undefined for `--class-weights none`. */
  readonly classWeights: readonly number[] | undefined;
  readonly oversample: boolean;
  readonly seed: number;
  readonly activation: HeadActivation;
  readonly labelNames: readonly string[];
  readonly targetSensitivity: number;
}

export interface FineTunePhaseOptions {
  readonly settings: FineTuneSettings;
  readonly base: BaseModel;
  readonly head: HeadWeights;
  /** Validation of the head-only model (its best epoch). */
  readonly headScore: ValidationScore;
  readonly trainImages: readonly TrainingImage[];
  readonly valImages: readonly TrainingImage[];
  readonly train: { readonly labels: Float32Array };
  readonly validation: { readonly labels: Float32Array };
  readonly config: Config;
  readonly log: Logger;
  readonly onEpoch: (report: EpochReport) => void;
}

/** Runs the fine-tuning phase; the base's conv5_* and bn layers hold the kept weights afterwards. */
export async function runFineTunePhase(options: FineTunePhaseOptions): Promise<FineTuneResult> {
  const { settings, base } = options;
  const input = base.bundle.manifest.input;
  const accept = acceptRulesOf(base.bundle.manifest);
  if (input.layout !== 'NHWC') {
    throw new Error(`fine-tune: the base bundle's input layout is ${input.layout}, tfjs-layers needs NHWC`);
  }
  const source = openObjectSource(settings.imagesUri, { env: options.config.s3Env });
  const pool = new DecodePool({ threads: options.config.decode.threads });
  const loader =
    (images: readonly TrainingImage[]) =>
    async (rows: Uint32Array): Promise<Float32Array> => {
      const tensors = await Promise.all(
        Array.from(rows, async (row) => {
          const image = images[row];
          if (image === undefined) throw new Error(`fine-tune: no image at row ${row}`);
          try {
            const bytes = await source.fetch(image.uri);
            return (await pool.decode(bytes, { output: { model: input, accept } })).pixels;
          } catch (error) {
            const reason = isDicomRejectedError(error) ? error.reason : (error as Error).message;
            // A failure (exit code 1), not an input error: the images were read fine before.
            throw new Error(
              `fine-tune: ${image.uri}: cannot be read again (${reason}); did the --images source change during training?`,
              { cause: error },
            );
          }
        }),
      );
      return packBatch(tensors, input);
    };
  options.log('info', 'train fine-tune started', {
    epochs: settings.epochs,
    learningRate: settings.learningRate,
    train: options.trainImages.length,
    validation: options.valImages.length,
  });
  try {
    return await fineTune({
      base: base.base,
      head: options.head,
      activation: settings.activation,
      labelNames: settings.labelNames,
      train: { labels: options.train.labels, load: loader(options.trainImages) },
      validation: { labels: options.validation.labels, load: loader(options.valImages) },
      epochs: settings.epochs,
      batchSize: settings.batchSize,
      learningRate: settings.learningRate,
      loss: settings.loss,
      focalGamma: settings.focalGamma,
      classWeights: settings.classWeights,
      oversample: settings.oversample,
      seed: settings.seed,
      initial: options.headScore,
      thresholdSensitivity: settings.targetSensitivity,
      onEpoch: options.onEpoch,
      log: (msg, data) => {
        options.log('warn', msg, data);
      },
    });
  } finally {
    await pool.close();
    await source.close();
  }
}
