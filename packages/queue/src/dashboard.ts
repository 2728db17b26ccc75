/**
 * The queues as BullMQ objects for the operators' queue dashboard (bull-board in the results
 * service). The one place outside this package's adapters that hands out raw BullMQ queues: the
 * dashboard library needs them to list, retry and clean jobs.
 */
import { Queue } from 'bullmq';
import { createRedisClient } from './connection.js';
import { QueueName } from './names.js';
import type { QueueLocation } from './screen-queue.js';

export interface DashboardQueues {
  /** `cxr-screen` and `cxr-results`. */
  readonly queues: readonly Queue[];
  close(): Promise<void>;
}

/** Opens both pipeline queues on one dedicated Redis connection. */
export function openDashboardQueues(location: QueueLocation): DashboardQueues {
  const redis = createRedisClient(location.connection);
  const queues = [QueueName.Screen, QueueName.Results].map((name) => {
    const queue = new Queue(name, {
      connection: redis,
      ...(location.prefix !== undefined ? { prefix: location.prefix } : {}),
    });
    queue.on('error', () => undefined);
    return queue;
  });
  return {
    queues,
    close: async () => {
      await Promise.all(queues.map((queue) => queue.close()));
      await redis.quit();
    },
  };
}
