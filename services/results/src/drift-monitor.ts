/**
 * Drift monitoring in the results service: one sliding window (@cxr/metrics DriftWindow) of the
 * served model's recent ok results against the `reference` of its bundle manifest, exported as
 * cxr_prediction_drift_psi / cxr_prediction_drift_js / cxr_positive_rate per label and
 * cxr_input_drift_psi per feature. The window lives in memory and is refilled from the store on
 * start (recentResults), so a restart does not reset the gauges.
 */
import {
  DEFAULT_DRIFT_MIN_SAMPLES,
  DEFAULT_DRIFT_WINDOW_COUNT,
  DEFAULT_DRIFT_WINDOW_SECONDS,
  DriftWindow,
  type CxrMetrics,
} from '@cxr/metrics';
import type { ModelManifest } from '@cxr/model/manifest';
import type { ResultRow, ResultStore } from '@cxr/store';
import { errorSummary, silentLogger, type Logger } from '@cxr/config/log';
import { driftObservation } from './drift-observation.js';

/**
 * How often the gauges are recomputed without new results: results age out of a time window even
 * when none arrive, and a quiet hour must not leave the last busy hour's drift on the dashboard.
 */
export const DEFAULT_DRIFT_PUBLISH_INTERVAL_MS = 15_000;

/** Options of {@link DriftMonitor.create}. */
export interface DriftMonitorOptions {
  /** The served model's manifest; undefined when none is configured or it is unreadable. */
  readonly manifest: ModelManifest | undefined;
  readonly metrics: CxrMetrics;
  /** CXR_DRIFT_WINDOW_COUNT (default DEFAULT_DRIFT_WINDOW_COUNT). */
  readonly windowCount?: number;
  /** CXR_DRIFT_WINDOW_SECONDS; 0 = no age limit (default DEFAULT_DRIFT_WINDOW_SECONDS). */
  readonly windowSeconds?: number;
  /** CXR_DRIFT_MIN_SAMPLES (default DEFAULT_DRIFT_MIN_SAMPLES). */
  readonly minSamples?: number;
  readonly publishIntervalMs?: number;
  readonly log?: Logger;
}

/** The served model's window and its gauges. */
export class DriftMonitor {
  readonly #manifest: ModelManifest;
  readonly #metrics: CxrMetrics;
  readonly #window: DriftWindow;
  readonly #windowCount: number;
  readonly #windowMs: number;
  readonly #minSamples: number;
  readonly #publishIntervalMs: number;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;

  private constructor(manifest: ModelManifest, window: DriftWindow, options: DriftMonitorOptions) {
    this.#manifest = manifest;
    this.#window = window;
    this.#metrics = options.metrics;
    this.#windowCount = options.windowCount ?? DEFAULT_DRIFT_WINDOW_COUNT;
    this.#windowMs = 1000 * (options.windowSeconds ?? DEFAULT_DRIFT_WINDOW_SECONDS);
    this.#minSamples = options.minSamples ?? DEFAULT_DRIFT_MIN_SAMPLES;
    this.#publishIntervalMs = options.publishIntervalMs ?? DEFAULT_DRIFT_PUBLISH_INTERVAL_MS;
    this.#log = options.log ?? silentLogger;
  }

  /**
   * A monitor for the manifest's model, or undefined (one info log line saying why) when there is
   * no manifest or it has no `reference`: then no drift gauge is ever exported.
   */
  static create(options: DriftMonitorOptions): DriftMonitor | undefined {
    const log = options.log ?? silentLogger;
    const { manifest } = options;
    if (manifest === undefined) {
      log('info', 'drift monitoring off: no model manifest (CXR_MODEL_DIR unset or unreadable)', {});
      return undefined;
    }
    if (manifest.reference === undefined) {
      log('info', 'drift monitoring off: the model manifest has no reference (see cxr model reference)', {
        model: manifest.id,
        version: manifest.version,
      });
      return undefined;
    }
    const window = new DriftWindow({
      reference: manifest.reference,
      labels: manifest.output.labels,
      maxCount: options.windowCount ?? DEFAULT_DRIFT_WINDOW_COUNT,
      maxAgeMs: 1000 * (options.windowSeconds ?? DEFAULT_DRIFT_WINDOW_SECONDS),
    });
    const monitor = new DriftMonitor(manifest, window, options);
    log('info', 'drift monitoring on', {
      model: manifest.id,
      version: manifest.version,
      referenceN: manifest.reference.n,
      windowCount: monitor.#windowCount,
      windowSeconds: monitor.#windowMs / 1000,
      minSamples: monitor.#minSamples,
      ...window.compared,
    });
    return monitor;
  }

  /** Results in the window. */
  get size(): number {
    return this.#window.size;
  }

  /** Feeds stored rows (ok rows of the served model only; others are ignored) written at `atMs`. */
  observe(rows: readonly ResultRow[], atMs: number): void {
    const { id, version, output } = this.#manifest;
    for (const row of rows) {
      if (row.modelId !== id || row.modelVersion !== version) continue;
      const observation = driftObservation(row, output);
      if (observation !== undefined) this.#window.add(observation, atMs);
    }
  }

  /** Recomputes the statistics at `nowMs` and sets (or removes, below minSamples) every gauge. */
  publish(nowMs = Date.now()): void {
    const snapshot = this.#window.snapshot(nowMs, this.#minSamples);
    for (const label of this.#manifest.output.labels) {
      const rate = snapshot.positiveRate.get(label);
      if (rate === undefined) this.#metrics.clearPositiveRate(label);
      else this.#metrics.setPositiveRate(label, rate);
    }
    const { labels, features } = this.#window.compared;
    for (const label of labels) {
      const psi = snapshot.predictionPsi.get(label);
      const js = snapshot.predictionJs.get(label);
      if (psi === undefined || js === undefined) {
        this.#metrics.clearPredictionDrift(label);
      } else {
        this.#metrics.setPredictionDrift(label, psi);
        this.#metrics.setPredictionDriftJs(label, js);
      }
    }
    for (const feature of features) {
      const psi = snapshot.inputPsi.get(feature);
      if (psi === undefined) this.#metrics.clearInputDrift(feature);
      else this.#metrics.setInputDrift(feature, psi);
    }
  }

  /**
   * Refills the window from the store: the newest ok rows of the served model within the window's
   * limits, each at the time it was written (updated_at). Call before consuming; returns the rows
   * read.
   */
  async rebuild(store: ResultStore, nowMs = Date.now()): Promise<number> {
    const { id, version } = this.#manifest;
    const rows = await store.recentResults({
      modelId: id,
      modelVersion: version,
      limit: this.#windowCount,
      ...(this.#windowMs > 0 ? { since: new Date(nowMs - this.#windowMs) } : {}),
    });
    for (const row of rows) this.observe([row], Date.parse(row.updatedAt));
    this.publish(nowMs);
    this.#log('info', 'drift window rebuilt from the store', {
      rows: rows.length,
      window: this.#window.size,
    });
    return rows.length;
  }

  /** Starts the periodic publish (time-based expiry without new results). */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => {
      try {
        this.publish();
      } catch (error) {
        this.#log('warn', 'drift publish failed', errorSummary(error));
      }
    }, this.#publishIntervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
