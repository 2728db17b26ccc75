/** Redis at the start of the commands that need it (`cxr screen`, `cxr ingest`, `cxr model reference --from-source`). */
import type { AppConfig } from '@cxr/config';
import type { Logger } from '@cxr/config/log';
import {
  RedisUnreachableError,
  redisConnectionFromUrl,
  reportRedisConnectionErrors,
  waitForRedis,
} from '@cxr/queue';
import { CliError, ExitCode } from './output.js';

/**
 * Logs the command's Redis connection errors through `log` (a line when an outage starts, a count
 * every 30 s, a line when it ends: the run rides it out), then waits for Redis to answer, at most
 * CXR_REDIS_CONNECT_TIMEOUT_SECONDS: a wrong CXR_REDIS_URL or a Redis that is not running fails
 * the command with one line instead of waiting forever. False when interrupted meanwhile.
 */
export async function connectRedis(
  config: Pick<AppConfig, 'queue'>,
  log: Logger,
  signal?: AbortSignal,
): Promise<boolean> {
  reportRedisConnectionErrors(log);
  try {
    return await waitForRedis(redisConnectionFromUrl(config.queue.redisUrl), {
      timeoutMs: config.queue.connectTimeoutSeconds * 1000,
      ...(signal !== undefined ? { signal } : {}),
    });
  } catch (error) {
    if (error instanceof RedisUnreachableError) {
      throw new CliError(
        `${error.message} (check CXR_REDIS_URL; the wait is CXR_REDIS_CONNECT_TIMEOUT_SECONDS)`,
        ExitCode.Failure,
      );
    }
    throw error;
  }
}
