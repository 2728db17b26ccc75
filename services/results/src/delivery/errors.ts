/**
 * Why a delivery did not succeed. `transient` faults (the PACS down or overloaded, a timeout, a
 * network error, the source object unreachable for now) are retried without limit; the others are
 * final and recorded as failed with `reason`. Messages name the destination's kind, the status and
 * the PACS's failure code: never an identifier, a URI query or a patient attribute.
 */
export class DeliveryError extends Error {
  override readonly name = 'DeliveryError';
  constructor(
    /** A short stable code: `stow_http_409`, `dimse_status_0xC000`, `pacs_unreachable`, ... */
    readonly reason: string,
    readonly transient: boolean,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message.replace(/\s*\n\s*/g, ' '), options);
  }
}
