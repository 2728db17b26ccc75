export {
  SOURCE_SKIP_REASONS,
  type FetchOptions,
  type ListOptions,
  type ObjectEntry,
  type ObjectFetcher,
  type ObjectSource,
  type SkippedEntry,
  type SourceSkipReason,
} from './types.js';
export {
  ManifestFormatError,
  ObjectFetchError,
  ObjectListError,
  ObjectSourceConfigError,
  ObjectSourceError,
  ObjectWriteError,
  ObjectTooLargeError,
  type ObjectOperation,
} from './errors.js';
export { describeError, isTransientError } from './classify.js';
export {
  S3_ENV_VARIABLES,
  S3ObjectSource,
  createS3Client,
  deleteS3Object,
  fetchS3Object,
  formatS3Uri,
  parseS3Uri,
  putS3Object,
  resolveS3Settings,
  type Env,
  type S3Location,
  type S3Options,
} from './s3.js';
export {
  FileObjectSource,
  fetchFileObject,
  filePathFromUri,
  fileSystemPathFromUri,
  fileUriFromPath,
  type FileObjectSourceOptions,
  type FileSystemPort,
} from './file.js';
export { ManifestObjectSource, type ManifestFormat } from './manifest.js';
export { createObjectFetcher, openObjectSource, type ObjectSourceDeps } from './open.js';
export { openUploadArea, type UploadArea } from './uploads.js';
export { sourceKindOf, type SourceKind } from './source-kind.js';
