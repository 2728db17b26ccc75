/**
 * Ctrl-C / SIGTERM for long commands (`cxr ingest`, `cxr screen`): the first one aborts the
 * signal passed to `run` (the command stops cleanly and reports what it did), a second one exits
 * at once with 130.
 */
export async function withInterrupt<T>(run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const stop = (): void => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    return await run(controller.signal);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
