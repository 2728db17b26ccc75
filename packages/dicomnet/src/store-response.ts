/**
 * The C-STORE response's command set (PS3.7 9.3.1.2), encoded here instead of by dcmjs-dimse.
 * The library encodes every command through dcmjs (denaturalize, then a generic writer), which
 * costs more CPU per instance than the rest of the SCP's handling of it; this writes the same
 * bytes directly (implicit VR little endian, PS3.7 6.3.1), checked against the library's encoding
 * in store-response.test.ts.
 */
import type { DimseResponses } from './library.js';

/** Command Field of a C-STORE-RSP (PS3.7 E.1). */
const C_STORE_RSP = 0x8001;
/** Command Data Set Type: no data set follows (PS3.7 E.1). */
const NO_DATA_SET = 0x0101;

/** The command elements (dcmjs names) encodeStoreResponseCommand writes. */
const ENCODED_ELEMENTS = new Set([
  'CommandField',
  'CommandDataSetType',
  'Status',
  'AffectedSOPClassUID',
  'MessageIDBeingRespondedTo',
  'AffectedSOPInstanceUID',
]);

/** What a C-STORE response says. */
export interface StoreResponseFields {
  readonly affectedSopClassUid: string;
  readonly messageIdBeingRespondedTo: number;
  readonly status: number;
  readonly affectedSopInstanceUid: string;
}

function isUint16(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffff;
}

/** A UI value padded with NUL to even length (PS3.5 9.1), as latin1 bytes. */
function uiValue(uid: string): Buffer {
  return Buffer.from(uid.length % 2 === 0 ? uid : `${uid}\0`, 'latin1');
}

/**
 * The command set, (0000,0000) group length first; undefined when a field is not what a C-STORE
 * response can carry (then the library's own encoding is used).
 */
export function encodeStoreResponseCommand(fields: StoreResponseFields): Buffer | undefined {
  const { affectedSopClassUid, affectedSopInstanceUid, messageIdBeingRespondedTo, status } = fields;
  if (!isUint16(messageIdBeingRespondedTo) || !isUint16(status)) return undefined;
  // UIDs are at most 64 characters of digits and dots (PS3.5 9.1); anything else goes the slow way.
  const uid = /^[0-9.]{1,64}$/;
  if (!uid.test(affectedSopClassUid) || !uid.test(affectedSopInstanceUid)) return undefined;
  const sopClass = uiValue(affectedSopClassUid);
  const sopInstance = uiValue(affectedSopInstanceUid);
  const groupLength = 8 + sopClass.length + 4 * (8 + 2) + 8 + sopInstance.length;
  const out = Buffer.allocUnsafe(12 + groupLength);
  let at = 0;
  const header = (element: number, length: number): void => {
    at = out.writeUInt16LE(0x0000, at);
    at = out.writeUInt16LE(element, at);
    at = out.writeUInt32LE(length, at);
  };
  const us = (element: number, value: number): void => {
    header(element, 2);
    at = out.writeUInt16LE(value, at);
  };
  header(0x0000, 4);
  at = out.writeUInt32LE(groupLength, at);
  header(0x0002, sopClass.length);
  at += sopClass.copy(out, at);
  us(0x0100, C_STORE_RSP);
  us(0x0120, messageIdBeingRespondedTo);
  us(0x0800, NO_DATA_SET);
  us(0x0900, status);
  header(0x1000, sopInstance.length);
  at += sopInstance.copy(out, at);
  return out;
}

/**
 * The response with its command set encoded by encodeStoreResponseCommand when it can be (the
 * library then sends those bytes); otherwise the response as it is.
 */
export function withFastCommandEncoding(
  response: DimseResponses.CStoreResponse,
): DimseResponses.CStoreResponse {
  const command = response.getCommandDataset();
  const elements = command.getElements();
  // Exactly the fields encodeStoreResponseCommand writes (an ErrorComment, say, goes the slow way).
  for (const [name, value] of Object.entries(elements)) {
    if (value !== undefined && !ENCODED_ELEMENTS.has(name)) return response;
  }
  if (elements['CommandField'] !== C_STORE_RSP || elements['CommandDataSetType'] !== NO_DATA_SET) {
    return response;
  }
  const encoded = encodeStoreResponseCommand({
    affectedSopClassUid: String(elements['AffectedSOPClassUID']),
    affectedSopInstanceUid: String(elements['AffectedSOPInstanceUID']),
    messageIdBeingRespondedTo: Number(elements['MessageIDBeingRespondedTo']),
    status: Number(elements['Status']),
  });
  if (encoded !== undefined) command.getDenaturalizedCommandDataset = () => encoded;
  return response;
}
