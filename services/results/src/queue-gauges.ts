/** Periodic sampling of the `cxr-screen` backlog into cxr_queue_jobs and the oldest-waiting age. */
import { QueueName, type ScreenQueue } from '@cxr/queue';
import type { CxrMetrics } from '@cxr/metrics';
import { errorSummary, silentLogger, type Logger } from '@cxr/config/log';

/**
 * Sampling period. Prometheus scrapes every 15-30 s and KEDA polls about as often, so 5 s keeps
 * the gauges fresh for both while costing Redis one small pipeline per period.
 */
export const DEFAULT_QUEUE_GAUGE_INTERVAL_MS = 5000;

/** Options of `QueueGaugeUpdater`. */
export interface QueueGaugeUpdaterOptions {
  readonly queue: Pick<ScreenQueue, 'counts' | 'oldestWaitingAgeSeconds'>;
  readonly metrics: CxrMetrics;
  readonly intervalMs?: number;
  readonly log?: Logger;
}

/** Updates the queue gauges every few seconds; start() / stop(). */
export class QueueGaugeUpdater {
  readonly #options: QueueGaugeUpdaterOptions;
  readonly #log: Logger;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(options: QueueGaugeUpdaterOptions) {
    this.#options = options;
    this.#log = options.log ?? silentLogger;
  }

  /** Samples once now, then every interval (a sample never overlaps the previous one). */
  start(): void {
    if (this.#stopped || this.#timer !== undefined || this.#running !== undefined) return;
    this.#tick();
  }

  /** Samples the queue once and sets the gauges; errors are logged, the gauges keep their values. */
  async update(): Promise<void> {
    try {
      const [counts, age] = await Promise.all([
        this.#options.queue.counts(),
        this.#options.queue.oldestWaitingAgeSeconds(),
      ]);
      this.#options.metrics.setQueueCounts(QueueName.Screen, counts);
      this.#options.metrics.setQueueOldestWaitingAge(QueueName.Screen, age);
    } catch (error) {
      this.#log('warn', 'queue gauge update failed', errorSummary(error));
    }
  }

  /** Stops sampling and waits for a sample in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  #tick(): void {
    this.#timer = undefined;
    this.#running = this.update().finally(() => {
      this.#running = undefined;
      if (!this.#stopped) {
        this.#timer = setTimeout(() => {
          this.#tick();
        }, this.#options.intervalMs ?? DEFAULT_QUEUE_GAUGE_INTERVAL_MS);
        // Sampling alone must not keep a process alive that is otherwise shutting down.
        this.#timer.unref();
      }
    });
  }
}
