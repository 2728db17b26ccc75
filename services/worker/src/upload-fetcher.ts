/**
 * The worker's fetcher: `cxr-upload:` URIs (objects uploaded to `/v1/predict`, parked in Redis)
 * are read from the UploadStore, everything else (`s3://`, `file://`) from the object fetcher.
 * A missing upload becomes a permanent ObjectFetchError, so the processor fails the job at once
 * with `fetch_error` like a missing S3 object (queue does not depend on storage: adapted here).
 */
import { isUploadUri, UploadNotFoundError } from '@cxr/queue';
import { ObjectFetchError, type ObjectFetcher } from '@cxr/storage';

/** The part of an UploadStore the fetcher reads. */
export interface UploadReader {
  get(uri: string): Promise<Uint8Array>;
}

/** A fetcher routing `cxr-upload:` URIs to `uploads` and the rest to `objects`; close() closes `objects`. */
export function withUploads(objects: ObjectFetcher, uploads: UploadReader): ObjectFetcher {
  return {
    async fetch(uri, options) {
      // The limits and checks go with the request; uploads were checked by /v1/predict already.
      if (!isUploadUri(uri)) return objects.fetch(uri, options);
      try {
        return await uploads.get(uri);
      } catch (error) {
        if (error instanceof UploadNotFoundError) {
          throw new ObjectFetchError(uri, false, 'upload expired or deleted', { cause: error });
        }
        // Redis unreachable or reconnecting: transient, like an S3 5xx.
        throw new ObjectFetchError(uri, true, 'upload read failed', { cause: error });
      }
    },
    close: () => objects.close(),
  };
}
