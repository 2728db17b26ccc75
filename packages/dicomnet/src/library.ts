/**
 * The one module that imports dcmjs-dimse (a CommonJS bundle). It logs every association, and
 * with some options whole data sets, to the console at trace level: silenced here, once, so no AE
 * title or patient attribute reaches stdout; this package logs through its callers' loggers.
 */
import dimse from 'dcmjs-dimse';

dimse.log.setLevel('silent');

export const { Scp, Dataset, association, constants, requests, responses } = dimse;
export type {
  Dataset as DimseDataset,
  Scp as DimseScp,
  association as DimseAssociationNamespace,
  requests as DimseRequests,
  responses as DimseResponses,
} from 'dcmjs-dimse';

/** A command field as text: the library's typings promise strings that a peer may leave out. */
export function commandText(value: unknown): string {
  return typeof value === 'string' ? value.trim() : '';
}
