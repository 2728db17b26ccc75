/**
 * DIMSE status codes (PS3.7 Annex C, PS3.4 B.2.3 and C.4) this package sends or reads, and how a
 * finished DIMSE operation is classified: the `status_class` label of cxr_pacs_requests_total.
 */

export const DimseStatus = {
  Success: 0x0000,
  Pending: 0xff00,
  PendingWarning: 0xff01,
  Cancel: 0xfe00,
  /** C-STORE: the SCP could not store (disk, S3 or queue error). */
  OutOfResources: 0xa700,
  /** C-FIND/C-MOVE/C-GET: refused, too many matches or sub-operations. */
  OutOfResourcesMatches: 0xa701,
  OutOfResourcesSubOperations: 0xa702,
  MoveDestinationUnknown: 0xa801,
  DataSetDoesNotMatchSopClass: 0xa900,
  /** C-STORE: the data set is not readable DICOM, or not the instance the command names. */
  CannotUnderstand: 0xc000,
  ProcessingFailure: 0x0110,
  SopClassNotSupported: 0x0122,
  SubOperationsCompleteWithFailures: 0xb000,
} as const;

/** How a DIMSE exchange ended (the same words as @cxr/metrics' PACS status classes). */
export type DimseOutcome = 'success' | 'warning' | 'failure' | 'refused' | 'network' | 'timeout';

/** Classifies a final DIMSE response status (PS3.7 C.1: 0000 success, Bxxx/0001/0107/0116 warning). */
export function outcomeOfStatus(status: number): Exclude<DimseOutcome, 'refused' | 'network' | 'timeout'> {
  if (status === DimseStatus.Success) return 'success';
  if ((status & 0xf000) === 0xb000 || status === 0x0001 || status === 0x0107 || status === 0x0116) {
    return 'warning';
  }
  return 'failure';
}

/** A status as four hex digits, for error messages (`0xA700`). */
export function formatStatus(status: number): string {
  return `0x${status.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * A DIMSE exchange that did not succeed. `outcome` says how (association refused, network,
 * timeout, a failure status) and `transient` whether trying again later can help. Messages name
 * the operation, the peer's AE title and address and the status: never an identifier or query value.
 */
export class DimseError extends Error {
  override readonly name = 'DimseError';
  constructor(
    readonly outcome: Exclude<DimseOutcome, 'success'>,
    readonly transient: boolean,
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
