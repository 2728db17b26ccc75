/**
 * Feature extraction for `cxr train`: every listed object is fetched and its header read (Patient
 * ID for the split, SOP Instance UID for `sop_instance_uid` keys, technical tags for the drift
 * reference); objects with a label row get their base features from the cache, or are decoded and
 * preprocessed in the decode pool exactly as the screening worker does (same DecodePool, same
 * manifest input) and run through the base on the runtime in batches. Decoding of one chunk
 * overlaps inference of the previous one (the pool and the runtime have their own threads).
 *
 * The Patient ID is hashed on the spot (salted when CXR_PATIENT_ID_SALT is set) and the hash stays
 * in memory: nothing about a patient is cached, logged or written.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { errorSummary, type Logger } from '@cxr/config/log';
import { isDicomRejectedError, readDicomInfo, type DicomImageInfo } from '@cxr/dicom';
import { applicabilityProblem, DecodePool, packBatch } from '@cxr/imaging';
import type { ManifestAccept, ManifestInput, ModelRuntime } from '@cxr/model';
import type { FeatureCache } from '@cxr/model/train';
import { hashPatientId } from '@cxr/store';
import type { ObjectEntry } from '@cxr/storage';
import { TrainingInputError } from './errors.js';
import { baseName, fileKeyMatcher, UnmatchedKeyCollector, type UnmatchedKeys } from '@cxr/evaluation/keys';
import type { LabelRow, LabelsFile } from './labels.js';
import type { ExtractionProgress } from './events.js';

/** Which labels file an image's row came from. */
export type LabelSource = 'data' | 'val';

/** What the drift reference needs of one image (no pixels, no patient data). */
export interface DriftFacts {
  readonly imageMean: number;
  readonly imageStd: number;
  readonly bitsStored: number;
  readonly rows: number;
  readonly columns: number;
  readonly manufacturer: string | undefined;
  readonly modality: string | undefined;
  readonly viewPosition: string | undefined;
  readonly photometricInterpretation: string;
  readonly transferSyntaxUid: string;
}

/** One labelled image with its base features. */
export interface TrainingImage {
  /** uri + version: the feature cache key and a data-hash input. */
  readonly objectKey: string;
  /** The object's URI in the --images source (re-read by the fine-tuning phase). */
  readonly uri: string;
  readonly source: LabelSource;
  readonly row: LabelRow;
  /** Hash of the Patient ID (in memory only), or a per-object key when the file has none. */
  readonly patientKey: string;
  readonly features: Float32Array;
  readonly drift: DriftFacts;
}

export interface ExtractionCounts {
  /** Objects the source listed. */
  readonly listed: number;
  /** Labelled images used (matched to a row of either file, decoded or cached). */
  readonly matched: number;
  /** Listed objects without a label row (not used). */
  readonly withoutLabelRow: number;
  /** Label rows no listed object matched, per file. */
  readonly rowsWithoutImage: Readonly<Partial<Record<LabelSource, number>>>;
  /** Objects with a label row that could not be used, by reject reason (not DICOM, no pixel data, ...). */
  readonly rejected: Readonly<Record<string, number>>;
  /** Objects that could not be fetched. */
  readonly fetchFailed: number;
  /** Matched images without a Patient ID: each is its own patient in the split. */
  readonly withoutPatientId: number;
  /** Feature vectors read from the cache / computed by the base. */
  readonly cached: number;
  readonly computed: number;
  readonly seconds: number;
}

export interface ExtractOptions {
  readonly entries: readonly ObjectEntry[];
  readonly fetch: (uri: string) => Promise<Uint8Array>;
  readonly labels: { readonly data: LabelsFile; readonly val?: LabelsFile | undefined };
  readonly pool: DecodePool;
  readonly runtime: ModelRuntime;
  /** The features bundle's manifest input (the base manifest's, in the exported graph's layout). */
  readonly input: ManifestInput;
  /**
   * The base bundle's applicability rules (acceptRulesOf): an image they refuse counts as rejected
   * `not_applicable`, cached features or not, as screening with the trained bundle would refuse it.
   */
  readonly accept: ManifestAccept;
  readonly featureDim: number;
  readonly cache: FeatureCache;
  /** Image statistics per object (float64 mean, std, bits stored), keyed like `cache`. */
  readonly statsCache: FeatureCache;
  /** CXR_PATIENT_ID_SALT, or undefined for an unsalted sha256. */
  readonly patientIdSalt: string | undefined;
  /** Images per runtime batch. */
  readonly batchSize: number;
  readonly progress?: (progress: ExtractionProgress) => void;
  readonly log: Logger;
}

