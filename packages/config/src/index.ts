/**
 * Typed configuration: the one module that reads `process.env`. Every setting has a name, a
 * default, a parser that fails with a message naming the variable, and a line in the README's
 * configuration table.
 */
import { isIP } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export class ConfigError extends Error {
  override readonly name: string = 'ConfigError';
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
/** How long commands show progress: `auto` = a redrawn line on a terminal, JSON lines otherwise; `json` = always JSON lines. */
export type LogFormat = 'auto' | 'json';
const LOG_FORMATS: readonly LogFormat[] = ['auto', 'json'];

export interface DecodeConfig {
  /** Worker threads decoding DICOM (CXR_DECODE_THREADS; default: one per core). */
  readonly threads: number;
  /** CXR_MAX_OBJECT_BYTES: larger objects are rejected (`object_too_large`) from their size, unread. */
  readonly maxObjectBytes: number;
  /** CXR_MAX_IMAGE_PIXELS: images with more Rows x Columns are rejected (`image_too_large`) before decoding. */
  readonly maxImagePixels: number;
  /**
   * CXR_SHARP_CACHE: keep libvips' operation cache in the decode threads (sharp's default, up to
   * 50 MB per process). Default off: the worker resizes each image once, so nothing is reused.
   */
  readonly sharpCache: boolean;
}

/**
 * Default CXR_MAX_OBJECT_BYTES: 256 MiB, several times the largest real CR/DX (a 4800 x 6000 16-bit
 * mammography CR is 58 MB uncompressed). The worker holds at most about two such objects per
 * decode thread, so this times CXR_DECODE_THREADS bounds its input memory.
 */
export const DEFAULT_MAX_OBJECT_BYTES = 256 * 1024 * 1024;

/** Default CXR_MAX_IMAGE_PIXELS, as @cxr/dicom's DEFAULT_MAX_IMAGE_PIXELS (8192 x 8192; a test keeps them equal). */
export const DEFAULT_MAX_IMAGE_PIXELS = 8192 * 8192;

/** sharp's own input limit (16383 x 16383): above it the resize fails with an error that is no reject reason. */
const SHARP_PIXEL_LIMIT = 16383 * 16383;

/** Runtime names as `@cxr/model` defines them (a test keeps the two lists equal). */
export const RUNTIME_CHOICES = ['auto', 'onnx', 'tfjs-node-gpu', 'tfjs-node', 'tfjs-wasm', 'null'] as const;
export type RuntimeChoice = (typeof RUNTIME_CHOICES)[number];
export const ONNX_EXECUTION_PROVIDERS = ['tensorrt', 'cuda', 'cpu'] as const;
export type OnnxExecutionProvider = (typeof ONNX_EXECUTION_PROVIDERS)[number];

export interface RuntimeConfig {
  /** CXR_RUNTIME: which inference runtime; `auto` picks the fastest that loads the bundle. */
  readonly runtime: RuntimeChoice;
  /** CXR_RUNTIME_THREADS: compute threads of the runtime (default: one per core). */
  readonly threads: number;
  /** CXR_ONNX_EXECUTION_PROVIDERS: tried in order, cpu always last (e.g. `tensorrt,cuda,cpu`). */
  readonly onnxExecutionProviders: readonly OnnxExecutionProvider[];
  /** CXR_ONNX_ALLOW_SPINNING: let idle onnxruntime intra-op threads spin-wait (default on, onnxruntime's default). */
  readonly onnxAllowSpinning: boolean;
  /** CXR_NULL_RUNTIME_LATENCY_MS: latency of one batch of the `null` runtime (benchmarks and tests only; default 1). */
  readonly nullLatencyMs: number;
  /** CXR_ONNX_MEM_ARENA: onnxruntime's CPU memory arena (enableCpuMemArena); default on (docs/benchmarks.md#memory). */
  readonly onnxMemArena: boolean;
  /** CXR_ONNX_MEM_PATTERN: onnxruntime's memory pattern planning (enableMemPattern); default on. */
  readonly onnxMemPattern: boolean;
  /** CXR_ONNX_CPU_RUN_BATCH: images per onnxruntime run on the CPU provider (default 2; 0 = the whole batch). */
  readonly onnxCpuRunBatch: number;
}

export interface StoreConfig {
  /** CXR_STORE_URL: `sqlite:PATH`, `sqlite::memory:` or `postgres://...`. */
  readonly url: string;
  /** CXR_PATIENT_ID_SALT: secret for the salted Patient ID hash; unset = no hash is stored. */
  readonly patientIdSalt: string | undefined;
}

export interface QueueConfig {
  /** CXR_REDIS_URL: the BullMQ connection (`redis://` or `rediss://`). */
  readonly redisUrl: string;
  /** CXR_REDIS_CONNECT_TIMEOUT_SECONDS: how long `cxr screen` / `cxr ingest` wait for Redis at start. */
  readonly connectTimeoutSeconds: number;
  /** CXR_MAX_BATCH: images per inference batch at most. */
  readonly maxBatch: number;
  /** CXR_MAX_DELAY_MS: how long a partial batch waits for more images. */
  readonly maxDelayMs: number;
  /**
   * CXR_WORKER_CONCURRENCY: screen jobs active at once in one worker (fetching, decoding or
   * waiting for a batch); unset = @cxr/queue's 2 x maxBatch.
   */
  readonly workerConcurrency: number | undefined;
  /** CXR_INGEST_HIGH_WATER: ingest pauses listing while more objects than this are waiting. */
  readonly ingestHighWater: number;
  /**
   * CXR_OBJECTS_PER_JOB: objects per screen job the ingest enqueues (1..256; default 1, one job per
   * object). Above 1 the worker screens a job's objects together, each with its own outcome,
   * result message and retries; the worker takes ceil(2 x CXR_MAX_BATCH / this) + 1 jobs at once.
   */
  readonly objectsPerJob: number;
  /** CXR_QUEUE_PREFIX: Redis key prefix of the queues (several pipelines on one Redis); unset = BullMQ's `bull`. */
  readonly prefix: string | undefined;
  /**
   * CXR_SCREEN_RETRY_SECONDS: how long a screen job's transient faults (a source outage, network
   * errors) are retried before the object ends as failed (ingest); unset = @cxr/queue's (600 s).
   */
  readonly screenRetrySeconds: number | undefined;
  /** CXR_SCREEN_ATTEMPTS: tries per screen job, the first included (ingest); overrides CXR_SCREEN_RETRY_SECONDS. */
  readonly screenAttempts: number | undefined;
  /** CXR_SCREEN_BACKOFF_MS: first retry delay of a screen job, doubled per retry up to 60 s (ingest); unset = @cxr/queue's. */
  readonly screenBackoffMs: number | undefined;
  /** CXR_LOCK_DURATION_MS: the screen worker's job lock (tests, tuning); unset = @cxr/queue's workerLockOptions. */
  readonly lockDurationMs: number | undefined;
  /** CXR_STALLED_INTERVAL_MS: how often the screen worker looks for stalled jobs (tests, tuning); unset = @cxr/queue's. */
  readonly stalledIntervalMs: number | undefined;
}

export interface IngestServiceConfig {
  /** CXR_INGEST_SOURCES: comma-separated source URIs the ingest service lists on every pass. */
  readonly sources: readonly string[];
  /** CXR_INGEST_INTERVAL_SECONDS: pause between two passes of the ingest service. */
  readonly intervalSeconds: number;
  /** CXR_INGEST_RUN_ID: run id of the ingest service's jobs; unset = `ingest-YYYY-MM-DD` (UTC day of the pass). */
  readonly runId: string | undefined;
}

export interface ApiConfig {
  /** CXR_API_TOKEN: bearer token required by `POST /v1/predict` (and the queue dashboard); unset = no auth (on loopback only, see allowNoAuth). */
  readonly token: string | undefined;
  /**
   * CXR_ALLOW_NO_AUTH=1: lets the results service listen on a non-loopback address without a
   * token (otherwise it refuses to start).
   */
  readonly allowNoAuth: boolean;
  /**
   * CXR_UPLOAD_URL: where `/v1/predict` parks uploads for the worker (`file:///dir` both can reach,
   * or `s3://bucket/prefix`); never Redis, whose persistence files would keep them.
   */
  readonly uploadUrl: string;
  /** CXR_PREDICT_MAX_BYTES: largest accepted upload (a 3000 x 3000 16-bit DX is ~18 MB uncompressed). */
  readonly predictMaxBytes: number;
  /** CXR_PREDICT_TIMEOUT_MS: how long `/v1/predict` waits for its result before answering 504. */
  readonly predictTimeoutMs: number;
}

export interface HttpConfig {
  /** CXR_HTTP_HOST: listen address of every service's HTTP server (containers set 0.0.0.0). */
  readonly host: string;
  /** CXR_HTTP_HEADERS_TIMEOUT_MS: a client must send its request line and headers within this. */
  readonly headersTimeoutMs: number;
  /** CXR_HTTP_REQUEST_TIMEOUT_MS: a client must send its whole request (body included) within this. */
  readonly requestTimeoutMs: number;
  /** CXR_HTTP_KEEP_ALIVE_TIMEOUT_MS: an idle kept-alive connection is closed after this. */
  readonly keepAliveTimeoutMs: number;
}

export interface DriftConfig {
  /** CXR_DRIFT_WINDOW_COUNT: the drift window holds at most this many recent ok results. */
  readonly windowCount: number;
  /** CXR_DRIFT_WINDOW_SECONDS: results older than this leave the drift window; 0 = no age limit. */
  readonly windowSeconds: number;
  /** CXR_DRIFT_MIN_SAMPLES: no drift statistic is exported from fewer values than this. */
  readonly minSamples: number;
}

// DIMSE
/** Our side of DIMSE as a service user (the `dimse://` source and its retrieves). */
export interface DimseConfig {
  /** CXR_DIMSE_CALLING_AET: our AE title when we call a PACS (C-FIND, C-GET, C-MOVE); the PACS must know it. */
  readonly callingAeTitle: string;
  /** CXR_DIMSE_TIMEOUT_MS: connect, association and PDU timeout of a DIMSE association. */
  readonly timeoutMs: number;
  /** CXR_DIMSE_RETRIEVE: how workers fetch `dimse://` objects, `get` (C-GET) or `move` (C-MOVE to our SCP). */
  readonly retrieve: 'get' | 'move';
  /** CXR_DIMSE_MOVE_DESTINATION: the C-MOVE destination AE title (our SCP as the PACS knows it); default CXR_SCP_AE_TITLE, else CXR. */
  readonly moveDestination: string;
}

/** The C-STORE SCP (`cxr listen`, or the ingest service when CXR_SCP_AE_TITLE is set). */
export interface ScpConfig {
  /** CXR_SCP_AE_TITLE: the SCP's AE title; unset = the ingest service runs no SCP. */
  readonly aeTitle: string | undefined;
  /** CXR_SCP_HOST: listen address of the SCP (loopback by default, like CXR_HTTP_HOST). */
  readonly host: string;
  /** CXR_SCP_PORT: DICOM port of the SCP. */
  readonly port: number;
  /**
   * CXR_SCP_STORE_TO: where received instances are written before they are acknowledged
   * (`file:///dir` or `s3://bucket/prefix`); also where C-MOVE retrieves land for the workers.
   */
  readonly storeTo: string | undefined;
  /** CXR_SCP_ALLOWED_CALLING_AETS: comma-separated calling AE titles allowed to associate; empty = any. */
  readonly allowedCallingAeTitles: readonly string[];
}

/** An AE title: 1-16 characters, no backslash or control character (PS3.5 6.2); `name` is the variable. */
function checkAeTitle(name: string, raw: string): string {
  if (raw.length > 16 || !/^[\x20-\x5b\x5d-\x7e]+$/.test(raw)) {
    throw new ConfigError(`${name} must be AE titles of 1-16 characters without backslash, got "${raw}"`);
  }
  return raw;
}

function aeTitle(env: Env, name: string, fallback: string): string;
function aeTitle(env: Env, name: string, fallback: undefined): string | undefined;
function aeTitle(env: Env, name: string, fallback: string | undefined): string | undefined {
  const raw = env[name]?.trim();
  return raw === undefined || raw === '' ? fallback : checkAeTitle(name, raw);
}

function aeTitleList(env: Env, name: string): string[] {
  return (env[name] ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')
    .map((item) => checkAeTitle(name, item));
}

function dimseConfig(env: Env): { dimse: DimseConfig; scp: ScpConfig } {
  const scpAeTitle = aeTitle(env, 'CXR_SCP_AE_TITLE', undefined);
  const storeTo = env.CXR_SCP_STORE_TO?.trim();
  if (storeTo !== undefined && storeTo !== '' && !/^(file|s3):\/\//.test(storeTo)) {
    throw new ConfigError('CXR_SCP_STORE_TO must start with file:// or s3://');
  }
  const retrieve = oneOf(env, 'CXR_DIMSE_RETRIEVE', ['get', 'move'], 'get');
  if (retrieve === 'move' && (storeTo === undefined || storeTo === '')) {
    // The worker reads what the PACS moved from the SCP's storage: without it every fetch would fail.
    throw new ConfigError(
      'CXR_DIMSE_RETRIEVE=move needs CXR_SCP_STORE_TO (where the SCP writes moved instances)',
    );
  }
  return {
    dimse: {
      callingAeTitle: aeTitle(env, 'CXR_DIMSE_CALLING_AET', 'CXR'),
      timeoutMs: optionalIntIn(env, 'CXR_DIMSE_TIMEOUT_MS', 1000, 3_600_000) ?? 30_000,
      retrieve,
      moveDestination: aeTitle(env, 'CXR_DIMSE_MOVE_DESTINATION', scpAeTitle ?? 'CXR'),
    },
    scp: {
      aeTitle: scpAeTitle,
      host: listenHost(env, 'CXR_SCP_HOST', '127.0.0.1'),
      port: optionalIntIn(env, 'CXR_SCP_PORT', 0, 65535) ?? 11112,
      storeTo: storeTo === undefined || storeTo === '' ? undefined : storeTo,
      allowedCallingAeTitles: aeTitleList(env, 'CXR_SCP_ALLOWED_CALLING_AETS'),
    },
  };
}

// DICOMweb
/** DICOMweb sources (`dicomweb+http(s)://`): credentials, TLS trust, and politeness towards the PACS. */
export interface DicomwebConfig {
  /** CXR_DICOMWEB_TOKEN: bearer token sent to every DICOMweb PACS; never logged. */
  readonly token: string | undefined;
  /** CXR_DICOMWEB_USER / CXR_DICOMWEB_PASSWORD: HTTP Basic credentials instead of a token; never logged. */
  readonly user: string | undefined;
  readonly password: string | undefined;
  /** CXR_DICOMWEB_CA_FILE: PEM file of the CA(s) that sign the PACS's TLS certificate (read when a source opens). */
  readonly caFile: string | undefined;
  /** CXR_DICOMWEB_MAX_CONCURRENCY: requests in flight per PACS, all workers and ingests together. */
  readonly maxConcurrency: number;
  /** CXR_DICOMWEB_MAX_RPS: requests started per second per PACS, all processes together; 0 = no limit. */
  readonly maxRequestsPerSecond: number;
  /** CXR_DICOMWEB_PAGE_SIZE: QIDO-RS `limit` per query; a full answer is split into smaller windows. */
  readonly pageSize: number;
  /** CXR_DICOMWEB_TIMEOUT_MS: a request that receives nothing for this long fails as a timeout. */
  readonly timeoutMs: number;
  /** CXR_DICOMWEB_LIST_RETRY_SECONDS: how long a listing rides out an unreachable PACS before it fails. */
  readonly listRetrySeconds: number;
}

/** A header-safe credential (no whitespace or control characters); never echoed. */
function credential(env: Env, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f]/.test(raw))
    throw new ConfigError(`${name} must not contain whitespace or control characters`);
  return raw;
}

