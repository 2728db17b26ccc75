export {
  OUTCOMES,
  STAGES,
  InvalidResultRowError,
  parseResultRow,
  resultKeyString,
  resultRowSchema,
  type Outcome,
  type ResultKey,
  type ResultRow,
  type ResultRowInput,
  type Stage,
  type StageTimings,
  type StoredResult,
} from './result-row.js';
export { hashPatientId } from './patient-id.js';
export {
  DELIVERY_COLUMNS,
  DELIVERY_STATES,
  MAX_DELIVERY_REASON,
  isDeliveryState,
  type DeliveryState,
  type DeliveryUpdate,
  type ResultDelivery,
} from './delivery.js';
export { newRunId } from './run-id.js';
export { ROW_KEY_PATTERN, rowKeyOf } from './row-key.js';
export {
  InvalidWorklistCursorError,
  MAX_WORKLIST_LIMIT,
  WORKLIST_ORDERS,
  WORKLIST_SORTS,
  type WorklistItem,
  type WorklistOrder,
  type WorklistPage,
  type WorklistQuery,
  type WorklistSort,
} from './worklist.js';
export { collapseBatch, replacesExisting, type UpsertOptions } from './replacement.js';
export { MIGRATIONS, MIGRATIONS_TABLE, type Migration } from './migrations.js';
export {
  InvalidStudyReadingError,
  STUDY_ARMS,
  STUDY_DESIGNS,
  STUDY_ID_PATTERN,
  StudyExistsError,
  checkReading,
  readerTokenHash,
  type Confidence,
  type NewReaderStudy,
  type NewStudyReader,
  type ReaderProgress,
  type ReaderStudyStore,
  type RecordReadingOutcome,
  type StoredStudyReading,
  type StudyAiOutput,
  type StudyArm,
  type StudyAssignment,
  type StudyCase,
  type StudyDefinition,
  type StudyDesign,
  type StudyReader,
  type StudyReadingInput,
} from './reader-study.js';
export { MAX_RECENT_RESULTS, StoreNotFoundError } from './result-store.js';
export type {
  ExistingResult,
  IterateOptions,
  ReasonCount,
  RecentResultsQuery,
  ResultStore,
  RunSummary,
  UpsertSummary,
} from './result-store.js';
export { SqliteResultStore, type SqliteStoreOptions } from './sqlite-store.js';
export { PostgresResultStore, type PostgresStoreOptions } from './postgres-store.js';
export { openStore, type OpenStoreOptions } from './open-store.js';
export {
  EXPORT_FORMATS,
  exportCells,
  exportHeader,
  jsonlRecord,
  scoreLabels,
  writeExport,
  type Cell,
  type ExportFormat,
  type ExportOptions,
  type ExportRow,
  type StreamExportFormat,
} from './export.js';
export {
  PARQUET_NUMERIC_COLUMNS,
  PARQUET_ROW_GROUP_SIZE,
  parquetSchema,
  readParquetExport,
  writeParquetExport,
  type ParquetExportOptions,
  type ParquetExportSummary,
} from './export-parquet.js';
export { EXPORT_DEIDENTIFICATION, deidentifyExportRow } from './export-deid.js';
export {
  UnknownRunError,
  exportRun,
  writeExportFile,
  type ExportRunOptions,
  type ExportRunSummary,
} from './export-run.js';
