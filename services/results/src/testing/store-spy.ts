/** Helpers of the results service's integration tests: polling, and a store that records and fails upserts. */
import type { ResultRow, ResultStore, UpsertOptions } from '@cxr/store';

/** Polls `condition` every 50 ms until it holds; throws naming `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Wraps a store: records each upsert (its size, and whether forced) and can fail the next `failNext` upserts. */
export function instrumented(store: ResultStore): {
  store: ResultStore;
  upserts: { size: number; force: boolean }[];
  failNext: { count: number };
} {
  const upserts: { size: number; force: boolean }[] = [];
  const failNext = { count: 0 };
  const wrapped: ResultStore = Object.create(store) as ResultStore;
  wrapped.upsertResults = async (rows: readonly ResultRow[], options?: UpsertOptions) => {
    if (failNext.count > 0) {
      failNext.count -= 1;
      throw new Error('simulated store outage');
    }
    upserts.push({ size: rows.length, force: options?.force === true });
    return store.upsertResults(rows, options);
  };
  return { store: wrapped, upserts, failNext };
}