/** The DICOMweb block; credentials are a token or a user and password, never both. */
function dicomwebConfig(env: Env): DicomwebConfig {
  const token = credential(env, 'CXR_DICOMWEB_TOKEN');
  const user = credential(env, 'CXR_DICOMWEB_USER');
  const password = credential(env, 'CXR_DICOMWEB_PASSWORD');
  if ((user === undefined) !== (password === undefined)) {
    throw new ConfigError('CXR_DICOMWEB_USER and CXR_DICOMWEB_PASSWORD must be set together');
  }
  if (user?.includes(':') === true) throw new ConfigError('CXR_DICOMWEB_USER must not contain ":"');
  if (token !== undefined && user !== undefined) {
    throw new ConfigError('set CXR_DICOMWEB_TOKEN or CXR_DICOMWEB_USER/CXR_DICOMWEB_PASSWORD, not both');
  }
  const caFile = env.CXR_DICOMWEB_CA_FILE?.trim();
  return {
    token,
    user,
    password,
    caFile: caFile === undefined || caFile === '' ? undefined : caFile,
    maxConcurrency: optionalIntIn(env, 'CXR_DICOMWEB_MAX_CONCURRENCY', 1, 256) ?? 4,
    maxRequestsPerSecond: optionalIntIn(env, 'CXR_DICOMWEB_MAX_RPS', 0, 10_000) ?? 20,
    pageSize: optionalIntIn(env, 'CXR_DICOMWEB_PAGE_SIZE', 1, 100_000) ?? 1000,
    timeoutMs: optionalIntIn(env, 'CXR_DICOMWEB_TIMEOUT_MS', 1000, 3_600_000) ?? 30_000,
    listRetrySeconds: optionalIntIn(env, 'CXR_DICOMWEB_LIST_RETRY_SECONDS', 0, 7 * 24 * 3600) ?? 600,
  };
}

