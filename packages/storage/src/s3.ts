/**
 * S3 adapter (AWS S3, MinIO and other S3-compatible stores). The only module that imports
 * @aws-sdk/client-s3. Configuration comes from an injected env object, never process.env.
 */
import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type GetObjectCommandOutput,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { describeError, isTransientError } from './classify.js';
import {
  ObjectFetchError,
  ObjectListError,
  ObjectSourceConfigError,
  ObjectTooLargeError,
  ObjectWriteError,
} from './errors.js';
import { uninitializedBytes } from './file.js';
import type { FetchOptions, ListOptions, ObjectEntry, ObjectSource } from './types.js';

export type Env = Readonly<Record<string, string | undefined>>;

/** Explicit S3 settings; each one overrides the matching environment variable. */
export interface S3Options {
  readonly endpoint?: string;
  readonly region?: string;
  readonly forcePathStyle?: boolean;
  readonly accessKeyId?: string;
  readonly secretAccessKey?: string;
  readonly sessionToken?: string;
  /** Attempts per request inside the SDK, first included (AWS_MAX_ATTEMPTS; SDK default 3). */
  readonly maxAttempts?: number;
  /** Socket connect timeout in ms (default 5000). */
  readonly connectionTimeoutMs?: number;
  /** Per-attempt timeout in ms for request and response, enforced by the SDK's http handler (default 60000). */
  readonly requestTimeoutMs?: number;
  /** Whole-fetch deadline in ms including SDK retries and body download (default 120000). */
  readonly fetchTimeoutMs?: number;
  /** Keys per ListObjectsV2 page (MaxKeys; S3 caps it at 1000). */
  readonly pageSize?: number;
}

export interface S3Location {
  readonly bucket: string;
  /** Key for objects, key prefix for sources; '' for a whole bucket. */
  readonly key: string;
}

/** Splits `s3://bucket/key` without percent-decoding: S3 keys are used verbatim. */
export function parseS3Uri(uri: string): S3Location {
  if (!uri.startsWith('s3://')) throw new ObjectSourceConfigError(`not an s3:// URI: ${uri}`);
  const rest = uri.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  const key = slash === -1 ? '' : rest.slice(slash + 1);
  if (bucket === '') throw new ObjectSourceConfigError(`s3:// URI without a bucket: ${uri}`);
  return { bucket, key };
}

/** Builds `s3://bucket/key`. */
export function formatS3Uri(bucket: string, key: string): string {
  return `s3://${bucket}/${key}`;
}

function parseBool(name: string, raw: string | undefined): boolean | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const value = raw.trim().toLowerCase();
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new ObjectSourceConfigError(`${name} must be true or false, got "${raw}"`);
}

function parsePositiveInt(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    throw new ObjectSourceConfigError(`${name} must be a positive integer, got "${raw}"`);
  }
  return value;
}

function nonEmpty(raw: string | undefined): string | undefined {
  return raw === undefined || raw.trim() === '' ? undefined : raw.trim();
}

/**
 * Variables of the standard AWS environment this adapter reads from the injected env. The list
 * lives in @cxr/config, which reads them from process.env and passes them in as `s3Env`.
 */
export { S3_ENV_VARIABLES } from '@cxr/config';

/** Resolves S3 client settings from env + explicit options (options win). Pure. */
export function resolveS3Settings(env: Env, options: S3Options = {}): S3Options {
  const endpoint = options.endpoint ?? nonEmpty(env.AWS_ENDPOINT_URL_S3) ?? nonEmpty(env.AWS_ENDPOINT_URL);
  const accessKeyId = options.accessKeyId ?? nonEmpty(env.AWS_ACCESS_KEY_ID);
  const secretAccessKey = options.secretAccessKey ?? nonEmpty(env.AWS_SECRET_ACCESS_KEY);
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw new ObjectSourceConfigError('AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together');
  }
  return {
    ...options,
    endpoint,
    region: options.region ?? nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION) ?? 'us-east-1',
    // MinIO and most S3-compatible stores need path-style addressing (no DNS per bucket), so a
    // custom endpoint implies it unless AWS_S3_FORCE_PATH_STYLE says otherwise.
    forcePathStyle:
      options.forcePathStyle ??
      parseBool('AWS_S3_FORCE_PATH_STYLE', env.AWS_S3_FORCE_PATH_STYLE) ??
      endpoint !== undefined,
    accessKeyId,
    secretAccessKey,
    sessionToken:
      options.sessionToken ?? (accessKeyId === undefined ? undefined : nonEmpty(env.AWS_SESSION_TOKEN)),
    maxAttempts: options.maxAttempts ?? parsePositiveInt('AWS_MAX_ATTEMPTS', env.AWS_MAX_ATTEMPTS),
  };
}

