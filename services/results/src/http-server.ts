/**
 * The results service's HTTP surface: the operations routes every service has (@cxr/http:
 * /metrics, /healthz, /readyz) and, when given its options, the synchronous `POST /v1/predict`
 * (predict-route.ts). Kept apart from the consumer so it can be tested with fastify.inject.
 */
import type { FastifyInstance } from 'fastify';
import { buildOpsServer, type OpsServerOptions } from '@cxr/http';
import { registerPredictRoute, type PredictRouteOptions } from './predict-route.js';

export type { MetricsRegistry, ReadinessBody, ReadinessCheck } from '@cxr/http';

/** Options of `buildHttpServer`. */
export interface HttpServerOptions extends OpsServerOptions {
  /** Serves `POST /v1/predict` when given. */
  readonly predict?: PredictRouteOptions;
}

/** Builds (does not listen) the fastify app with the operations routes and POST /v1/predict. */
export function buildHttpServer(options: HttpServerOptions): FastifyInstance {
  const app = buildOpsServer(options);
  if (options.predict !== undefined) registerPredictRoute(app, options.predict);
  return app;
}