/** The placeholders of CXR_VIEWER_URL_TEMPLATE: DICOM keywords of the UIDs a result row holds. */
export const VIEWER_URL_PLACEHOLDERS = ['StudyInstanceUID', 'SeriesInstanceUID', 'SOPInstanceUID'] as const;
export type ViewerUrlPlaceholder = (typeof VIEWER_URL_PLACEHOLDERS)[number];

/** Largest CXR_WORKLIST_MAX_PAGE_SIZE, as @cxr/store's MAX_WORKLIST_LIMIT (a test keeps them equal). */
export const MAX_WORKLIST_PAGE_SIZE = 1000;

export interface WorklistConfig {
  /**
   * CXR_VIEWER_URL_TEMPLATE: the link to a study in the hospital's viewer, an http(s) URL with
   * {StudyInstanceUID}, {SeriesInstanceUID} and/or {SOPInstanceUID}; unset = no viewer links.
   */
  readonly viewerUrlTemplate: string | undefined;
  /** CXR_WORKLIST_PAGE_SIZE: rows per worklist page unless the request asks for another size. */
  readonly pageSize: number;
  /** CXR_WORKLIST_MAX_PAGE_SIZE: the largest page a request may ask for. */
  readonly maxPageSize: number;
  /** CXR_WORKLIST_THUMBNAIL_SIZE: longest side of a thumbnail in pixels. */
  readonly thumbnailSize: number;
  /** CXR_WORKLIST_THUMBNAIL_DIR: disk cache of rendered thumbnails (images of patients: keep it private). */
  readonly thumbnailDir: string;
  /** CXR_WORKLIST_THUMBNAIL_CACHE_BYTES: the cache's size bound; the least recently used go first. */
  readonly thumbnailCacheBytes: number;
  /** CXR_WORKLIST_THUMBNAIL_THREADS: decode threads rendering thumbnails (each renders one at a time). */
  readonly thumbnailThreads: number;
}

