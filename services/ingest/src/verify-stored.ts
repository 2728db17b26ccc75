/**
 * `verifyStored`: lists a source again and counts the objects that have no row in the store for a
 * model version. `cxr screen` calls it after its queues drained, so that "complete" means what it
 * says: every object the source holds has its row (a result lost on its way to the store, or an
 * object that appeared during the run, shows up here; running the command again screens them).
 */
import type { ObjectSource } from '@cxr/storage';
import type { ResultStore } from '@cxr/store';

/** Objects per `existingKeys` round trip. */
const VERIFY_CHUNK = 1000;

export interface VerifyStoredOptions {
  readonly source: ObjectSource;
  readonly store: Pick<ResultStore, 'existingKeys'>;
  readonly modelId: string;
  readonly modelVersion: string;
  /** Stops the listing; the result then says `complete: false`. */
  readonly signal?: AbortSignal;
}

export interface VerifyStoredResult {
  /** Objects listed. */
  readonly listed: number;
  /** Of those, objects with no row for the model version. */
  readonly missing: number;
  /** False when the signal stopped the listing first. */
  readonly complete: boolean;
}

/** Counts the objects of `source` without a row in `store`; see the file comment. */
export async function verifyStored(options: VerifyStoredOptions): Promise<VerifyStoredResult> {
  const { source, store, modelId, modelVersion, signal } = options;
  let listed = 0;
  let missing = 0;
  let chunk: string[] = [];
  const check = async (): Promise<void> => {
    const existing = await store.existingKeys(chunk.map((uri) => ({ uri, modelId, modelVersion })));
    const stored = new Set(existing.map((row) => row.uri));
    // A URI listed twice (a manifest repeating a line) is one object with one row.
    for (const uri of new Set(chunk)) if (!stored.has(uri)) missing += 1;
    chunk = [];
  };
  for await (const entry of source.list()) {
    if (signal?.aborted === true) return { listed, missing, complete: false };
    listed += 1;
    chunk.push(entry.uri);
    if (chunk.length >= VERIFY_CHUNK) await check();
  }
  if (chunk.length > 0) await check();
  return { listed, missing, complete: true };
}
