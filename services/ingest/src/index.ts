export {
  enqueueSource,
  DEFAULT_INGEST_CHUNK,
  type EnqueueSourceOptions,
  type IngestResult,
  type SourceSkipCounts,
} from './enqueue-source.js';
export { MemoryCursorStore, RedisCursorStore, type CursorStore } from './cursor-store.js';
export { ProgressReporter, type IngestProgress, type ProgressReporterOptions } from './progress.js';
export { sourceKindOf, type SourceKind } from '@cxr/storage';
export { pacsObserverOf, runIngest, type RunIngestOptions } from './run-ingest.js';
export { IngestService, type IngestServiceOptions, type PassSummary } from './ingest-service.js';
export { verifyStored, type VerifyStoredOptions, type VerifyStoredResult } from './verify-stored.js';
export { startScpService, type RunningScpService, type ScpServiceOptions } from './scp-service.js';