/** Delivery of findings (DICOM SR) to a PACS: the results service, `cxr screen --findings-to`, `cxr results send`. */
export interface FindingsConfig {
  /**
   * CXR_FINDINGS_TO: where the results service sends the SR of each ok result as it is stored,
   * `dicomweb+http(s)://HOST[:PORT]/ROOT` (STOW-RS) or `dimse://AET@HOST:PORT` (C-STORE); unset = none.
   */
  readonly to: string | undefined;
  /** CXR_FINDINGS_CONCURRENCY: deliveries in flight per process. */
  readonly concurrency: number;
  /** CXR_FINDINGS_BACKOFF_MS: first retry delay of a delivery that met a transient fault (doubled per retry). */
  readonly backoffMs: number;
  /** CXR_FINDINGS_BACKOFF_CAP_MS: longest delay between two attempts: a PACS back up is used within it. */
  readonly backoffCapMs: number;
  /** CXR_FINDINGS_WAIT_SECONDS: how long `cxr screen` and `cxr results send` wait for pending deliveries before they exit. */
  readonly waitSeconds: number;
}

/** A findings destination: scheme checked here, the whole URI when delivery starts (@cxr/results). */
function findingsDestination(env: Env, name: string): string | undefined {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return undefined;
  if (!/^(dicomweb\+https?:\/\/|dimse:\/\/)/i.test(raw)) {
    throw new ConfigError(`${name} must start with dicomweb+http://, dicomweb+https:// or dimse://`);
  }
  return raw;
}

