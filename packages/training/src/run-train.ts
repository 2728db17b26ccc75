/**
 * A training run, as `cxr train` runs it and as a script can: labels files -> listing -> base
 * features (cached) -> patient split -> head training -> thresholds at the target sensitivity ->
 * drift reference -> bundles. Composition: decoding, the runtime, the cache, the split and the
 * trainer live in the other packages. Progress goes out as events (events.ts); settings or data
 * it cannot use throw TrainingInputError.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { AppConfig as Config } from '@cxr/config';
import type { Logger } from '@cxr/config/log';
import { DecodePool } from '@cxr/imaging';
import { acceptRulesOf, loadRuntime } from '@cxr/model';
import {
  FeatureCache,
  patientSplit,
  thresholdsAtSensitivity,
  trainHead,
  type TrainHeadOptions,
  type EpochReport,
  type HeadActivation,
  type TrainedHead,
} from '@cxr/model/train';
import { newRunId } from '@cxr/store';
import { openObjectSource, sourceKindOf, type ObjectEntry } from '@cxr/storage';
import { unmatchedLine } from '@cxr/evaluation/keys';
import { DEFAULT_CACHE_DIR } from './defaults.js';
import { TrainingInputError } from './errors.js';
import { loadBaseModel } from './base-model.js';
import { writeTrainedBundles, type ValidationMetrics } from './bundle.js';
import {
  extractTrainingFeatures,
  type ExtractionCounts,
  type TrainingImage,
  type UnmatchedTrainingKeys,
} from './extract.js';
import { runFineTunePhase } from './fine-tune.js';
import { LabelsFileError, readLabelsFile, type LabelsFile } from './labels.js';
import type { TrainEvent } from './events.js';

// Images per base-model batch during extraction: large enough to amortise a runtime call, small
// enough that two chunks of 512x512x3 tensors stay under ~100 MB.
const EXTRACTION_BATCH = 8;
// The image statistics cache is independent of the base model.
const IMAGE_STATS_KEY = 'image-stats-v1';

/** The head-training settings pass through to trainHead unchanged. */
type HeadSettings = Pick<
  TrainHeadOptions,
  'epochs' | 'batchSize' | 'learningRate' | 'loss' | 'focalGamma' | 'classWeights' | 'oversample' | 'seed'
>;

export interface TrainSettings extends HeadSettings {
  readonly dataPath: string;
  readonly imagesUri: string;
  readonly baseDir: string;
  readonly outDir: string;
  /** Share of patients (outside hold-out groups) in validation; undefined = 0.2, or 0 with --hold-out. */
  readonly valSplit?: number | undefined;
  readonly valPath?: string | undefined;
  readonly groupBy?: string | undefined;
  readonly holdOut?: readonly string[] | undefined;
  readonly labels?: readonly string[] | undefined;
  readonly patience?: number | undefined;
  readonly targetSensitivity: number;
  readonly cacheDir?: string | undefined;
  readonly activation: HeadActivation;
  readonly id?: string | undefined;
  readonly version?: string | undefined;
  /** Epochs of the optional fine-tuning phase (conv5_*, bn and head on images); 0/undefined = off. */
  readonly fineTuneEpochs?: number | undefined;
  /** Adam learning rate of the fine-tuning phase (default learningRate / 10). */
  readonly fineTuneLearningRate?: number | undefined;
}

export interface TrainDeps {
  readonly config: Config;
  readonly log: Logger;
  /** Progress, epochs and notices as they happen (the caller renders them). */
  readonly onEvent?: (event: TrainEvent) => void;
  readonly now?: () => Date;
}

interface SplitCounts {
  readonly images: number;
  readonly patients: number;
  /** Positive images per label. */
  readonly positives: Readonly<Record<string, number>>;
}

