import { TransferSyntax } from '@cxr/dicom';
import { describe, expect, it } from 'vitest';
import { ACCEPTED_TRANSFER_SYNTAXES, chooseTransferSyntax, isValidAeTitle, isValidUid } from './uids.js';

describe('transfer syntax negotiation', () => {
  it('accepts every syntax the decoder reads', () => {
    expect([...ACCEPTED_TRANSFER_SYNTAXES].sort()).toEqual(Object.values(TransferSyntax).sort());
  });

  it("keeps a sender's compressed syntax over the uncompressed ones it offers beside it", () => {
    const proposed = [
      TransferSyntax.ImplicitVRLittleEndian,
      TransferSyntax.ExplicitVRLittleEndian,
      TransferSyntax.JpegLosslessSV1,
    ];
    expect(chooseTransferSyntax(proposed)).toBe(TransferSyntax.JpegLosslessSV1);
    expect(
      chooseTransferSyntax([TransferSyntax.ImplicitVRLittleEndian, TransferSyntax.ExplicitVRLittleEndian]),
    ).toBe(TransferSyntax.ExplicitVRLittleEndian);
  });

  it('refuses a context offering only syntaxes the decoder cannot read (MPEG2)', () => {
    expect(chooseTransferSyntax(['1.2.840.10008.1.2.4.100'])).toBeUndefined();
  });
});

describe('isValidUid', () => {
  it('takes DICOM UIDs and nothing that could be a path', () => {
    expect(isValidUid('1.2.840.10008.5.1.4.1.1.1')).toBe(true);
    expect(isValidUid('2.25.0')).toBe(true);
    for (const bad of ['', '../etc/passwd', '1.2/3', '1..2', '1.02', `1.${'1'.repeat(63)}`, '1.2.', 'a.b']) {
      expect(isValidUid(bad), bad).toBe(false);
    }
  });
});

describe('isValidAeTitle', () => {
  it('takes 1-16 characters without backslash or control characters', () => {
    expect(isValidAeTitle('CXR')).toBe(true);
    expect(isValidAeTitle('A'.repeat(17))).toBe(false);
    expect(isValidAeTitle('A\\B')).toBe(false);
    expect(isValidAeTitle('   ')).toBe(false);
  });
});