function findingsConfig(env: Env): FindingsConfig {
  const backoffMs = optionalIntIn(env, 'CXR_FINDINGS_BACKOFF_MS', 0, 3_600_000) ?? 2000;
  const backoffCapMs = optionalIntIn(env, 'CXR_FINDINGS_BACKOFF_CAP_MS', 100, 24 * 3_600_000) ?? 60_000;
  return {
    to: findingsDestination(env, 'CXR_FINDINGS_TO'),
    concurrency: optionalIntIn(env, 'CXR_FINDINGS_CONCURRENCY', 1, 64) ?? 4,
    backoffMs,
    backoffCapMs,
    waitSeconds: optionalIntIn(env, 'CXR_FINDINGS_WAIT_SECONDS', 0, 7 * 24 * 3600) ?? 300,
  };
}

/**
 * The AWS variables the S3 client honours (endpoint, region, credentials, path style), passed
 * to @cxr/storage as an explicit object: that package never reads process.env itself.
 */
export const S3_ENV_VARIABLES = [
  'AWS_ENDPOINT_URL_S3',
  'AWS_ENDPOINT_URL',
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_MAX_ATTEMPTS',
  'AWS_S3_FORCE_PATH_STYLE',
] as const;

export interface AppConfig {
  readonly logLevel: LogLevel;
  /** CXR_LOG_FORMAT: progress of the long commands as a terminal line (`auto`, on a terminal) or JSON lines. */
  readonly logFormat: LogFormat;
  /** CXR_LOG_URIS=1: log lines carry an object's URI next to its hash (object names may hold patient data). */
  readonly logUris: boolean;
  /** CXR_HTTP_PORT: the service's HTTP port (/metrics, /healthz, /readyz; results: /v1/predict); 0 = any free port. */
  readonly httpPort: number;
  readonly http: HttpConfig;
  /** CXR_MODEL_DIR: the model bundle the worker serves (a `--model` option overrides it). */
  readonly modelDir: string | undefined;
  readonly decode: DecodeConfig;
  readonly runtime: RuntimeConfig;
  readonly store: StoreConfig;
  readonly queue: QueueConfig;
  readonly api: ApiConfig;
  readonly ingest: IngestServiceConfig;
  readonly drift: DriftConfig;
  readonly dimse: DimseConfig;
  readonly scp: ScpConfig;
  readonly dicomweb: DicomwebConfig;
  readonly worklist: WorklistConfig;
  readonly findings: FindingsConfig;
  readonly s3Env: Readonly<Partial<Record<(typeof S3_ENV_VARIABLES)[number], string>>>;
}

