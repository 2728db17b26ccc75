/**
 * The operations HTTP surface of every service (results, worker, ingest): Prometheus scrape and
 * Kubernetes probes, on fastify. A service adds its own routes (the results service: /v1/predict,
 * the queue dashboard) to the instance it gets back.
 */
import { isIPv4 } from 'node:net';
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

/** Connection timeouts of a service's HTTP server (@cxr/config's `http`, CXR_HTTP_*_TIMEOUT_MS). */
export interface HttpTimeouts {
  /** The request line and headers must arrive within this; slower clients get 408 and are closed. */
  readonly headersTimeoutMs: number;
  /** The whole request, body included, must arrive within this. */
  readonly requestTimeoutMs: number;
  /** An idle kept-alive connection is closed after this. */
  readonly keepAliveTimeoutMs: number;
}

/**
 * Timeouts when none are given: the defaults of @cxr/config. Without them fastify disables the
 * request timeout and Node waits 60 s for headers, checked every 30 s, so 500 connections
 * trickling a request line held the server for a minute.
 */
export const DEFAULT_HTTP_TIMEOUTS: HttpTimeouts = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 120_000,
  // Above the 60 s idle timeout of common load balancers (ingress-nginx, AWS ALB): a server that
  // closes an idle connection first races the balancer's next request on it (a 502).
  keepAliveTimeoutMs: 65_000,
};

/** A service's HTTP server as `buildOpsServer` returns it (services need no fastify import). */
export type OpsServer = FastifyInstance;

/** Options of `buildOpsServer`. */
export interface OpsServerOptions {
  /** Anything holding a prom-client registry (a CxrMetrics does). */
  readonly metrics: { readonly registry: MetricsRegistry };
  readonly readiness: readonly ReadinessCheck[];
  /** Per-check timeout of /readyz in ms (default 2000: a hung dependency answers 503, not a hung probe). */
  readonly readinessTimeoutMs?: number;
  /** Connection timeouts; default DEFAULT_HTTP_TIMEOUTS. */
  readonly timeouts?: HttpTimeouts;
}

/** Body of /readyz. */
export interface ReadinessBody {
  readonly status: 'ready' | 'unready';
  /** Names of the checks that failed; never the error text (it may carry a URL or password). */
  readonly failed: readonly string[];
}

/** Builds (does not listen) a fastify app with GET /metrics, /healthz and /readyz. */
export function buildOpsServer(options: OpsServerOptions): FastifyInstance {
  const timeouts = options.timeouts ?? DEFAULT_HTTP_TIMEOUTS;
  const app = Fastify({
    logger: false,
    requestTimeout: timeouts.requestTimeoutMs,
    keepAliveTimeout: timeouts.keepAliveTimeoutMs,
    http: {
      headersTimeout: timeouts.headersTimeoutMs,
      requestTimeout: timeouts.requestTimeoutMs,
      // Node checks both timeouts only this often (default 30 s, which a slow client gets on top).
      connectionsCheckingInterval: connectionsCheckingIntervalMs(timeouts),
    },
  });
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

/** How often Node looks for connections past their timeouts: a second, or half the shorter timeout. */
function connectionsCheckingIntervalMs(timeouts: HttpTimeouts): number {
  return Math.max(
    10,
    Math.min(1000, Math.floor(Math.min(timeouts.headersTimeoutMs, timeouts.requestTimeoutMs) / 2)),
  );
}

/**
 * True when a listen address is reachable from this machine only (`localhost`, 127.0.0.0/8,
 * `::1`). `0.0.0.0`, `::` and every other address or name count as reachable from the network.
 */
export function isLoopbackHost(host: string): boolean {
  const normalized = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1');
  if (normalized === 'localhost' || normalized === '::1') return true;
  const v4 = normalized.startsWith('::ffff:') ? normalized.slice('::ffff:'.length) : normalized;
  return isIPv4(v4) && v4.startsWith('127.');
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
