/**
 * The store's errors a caller tells apart, in a module that imports nothing: the command line maps
 * them to exit codes without loading the SQLite and PostgreSQL drivers.
 */

/** The store a read was pointed at does not exist (no SQLite file, no tables): nothing was created. */
export class StoreNotFoundError extends Error {
  override readonly name = 'StoreNotFoundError';
}

/** The run has no rows in the store (an unknown id, or a run whose rows are gone). */
export class UnknownRunError extends Error {
  override readonly name = 'UnknownRunError';
  constructor(readonly runId: string) {
    super(`run ${runId} has no results in the store`);
  }
}