type Env = Readonly<Record<string, string | undefined>>;

function positiveInt(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    throw new ConfigError(`${name} must be a positive integer, got "${raw}"`);
  }
  return value;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const match = allowed.find((candidate) => candidate === raw.trim());
  if (match === undefined) {
    throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
  }
  return match;
}

function listOf<T extends string>(
  env: Env,
  name: string,
  allowed: readonly T[],
  fallback: readonly T[],
): T[] {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return [...fallback];
  return raw.split(',').map((item) => {
    const match = allowed.find((candidate) => candidate === item.trim());
    if (match === undefined) {
      throw new ConfigError(`${name} must be a comma-separated list of ${allowed.join(', ')}, got "${raw}"`);
    }
    return match;
  });
}

function nonNegativeInt(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new ConfigError(`${name} must be a non-negative integer, got "${raw}"`);
  }
  return value;
}

/** An optional integer in [min, max]; unset = undefined (the owning package's default applies). */
function optionalIntIn(env: Env, name: string, min: number, max: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

/** A URL-like setting with one of the given prefixes. The value is never echoed: it may hold a password. */
function urlWithScheme(env: Env, name: string, schemes: readonly string[], fallback: string): string {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  if (!schemes.some((scheme) => raw.startsWith(scheme))) {
    throw new ConfigError(`${name} must start with ${schemes.join(', ')}`);
  }
  return raw;
}

/** A secret: optional, at least `minLength` characters, never echoed. */
function optionalSecret(env: Env, name: string, minLength: number): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  if (raw.length < minLength) throw new ConfigError(`${name} must be at least ${minLength} characters`);
  return raw;
}

/**
 * A listen address: an IP literal (`127.0.0.1`, `0.0.0.0`, `::`) or a host name (`localhost`).
 * Loopback by default: a developer's service is not reachable from the network unless asked.
 */
function listenHost(env: Env, name: string, fallback: string): string {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  if (isIP(raw) === 0 && !/^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$/.test(raw)) {
    throw new ConfigError(`${name} must be an IP address or a host name, got "${raw}"`);
  }
  return raw;
}

/**
 * The HTTP server settings. Node enforces the headers timeout only within the request timeout,
 * so a headers timeout above it would be a setting that does nothing.
 */
function httpConfig(env: Env): HttpConfig {
  const headersTimeoutMs = positiveInt(env, 'CXR_HTTP_HEADERS_TIMEOUT_MS', 10_000);
  const requestTimeoutMs = positiveInt(env, 'CXR_HTTP_REQUEST_TIMEOUT_MS', 120_000);
  if (headersTimeoutMs > requestTimeoutMs) {
    throw new ConfigError(
      `CXR_HTTP_HEADERS_TIMEOUT_MS (${headersTimeoutMs}) must not exceed CXR_HTTP_REQUEST_TIMEOUT_MS (${requestTimeoutMs})`,
    );
  }
  return {
    host: listenHost(env, 'CXR_HTTP_HOST', '127.0.0.1'),
    headersTimeoutMs,
    requestTimeoutMs,
    keepAliveTimeoutMs: positiveInt(env, 'CXR_HTTP_KEEP_ALIVE_TIMEOUT_MS', 65_000),
  };
}

/** Default upload location: a folder in the temporary directory, shared by the processes of one machine. */
function defaultUploadUrl(): string {
  return pathToFileURL(join(tmpdir(), 'cxr-uploads')).href;
}

/** A Redis key prefix: optional; letters, digits, `-`, `_`, `.` and `:` only (it becomes part of every key). */
function queuePrefix(env: Env, name: string): string | undefined {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return undefined;
  if (!/^[A-Za-z0-9._:-]{1,64}$/.test(raw)) {
    throw new ConfigError(`${name} must be 1-64 characters of letters, digits, '.', '_', ':' or '-'`);
  }
  return raw;
}

/**
 * CXR_VIEWER_URL_TEMPLATE: an http(s) URL once its placeholders are filled, naming only known
 * placeholders and at least one (a link without one would open the same page for every row).
 */
