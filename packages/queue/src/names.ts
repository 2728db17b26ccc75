/**
 * Queue and job names. These strings are contracts: Redis keys, dashboards
 * (`cxr_queue_jobs{queue}`) and KEDA scalers in infra/ use them, so change one only on purpose
 * and everywhere at once (ARCHITECTURE.md, Metrics).
 */

/** BullMQ queue names. */
export const QueueName = {
  Screen: 'cxr-screen',
  Results: 'cxr-results',
  /** Findings (DICOM SR) of stored results on their way to a PACS. */
  Findings: 'cxr-findings',
} as const;
export type QueueName = (typeof QueueName)[keyof typeof QueueName];

/** Job names; each one belongs to exactly one queue (see `queueOfJob`). */
export const JobName = {
  /** Screen one stored object: fetch, decode, preprocess, infer. */
  ScreenObject: 'screen-object',
  /**
   * Screen several stored objects in one job (CXR_OBJECTS_PER_JOB > 1): per-object outcomes,
   * result messages and retries; one queue round trip for all of them.
   */
  ScreenObjects: 'screen-objects',
  /** Carry one outcome (ok, rejected, failed) from a worker to the results service. */
  ScreenResult: 'screen-result',
  /**
   * Carry the outcomes of several objects of one `screen-objects` job (versioned payload, each
   * entry a `screen-result` payload): one `cxr-results` job, one store transaction for all of them.
   */
  ScreenResults: 'screen-results',
  /** Build the SR of one stored result and send it to a PACS (STOW-RS or C-STORE). */
  DeliverFindings: 'deliver-findings',
} as const;
export type JobName = (typeof JobName)[keyof typeof JobName];

/**
 * The queue each job goes to. A `Record` over every `JobName` makes the compiler reject a job
 * name that has no queue (Immich's pattern).
 */
export const queueOfJob: Readonly<Record<JobName, QueueName>> = {
  [JobName.ScreenObject]: QueueName.Screen,
  [JobName.ScreenObjects]: QueueName.Screen,
  [JobName.ScreenResult]: QueueName.Results,
  [JobName.ScreenResults]: QueueName.Results,
  [JobName.DeliverFindings]: QueueName.Findings,
};
