import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './index.js';

describe('loadConfig', () => {
  it('uses defaults when nothing is set', () => {
    const config = loadConfig({});
    expect(config.logLevel).toBe('info');
    expect(config.decode.threads).toBeGreaterThanOrEqual(1);
  });

  it('reads explicit values', () => {
    expect(
      loadConfig({
        CXR_DECODE_THREADS: '3',
        CXR_LOG_LEVEL: 'debug',
        CXR_RUNTIME: 'onnx',
        CXR_RUNTIME_THREADS: '2',
        CXR_ONNX_EXECUTION_PROVIDERS: 'cuda, cpu',
        CXR_ONNX_ALLOW_SPINNING: '0',
      }),
    ).toMatchObject({
      logLevel: 'debug',
      decode: { threads: 3 },
      runtime: {
        runtime: 'onnx',
        threads: 2,
        onnxExecutionProviders: ['cuda', 'cpu'],
        onnxAllowSpinning: false,
      },
    });
    expect(loadConfig({}).runtime.onnxAllowSpinning).toBe(true);
    expect(() => loadConfig({ CXR_ONNX_ALLOW_SPINNING: 'yes' })).toThrow(
      /CXR_ONNX_ALLOW_SPINNING must be one of 0, 1/,
    );
  });

  it('reads the memory settings: onnx arena, memory pattern and CPU run batch, sharp cache, worker concurrency', () => {
    const defaults = loadConfig({});
    expect(defaults.runtime).toMatchObject({ onnxMemArena: true, onnxMemPattern: true, onnxCpuRunBatch: 2 });
    expect(defaults.decode.sharpCache).toBe(false);
    expect(defaults.queue.workerConcurrency).toBeUndefined();
    const set = loadConfig({
      CXR_ONNX_MEM_ARENA: '0',
      CXR_ONNX_MEM_PATTERN: '0',
      CXR_ONNX_CPU_RUN_BATCH: '0',
      CXR_SHARP_CACHE: '1',
      CXR_WORKER_CONCURRENCY: '4',
    });
    expect(set.runtime).toMatchObject({ onnxMemArena: false, onnxMemPattern: false, onnxCpuRunBatch: 0 });
    expect(() => loadConfig({ CXR_ONNX_CPU_RUN_BATCH: '-1' })).toThrow(/CXR_ONNX_CPU_RUN_BATCH/);
    expect(set.decode.sharpCache).toBe(true);
    expect(set.queue.workerConcurrency).toBe(4);
    expect(() => loadConfig({ CXR_ONNX_MEM_ARENA: 'off' })).toThrow(/CXR_ONNX_MEM_ARENA must be one of 0, 1/);
    expect(() => loadConfig({ CXR_WORKER_CONCURRENCY: '0' })).toThrow(/CXR_WORKER_CONCURRENCY/);
  });

  it('reads the object size and image pixel limits, defaulting to 256 MiB and 8192 x 8192', () => {
    expect(loadConfig({}).decode).toMatchObject({ maxObjectBytes: 268_435_456, maxImagePixels: 67_108_864 });
    expect(
      loadConfig({ CXR_MAX_OBJECT_BYTES: '1048576', CXR_MAX_IMAGE_PIXELS: '4000000' }).decode,
    ).toMatchObject({ maxObjectBytes: 1_048_576, maxImagePixels: 4_000_000 });
    expect(() => loadConfig({ CXR_MAX_OBJECT_BYTES: '0' })).toThrow(
      /CXR_MAX_OBJECT_BYTES must be an integer/,
    );
    expect(() => loadConfig({ CXR_MAX_OBJECT_BYTES: String(2 ** 31 + 1) })).toThrow(/CXR_MAX_OBJECT_BYTES/);
    // Above sharp's 16383 x 16383 the resize would fail with an error that is no reject reason.
    expect(() => loadConfig({ CXR_MAX_IMAGE_PIXELS: String(16384 * 16384) })).toThrow(
      /CXR_MAX_IMAGE_PIXELS must be an integer from 1 to 268402689/,
    );
  });

  it('reads the DICOMweb block: defaults, limits, credentials never echoed', () => {
    expect(loadConfig({}).dicomweb).toEqual({
      token: undefined,
      user: undefined,
      password: undefined,
      caFile: undefined,
      maxConcurrency: 4,
      maxRequestsPerSecond: 20,
      pageSize: 1000,
      timeoutMs: 30_000,
      listRetrySeconds: 600,
    });
    expect(
      loadConfig({
        CXR_DICOMWEB_USER: 'cxr',
        CXR_DICOMWEB_PASSWORD: 'pw-0123',
        CXR_DICOMWEB_CA_FILE: ' /etc/cxr/pacs-ca.pem ',
        CXR_DICOMWEB_MAX_CONCURRENCY: '2',
        CXR_DICOMWEB_MAX_RPS: '0',
        CXR_DICOMWEB_PAGE_SIZE: '100',
        CXR_DICOMWEB_TIMEOUT_MS: '5000',
        CXR_DICOMWEB_LIST_RETRY_SECONDS: '30',
      }).dicomweb,
    ).toEqual({
      token: undefined,
      user: 'cxr',
      password: 'pw-0123',
      caFile: '/etc/cxr/pacs-ca.pem',
      maxConcurrency: 2,
      maxRequestsPerSecond: 0,
      pageSize: 100,
      timeoutMs: 5000,
      listRetrySeconds: 30,
    });
    expect(() => loadConfig({ CXR_DICOMWEB_USER: 'cxr' })).toThrow(/must be set together/);
    expect(() =>
      loadConfig({ CXR_DICOMWEB_TOKEN: 'abc', CXR_DICOMWEB_USER: 'u', CXR_DICOMWEB_PASSWORD: 'p' }),
    ).toThrow(/not both/);
    expect(() => loadConfig({ CXR_DICOMWEB_MAX_CONCURRENCY: '0' })).toThrow(
      /CXR_DICOMWEB_MAX_CONCURRENCY must be/,
    );
    let message = '';
    try {
      loadConfig({ CXR_DICOMWEB_TOKEN: 'secret token\n' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toBe('CXR_DICOMWEB_TOKEN must not contain whitespace or control characters');
  });

  it.each([['0'], ['-1'], ['1.5'], ['two']])('rejects CXR_DECODE_THREADS=%s naming the variable', (raw) => {
    expect(() => loadConfig({ CXR_DECODE_THREADS: raw })).toThrow(ConfigError);
    expect(() => loadConfig({ CXR_DECODE_THREADS: raw })).toThrow(/CXR_DECODE_THREADS/);
  });

  it('rejects an unknown runtime and an unknown execution provider', () => {
    expect(() => loadConfig({ CXR_RUNTIME: 'pytorch' })).toThrow(/CXR_RUNTIME must be one of auto, onnx/);
    expect(() => loadConfig({ CXR_ONNX_EXECUTION_PROVIDERS: 'cuda,rocm' })).toThrow(
      /CXR_ONNX_EXECUTION_PROVIDERS must be a comma-separated list/,
    );
  });

  it('reads the store, queue and S3 settings', () => {
    const config = loadConfig({
      CXR_STORE_URL: 'postgres://cxr:secret@db:5432/cxr',
      CXR_PATIENT_ID_SALT: 'a-salt-of-24-characters!',
      CXR_REDIS_URL: 'redis://redis:6379/1',
      CXR_MAX_BATCH: '16',
      CXR_MAX_DELAY_MS: '0',
      AWS_REGION: 'eu-west-1',
      AWS_ENDPOINT_URL: 'http://minio:9000',
      HOME: '/root',
    });
    expect(config.store).toEqual({
      url: 'postgres://cxr:secret@db:5432/cxr',
      patientIdSalt: 'a-salt-of-24-characters!',
    });
    expect(config.queue).toEqual({
      redisUrl: 'redis://redis:6379/1',
      connectTimeoutSeconds: 30,
      maxBatch: 16,
      maxDelayMs: 0,
      ingestHighWater: 100_000,
      objectsPerJob: 1,
      prefix: undefined,
    });
    expect(loadConfig({ CXR_OBJECTS_PER_JOB: '32' }).queue.objectsPerJob).toBe(32);
    expect(() => loadConfig({ CXR_OBJECTS_PER_JOB: '257' })).toThrow(/CXR_OBJECTS_PER_JOB/);
    expect(() => loadConfig({ CXR_OBJECTS_PER_JOB: '0' })).toThrow(/CXR_OBJECTS_PER_JOB/);
    // The null runtime (benchmarks and tests): its latency per batch.
    expect(loadConfig({ CXR_RUNTIME: 'null' }).runtime).toMatchObject({ runtime: 'null', nullLatencyMs: 1 });
    expect(loadConfig({ CXR_NULL_RUNTIME_LATENCY_MS: '0' }).runtime.nullLatencyMs).toBe(0);
    // Only the AWS variables the S3 client honours are passed on.
    expect(config.s3Env).toEqual({ AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL: 'http://minio:9000' });
  });

  it('defaults to the embedded SQLite store and local Redis, without a salt', () => {
    const config = loadConfig({});
    expect(config.httpPort).toBe(8080);
    expect(config.modelDir).toBeUndefined();
    expect(loadConfig({ CXR_HTTP_PORT: '9100', CXR_MODEL_DIR: '/models/seed' })).toMatchObject({
      httpPort: 9100,
      modelDir: '/models/seed',
    });
    expect(config.store).toEqual({ url: 'sqlite:./cxr-results.sqlite', patientIdSalt: undefined });
    expect(config.queue.redisUrl).toBe('redis://127.0.0.1:6379');
  });

  it('refuses a bad store URL or a short salt without echoing the value', () => {
    expect(() => loadConfig({ CXR_STORE_URL: 'mysql://root:hunter2@db' })).toThrow(
      /CXR_STORE_URL must start with/,
    );
    expect(() => loadConfig({ CXR_STORE_URL: 'mysql://root:hunter2@db' })).not.toThrow(/hunter2/);
    expect(() => loadConfig({ CXR_PATIENT_ID_SALT: 'short-secret' })).toThrow(
      /CXR_PATIENT_ID_SALT must be at least 16/,
    );
    expect(() => loadConfig({ CXR_PATIENT_ID_SALT: 'short-secret' })).not.toThrow(/short-secret/);
  });

  it('reads the queue prefix and the API settings, refusing bad values without echoing secrets', () => {
    const config = loadConfig({
      CXR_QUEUE_PREFIX: 'site-a',
      CXR_API_TOKEN: 'token-of-24-characters!!',
      CXR_PREDICT_MAX_BYTES: '1048576',
      CXR_PREDICT_TIMEOUT_MS: '5000',
    });
    expect(config.queue.prefix).toBe('site-a');
    expect(config.api).toEqual({
      token: 'token-of-24-characters!!',
      allowNoAuth: false,
      uploadUrl: pathToFileURL(join(tmpdir(), 'cxr-uploads')).href,
      predictMaxBytes: 1_048_576,
      predictTimeoutMs: 5000,
    });
    expect(loadConfig({}).api).toEqual({
      token: undefined,
      allowNoAuth: false,
      uploadUrl: pathToFileURL(join(tmpdir(), 'cxr-uploads')).href,
      predictMaxBytes: 64 * 1024 * 1024,
      predictTimeoutMs: 60_000,
    });
    expect(() => loadConfig({ CXR_QUEUE_PREFIX: 'a b' })).toThrow(/CXR_QUEUE_PREFIX must be 1-64/);
    expect(() => loadConfig({ CXR_API_TOKEN: 'tiny-token' })).toThrow(/CXR_API_TOKEN must be at least 16/);
    expect(() => loadConfig({ CXR_API_TOKEN: 'tiny-token' })).not.toThrow(/tiny-token/);
  });

  it('reads the upload location and CXR_ALLOW_NO_AUTH, refusing other schemes and values', () => {
    expect(
      loadConfig({ CXR_UPLOAD_URL: 's3://cxr-uploads/predict/', CXR_ALLOW_NO_AUTH: '1' }).api,
    ).toMatchObject({ uploadUrl: 's3://cxr-uploads/predict/', allowNoAuth: true });
    expect(loadConfig({ CXR_UPLOAD_URL: 'file:///shared/uploads' }).api.uploadUrl).toBe(
      'file:///shared/uploads',
    );
    // Redis is exactly what uploads must stay out of.
    expect(() => loadConfig({ CXR_UPLOAD_URL: 'redis://:pw@redis:6379' })).toThrow(
      /CXR_UPLOAD_URL must start with file:\/\/, s3:\/\//,
    );
    expect(() => loadConfig({ CXR_UPLOAD_URL: 'redis://:pw@redis:6379' })).not.toThrow(/pw@/);
    expect(() => loadConfig({ CXR_ALLOW_NO_AUTH: 'yes' })).toThrow(/CXR_ALLOW_NO_AUTH must be one of 0, 1/);
  });

  it('listens on loopback with bounded HTTP timeouts by default, and reads overrides', () => {
    expect(loadConfig({}).http).toEqual({
      host: '127.0.0.1',
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 120_000,
      keepAliveTimeoutMs: 65_000,
    });
    expect(
      loadConfig({
        CXR_HTTP_HOST: '0.0.0.0',
        CXR_HTTP_HEADERS_TIMEOUT_MS: '2000',
        CXR_HTTP_REQUEST_TIMEOUT_MS: '30000',
        CXR_HTTP_KEEP_ALIVE_TIMEOUT_MS: '5000',
      }).http,
    ).toEqual({
      host: '0.0.0.0',
      headersTimeoutMs: 2000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 5000,
    });
    for (const host of ['::', '::1', 'localhost', 'results.cxr.svc.cluster.local']) {
      expect(loadConfig({ CXR_HTTP_HOST: host }).http.host).toBe(host);
    }
    expect(() => loadConfig({ CXR_HTTP_HOST: 'http://0.0.0.0:80' })).toThrow(
      /CXR_HTTP_HOST must be an IP address or a host name/,
    );
    expect(() => loadConfig({ CXR_HTTP_HEADERS_TIMEOUT_MS: '0' })).toThrow(/CXR_HTTP_HEADERS_TIMEOUT_MS/);
    expect(() => loadConfig({ CXR_HTTP_KEEP_ALIVE_TIMEOUT_MS: 'never' })).toThrow(
      /CXR_HTTP_KEEP_ALIVE_TIMEOUT_MS/,
    );
    expect(() =>
      loadConfig({ CXR_HTTP_HEADERS_TIMEOUT_MS: '60000', CXR_HTTP_REQUEST_TIMEOUT_MS: '30000' }),
    ).toThrow(/CXR_HTTP_HEADERS_TIMEOUT_MS \(60000\) must not exceed CXR_HTTP_REQUEST_TIMEOUT_MS/);
  });

  it('reads the retry and lock overrides (tests, tuning), unset by default, refusing out-of-range values', () => {
    expect(loadConfig({}).queue).toMatchObject({
      screenRetrySeconds: undefined,
      screenAttempts: undefined,
      screenBackoffMs: undefined,
      lockDurationMs: undefined,
      stalledIntervalMs: undefined,
    });
    expect(
      loadConfig({
        CXR_SCREEN_RETRY_SECONDS: '900',
        CXR_SCREEN_ATTEMPTS: '2',
        CXR_SCREEN_BACKOFF_MS: '0',
        CXR_LOCK_DURATION_MS: '3000',
        CXR_STALLED_INTERVAL_MS: '1000',
      }).queue,
    ).toMatchObject({
      screenRetrySeconds: 900,
      screenAttempts: 2,
      screenBackoffMs: 0,
      lockDurationMs: 3000,
      stalledIntervalMs: 1000,
    });
    expect(() => loadConfig({ CXR_SCREEN_RETRY_SECONDS: '-1' })).toThrow(/CXR_SCREEN_RETRY_SECONDS/);
    expect(() => loadConfig({ CXR_SCREEN_ATTEMPTS: '0' })).toThrow(/CXR_SCREEN_ATTEMPTS must be an integer/);
    expect(() => loadConfig({ CXR_SCREEN_BACKOFF_MS: '-5' })).toThrow(/CXR_SCREEN_BACKOFF_MS/);
    expect(() => loadConfig({ CXR_LOCK_DURATION_MS: '500' })).toThrow(
      /CXR_LOCK_DURATION_MS must be an integer from 1000/,
    );
    expect(() => loadConfig({ CXR_STALLED_INTERVAL_MS: '1.5' })).toThrow(/CXR_STALLED_INTERVAL_MS/);
  });

  it('reads the ingest service settings', () => {
    expect(loadConfig({}).ingest).toEqual({ sources: [], intervalSeconds: 300, runId: undefined });
    expect(
      loadConfig({
        CXR_INGEST_SOURCES: 's3://archive/cr/, file:///mnt/dx ,',
        CXR_INGEST_INTERVAL_SECONDS: '60',
        CXR_INGEST_RUN_ID: 'backlog-2026',
      }).ingest,
    ).toEqual({
      sources: ['s3://archive/cr/', 'file:///mnt/dx'],
      intervalSeconds: 60,
      runId: 'backlog-2026',
    });
    expect(() => loadConfig({ CXR_INGEST_INTERVAL_SECONDS: '0' })).toThrow(/CXR_INGEST_INTERVAL_SECONDS/);
  });

  it('reads the drift window settings, with defaults and range checks', () => {
    expect(loadConfig({}).drift).toEqual({ windowCount: 1000, windowSeconds: 3600, minSamples: 200 });
    expect(
      loadConfig({
        CXR_DRIFT_WINDOW_COUNT: '5000',
        CXR_DRIFT_WINDOW_SECONDS: '0',
        CXR_DRIFT_MIN_SAMPLES: '50',
      }).drift,
    ).toEqual({ windowCount: 5000, windowSeconds: 0, minSamples: 50 });
    expect(() => loadConfig({ CXR_DRIFT_WINDOW_COUNT: '0' })).toThrow(
      /CXR_DRIFT_WINDOW_COUNT must be an integer from 1 to 100000/,
    );
    expect(() => loadConfig({ CXR_DRIFT_WINDOW_COUNT: '100001' })).toThrow(/CXR_DRIFT_WINDOW_COUNT/);
    expect(() => loadConfig({ CXR_DRIFT_WINDOW_SECONDS: '-1' })).toThrow(/CXR_DRIFT_WINDOW_SECONDS/);
    expect(() => loadConfig({ CXR_DRIFT_MIN_SAMPLES: 'many' })).toThrow(/CXR_DRIFT_MIN_SAMPLES/);
  });

  it('reads the DIMSE and SCP settings: defaults, explicit values and bad AE titles', () => {
    const defaults = loadConfig({});
    expect(defaults.dimse).toEqual({
      callingAeTitle: 'CXR',
      timeoutMs: 30_000,
      retrieve: 'get',
      moveDestination: 'CXR',
    });
    expect(defaults.scp).toEqual({
      aeTitle: undefined,
      host: '127.0.0.1',
      port: 11112,
      storeTo: undefined,
      allowedCallingAeTitles: [],
    });
    const set = loadConfig({
      CXR_DIMSE_CALLING_AET: 'CXR_SCU',
      CXR_DIMSE_RETRIEVE: 'move',
      CXR_SCP_AE_TITLE: 'CXR_SCP',
      CXR_SCP_HOST: '0.0.0.0',
      CXR_SCP_PORT: '104',
      CXR_SCP_STORE_TO: 's3://bucket/received',
      CXR_SCP_ALLOWED_CALLING_AETS: 'PACS1, MODALITY2',
    });
    // The move destination defaults to the SCP's own AE title.
    expect(set.dimse).toMatchObject({
      callingAeTitle: 'CXR_SCU',
      retrieve: 'move',
      moveDestination: 'CXR_SCP',
    });
    expect(set.scp).toEqual({
      aeTitle: 'CXR_SCP',
      host: '0.0.0.0',
      port: 104,
      storeTo: 's3://bucket/received',
      allowedCallingAeTitles: ['PACS1', 'MODALITY2'],
    });
    expect(() => loadConfig({ CXR_SCP_AE_TITLE: 'A'.repeat(17) })).toThrow(/CXR_SCP_AE_TITLE/);
    expect(() => loadConfig({ CXR_SCP_ALLOWED_CALLING_AETS: 'OK,BAD\\AE' })).toThrow(
      /CXR_SCP_ALLOWED_CALLING_AETS/,
    );
    expect(() => loadConfig({ CXR_SCP_STORE_TO: '/data/received' })).toThrow(
      /CXR_SCP_STORE_TO must start with file:\/\/ or s3:\/\//,
    );
    expect(() => loadConfig({ CXR_DIMSE_RETRIEVE: 'fetch' })).toThrow(/CXR_DIMSE_RETRIEVE/);
    expect(() => loadConfig({ CXR_DIMSE_RETRIEVE: 'move' })).toThrow(
      /CXR_DIMSE_RETRIEVE=move needs CXR_SCP_STORE_TO/,
    );
  });

  it('reads the worklist settings, with defaults and range checks', () => {
    expect(loadConfig({}).worklist).toEqual({
      viewerUrlTemplate: undefined,
      pageSize: 50,
      maxPageSize: 200,
      thumbnailSize: 256,
      thumbnailDir: join(tmpdir(), 'cxr-thumbnails'),
      thumbnailCacheBytes: 256 * 1024 * 1024,
      thumbnailThreads: 1,
    });
    const ohif = 'https://pacs.example/ohif/viewer?StudyInstanceUIDs={StudyInstanceUID}';
    const oe2 =
      'http://pacs:8042/ui/app/#/filtered-studies?StudyInstanceUID="{StudyInstanceUID}"&expand=series';
    expect(
      loadConfig({
        CXR_VIEWER_URL_TEMPLATE: ohif,
        CXR_WORKLIST_PAGE_SIZE: '20',
        CXR_WORKLIST_MAX_PAGE_SIZE: '1000',
        CXR_WORKLIST_THUMBNAIL_SIZE: '128',
        CXR_WORKLIST_THUMBNAIL_DIR: '/var/cache/cxr',
        CXR_WORKLIST_THUMBNAIL_CACHE_BYTES: '1048576',
        CXR_WORKLIST_THUMBNAIL_THREADS: '2',
      }).worklist,
    ).toEqual({
      viewerUrlTemplate: ohif,
      pageSize: 20,
      maxPageSize: 1000,
      thumbnailSize: 128,
      thumbnailDir: '/var/cache/cxr',
      thumbnailCacheBytes: 1048576,
      thumbnailThreads: 2,
    });
    expect(loadConfig({ CXR_VIEWER_URL_TEMPLATE: oe2 }).worklist.viewerUrlTemplate).toBe(oe2);
    expect(
      loadConfig({
        CXR_VIEWER_URL_TEMPLATE: 'https://v/{StudyInstanceUID}/{SeriesInstanceUID}/{SOPInstanceUID}',
      }).worklist.viewerUrlTemplate,
    ).toBeDefined();
    // A small maximum lowers the default page size with it.
    expect(loadConfig({ CXR_WORKLIST_MAX_PAGE_SIZE: '10' }).worklist.pageSize).toBe(10);
    for (const bad of [
      'https://v/{PatientID}',
      'https://v/viewer',
      'javascript:alert({StudyInstanceUID})',
      'not a url {StudyInstanceUID}',
    ]) {
      expect(() => loadConfig({ CXR_VIEWER_URL_TEMPLATE: bad }), bad).toThrow(/CXR_VIEWER_URL_TEMPLATE must/);
    }
    expect(() => loadConfig({ CXR_WORKLIST_PAGE_SIZE: '100', CXR_WORKLIST_MAX_PAGE_SIZE: '50' })).toThrow(
      /CXR_WORKLIST_PAGE_SIZE \(100\) must not exceed CXR_WORKLIST_MAX_PAGE_SIZE \(50\)/,
    );
    expect(() => loadConfig({ CXR_WORKLIST_MAX_PAGE_SIZE: '1001' })).toThrow(/CXR_WORKLIST_MAX_PAGE_SIZE/);
    expect(() => loadConfig({ CXR_WORKLIST_THUMBNAIL_SIZE: '8' })).toThrow(/CXR_WORKLIST_THUMBNAIL_SIZE/);
    expect(() => loadConfig({ CXR_WORKLIST_THUMBNAIL_CACHE_BYTES: '1000' })).toThrow(
      /CXR_WORKLIST_THUMBNAIL_CACHE_BYTES/,
    );
    expect(() => loadConfig({ CXR_WORKLIST_THUMBNAIL_THREADS: '0' })).toThrow(
      /CXR_WORKLIST_THUMBNAIL_THREADS/,
    );
  });

  it('reads the findings delivery settings and refuses other destinations without echoing them', () => {
    expect(loadConfig({}).findings).toEqual({
      to: undefined,
      concurrency: 4,
      backoffMs: 2000,
      backoffCapMs: 60_000,
      waitSeconds: 300,
    });
    const set = loadConfig({
      CXR_FINDINGS_TO: ' dimse://PACS@10.0.0.5:104 ',
      CXR_FINDINGS_CONCURRENCY: '8',
      CXR_FINDINGS_BACKOFF_MS: '100',
      CXR_FINDINGS_BACKOFF_CAP_MS: '1000',
      CXR_FINDINGS_WAIT_SECONDS: '0',
    }).findings;
    expect(set).toEqual({
      to: 'dimse://PACS@10.0.0.5:104',
      concurrency: 8,
      backoffMs: 100,
      backoffCapMs: 1000,
      waitSeconds: 0,
    });
    expect(loadConfig({ CXR_FINDINGS_TO: 'dicomweb+https://pacs/dicom-web' }).findings.to).toBe(
      'dicomweb+https://pacs/dicom-web',
    );
    expect(loadConfig({ CXR_FINDINGS_TO: '' }).findings.to).toBeUndefined();
    const bad = () => loadConfig({ CXR_FINDINGS_TO: 'https://user:SECRET@pacs/dicom-web' });
    expect(bad).toThrow(
      /CXR_FINDINGS_TO must start with dicomweb\+http:\/\/, dicomweb\+https:\/\/ or dimse:\/\//,
    );
    expect(bad).not.toThrow(/SECRET/);
    expect(() => loadConfig({ CXR_FINDINGS_CONCURRENCY: '0' })).toThrow(/CXR_FINDINGS_CONCURRENCY/);
    expect(() => loadConfig({ CXR_FINDINGS_BACKOFF_CAP_MS: '10' })).toThrow(/CXR_FINDINGS_BACKOFF_CAP_MS/);
  });

  it('rejects an unknown log level', () => {
    expect(() => loadConfig({ CXR_LOG_LEVEL: 'loud' })).toThrow(/CXR_LOG_LEVEL must be one of/);
  });

  it('keeps object URIs out of log lines unless CXR_LOG_URIS=1', () => {
    expect(loadConfig({}).logUris).toBe(false);
    expect(loadConfig({ CXR_LOG_URIS: '1' }).logUris).toBe(true);
    expect(() => loadConfig({ CXR_LOG_URIS: 'yes' })).toThrow(/CXR_LOG_URIS must be one of 0, 1/);
  });

  it('reads the progress format: a terminal line by default, JSON lines on request', () => {
    expect(loadConfig({}).logFormat).toBe('auto');
    expect(loadConfig({ CXR_LOG_FORMAT: 'json' }).logFormat).toBe('json');
    expect(() => loadConfig({ CXR_LOG_FORMAT: 'pretty' })).toThrow(
      /CXR_LOG_FORMAT must be one of auto, json/,
    );
  });
});