/** What `cxr train` prints (and writes to train-report.json, with the epoch history). */
export interface TrainSummary {
  readonly outDir: string;
  readonly onnxBundle: string;
  readonly tfjsBundle: string;
  readonly model: { readonly id: string; readonly version: string };
  readonly labels: readonly string[];
  readonly activation: HeadActivation;
  readonly data: ExtractionCounts & { readonly labelRows: Readonly<Record<string, number>> };
  readonly featureCache: {
    readonly dir: string;
    readonly key: string;
    readonly hits: number;
    readonly misses: number;
    readonly writes: number;
  };
  readonly split: {
    readonly method: 'patient' | 'hold-out' | 'file';
    readonly train: SplitCounts;
    readonly validation: SplitCounts;
    /** --val only: patients with images in both files (a leak the files' author should fix). */
    readonly patientsInBoth?: number;
  };
  readonly bestEpoch: number;
  readonly epochsRun: number;
  /** The fine-tuning phase, when --fine-tune-epochs > 0. */
  readonly fineTune?: {
    readonly epochs: number;
    readonly learningRate: number;
    readonly backend: string;
    /** 1-based fine-tuning epoch kept, or 0 when the head-only model stayed best. */
    readonly bestEpoch: number;
    /** Which model the bundles hold. */
    readonly chosen: 'head' | 'fine-tune';
    readonly headMeanAuroc: number | null;
  };
  /** Validation metrics of the model written (the fine-tuned one when it won). */
  readonly validation: ValidationMetrics;
  readonly thresholds: Readonly<Record<string, number>>;
  readonly dataHash: string;
}

function splitCounts(images: readonly TrainingImage[], labels: readonly string[]): SplitCounts {
  const positives: Record<string, number> = Object.fromEntries(labels.map((l) => [l, 0]));
  for (const image of images) {
    image.row.values.forEach((v, i) => {
      if (v === 1) positives[labels[i]!] = (positives[labels[i]!] ?? 0) + 1;
    });
  }
  return { images: images.length, patients: new Set(images.map((i) => i.patientKey)).size, positives };
}

function matrices(
  images: readonly TrainingImage[],
  featureDim: number,
  outputs: number,
): { features: Float32Array; labels: Float32Array } {
  const features = new Float32Array(images.length * featureDim);
  const labels = new Float32Array(images.length * outputs);
  images.forEach((image, i) => {
    features.set(image.features, i * featureDim);
    labels.set(image.row.values, i * outputs);
  });
  return { features, labels };
}

async function readLabels(file: string, flag: string, settings: TrainSettings): Promise<LabelsFile> {
  try {
    return await readLabelsFile(file, {
      ...(settings.groupBy === undefined ? {} : { groupBy: settings.groupBy }),
      ...(settings.labels === undefined ? {} : { labels: settings.labels }),
    });
  } catch (error) {
    if (error instanceof LabelsFileError) throw new TrainingInputError(`${flag} ${error.message}`);
    throw error;
  }
}

function checkSettings(settings: TrainSettings): void {
  if (settings.valPath !== undefined && (settings.valSplit !== undefined || settings.holdOut !== undefined)) {
    throw new TrainingInputError('--val cannot be combined with --val-split or --hold-out');
  }
  if (settings.holdOut !== undefined && settings.groupBy === undefined) {
    throw new TrainingInputError('--hold-out needs --group-by COLUMN');
  }
  const epochs = settings.fineTuneEpochs;
  if (epochs !== undefined && !(Number.isInteger(epochs) && epochs >= 0)) {
    throw new TrainingInputError(`--fine-tune-epochs must be an integer >= 0, got ${epochs}`);
  }
  const lr = settings.fineTuneLearningRate;
  if (lr !== undefined && !(lr > 0 && Number.isFinite(lr))) {
    throw new TrainingInputError(`--fine-tune-lr must be a number > 0, got ${lr}`);
  }
}