/** The feature cache key of a listed object: its URI and version (ETag, else size and mtime). */
export function objectKeyOf(entry: ObjectEntry): string {
  const version =
    entry.etag !== undefined
      ? `etag:${entry.etag}`
      : `size:${entry.size ?? '?'}:mtime:${entry.lastModified?.getTime() ?? '?'}`;
  return `${entry.uri}\n${version}`;
}

/** A per-process patient key: HMAC with the salt, or sha256 of the normalised ID without one. */
export function patientKeyOf(patientId: string | undefined, salt: string | undefined): string | undefined {
  const normalized = patientId?.replace(/\0+$/, '').trim() ?? '';
  if (normalized === '') return undefined;
  if (salt !== undefined) return hashPatientId(normalized, salt);
  return createHash('sha256').update(normalized, 'utf8').digest('hex');
}

interface RowIndex {
  readonly source: LabelSource;
  readonly file: LabelsFile;
  /** The row of an object, by the file's key column. */
  readonly find: (entry: ObjectEntry, info: DicomImageInfo | undefined) => LabelRow | undefined;
  readonly used: Set<LabelRow>;
}

function indexRows(source: LabelSource, file: LabelsFile): RowIndex {
  const byKey = new Map(file.rows.map((row) => [row.key, row]));
  let find: RowIndex['find'];
  switch (file.keyColumn) {
    case 'sop_instance_uid':
      find = (_entry, info) => {
        const uid = info?.uids.sopInstanceUid;
        return uid === undefined ? undefined : byKey.get(uid);
      };
      break;
    case 'uri':
      find = (entry) => byKey.get(entry.uri);
      break;
    case 'file': {
      // The base name, with or without an image extension (@cxr/evaluation/keys, shared with cxr evaluate).
      const match = fileKeyMatcher(file.rows.map((row) => row.key));
      find = (entry) => {
        const i = match(entry.uri);
        return i === undefined ? undefined : file.rows[i];
      };
      break;
    }
  }
  return { source, file, find, used: new Set() };
}

/** The key an object is looked up by in `file`, as the unmatched-keys line shows it. */
function objectKeyIn(file: LabelsFile, entry: ObjectEntry, info: DicomImageInfo | undefined): string {
  switch (file.keyColumn) {
    case 'sop_instance_uid':
      return info?.uids.sopInstanceUid ?? '(no SOP Instance UID)';
    case 'uri':
      return entry.uri;
    case 'file':
      return baseName(entry.uri);
  }
}

/**
 * The keys behind withoutLabelRow and rowsWithoutImage (the first few, in listing and file order),
 * for stderr only: they may be URIs, so they stay out of the summary and the report.
 */
export interface UnmatchedTrainingKeys {
  /** Listed objects without a row, keyed as the --data file's key column would look them up. */
  readonly objects: UnmatchedKeys;
  readonly rows: Readonly<Partial<Record<LabelSource, UnmatchedKeys>>>;
}

type Prepared =
  | { readonly kind: 'skip' }
  | { readonly kind: 'ready'; readonly image: TrainingImage }
  | {
      readonly kind: 'infer';
      readonly tensor: Float32Array;
      readonly image: Omit<TrainingImage, 'features'>;
    };

function statsToCache(facts: Pick<DriftFacts, 'imageMean' | 'imageStd' | 'bitsStored'>): Float32Array {
  return new Float32Array(new Float64Array([facts.imageMean, facts.imageStd, facts.bitsStored]).buffer);
}