/** Creates an S3 client from resolved settings. */
export function createS3Client(settings: S3Options): S3Client {
  const config: S3ClientConfig = {
    region: settings.region,
    forcePathStyle: settings.forcePathStyle,
    // The endpoint comes from our injected env only; stop the SDK reading AWS_ENDPOINT_URL
    // from process.env or ~/.aws behind the config module's back.
    ignoreConfiguredEndpointUrls: true,
    // Flexible checksums by default make stream uploads aws-chunked, which s3rver and some
    // S3-compatible stores store verbatim (200 OK, wrong bytes): see DEPENDENCY_NOTES.md.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      connectionTimeout: settings.connectionTimeoutMs ?? 5_000,
      requestTimeout: settings.requestTimeoutMs ?? 60_000,
      // Without this, @smithy/node-http-handler 4.x only logs a warning when requestTimeout
      // passes and the request hangs on (measured here: a stalled server held a fetch > 60 s).
      throwOnRequestTimeout: true,
    },
  };
  if (settings.endpoint !== undefined) config.endpoint = settings.endpoint;
  if (settings.maxAttempts !== undefined) config.maxAttempts = settings.maxAttempts;
  // Without static keys the SDK's default chain applies (web identity on EKS, ~/.aws profiles,
  // instance metadata), which is how production credentials usually arrive.
  if (settings.accessKeyId !== undefined && settings.secretAccessKey !== undefined) {
    config.credentials = {
      accessKeyId: settings.accessKeyId,
      secretAccessKey: settings.secretAccessKey,
      ...(settings.sessionToken === undefined ? {} : { sessionToken: settings.sessionToken }),
    };
  }
  return new S3Client(config);
}

/** ETags arrive quoted (`"abc"`); job ids want the bare value. */
function bareEtag(etag: string | undefined): string | undefined {
  if (etag === undefined) return undefined;
  return etag.replace(/^"(.*)"$/, '$1');
}

/**
 * Fetches `s3://bucket/key` whole with the given client. With `options`, the size is checked from
 * Content-Length before any of the body is read, and the head check sees the first bytes as they
 * arrive; either refusal cancels the download.
 */
export async function fetchS3Object(
  client: S3Client,
  uri: string,
  fetchTimeoutMs: number,
  options: FetchOptions = {},
): Promise<Uint8Array> {
  const { bucket, key } = parseS3Uri(uri);
  if (key === '') throw new ObjectFetchError(uri, false, 'URI has no object key');
  try {
    const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), {
      abortSignal: AbortSignal.timeout(fetchTimeoutMs),
    });
    if (response.Body === undefined) throw new ObjectFetchError(uri, true, 'response had no body');
    const length = response.ContentLength;
    const body = bodyChunks(response.Body);
    if (options.maxBytes !== undefined && length !== undefined && length > options.maxBytes) {
      body.cancel();
      throw new ObjectTooLargeError(uri, length, options.maxBytes);
    }
    try {
      // Without a Content-Length (chunked encoding, which S3 does not use for GetObject) the
      // whole allowance is what may arrive.
      await options.beforeRead?.(length ?? options.maxBytes ?? 0);
    } catch (error) {
      body.cancel();
      throw error;
    }
    const bytes = await readBody(uri, body.chunks, length, options);
    // A connection cut mid-body can end the stream early without an error on some paths.
    if (length !== undefined && bytes.byteLength !== length) {
      throw new ObjectFetchError(uri, true, `body truncated: ${bytes.byteLength} of ${length} bytes`);
    }
    return bytes;
  } catch (error) {
    if (error instanceof HeadCheckError) throw error.cause;
    if (error instanceof ObjectFetchError) throw error;
    throw new ObjectFetchError(uri, isTransientError(error), describeError(error), { cause: error });
  }
}

/** Writes `s3://bucket/key` whole with the given client. */
export async function putS3Object(
  client: S3Client,
  uri: string,
  bytes: Uint8Array,
  contentType: string,
): Promise<void> {
  const { bucket, key } = parseS3Uri(uri);
  if (key === '') throw new ObjectWriteError('write', uri, false, 'URI has no object key');
  try {
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes, ContentType: contentType }),
    );
  } catch (error) {
    throw new ObjectWriteError('write', uri, isTransientError(error), describeError(error), { cause: error });
  }
}

/** Deletes `s3://bucket/key`; deleting a missing key succeeds (S3 answers 204 either way). */
export async function deleteS3Object(client: S3Client, uri: string): Promise<void> {
  const { bucket, key } = parseS3Uri(uri);
  if (key === '') throw new ObjectWriteError('delete', uri, false, 'URI has no object key');
  try {
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  } catch (error) {
    throw new ObjectWriteError('delete', uri, isTransientError(error), describeError(error), {
      cause: error,
    });
  }
}

