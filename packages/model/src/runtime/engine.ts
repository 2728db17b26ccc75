/**
 * Picks and loads an engine on the current thread. Kept apart from the engine types
 * (./engine-types.ts) that the engines import, so that no engine module imports this one back.
 */
import type { Engine, EngineSpec } from './engine-types.js';

/** Loads the engine a spec describes on the current thread. */
export async function createEngine(spec: EngineSpec): Promise<Engine> {
  // Dynamic imports: a worker pays only for the engine it runs (tfjs alone takes ~1 s to import).
  switch (spec.kind) {
    case 'onnx':
      return (await import('./onnx-engine.js')).createOnnxEngine(spec);
    case 'tfjs':
      return (await import('./tfjs-engine.js')).createTfjsEngine(spec);
  }
}
