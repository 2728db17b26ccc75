/**
 * The prediction response: the seed's shape (`diagnosis`, `confidence`, `all_probabilities`)
 * plus positives, model, runtime and per-stage timings. `cxr predict --json` prints it and
 * `POST /v1/predict` answers with it, so both are built here. Pure: no runtime is loaded.
 */
import type { Decision } from './decision.js';

/** The seed's response shape plus model, runtime and timings (`cxr predict`, `POST /v1/predict`). */
export interface PredictionResponse {
  readonly diagnosis: string;
  readonly confidence: number;
  readonly all_probabilities: Readonly<Record<string, number>>;
  readonly positives: readonly string[];
  readonly model: { readonly id: string; readonly version: string };
  readonly runtime: { readonly name: string; readonly version: string; readonly backend: readonly string[] };
  /** Stage durations in ms, rounded to 0.01 ms; the stages depend on the caller. */
  readonly timings_ms: Readonly<Record<string, number>>;
}

/** What a prediction response is built from. */
export interface PredictionParts {
  readonly decision: Pick<Decision, 'diagnosis' | 'confidence' | 'positives' | 'scores'>;
  readonly model: { readonly id: string; readonly version: string };
  readonly runtime: { readonly name: string; readonly version: string; readonly backend: readonly string[] };
  /** Unrounded stage durations in ms; undefined stages are left out. */
  readonly timingsMs: Readonly<Record<string, number | undefined>>;
}

/** Rounds a duration to 0.01 ms (response timings are for people, not for sums). */
export function roundMs(ms: number): number {
  return Math.round(ms * 100) / 100;
}

/** Builds the response (copies every part: the result holds no reference into the inputs). */
export function predictionResponse(parts: PredictionParts): PredictionResponse {
  const { decision, model, runtime } = parts;
  const timings: Record<string, number> = {};
  for (const [stage, ms] of Object.entries(parts.timingsMs)) {
    if (ms !== undefined) timings[stage] = roundMs(ms);
  }
  return {
    diagnosis: decision.diagnosis,
    confidence: decision.confidence,
    all_probabilities: { ...decision.scores },
    positives: [...decision.positives],
    model: { id: model.id, version: model.version },
    runtime: { name: runtime.name, version: runtime.version, backend: [...runtime.backend] },
    timings_ms: timings,
  };
}