function viewerUrlTemplate(env: Env, name: string): string | undefined {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return undefined;
  const names = [...raw.matchAll(/\{([^{}]*)\}/g)].map((match) => match[1] ?? '');
  const unknown = names.filter((n) => !(VIEWER_URL_PLACEHOLDERS as readonly string[]).includes(n));
  if (unknown.length > 0 || names.length === 0) {
    throw new ConfigError(
      `${name} must use the placeholders ${VIEWER_URL_PLACEHOLDERS.map((p) => `{${p}}`).join(', ')} (at least one, no others), got "${raw}"`,
    );
  }
  let url: URL;
  try {
    url = new URL(raw.replaceAll(/\{[^{}]*\}/g, '1.2.3'));
  } catch {
    throw new ConfigError(`${name} must be an http:// or https:// URL, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${name} must be an http:// or https:// URL, got "${raw}"`);
  }
  return raw;
}

/** The worklist settings; the default page size must not exceed the largest. */
function worklistConfig(env: Env): WorklistConfig {
  const maxPageSize = optionalIntIn(env, 'CXR_WORKLIST_MAX_PAGE_SIZE', 1, MAX_WORKLIST_PAGE_SIZE) ?? 200;
  const pageSize =
    optionalIntIn(env, 'CXR_WORKLIST_PAGE_SIZE', 1, MAX_WORKLIST_PAGE_SIZE) ?? Math.min(50, maxPageSize);
  if (pageSize > maxPageSize) {
    throw new ConfigError(
      `CXR_WORKLIST_PAGE_SIZE (${pageSize}) must not exceed CXR_WORKLIST_MAX_PAGE_SIZE (${maxPageSize})`,
    );
  }
  const dir = env.CXR_WORKLIST_THUMBNAIL_DIR?.trim();
  return {
    viewerUrlTemplate: viewerUrlTemplate(env, 'CXR_VIEWER_URL_TEMPLATE'),
    pageSize,
    maxPageSize,
    thumbnailSize: optionalIntIn(env, 'CXR_WORKLIST_THUMBNAIL_SIZE', 32, 1024) ?? 256,
    thumbnailDir: dir === undefined || dir === '' ? join(tmpdir(), 'cxr-thumbnails') : dir,
    // At least 1 MiB: below that a single large thumbnail would not fit.
    thumbnailCacheBytes:
      optionalIntIn(env, 'CXR_WORKLIST_THUMBNAIL_CACHE_BYTES', 1024 * 1024, Number.MAX_SAFE_INTEGER) ??
      256 * 1024 * 1024,
    thumbnailThreads: optionalIntIn(env, 'CXR_WORKLIST_THUMBNAIL_THREADS', 1, 64) ?? 1,
  };
}