/** A response body as chunks, and how to drop it unread. */
interface BodyChunks {
  readonly chunks: AsyncIterable<Uint8Array>;
  cancel(): void;
}

function bodyChunks(body: NonNullable<GetObjectCommandOutput['Body']>): BodyChunks {
  // In Node the body is the response's Readable: iterated directly, without the web stream that
  // transformToWebStream wraps around it (which made a 12 MB fetch from s3rver about 40% slower).
  if (body instanceof Readable) return { chunks: body, cancel: () => body.destroy() };
  // The SDK types the web stream's chunks as any; they are Uint8Arrays.
  const stream = body.transformToWebStream() as ReadableStream<Uint8Array>;
  return {
    chunks: stream,
    cancel: () => {
      stream.cancel().catch(() => undefined);
    },
  };
}

/** Carries what `options.head.check` threw through the body reader, to be rethrown unchanged. */
class HeadCheckError extends Error {
  override readonly name = 'HeadCheckError';
}

/**
 * Reads a response body into one buffer: of Content-Length bytes when known, else grown as chunks
 * arrive (never past `maxBytes`). Calls the head check once its bytes are in.
 */
async function readBody(
  uri: string,
  chunks: AsyncIterable<Uint8Array>,
  length: number | undefined,
  options: FetchOptions,
): Promise<Uint8Array> {
  // Leaving the for-await loop early (a refusal, a size mismatch) destroys the stream.
  let bytes = uninitializedBytes(length ?? 64 * 1024);
  let read = 0;
  let headChecked = options.head === undefined;
  const checkHead = (final: boolean): void => {
    if (headChecked || options.head === undefined) return;
    if (!final && read < options.head.bytes) return;
    headChecked = true;
    try {
      options.head.check(bytes.subarray(0, Math.min(read, options.head.bytes)));
    } catch (error) {
      throw new HeadCheckError('head check failed', { cause: error });
    }
  };
  for await (const value of chunks) {
    if (read + value.byteLength > bytes.length) {
      if (length !== undefined) throw new ObjectFetchError(uri, true, 'body longer than its Content-Length');
      const needed = read + value.byteLength;
      const limit = options.maxBytes ?? Number.MAX_SAFE_INTEGER;
      if (needed > limit) throw new ObjectTooLargeError(uri, needed, limit);
      const grown = uninitializedBytes(Math.min(limit, Math.max(needed, bytes.length * 2)));
      grown.set(bytes.subarray(0, read));
      bytes = grown;
    }
    bytes.set(value, read);
    read += value.byteLength;
    checkHead(false);
  }
  checkHead(true);
  return read === bytes.length ? bytes : bytes.subarray(0, read);
}

/** Lists `s3://bucket/prefix` with ListObjectsV2; the cursor is the last key (StartAfter). */
export class S3ObjectSource implements ObjectSource {
  private readonly location: S3Location;

  constructor(
    readonly uri: string,
    private readonly client: S3Client,
    private readonly settings: S3Options = {},
    private readonly ownsClient = false,
  ) {
    this.location = parseS3Uri(uri);
  }

  async *list(options: ListOptions = {}): AsyncIterable<ObjectEntry> {
    const { bucket, key: prefix } = this.location;
    let continuationToken: string | undefined;
    // StartAfter only on the first page; later pages follow the continuation token, which
    // already encodes the position.
    const startAfter = options.cursor;
    for (;;) {
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            ...(prefix === '' ? {} : { Prefix: prefix }),
            ...(this.settings.pageSize === undefined ? {} : { MaxKeys: this.settings.pageSize }),
            ...(continuationToken === undefined
              ? startAfter === undefined
                ? {}
                : { StartAfter: startAfter }
              : { ContinuationToken: continuationToken }),
          }),
        );
      } catch (error) {
        throw new ObjectListError(this.uri, isTransientError(error), describeError(error), { cause: error });
      }
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        yield {
          uri: formatS3Uri(bucket, object.Key),
          etag: bareEtag(object.ETag),
          size: object.Size ?? 0,
          lastModified: object.LastModified,
          cursor: object.Key,
        };
      }
      if (page.IsTruncated !== true || page.NextContinuationToken === undefined) return;
      continuationToken = page.NextContinuationToken;
    }
  }

  fetch(uri: string, options?: FetchOptions): Promise<Uint8Array> {
    return fetchS3Object(this.client, uri, this.settings.fetchTimeoutMs ?? 120_000, options);
  }

  close(): Promise<void> {
    if (this.ownsClient) this.client.destroy();
    return Promise.resolve();
  }
}