/** The data hash of provenance: sha256 of the labels file(s) and the sorted object keys used. */
function dataHashOf(files: readonly LabelsFile[], images: readonly TrainingImage[]): string {
  const hash = createHash('sha256');
  for (const file of files) {
    hash.update(file.bytes);
    hash.update('\0');
  }
  for (const key of images.map((i) => i.objectKey).sort()) hash.update(`${key}\n`);
  return `sha256:${hash.digest('hex')}`;
}

async function listAll(
  uri: string,
  config: Config,
): Promise<{
  entries: ObjectEntry[];
  fetch: (u: string) => Promise<Uint8Array>;
  close: () => Promise<void>;
}> {
  const source = openObjectSource(uri, { env: config.s3Env });
  const entries: ObjectEntry[] = [];
  try {
    for await (const entry of source.list()) entries.push(entry);
  } catch (error) {
    await source.close();
    throw error;
  }
  return { entries, fetch: (u) => source.fetch(u), close: () => source.close() };
}

/** stderr lines naming how many listed objects and label rows did not match, and the first few keys. */
export function unmatchedTrainingLines(
  unmatched: UnmatchedTrainingKeys,
  listed: number,
  data: LabelsFile,
  val: LabelsFile | undefined,
): string[] {
  const files = val === undefined ? `--data ${data.path}` : `--data ${data.path} or --val ${val.path}`;
  const lines = [
    unmatchedLine(unmatched.objects, listed, `listed objects have no row in ${files} by ${data.keyColumn}`),
  ];
  for (const [flag, file, source] of [
    ['--data', data, 'data'],
    ['--val', val, 'val'],
  ] as const) {
    const keys = unmatched.rows[source];
    if (file === undefined || keys === undefined) continue;
    lines.push(
      unmatchedLine(
        keys,
        file.rows.length,
        `rows of ${flag} ${file.path} have no listed object by ${file.keyColumn}`,
      ),
    );
  }
  return lines.filter((line): line is string => line !== undefined);
}

