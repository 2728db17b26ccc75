import { describe, expect, it } from 'vitest';
import { Dataset, requests, responses } from './library.js';
import { DimseStatus } from './status.js';
import { encodeStoreResponseCommand, withFastCommandEncoding } from './store-response.js';

/** A C-STORE response as the SCP builds it, and the library's own encoding of its command set. */
function response(
  sopClassUid: string,
  sopInstanceUid: string,
  messageId: number,
  status: number,
): InstanceType<typeof responses.CStoreResponse> {
  const request = new requests.CStoreRequest(
    new Dataset({ SOPClassUID: sopClassUid, SOPInstanceUID: sopInstanceUid }, '1.2.840.10008.1.2.1'),
  );
  request.setMessageId(messageId);
  const rsp = responses.CStoreResponse.fromRequest(request);
  rsp.setStatus(status);
  return rsp;
}

describe('C-STORE response command set', () => {
  const cases: [string, string, number, number][] = [
    ['1.2.840.10008.5.1.4.1.1.1', '1.2.3.45', 7, DimseStatus.Success],
    ['1.2.840.10008.5.1.4.1.1.1.1', '1.2.826.0.1.3680043.2.1125.1', 1, DimseStatus.Success],
    ['1.2.840.10008.5.1.4.1.1.7', '2.25.1', 65535, DimseStatus.OutOfResources],
    ['1.2.840.10008.5.1.4.1.1.1.1.1', `1.${'2'.repeat(62)}`, 300, DimseStatus.CannotUnderstand],
    ['1.2.840.10008.5.1.4.1.1.1', '1.2.3', 12, DimseStatus.ProcessingFailure],
  ];

  it.each(cases)('is byte for byte what dcmjs-dimse encodes (%s, %s, message %i, status %i)', (...args) => {
    const library = response(...args)
      .getCommandDataset()
      .getDenaturalizedCommandDataset();
    const fast = withFastCommandEncoding(response(...args))
      .getCommandDataset()
      .getDenaturalizedCommandDataset();
    const [affectedSopClassUid, affectedSopInstanceUid, messageIdBeingRespondedTo, status] = args;
    const direct = encodeStoreResponseCommand({
      affectedSopClassUid,
      affectedSopInstanceUid,
      messageIdBeingRespondedTo,
      status,
    });
    expect(direct?.equals(library)).toBe(true);
    expect(fast.equals(library)).toBe(true);
  });

  it('leaves to the library a response it does not fully encode (an error comment, a value out of range)', () => {
    const commented = response('1.2.840.10008.5.1.4.1.1.1', '1.2.3.45', 7, DimseStatus.OutOfResources);
    commented.setErrorComment('disk full');
    // The library's own encoding, error comment included.
    const library = commented.getCommandDataset().getDenaturalizedCommandDataset();
    expect(library.includes(Buffer.from('disk full'))).toBe(true);
    expect(withFastCommandEncoding(commented).getCommandDataset().getDenaturalizedCommandDataset()).toEqual(
      library,
    );
    expect(
      encodeStoreResponseCommand({
        affectedSopClassUid: '1.2.840.10008.5.1.4.1.1.1',
        affectedSopInstanceUid: '1.2.3',
        messageIdBeingRespondedTo: 70_000,
        status: 0,
      }),
    ).toBeUndefined();
    expect(
      encodeStoreResponseCommand({
        affectedSopClassUid: '1.2.840.10008.5.1.4.1.1.1',
        affectedSopInstanceUid: '',
        messageIdBeingRespondedTo: 1,
        status: 0,
      }),
    ).toBeUndefined();
  });
});
