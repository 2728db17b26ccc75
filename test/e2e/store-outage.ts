/**
 * Shared by the store-outage end-to-end tests: how long the store stays down. The results
 * service used to give a result message 5 attempts with 5/10/20/40 s backoff (75 s) before moving
 * it to the failed set for good; the tests keep the store down for three times that, as the
 * audit asked. CXR_TEST_STORE_OUTAGE_SECONDS shortens it for a quick local run only.
 */
export const OLD_RESULT_RETRY_BUDGET_SECONDS = 5 + 10 + 20 + 40;

export const STORE_OUTAGE_MS =
  1000 * Number(process.env.CXR_TEST_STORE_OUTAGE_SECONDS ?? 3 * OLD_RESULT_RETRY_BUDGET_SECONDS);

/** The line the results service logs when the store starts refusing writes. */
export const STORE_UNAVAILABLE = /"msg":"store unavailable: result consumption paused, retrying"/;
/** The line it logs when writes succeed again. */
export const STORE_BACK = /"msg":"store available again: result consumption resumed"/;
