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
export {
  DimseObjectSource,
  dimseSettingsFromConfig,
  fetchDimseObject,
  withRetrieve,
  type DimseOperation,
  type DimseSettings,
} from './pacs/dimse-source.js';
export {
  dimseObjectUri,
  parseDimseObjectUri,
  parseDimseSourceUri,
  type DimseFilters,
  type DimseObjectLocation,
  type DimseRetrieve,
  type DimseSourceSpec,
} from './pacs/dimse-uri.js';
export {
  openReceivedInstanceStore,
  type ReceivedArea,
  type ReceivedInstanceStore,
} from './pacs/dimse-received-store.js';
export {
  MemoryRequestBudget,
  silentPacsObserver,
  type AcquireOptions,
  type PacsObserver,
  type PacsOperationName,
  type PacsStatusClassName,
  type PacsThrottleReasonName,
  type RequestBudget,
  type RequestBudgetLimits,
  type RequestSlot,
} from './pacs/budget.js';
export {
  DEFAULT_DICOMWEB_SETTINGS,
  DicomwebObjectSource,
  createDicomwebHttp,
  fetchDicomwebInstance,
  type DicomwebSettings,
} from './dicomweb/source.js';
export { DicomwebHttp, DicomwebHttpError, type DicomwebClientSettings } from './dicomweb/http.js';
export {
  isDicomwebUri,
  parseDicomwebInstanceUri,
  parseDicomwebSourceUri,
  type DicomwebLocation,
} from './dicomweb/uri.js';
export { MultipartFormatError, MultipartParser, parseMediaType } from './dicomweb/multipart.js';
export { WADO_ACCEPT, readInstanceBody } from './dicomweb/instance-body.js';
export {
  DEFAULT_MODALITIES,
  PACS_FILTER_NAMES,
  PATIENT_FILTER_NAMES,
  isPacsUri,
  mergePacsFilterInput,
  pacsFilterInputFromQuery,
  pacsFilterKey,
  pacsFilterNamesSet,
  pacsMatchingKeys,
  parsePacsFilters,
  parseStudyDateFilter,
  studyDateWalkRange,
  type PacsFilterInput,
  type PacsFilterName,
  type PacsFilters,
  type StudyDateFilter,
  type StudyDateRange,
} from './pacs/filters.js';
export { isDicomUid, pacsInstanceUri, parsePacsInstanceUri, type InstanceUids } from './pacs/instance-uri.js';
export {
  DEFAULT_TRUST_BELOW,
  walkStudyWindows,
  type CapKnowledge,
  type StudyWalkCursor,
  type StudyWalkOptions,
  type UnlistedReason,
  type WalkedEntry,
  type WindowAnswer,
} from './pacs/walk.js';
export {
  addDays,
  describeStudyWindow,
  dicomDateOf,
  splitStudyWindow,
  studyWindowMatch,
  windowsAfter,
  type StudyWindow,
  type StudyWindowMatch,
} from './pacs/windows.js';
export { sourceKindOf, type SourceKind } from './source-kind.js';
