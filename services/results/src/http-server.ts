/**
 * The results service's HTTP surface: the operations routes every service has (@cxr/http:
 * /metrics, /healthz, /readyz) and, when given their options, the synchronous `POST /v1/predict`
 * (predict-route.ts), the operators' queue dashboard (queue-dashboard.ts) and the clinicians'
 * worklist (worklist/route.ts). Kept apart from the consumer so it can be tested with fastify.inject.
 */
import type { FastifyInstance } from 'fastify';
import { buildOpsServer, type OpsServerOptions } from '@cxr/http';
import { registerPredictRoute, type PredictRouteOptions } from './predict-route.js';
import { registerQueueDashboard, type QueueDashboardOptions } from './queue-dashboard.js';
import { registerStudyRoutes, type StudyRouteOptions } from './study/route.js';
import { registerWorklistRoutes, type WorklistRouteOptions } from './worklist/route.js';

export type { MetricsRegistry, ReadinessBody, ReadinessCheck } from '@cxr/http';

/** Options of `buildHttpServer`. */
export interface HttpServerOptions extends OpsServerOptions {
  /** Serves `POST /v1/predict` when given. */
  readonly predict?: PredictRouteOptions;
  /** Serves the queue dashboard at /admin/queues when given. */
  readonly queueDashboard?: QueueDashboardOptions;
  /** Serves the worklist at /worklist when given. */
  readonly worklist?: WorklistRouteOptions;
  /** Serves the reader-study reading page at /study when given. */
  readonly study?: StudyRouteOptions;
}

/** Builds (does not listen) the fastify app: operations routes, POST /v1/predict, the queue dashboard, /worklist, /study. */
export function buildHttpServer(options: HttpServerOptions): FastifyInstance {
  const app = buildOpsServer(options);
  if (options.predict !== undefined) registerPredictRoute(app, options.predict);
  if (options.queueDashboard !== undefined) registerQueueDashboard(app, options.queueDashboard);
  if (options.worklist !== undefined) registerWorklistRoutes(app, options.worklist);
  if (options.study !== undefined) registerStudyRoutes(app, options.study);
  return app;
}