/** Runs a whole training; returns the summary (the bundles are written to settings.outDir). */
export async function runTrain(settings: TrainSettings, deps: TrainDeps): Promise<TrainSummary> {
  const emit = (event: TrainEvent): void => deps.onEvent?.(event);
  checkSettings(settings);
  const now = deps.now ?? (() => new Date());
  const startedAt = now();
  const data = await readLabels(settings.dataPath, '--data', settings);
  const val =
    settings.valPath === undefined ? undefined : await readLabels(settings.valPath, '--val', settings);
  if (val !== undefined && val.labels.join('\0') !== data.labels.join('\0')) {
    throw new TrainingInputError(
      `--val ${val.path}: labels ${val.labels.join(', ')} differ from --data's ${data.labels.join(', ')}`,
    );
  }
  const labelNames = data.labels;
  const outputs = labelNames.length;
  if (settings.activation === 'softmax' && outputs < 2) {
    throw new TrainingInputError('--activation softmax needs at least two label columns (one-hot rows)');
  }
  if (settings.activation === 'softmax') {
    for (const [flag, file] of [
      ['--data', data],
      ['--val', val],
    ] as const) {
      const bad = file?.rows.find((row) => row.values.reduce((a, b) => a + b, 0) !== 1);
      if (bad !== undefined) {
        throw new TrainingInputError(
          `${flag} ${file?.path ?? ''}: line ${bad.line}: --activation softmax needs exactly one 1 per row`,
        );
      }
    }
  }
  const cacheDir = path.resolve(settings.cacheDir ?? DEFAULT_CACHE_DIR);
  const base = await loadBaseModel(settings.baseDir, cacheDir);
  const cache = new FeatureCache(cacheDir, base.key);
  const statsCache = new FeatureCache(cacheDir, IMAGE_STATS_KEY);

  const source = await listAll(settings.imagesUri, deps.config);
  let extracted: Awaited<ReturnType<typeof extractTrainingFeatures>>;
  const pool = new DecodePool({ threads: deps.config.decode.threads });
  emit({ kind: 'extraction-started', total: source.entries.length });
  try {
    const runtime = await loadRuntime(base.featuresBundle, {
      runtime: 'auto',
      threads: deps.config.runtime.threads,
      onnx: { executionProviders: deps.config.runtime.onnxExecutionProviders },
      log: (msg, data) => {
        deps.log('info', msg, data);
      },
    });
    try {
      deps.log('info', 'train extraction started', {
        objects: source.entries.length,
        runtime: runtime.describe().name,
        featureDim: base.featureDim,
        cacheKey: base.key,
      });
      extracted = await extractTrainingFeatures({
        entries: source.entries,
        fetch: source.fetch,
        labels: { data, val },
        pool,
        runtime,
        input: base.featuresBundle.manifest.input,
        accept: acceptRulesOf(base.bundle.manifest),
        featureDim: base.featureDim,
        cache,
        statsCache,
        patientIdSalt: deps.config.store.patientIdSalt,
        batchSize: EXTRACTION_BATCH,
        progress: (progress) => {
          emit({ kind: 'extraction', progress });
        },
        log: deps.log,
      });
      emit({
        kind: 'extraction-finished',
        progress: {
          done: source.entries.length,
          total: source.entries.length,
          cached: extracted.counts.cached,
          computed: extracted.counts.computed,
          skipped: source.entries.length - extracted.counts.matched,
        },
      });
    } finally {
      await runtime.close();
    }
  } finally {
    await pool.close();
    await source.close();
  }
  const { images, counts } = extracted;
  // Before the split can fail for want of images: how many keys matched nothing, and which.
  for (const line of unmatchedTrainingLines(extracted.unmatched, counts.listed, data, val)) {
    emit({ kind: 'notice', message: line });
  }
  const rejected = Object.entries(counts.rejected);
  if (rejected.length > 0) {
    const total = rejected.reduce((sum, [, n]) => sum + n, 0);
    const reasons = rejected.map(([reason, n]) => `${reason} ${n}`).join(', ');
    emit({ kind: 'notice', message: `${total} labelled objects could not be used (${reasons})` });
  }

  // The split: --val file, --hold-out groups (+ an optional patient split of the rest), or patients.
  let trainImages: TrainingImage[];
  let valImages: TrainingImage[];
  let method: TrainSummary['split']['method'];
  let patientsInBoth: number | undefined;
  if (val !== undefined) {
    method = 'file';
    trainImages = images.filter((i) => i.source === 'data');
    valImages = images.filter((i) => i.source === 'val');
    const trainPatients = new Set(trainImages.map((i) => i.patientKey));
    patientsInBoth = new Set(valImages.map((i) => i.patientKey).filter((k) => trainPatients.has(k))).size;
    if (patientsInBoth > 0) {
      deps.log('warn', 'train patients in both --data and --val', { patients: patientsInBoth });
    }
  } else {
    method = settings.holdOut === undefined ? 'patient' : 'hold-out';
    const valFraction = settings.valSplit ?? (settings.holdOut === undefined ? 0.2 : 0);
    let split;
    try {
      split = patientSplit(
        images.map((i) => ({
          patientKey: i.patientKey,
          ...(i.row.group === undefined ? {} : { group: i.row.group }),
        })),
        {
          valFraction,
          seed: settings.seed,
          ...(settings.holdOut === undefined ? {} : { holdOutGroups: settings.holdOut }),
        },
      );
    } catch (error) {
      if (error instanceof RangeError) throw new TrainingInputError(`split: ${error.message}`);
      throw error;
    }
    trainImages = split.train.map((i) => images[i]!);
    valImages = split.validation.map((i) => images[i]!);
  }
  if (trainImages.length === 0 || valImages.length === 0) {
    throw new TrainingInputError(
      `split: ${trainImages.length} training and ${valImages.length} validation images: both must be non-empty`,
    );
  }
  const trainCounts = splitCounts(trainImages, labelNames);
  const valCounts = splitCounts(valImages, labelNames);
  for (const label of labelNames) {
    if ((valCounts.positives[label] ?? 0) === 0) {
      throw new TrainingInputError(
        `split: label "${label}" has no positive validation image: no threshold can be chosen (more data, or another --seed / --val-split)`,
      );
    }
  }
  deps.log('info', 'train split', {
    method,
    train: trainCounts,
    validation: valCounts,
  });

  const train = matrices(trainImages, base.featureDim, outputs);
  const validation = matrices(valImages, base.featureDim, outputs);
  const history: (EpochReport & { readonly phase?: 'fine-tune' })[] = [];
  let head: TrainedHead;
  try {
    head = await trainHead({
      features: train.features,
      labels: train.labels,
      validation,
      featureDim: base.featureDim,
      labelNames,
      activation: settings.activation,
      epochs: settings.epochs,
      batchSize: settings.batchSize,
      learningRate: settings.learningRate,
      loss: settings.loss,
      focalGamma: settings.focalGamma,
      classWeights: settings.classWeights,
      oversample: settings.oversample,
      seed: settings.seed,
      ...(settings.patience === undefined ? {} : { patience: settings.patience }),
      thresholdSensitivity: settings.targetSensitivity,
      onEpoch: (report) => {
        history.push(report);
        emit({ kind: 'epoch', epoch: { ...report, epochs: settings.epochs } });
      },
    });
  } catch (error) {
    // The trainer refuses data it cannot train on (a label with one class, ...) with a RangeError.
    if (error instanceof RangeError) throw new TrainingInputError(`train: ${error.message}`);
    throw error;
  }
  const headBest = head.history[head.bestEpoch - 1];
  // The optional fine-tuning phase; the chosen model (head only, or a fine-tuning epoch) is the
  // one whose validation scores give the thresholds, the metrics and the drift reference.
  const fineTuneEpochs = settings.fineTuneEpochs ?? 0;
  const fineTuneLearningRate = settings.fineTuneLearningRate ?? settings.learningRate / 10;
  let chosen: TrainedHead = head;
  let best = headBest;
  let fineTune: TrainSummary['fineTune'];
  if (fineTuneEpochs > 0) {
    const result = await runFineTunePhase({
      settings: {
        imagesUri: settings.imagesUri,
        epochs: fineTuneEpochs,
        learningRate: fineTuneLearningRate,
        batchSize: settings.batchSize,
        loss: settings.loss,
        focalGamma: settings.focalGamma,
        classWeights: settings.classWeights === 'none' ? undefined : head.classWeights,
        oversample: settings.oversample,
        seed: settings.seed,
        activation: settings.activation,
        labelNames,
        targetSensitivity: settings.targetSensitivity,
      },
      base,
      head: head.weights,
      headScore: { meanAuroc: headBest?.meanAuroc ?? null, valLoss: headBest?.valLoss ?? Infinity },
      trainImages,
      valImages,
      train,
      validation,
      config: deps.config,
      log: deps.log,
      onEpoch: (report) => {
        history.push({ ...report, phase: 'fine-tune' });
        emit({ kind: 'epoch', epoch: { ...report, epochs: fineTuneEpochs, phase: 'fine-tune' } });
      },
    });
    if (result.bestEpoch > 0 && result.validationScores !== undefined) {
      chosen = { ...head, weights: result.head, validationScores: result.validationScores };
      best = result.history[result.bestEpoch - 1];
    }
    fineTune = {
      epochs: fineTuneEpochs,
      learningRate: fineTuneLearningRate,
      backend: result.backend,
      bestEpoch: result.bestEpoch,
      chosen: result.bestEpoch > 0 ? 'fine-tune' : 'head',
      headMeanAuroc: headBest?.meanAuroc ?? null,
    };
    deps.log('info', 'train fine-tune finished', { ...fineTune });
  }
  const thresholdList = thresholdsAtSensitivity(
    chosen.validationScores,
    validation.labels,
    outputs,
    settings.targetSensitivity,
  );
  const thresholds = Object.fromEntries(labelNames.map((l, i) => [l, thresholdList[i]!]));
  const validationMetrics: ValidationMetrics = {
    meanAuroc: best?.meanAuroc ?? null,
    perLabel: Object.fromEntries(
      labelNames.map((l) => [
        l,
        {
          auroc: best?.perLabel[l]?.auroc ?? null,
          sensitivity: best?.perLabel[l]?.sensitivity ?? null,
          specificity: best?.perLabel[l]?.specificity ?? null,
        },
      ]),
    ),
  };
  const dataHash = dataHashOf(val === undefined ? [data] : [data, val], images);
  const runId = newRunId(startedAt);
  const id = settings.id ?? `${base.bundle.manifest.id}-trained`;
  const version = settings.version ?? runId.replace(/^run-/, 'train-');
  const written = await writeTrainedBundles({
    outDir: settings.outDir,
    base,
    head: chosen,
    activation: settings.activation,
    labelNames,
    thresholds,
    id,
    version,
    runId,
    date: now(),
    validationImages: valImages,
    validationMetrics,
    provenance: {
      trainingData: `cxr train: ${trainCounts.images} training + ${valCounts.images} validation images (${method} split) from ${(val === undefined ? [data] : [data, val]).map((f) => path.basename(f.path)).join(' + ')}, ${dataHash}`,
      dataHash,
      dataFiles: (val === undefined ? [data] : [data, val]).map((f) => path.basename(f.path)),
      seed: settings.seed,
      settings: {
        images: sourceKindOf(settings.imagesUri),
        valSplit:
          method === 'patient' || method === 'hold-out'
            ? (settings.valSplit ?? (method === 'hold-out' ? 0 : 0.2))
            : null,
        groupBy: settings.groupBy ?? null,
        holdOut: settings.holdOut ?? null,
        epochs: settings.epochs,
        batchSize: settings.batchSize,
        learningRate: settings.learningRate,
        loss: settings.loss,
        focalGamma: settings.focalGamma,
        classWeights: settings.classWeights,
        classWeightsUsed: head.classWeights,
        oversample: settings.oversample,
        patience: settings.patience ?? null,
        targetSensitivity: settings.targetSensitivity,
        activation: settings.activation,
        trainingBackend: head.backend,
        fineTuneEpochs,
        fineTuneLearningRate: fineTuneEpochs > 0 ? fineTuneLearningRate : null,
        fineTuneLayers: fineTuneEpochs > 0 ? 'conv5_*, bn, head (BatchNorm in inference mode)' : null,
        fineTuneBackend: fineTune?.backend ?? null,
      },
      ...(fineTune === undefined
        ? {}
        : { fineTune: { bestEpoch: fineTune.bestEpoch, chosen: fineTune.chosen, epochs: fineTune.epochs } }),
      base: { id: base.bundle.manifest.id, version: base.bundle.manifest.version, featuresKey: base.key },
      bestEpoch: head.bestEpoch,
      epochsRun: head.history.length,
      split: { method, train: trainCounts, validation: valCounts },
    },
  });
  const summary: TrainSummary = {
    outDir: settings.outDir,
    onnxBundle: written.onnxDir,
    tfjsBundle: written.tfjsDir,
    model: { id, version },
    labels: labelNames,
    activation: settings.activation,
    data: {
      ...counts,
      labelRows: { data: data.rows.length, ...(val === undefined ? {} : { val: val.rows.length }) },
    },
    featureCache: { dir: cacheDir, key: base.key, ...cache.stats },
    split: {
      method,
      train: trainCounts,
      validation: valCounts,
      ...(patientsInBoth === undefined ? {} : { patientsInBoth }),
    },
    bestEpoch: head.bestEpoch,
    epochsRun: head.history.length,
    ...(fineTune === undefined ? {} : { fineTune }),
    validation: validationMetrics,
    thresholds,
    dataHash,
  };
  await written.writeReport({ ...summary, history });
  base.classifier.dispose();
  return summary;
}
