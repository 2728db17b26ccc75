/**
 * Delivery of a result's findings (its DICOM SR) to a PACS: the state the store keeps per row
 * (migration 4). Only ok results are delivered; a row that was never queued for delivery has no
 * state (null). The columns sit outside DATA_COLUMNS: a result upsert never writes them, except
 * that a replaced result clears them (its SR in the PACS describes the old result).
 */

/** `pending`: queued or retrying; `sent`: the PACS stored it; `failed`: the PACS refused it for good. */
export const DELIVERY_STATES = ['pending', 'sent', 'failed'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

/** A row's delivery state as stored. */
export interface ResultDelivery {
  readonly state: DeliveryState;
  /** Why the last attempt did not succeed (a code and a short sentence, no identifier); null when sent. */
  readonly reason: string | null;
  /** Attempts made so far (0 while queued). */
  readonly attempts: number;
  /** When the state was last written (ISO 8601, UTC). */
  readonly at: string;
}

/** What a delivery attempt writes. */
export interface DeliveryUpdate {
  readonly state: DeliveryState;
  readonly reason: string | null;
  readonly attempts: number;
  readonly at: Date;
}

/** Delivery columns, in export order. */
export const DELIVERY_COLUMNS = [
  'delivery_state',
  'delivery_reason',
  'delivery_attempts',
  'delivery_at',
] as const;

/** Longest stored reason: a PACS's failure text is cut to this. */
export const MAX_DELIVERY_REASON = 256;

export function isDeliveryState(value: unknown): value is DeliveryState {
  return DELIVERY_STATES.some((state) => state === value);
}

/** Validates an update (a programming error throws RangeError) and trims the reason. */
export function checkDeliveryUpdate(update: DeliveryUpdate): DeliveryUpdate {
  if (!isDeliveryState(update.state)) throw new RangeError('delivery state must be pending, sent or failed');
  if (!Number.isInteger(update.attempts) || update.attempts < 0)
    throw new RangeError('delivery attempts must be a non-negative integer');
  if (Number.isNaN(update.at.getTime())) throw new RangeError('delivery time is not a valid date');
  const reason = update.reason === null ? null : update.reason.slice(0, MAX_DELIVERY_REASON);
  return { ...update, reason };
}

/** Zeroed counts per delivery state. */
export function emptyDeliveryCounts(): Record<DeliveryState, number> {
  return { pending: 0, sent: 0, failed: 0 };
}
