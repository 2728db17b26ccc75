export { FindingsDelivery, type FindingsDeliveryOptions } from './findings-delivery.js';
export {
  FindingsDestinationError,
  parseFindingsDestination,
  type FindingsDestination,
} from './destination.js';
export { DeliveryError } from './errors.js';
export {
  findingsSender,
  splitPart10,
  stowFailureReasons,
  type FindingsSender,
  type OutgoingFindings,
  type SenderSettings,
} from './senders.js';
export {
  openFindingsDelivery,
  type OpenFindingsDeliveryOptions,
  type OpenedFindingsDelivery,
} from './open.js';
export { sendRun, type SendRunOptions, type SendRunSummary } from './send-run.js';
