/**
 * bull-board (the queue dashboard for operators: counts, failed jobs with their reasons, retry and
 * clean) mounted at /admin/queues behind the API token. A browser sends the token as the password
 * of HTTP Basic (any user name) from its own prompt; scripts may send it as a bearer token.
 *
 * Job payloads carry the object URI (the worker fetches it), and object names may carry patient
 * data: the dashboard shows each `uri` as its `uriHash`, like the logs. Editing a job's data is
 * refused, since the data shown is not the data stored.
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance } from 'fastify';
import { redactUris } from '@cxr/config/log';
import type { DashboardQueues } from '@cxr/queue';
import { bearerOrBasicToken, tokenMatches } from './auth.js';

export const QUEUE_DASHBOARD_PATH = '/admin/queues';

export interface QueueDashboardOptions {
  readonly queues: DashboardQueues['queues'];
  /** CXR_API_TOKEN; required: the dashboard can retry and delete jobs. */
  readonly token: string;
}

/** Registers the dashboard and its token check in their own fastify scope. */
export function registerQueueDashboard(app: FastifyInstance, options: QueueDashboardOptions): void {
  void app.register(async (scope) => {
    scope.addHook('onRequest', async (request, reply) => {
      const given = bearerOrBasicToken(request.headers.authorization);
      if (given === undefined || !tokenMatches(given, options.token)) {
        await reply
          .code(401)
          .header('www-authenticate', 'Basic realm="cxr queues", charset="UTF-8"')
          .send({ error: 'unauthorized', reason: 'the queue dashboard needs the API token' });
        return;
      }
      // The data the dashboard shows has its URIs replaced by hashes: saved back, it would break the job.
      if (request.method === 'PATCH' && request.url.split('?')[0]?.endsWith('/update-data') === true) {
        await reply
          .code(405)
          .send({ error: 'method not allowed', reason: 'job data is read-only on this dashboard' });
      }
    });
    const serverAdapter = new FastifyAdapter();
    serverAdapter.setBasePath(QUEUE_DASHBOARD_PATH);
    createBullBoard({
      queues: options.queues.map((queue) => {
        const adapter = new BullMQAdapter(queue);
        adapter.setFormatter('data', (data: unknown) => redactUris(data));
        adapter.setFormatter('returnValue', (value: unknown) => redactUris(value));
        return adapter;
      }),
      serverAdapter,
      options: { uiConfig: { boardTitle: 'cxr-pipeline queues' } },
    });
    await scope.register(serverAdapter.registerPlugin(), { prefix: QUEUE_DASHBOARD_PATH });
  });
}