/** Reads and validates the whole configuration; throws ConfigError naming the bad variable. */
export function loadConfig(env: Env = process.env): AppConfig {
  return {
    logLevel: oneOf(env, 'CXR_LOG_LEVEL', LOG_LEVELS, 'info'),
    logFormat: oneOf(env, 'CXR_LOG_FORMAT', LOG_FORMATS, 'auto'),
    logUris: oneOf(env, 'CXR_LOG_URIS', ['0', '1'], '0') === '1',
    httpPort: nonNegativeInt(env, 'CXR_HTTP_PORT', 8080),
    http: httpConfig(env),
    modelDir: env.CXR_MODEL_DIR?.trim() === '' ? undefined : env.CXR_MODEL_DIR,
    decode: {
      threads: positiveInt(env, 'CXR_DECODE_THREADS', availableParallelism()),
      // Up to 2 GiB: one object is read into one buffer, and node:fs reads at most 2 GiB per call.
      maxObjectBytes: optionalIntIn(env, 'CXR_MAX_OBJECT_BYTES', 1, 2 ** 31) ?? DEFAULT_MAX_OBJECT_BYTES,
      maxImagePixels:
        optionalIntIn(env, 'CXR_MAX_IMAGE_PIXELS', 1, SHARP_PIXEL_LIMIT) ?? DEFAULT_MAX_IMAGE_PIXELS,
      sharpCache: oneOf(env, 'CXR_SHARP_CACHE', ['0', '1'], '0') === '1',
    },
    runtime: {
      runtime: oneOf(env, 'CXR_RUNTIME', RUNTIME_CHOICES, 'auto'),
      threads: positiveInt(env, 'CXR_RUNTIME_THREADS', availableParallelism()),
      onnxExecutionProviders: listOf(env, 'CXR_ONNX_EXECUTION_PROVIDERS', ONNX_EXECUTION_PROVIDERS, ['cpu']),
      onnxAllowSpinning: oneOf(env, 'CXR_ONNX_ALLOW_SPINNING', ['0', '1'], '1') === '1',
      nullLatencyMs: nonNegativeInt(env, 'CXR_NULL_RUNTIME_LATENCY_MS', 1),
      // On (onnxruntime's defaults): off saves about 0.5 GB of peak RSS at batch 8 at 512 px but
      // made inference 1.5x slower here (docs/benchmarks.md#memory).
      onnxMemArena: oneOf(env, 'CXR_ONNX_MEM_ARENA', ['0', '1'], '1') === '1',
      onnxMemPattern: oneOf(env, 'CXR_ONNX_MEM_PATTERN', ['0', '1'], '1') === '1',
      // Runs of 2 on the CPU: the arena keeps 2 images' activations instead of a batch's, at the
      // same CPU time per image (docs/benchmarks.md#memory).
      onnxCpuRunBatch: nonNegativeInt(env, 'CXR_ONNX_CPU_RUN_BATCH', 2),
    },
    store: {
      url: urlWithScheme(
        env,
        'CXR_STORE_URL',
        ['sqlite:', 'postgres://', 'postgresql://'],
        'sqlite:./cxr-results.sqlite',
      ),
      patientIdSalt: optionalSecret(env, 'CXR_PATIENT_ID_SALT', 16),
    },
    queue: {
      redisUrl: urlWithScheme(env, 'CXR_REDIS_URL', ['redis://', 'rediss://'], 'redis://127.0.0.1:6379'),
      connectTimeoutSeconds: positiveInt(env, 'CXR_REDIS_CONNECT_TIMEOUT_SECONDS', 30),
      maxBatch: positiveInt(env, 'CXR_MAX_BATCH', 8),
      maxDelayMs: nonNegativeInt(env, 'CXR_MAX_DELAY_MS', 50),
      workerConcurrency: optionalIntIn(env, 'CXR_WORKER_CONCURRENCY', 1, 10_000),
      ingestHighWater: positiveInt(env, 'CXR_INGEST_HIGH_WATER', 100_000),
      objectsPerJob: optionalIntIn(env, 'CXR_OBJECTS_PER_JOB', 1, 256) ?? 1,
      prefix: queuePrefix(env, 'CXR_QUEUE_PREFIX'),
      screenRetrySeconds: optionalIntIn(env, 'CXR_SCREEN_RETRY_SECONDS', 0, 7 * 24 * 3600),
      screenAttempts: optionalIntIn(env, 'CXR_SCREEN_ATTEMPTS', 1, 1000),
      screenBackoffMs: optionalIntIn(env, 'CXR_SCREEN_BACKOFF_MS', 0, 3_600_000),
      // BullMQ renews locks every lockDuration / 2: below a second, a busy event loop loses them.
      lockDurationMs: optionalIntIn(env, 'CXR_LOCK_DURATION_MS', 1000, 3_600_000),
      stalledIntervalMs: optionalIntIn(env, 'CXR_STALLED_INTERVAL_MS', 1000, 3_600_000),
    },
    ingest: {
      sources: (env.CXR_INGEST_SOURCES ?? '')
        .split(',')
        .map((uri) => uri.trim())
        .filter((uri) => uri !== ''),
      intervalSeconds: positiveInt(env, 'CXR_INGEST_INTERVAL_SECONDS', 300),
      runId: env.CXR_INGEST_RUN_ID?.trim() === '' ? undefined : env.CXR_INGEST_RUN_ID?.trim(),
    },
    api: {
      token: optionalSecret(env, 'CXR_API_TOKEN', 16),
      allowNoAuth: oneOf(env, 'CXR_ALLOW_NO_AUTH', ['0', '1'], '0') === '1',
      uploadUrl: urlWithScheme(env, 'CXR_UPLOAD_URL', ['file://', 's3://'], defaultUploadUrl()),
      predictMaxBytes: positiveInt(env, 'CXR_PREDICT_MAX_BYTES', 64 * 1024 * 1024),
      predictTimeoutMs: positiveInt(env, 'CXR_PREDICT_TIMEOUT_MS', 60_000),
    },
    // Defaults as @cxr/metrics' DEFAULT_DRIFT_WINDOW_* (config depends on no package); the
    // window count is capped at its MAX_DRIFT_WINDOW_COUNT (the ring buffers are preallocated).
    drift: {
      windowCount: optionalIntIn(env, 'CXR_DRIFT_WINDOW_COUNT', 1, 100_000) ?? 1000,
      windowSeconds: optionalIntIn(env, 'CXR_DRIFT_WINDOW_SECONDS', 0, 365 * 24 * 3600) ?? 3600,
      minSamples: optionalIntIn(env, 'CXR_DRIFT_MIN_SAMPLES', 1, 100_000) ?? 200,
    },
    ...dimseConfig(env),
    dicomweb: dicomwebConfig(env),
    worklist: worklistConfig(env),
    findings: findingsConfig(env),
    s3Env: Object.fromEntries(
      S3_ENV_VARIABLES.flatMap((name) => (env[name] === undefined ? [] : [[name, env[name]]])),
    ),
  };
}
