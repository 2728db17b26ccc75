export {
  ResultsService,
  DEFAULT_STORE_BATCH,
  DEFAULT_STORE_DELAY_MS,
  type ResultsServiceOptions,
} from './results-service.js';
export { resultRowFromMessage } from './result-row.js';
export { recordStoredResult } from './record-metrics.js';
export {
  buildHttpServer,
  type HttpServerOptions,
  type MetricsRegistry,
  type ReadinessBody,
  type ReadinessCheck,
} from './http-server.js';
export {
  QueueGaugeUpdater,
  DEFAULT_QUEUE_GAUGE_INTERVAL_MS,
  type QueueGaugeUpdaterOptions,
} from './queue-gauges.js';
export { startResultsApp, DEFAULT_HTTP_PORT, type ResultsApp, type ResultsAppOptions } from './app.js';
export { apiAuthOnStart, UnauthenticatedBindError, type ApiAuthMode } from './auth.js';
export {
  registerPredictRoute,
  PREDICT_PATH,
  PREDICT_RUN_ID,
  type PredictBackend,
  type PredictErrorBody,
  type PredictModel,
  type PredictRouteOptions,
} from './predict-route.js';
export { driftObservation } from './drift-observation.js';
export {
  DriftMonitor,
  DEFAULT_DRIFT_PUBLISH_INTERVAL_MS,
  type DriftMonitorOptions,
} from './drift-monitor.js';
export {
  registerWorklistRoutes,
  WORKLIST_PATH,
  type ThumbnailProvider,
  type WorklistRouteOptions,
} from './worklist/route.js';
export {
  ThumbnailService,
  poolThumbnailDecoder,
  type ThumbnailResult,
  type ThumbnailServiceOptions,
  type ThumbnailSource,
} from './worklist/thumbnails.js';
export { ThumbnailCache, type ThumbnailCacheOptions } from './worklist/thumbnail-cache.js';
export {
  DeliveryError,
  FindingsDelivery,
  FindingsDestinationError,
  findingsSender,
  openFindingsDelivery,
  parseFindingsDestination,
  splitPart10,
  stowFailureReasons,
  type FindingsDeliveryOptions,
  type FindingsDestination,
  type FindingsSender,
  type OpenFindingsDeliveryOptions,
  type OpenedFindingsDelivery,
  type OutgoingFindings,
  type SenderSettings,
  sendRun,
  type SendRunOptions,
  type SendRunSummary,
} from './delivery/index.js';