function statsFromCache(cached: Float32Array): [number, number, number] | undefined {
  if (cached.byteLength !== 24) return undefined;
  const values = new Float64Array(cached.buffer, cached.byteOffset, 3);
  return [values[0]!, values[1]!, values[2]!];
}

/** Extracts (or reads from the cache) the base features of every labelled object. */
export async function extractTrainingFeatures(
  options: ExtractOptions,
): Promise<{ images: TrainingImage[]; counts: ExtractionCounts; unmatched: UnmatchedTrainingKeys }> {
  const started = performance.now();
  const indexes = [indexRows('data', options.labels.data)];
  if (options.labels.val !== undefined) indexes.push(indexRows('val', options.labels.val));
  const images: TrainingImage[] = [];
  const rejected: Record<string, number> = {};
  let done = 0;
  let matched = 0;
  const unmatchedObjects = new UnmatchedKeyCollector();
  let fetchFailed = 0;
  let withoutPatientId = 0;
  let cached = 0;
  let computed = 0;
  const skipped = (): number =>
    unmatchedObjects.count + fetchFailed + Object.values(rejected).reduce((a, b) => a + b, 0);
  const report = (): void =>
    options.progress?.({ done, total: options.entries.length, cached, computed, skipped: skipped() });
  const reject = (reason: string): void => {
    rejected[reason] = (rejected[reason] ?? 0) + 1;
  };

  const prepare = async (entry: ObjectEntry, listed: number): Promise<Prepared> => {
    let bytes: Uint8Array;
    try {
      bytes = await options.fetch(entry.uri);
    } catch (error) {
      fetchFailed += 1;
      options.log('warn', 'train fetch failed', errorSummary(error));
      return { kind: 'skip' };
    }
    // uri and file keys match without the header; sop_instance_uid keys need it.
    let info: DicomImageInfo | undefined;
    let rejection: string | undefined;
    try {
      info = readDicomInfo(bytes);
    } catch (error) {
      if (!isDicomRejectedError(error)) throw error;
      rejection = error.reason;
    }
    const hits: { index: RowIndex; row: LabelRow }[] = [];
    for (const index of indexes) {
      const row = index.find(entry, info);
      if (row !== undefined) hits.push({ index, row });
    }
    const hit = hits[0];
    if (hit === undefined) {
      unmatchedObjects.add(objectKeyIn(options.labels.data, entry, info), listed);
      return { kind: 'skip' };
    }
    if (hits.length > 1) {
      throw new TrainingInputError(
        `an image matches line ${hits[0]!.row.line} of --data and line ${hits[1]!.row.line} of --val: a validation image must not be a training image`,
      );
    }
    if (hit.index.used.has(hit.row)) {
      throw new TrainingInputError(
        `${hit.index.file.path}: line ${hit.row.line}: ${hit.index.file.keyColumn} matches more than one object (use a uri or sop_instance_uid key)`,
      );
    }
    // The row has its image (rowsWithoutImage does not count it), even if the image is unusable.
    hit.index.used.add(hit.row);
    if (info === undefined) {
      reject(rejection ?? 'unknown');
      return { kind: 'skip' };
    }
    if (applicabilityProblem(info, options.accept) !== undefined) {
      reject('not_applicable');
      return { kind: 'skip' };
    }
    matched += 1;
    const objectKey = objectKeyOf(entry);
    const hashed = patientKeyOf(info.patientId, options.patientIdSalt);
    const noPatientId = hashed === undefined;
    if (noPatientId) withoutPatientId += 1;
    const patientKey = hashed ?? `object:${createHash('sha256').update(objectKey).digest('hex')}`;
    const tags = {
      rows: info.pixel.rows,
      columns: info.pixel.columns,
      manufacturer: info.technical.manufacturer,
      modality: info.technical.modality,
      viewPosition: info.technical.viewPosition,
      photometricInterpretation: info.pixel.photometricInterpretation,
      transferSyntaxUid: info.transferSyntaxUid,
    };
    const identity = { objectKey, uri: entry.uri, source: hit.index.source, row: hit.row, patientKey };
    const features = await options.cache.get(objectKey);
    const stats = features === undefined ? undefined : await options.statsCache.get(objectKey);
    const statValues = stats === undefined ? undefined : statsFromCache(stats);
    if (features !== undefined && features.length === options.featureDim && statValues !== undefined) {
      cached += 1;
      const [imageMean, imageStd, bitsStored] = statValues;
      return {
        kind: 'ready',
        image: { ...identity, features, drift: { ...tags, imageMean, imageStd, bitsStored } },
      };
    }
    try {
      const decoded = await options.pool.decode(bytes, {
        output: { model: options.input, accept: options.accept },
      });
      const f = decoded.features;
      if (f === undefined) throw new Error('decode pool returned no image features for a model output');
      return {
        kind: 'infer',
        tensor: decoded.pixels,
        image: {
          ...identity,
          drift: { ...tags, imageMean: f.imageMean, imageStd: f.imageStd, bitsStored: f.bitsStored },
        },
      };
    } catch (error) {
      if (!isDicomRejectedError(error)) throw error;
      matched -= 1;
      if (noPatientId) withoutPatientId -= 1;
      reject(error.reason);
      return { kind: 'skip' };
    }
  };

  const infer = async (pending: Extract<Prepared, { kind: 'infer' }>[]): Promise<void> => {
    for (let start = 0; start < pending.length; start += options.batchSize) {
      const batch = pending.slice(start, start + options.batchSize);
      const output = await options.runtime.predict(
        packBatch(
          batch.map((p) => p.tensor),
          options.input,
        ),
        batch.length,
      );
      for (const [i, p] of batch.entries()) {
        const features = output.slice(i * options.featureDim, (i + 1) * options.featureDim);
        await options.statsCache.put(p.image.objectKey, statsToCache(p.image.drift));
        await options.cache.put(p.image.objectKey, features);
        images.push({ ...p.image, features });
        computed += 1;
      }
      report();
    }
  };

  // Chunks of two batches: while the runtime runs chunk k, the pool decodes chunk k + 1.
  const chunkSize = Math.max(2 * options.batchSize, 2 * options.pool.threads);
  // Settles with the inference error instead of rejecting, so a failure while the next chunk
  // decodes is never an unhandled rejection; it is rethrown at the next await.
  let inflight: Promise<{ error: unknown } | undefined> = Promise.resolve(undefined);
  for (let start = 0; start < options.entries.length; start += chunkSize) {
    const chunk = options.entries.slice(start, start + chunkSize);
    const prepared = await Promise.all(chunk.map((entry, i) => prepare(entry, start + i)));
    done += chunk.length;
    for (const p of prepared) if (p.kind === 'ready') images.push(p.image);
    const previous = await inflight;
    if (previous !== undefined) throw previous.error;
    const pending = prepared.filter((p): p is Extract<Prepared, { kind: 'infer' }> => p.kind === 'infer');
    inflight = infer(pending).then(
      () => undefined,
      (error: unknown) => ({ error }),
    );
    report();
  }
  const last = await inflight;
  if (last !== undefined) throw last.error;
  // Listing order (not completion order): the same data gives the same training order.
  images.sort((a, b) => (a.objectKey < b.objectKey ? -1 : a.objectKey > b.objectKey ? 1 : 0));
  const rowsWithoutImage: Partial<Record<LabelSource, number>> = {};
  const unmatchedRows: Partial<Record<LabelSource, UnmatchedKeys>> = {};
  for (const index of indexes) {
    const rows = new UnmatchedKeyCollector();
    for (const row of index.file.rows) if (!index.used.has(row)) rows.add(row.key);
    unmatchedRows[index.source] = rows.result();
    rowsWithoutImage[index.source] = rows.count;
  }
  return {
    images,
    unmatched: { objects: unmatchedObjects.result(), rows: unmatchedRows },
    counts: {
      listed: options.entries.length,
      matched,
      withoutLabelRow: unmatchedObjects.count,
      rowsWithoutImage,
      rejected,
      fetchFailed,
      withoutPatientId,
      cached,
      computed,
      seconds: (performance.now() - started) / 1000,
    },
  };
}
