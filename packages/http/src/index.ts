/**
 * The operations HTTP surface of every service (results, worker, ingest): Prometheus scrape and
 * Kubernetes probes, on fastify. A service adds its own routes (the results service: /v1/predict,
 * the queue dashboard) to the instance it gets back.
 */
import Fastify, { type FastifyInstance } from 'fastify';

/** The part of a prom-client Registry /metrics needs (no prom-client dependency here). */
export interface MetricsRegistry {
  readonly contentType: string;
  metrics(): Promise<string>;
}

/** One dependency probed by /readyz; `check` rejects (or times out) when it does not answer. */
export interface ReadinessCheck {
  /** Short constant name reported in the 503 body (`redis`, `store`, `model`). */
  readonly name: string;
  readonly check: () => Promise<unknown>;
}

/** Options of `buildOpsServer`. */
export interface OpsServerOptions {
  /** Anything holding a prom-client registry (a CxrMetrics does). */
  readonly metrics: { readonly registry: MetricsRegistry };
  readonly readiness: readonly ReadinessCheck[];
  /** Per-check timeout of /readyz in ms (default 2000: a hung dependency answers 503, not a hung probe). */
  readonly readinessTimeoutMs?: number;
}

/** Body of /readyz. */
export interface ReadinessBody {
  readonly status: 'ready' | 'unready';
  /** Names of the checks that failed; never the error text (it may carry a URL or password). */
  readonly failed: readonly string[];
}

/** Builds (does not listen) a fastify app with GET /metrics, /healthz and /readyz. */
export function buildOpsServer(options: OpsServerOptions): FastifyInstance {
  const app = Fastify({ logger: false });
  const timeoutMs = options.readinessTimeoutMs ?? 2000;

  app.get('/metrics', async (_request, reply) => {
    const registry = options.metrics.registry;
    const text = await registry.metrics();
    return reply.header('content-type', registry.contentType).send(text);
  });

  // Liveness: the process answers. It must not depend on Redis or the store, or an outage of
  // either would make Kubernetes restart every pod instead of just taking them out of service.
  app.get('/healthz', () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const results = await Promise.all(
      options.readiness.map(async ({ name, check }) =>
        (await answersWithin(check, timeoutMs)) ? undefined : name,
      ),
    );
    const failed = results.filter((name): name is string => name !== undefined);
    const body: ReadinessBody = { status: failed.length === 0 ? 'ready' : 'unready', failed };
    return reply.code(failed.length === 0 ? 200 : 503).send(body);
  });

  return app;
}

/** The port a listening fastify app got (the requested one, or the one the OS chose for 0). */
export function listeningPort(app: FastifyInstance, requested: number): number {
  const address = app.server.address();
  return typeof address === 'object' && address !== null ? address.port : requested;
}

async function answersWithin(check: () => Promise<unknown>, timeoutMs: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => {
      resolve(false);
    }, timeoutMs);
  });
  try {
    return await Promise.race([
      Promise.resolve()
        .then(check)
        .then(
          () => true,
          () => false,
        ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
