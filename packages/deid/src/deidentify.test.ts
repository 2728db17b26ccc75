/**
 * deidentifyObject on constructed objects: UIDs (consistent across instances, runs and
 * references, remapped in the file meta), patient pseudonyms, the preamble and meta replaced,
 * private attributes, Burned In Annotation, rejections, and encodings the reader must follow
 * (implicit VR sequences, UN of undefined length, big endian, deflate).
 */
import { describe, expect, it } from 'vitest';
import dicomParser from 'dicom-parser';
import { TransferSyntax } from '@cxr/dicom';
import {
  SopClass,
  Tag,
  encodeDataSet,
  generateChestPhantom,
  littleEndianBytes,
  tag,
  writeDicom,
  type DataElement,
} from '@cxr/dicom/testing';
import {
  CANARY_PATIENT_ID,
  CANARY_PATIENT_NAME,
  buildChestDataSet,
  type ChestImageSpec,
} from '@cxr/fixtures';
import { deidentifyObject } from './deidentify.js';
import { DeidRejectedError } from './errors.js';
import { DeidSession, generateKey } from './session.js';
import { inflater, occurrences, parseOutput } from './testing/index.js';

const SIZE = { rows: 32, columns: 24 } as const;

/** A small phantom CR of the canary patient (study and series from `seed`, SOP from `instance`). */
function phantom(
  spec: Partial<ChestImageSpec> & { readonly instance?: string } = {},
  edit: (elements: DataElement[]) => DataElement[] = (elements) => elements,
  transferSyntaxUid?: string,
): Uint8Array {
  const full: ChestImageSpec = { ...SIZE, seed: 'deid', bitsAllocated: 16, bitsStored: 12, ...spec };
  const pixels = generateChestPhantom({ ...SIZE, seed: 5, bitsStored: 12 });
  let elements = buildChestDataSet(full, { kind: 'native', bytes: littleEndianBytes(pixels) });
  if (spec.instance !== undefined) {
    elements = elements.map((e) =>
      e.tag === Tag.SopInstanceUid ? { ...e, value: `1.2.826.0.1.3680043.10.7777.${spec.instance}` } : e,
    );
  }
  return writeDicom(edit(elements), transferSyntaxUid === undefined ? {} : { transferSyntaxUid });
}

function with_(elements: DataElement[], ...extra: DataElement[]): DataElement[] {
  const tags = new Set(extra.map((e) => e.tag));
  return [...elements.filter((e) => !tags.has(e.tag)), ...extra];
}

function session(key: Uint8Array = generateKey()): DeidSession {
  return new DeidSession(key, { retain: [], clean: [] });
}

function str(bytes: Uint8Array, key: string): string | undefined {
  return parseOutput(bytes).string(key)?.replace(/\0/g, '');
}

function rejection(run: () => unknown): DeidRejectedError {
  try {
    run();
  } catch (error) {
    if (error instanceof DeidRejectedError) return error;
    throw error;
  }
  throw new Error('not rejected');
}

describe('UIDs', () => {
  it('keeps a study one study: instances of one study get one new Study and Series UID, distinct SOP UIDs', () => {
    const s = session();
    const a = deidentifyObject(phantom({ instance: '1' }), s);
    const b = deidentifyObject(phantom({ instance: '2' }), s);
    expect(a.uids.studyInstanceUid).toBe(b.uids.studyInstanceUid);
    expect(a.uids.seriesInstanceUid).toBe(b.uids.seriesInstanceUid);
    expect(a.uids.sopInstanceUid).not.toBe(b.uids.sopInstanceUid);
    expect(a.uids.studyInstanceUid).not.toBe(a.originalUids.studyInstanceUid);
    expect(str(a.bytes, 'x0020000d')).toBe(a.uids.studyInstanceUid);
    expect(a.fileName).toBe(`${a.uids.sopInstanceUid}.dcm`);
  });

  it('gives the same UIDs in another run with the same key, and others with another key', () => {
    const key = generateKey();
    const first = deidentifyObject(phantom(), session(key));
    const again = deidentifyObject(phantom(), session(key));
    const other = deidentifyObject(phantom(), session());
    expect(again.uids).toEqual(first.uids);
    expect(Buffer.from(again.bytes).equals(Buffer.from(first.bytes))).toBe(true);
    expect(other.uids.sopInstanceUid).not.toBe(first.uids.sopInstanceUid);
  });

  it('writes the new SOP Instance UID into the file meta (Media Storage SOP Instance UID)', () => {
    const out = deidentifyObject(phantom(), session());
    expect(str(out.bytes, 'x00020003')).toBe(out.uids.sopInstanceUid);
    expect(str(out.bytes, 'x00080018')).toBe(out.uids.sopInstanceUid);
    expect(str(out.bytes, 'x00020002')).toBe(SopClass.ComputedRadiography);
  });

  it('replaces a reference by the same UID as the instance it references (Referenced Image Sequence)', () => {
    const s = session();
    const referenced = deidentifyObject(phantom({ instance: '1' }), s);
    const referencing = deidentifyObject(
      phantom({ instance: '2' }, (elements) =>
        with_(elements, {
          tag: tag(0x0008, 0x1140),
          vr: 'SQ',
          value: [
            [
              { tag: tag(0x0008, 0x1150), vr: 'UI', value: SopClass.ComputedRadiography },
              { tag: tag(0x0008, 0x1155), vr: 'UI', value: '1.2.826.0.1.3680043.10.7777.1' },
            ],
          ],
        }),
      ),
      s,
    );
    const item = parseOutput(referencing.bytes).elements.x00081140?.items?.[0]?.dataSet;
    expect(item?.string('x00081155')).toBe(referenced.uids.sopInstanceUid);
    // The SOP Class UID is not an identifier: it stays.
    expect(item?.string('x00081150')).toBe(SopClass.ComputedRadiography);
  });
});

describe('patient', () => {
  it('replaces Patient Name and ID by one keyed pseudonym per patient', () => {
    const s = session();
    const a = deidentifyObject(phantom({ instance: '1' }), s);
    const b = deidentifyObject(phantom({ instance: '2' }), s);
    const c = deidentifyObject(phantom({ instance: '3', patientId: 'OTHER-9', patientName: 'OTHER^P' }), s);
    const id = str(a.bytes, 'x00100020');
    expect(id).toMatch(/^ANON-[0-9A-Z]{12}$/);
    expect(str(a.bytes, 'x00100010')).toBe(`${id}^`);
    expect(str(b.bytes, 'x00100020')).toBe(id);
    expect(str(c.bytes, 'x00100020')).not.toBe(id);
    expect(
      s
        .state()
        .patients.map((p) => p.patientId)
        .sort(),
    ).toEqual([CANARY_PATIENT_ID, 'OTHER-9'].sort());
  });

  it('leaves no trace of the canary patient anywhere in the file', () => {
    const out = deidentifyObject(phantom(), session());
    expect(occurrences(out.bytes, CANARY_PATIENT_NAME)).toBe(0);
    expect(occurrences(out.bytes, CANARY_PATIENT_ID)).toBe(0);
    expect(occurrences(out.bytes, 'CANARY')).toBe(0);
    expect(out.fileName).not.toContain('CANARY');
  });
});

describe('Part 10 wrapper', () => {
  it('replaces the preamble and the file meta: nothing of either survives', () => {
    const input = phantom();
    // Identity in the preamble (128 free bytes) and in the meta's Source AE Title.
    input.set(Buffer.from(`PREAMBLE ${CANARY_PATIENT_NAME}`, 'latin1'), 0);
    const metaEnd = 132 + 12 + new DataView(input.buffer, input.byteOffset).getUint32(140, true);
    const aeTitle = Buffer.from([
      0x02,
      0x00,
      0x16,
      0x00,
      0x41,
      0x45,
      0x10,
      0x00,
      ...Buffer.from('CANARY AE TITLE '),
    ]);
    const withAe = Buffer.concat([input.subarray(0, metaEnd), aeTitle, input.subarray(metaEnd)]);
    withAe.writeUInt32LE(
      new DataView(input.buffer, input.byteOffset).getUint32(140, true) + aeTitle.length,
      140,
    );
    const out = deidentifyObject(new Uint8Array(withAe), session());
    expect(out.bytes.subarray(0, 128).every((byte) => byte === 0)).toBe(true);
    expect(occurrences(out.bytes, 'CANARY')).toBe(0);
    expect(parseOutput(out.bytes).elements.x00020016).toBeUndefined();
    expect(str(out.bytes, 'x00020012')).toMatch(/^2\.25\./);
  });

  it.each([
    ['explicit VR little endian', TransferSyntax.ExplicitVRLittleEndian],
    ['implicit VR little endian', TransferSyntax.ImplicitVRLittleEndian],
    ['explicit VR big endian', TransferSyntax.ExplicitVRBigEndian],
    ['deflated explicit VR little endian', TransferSyntax.DeflatedExplicitVRLittleEndian],
  ])('keeps the %s transfer syntax and the Pixel Data bytes', (_name, syntax) => {
    const input = phantom({}, (e) => e, syntax);
    const out = deidentifyObject(input, session());
    expect(out.transferSyntaxUid).toBe(syntax);
    expect(str(out.bytes, 'x00020010')).toBe(syntax);
    const pixels = (bytes: Uint8Array): Buffer => {
      const parsed = dicomParser.parseDicom(bytes, { inflater });
      const element = parsed.elements.x7fe00010!;
      return Buffer.from(parsed.byteArray.subarray(element.dataOffset, element.dataOffset + element.length));
    };
    expect(pixels(out.bytes).equals(pixels(input))).toBe(true);
    expect(occurrences(out.bytes, 'CANARY')).toBe(0);
  });
});

describe('sequences in every encoding', () => {
  const referencedItem: DataElement[] = [
    { tag: tag(0x0008, 0x1150), vr: 'UI', value: SopClass.ComputedRadiography },
    { tag: tag(0x0008, 0x1155), vr: 'UI', value: '1.2.826.0.1.3680043.10.7777.42' },
  ];
  const personItem: DataElement[] = [{ tag: tag(0x0040, 0xa123), vr: 'PN', value: 'CANARY^OPERATOR' }];

  it('follows implicit VR sequences the table does not list (found by their first item, no VR to go by)', () => {
    const s = session();
    const out = deidentifyObject(
      phantom(
        {},
        (elements) =>
          with_(
            elements,
            // Not in Table E.1-1: found as a sequence only because its value starts with an item.
            { tag: tag(0x0008, 0x9121), vr: 'SQ', value: [referencedItem] },
            { tag: tag(0x0040, 0xa730), vr: 'SQ', value: [personItem] },
          ),
        TransferSyntax.ImplicitVRLittleEndian,
      ),
      s,
    );
    expect(occurrences(out.bytes, '1.2.826.0.1.3680043.10.7777.42')).toBe(0);
    expect(occurrences(out.bytes, s.uid('1.2.826.0.1.3680043.10.7777.42'))).toBe(1);
    expect(occurrences(out.bytes, 'CANARY')).toBe(0);
  });

  /** `input` with the sequence `tagNumber` (items of `item`) written as UN of defined length. */
  function asUnknown(input: Uint8Array, tagNumber: number, item: DataElement[]): Uint8Array {
    const sq = dicomParser.parseDicom(input).elements[`x${tagNumber.toString(16).padStart(8, '0')}`]!;
    const itemBody = encodeDataSet(item, { explicitVr: false, bigEndian: false });
    const itemHeader = Buffer.alloc(8);
    itemHeader.writeUInt16LE(0xfffe, 0);
    itemHeader.writeUInt16LE(0xe000, 2);
    itemHeader.writeUInt32LE(itemBody.length, 4);
    const un = Buffer.alloc(12);
    un.writeUInt16LE(tagNumber >>> 16, 0);
    un.writeUInt16LE(tagNumber & 0xffff, 2);
    un.write('UN', 4, 'latin1');
    un.writeUInt32LE(itemHeader.length + itemBody.length, 8);
    return new Uint8Array(
      Buffer.concat([
        input.subarray(0, sq.dataOffset - 12),
        un,
        itemHeader,
        itemBody,
        input.subarray(sq.dataOffset + sq.length),
      ]),
    );
  }

  it('de-identifies sequences written as UN of defined length (implicit VR items, PS3.5 6.2.2)', () => {
    const s = session();
    // One the table lists (references kept, UIDs replaced), one it does not (a person name inside).
    const listed = tag(0x0008, 0x1140);
    const unlisted = tag(0x0008, 0x9121);
    let input = phantom({}, (elements) =>
      with_(
        elements,
        { tag: listed, vr: 'SQ', value: [referencedItem] },
        { tag: unlisted, vr: 'SQ', value: [personItem] },
      ),
    );
    input = asUnknown(input, listed, referencedItem);
    input = asUnknown(input, unlisted, personItem);
    const out = deidentifyObject(input, s);
    expect(occurrences(out.bytes, 'CANARY')).toBe(0);
    expect(occurrences(out.bytes, '1.2.826.0.1.3680043.10.7777.42')).toBe(0);
    expect(occurrences(out.bytes, s.uid('1.2.826.0.1.3680043.10.7777.42'))).toBe(1);
  });

  it('de-identifies a sequence written as UN of undefined length (implicit VR items, PS3.5 6.2.2)', () => {
    const s = session();
    const input = phantom({}, (elements) =>
      with_(elements, { tag: tag(0x0008, 0x1140), vr: 'SQ', value: [referencedItem] }),
    );
    // Re-encode the Referenced Image Sequence as UN with undefined length and implicit VR items.
    const parsed = dicomParser.parseDicom(input);
    const sq = parsed.elements.x00081140!;
    const itemBody = encodeDataSet(referencedItem, { explicitVr: false, bigEndian: false });
    const un = Buffer.alloc(12);
    un.writeUInt16LE(0x0008, 0);
    un.writeUInt16LE(0x1140, 2);
    un.write('UN', 4, 'latin1');
    un.writeUInt32LE(0xffffffff, 8);
    const item = Buffer.alloc(8);
    item.writeUInt16LE(0xfffe, 0);
    item.writeUInt16LE(0xe000, 2);
    item.writeUInt32LE(0xffffffff, 4);
    const delimiters = Buffer.from([0xfe, 0xff, 0x0d, 0xe0, 0, 0, 0, 0, 0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0]);
    const start = sq.dataOffset - 12;
    const end = sq.dataOffset + sq.length;
    const rewritten = Buffer.concat([
      input.subarray(0, start),
      un,
      item,
      itemBody,
      delimiters,
      input.subarray(end),
    ]);
    const out = deidentifyObject(new Uint8Array(rewritten), s);
    expect(occurrences(out.bytes, '1.2.826.0.1.3680043.10.7777.42')).toBe(0);
    expect(occurrences(out.bytes, s.uid('1.2.826.0.1.3680043.10.7777.42'))).toBe(1);
  });
});

describe('action D on a sequence', () => {
  it('replaces every value inside, instance UIDs by their replacements, and keeps the standard UIDs and code strings', () => {
    const s = session();
    const out = deidentifyObject(
      phantom({}, (elements) =>
        with_(elements, {
          tag: tag(0x0040, 0xa730), // Content Sequence: D
          vr: 'SQ',
          value: [
            [
              { tag: tag(0x0040, 0xa010), vr: 'CS', value: 'CONTAINS' },
              { tag: tag(0x0040, 0xa040), vr: 'CS', value: 'PNAME' },
              { tag: tag(0x0040, 0xa123), vr: 'PN', value: 'CANARY^OBSERVER' },
              {
                tag: tag(0x0008, 0x1199),
                vr: 'SQ',
                value: [
                  [
                    { tag: tag(0x0008, 0x1150), vr: 'UI', value: SopClass.ComputedRadiography },
                    { tag: tag(0x0008, 0x1155), vr: 'UI', value: '1.2.826.0.1.3680043.10.7777.9' },
                  ],
                ],
              },
            ],
          ],
        }),
      ),
      s,
    );
    const item = parseOutput(out.bytes).elements.x0040a730?.items?.[0]?.dataSet;
    expect(item?.string('x0040a010')).toBe('CONTAINS');
    expect(item?.string('x0040a040')).toBe('PNAME');
    expect(item?.string('x0040a123')).toBe('ANONYMIZED^');
    const reference = item?.elements.x00081199?.items?.[0]?.dataSet;
    expect(reference?.string('x00081150')).toBe(SopClass.ComputedRadiography);
    expect(reference?.string('x00081155')).toBe(s.uid('1.2.826.0.1.3680043.10.7777.9'));
    expect(occurrences(out.bytes, 'CANARY')).toBe(0);
  });
});

describe('private attributes', () => {
  const privateBlocks: DataElement[] = [
    { tag: tag(0x0019, 0x0010), vr: 'LO', value: 'GEMS_ACQU_01' },
    { tag: tag(0x0019, 0x1023), vr: 'DS', value: '1.375' }, // Table Speed: safe (Table E.3.10-1)
    { tag: tag(0x0019, 0x1030), vr: 'LO', value: 'CANARY PRIVATE NOTE' }, // not listed: not safe
    { tag: tag(0x0029, 0x0010), vr: 'LO', value: 'CANARY VENDOR' },
    { tag: tag(0x0029, 0x1010), vr: 'OB', value: new Uint8Array(Buffer.from('CANARY BLOB ', 'latin1')) },
  ];

  it('removes every private attribute by default', () => {
    const out = deidentifyObject(
      phantom({}, (e) => with_(e, ...privateBlocks)),
      session(),
    );
    const groups = Object.keys(parseOutput(out.bytes).elements).map((key) =>
      Number.parseInt(key.slice(1, 5), 16),
    );
    expect(groups.filter((group) => group % 2 === 1)).toEqual([]);
    expect(occurrences(out.bytes, 'CANARY')).toBe(0);
  });

  it('keeps the safe ones and their creator with retain safe-private, and nothing else', () => {
    const s = new DeidSession(generateKey(), { retain: ['safe-private'], clean: [] });
    const out = deidentifyObject(
      phantom({}, (e) => with_(e, ...privateBlocks)),
      s,
    );
    const parsed = parseOutput(out.bytes);
    expect(parsed.string('x00190010')).toBe('GEMS_ACQU_01');
    expect(parsed.string('x00191023')).toBe('1.375');
    expect(parsed.elements.x00191030).toBeUndefined();
    expect(parsed.elements.x00290010).toBeUndefined();
    expect(occurrences(out.bytes, 'CANARY')).toBe(0);
    expect(parsed.elements.x00120064?.items?.map((i) => i.dataSet?.string('x00080100'))).toEqual([
      '113100',
      '113111',
    ]);
  });
});

describe('Burned In Annotation', () => {
  const burnedIn = (elements: DataElement[]): DataElement[] =>
    with_(elements, { tag: tag(0x0028, 0x0301), vr: 'CS', value: 'YES' });

  it('says so and still writes the object (its pixels are not cleaned)', () => {
    const out = deidentifyObject(phantom({}, burnedIn), session());
    expect(out.burnedInAnnotation).toBe(true);
    expect(deidentifyObject(phantom(), session()).burnedInAnnotation).toBe(false);
  });

  it('refuses the object with rejectBurnedIn', () => {
    const error = rejection(() =>
      deidentifyObject(phantom({}, burnedIn), session(), { rejectBurnedIn: true }),
    );
    expect(error.reason).toBe('burned_in_annotation');
  });
});

describe('rejections', () => {
  it.each([
    ['not_dicom', new Uint8Array(Buffer.from(`not a DICOM file ${CANARY_PATIENT_NAME}`, 'latin1'))],
    ['truncated', phantom().subarray(0, 400)],
    ['no_sop_instance_uid', phantom({}, (elements) => elements.filter((e) => e.tag !== Tag.SopInstanceUid))],
    [
      // 2,000 short UIDs fit a UI value (16-bit length); their 44-character replacements do not.
      'malformed',
      phantom({}, (elements) =>
        with_(elements, {
          tag: tag(0x0008, 0x0058),
          vr: 'UI',
          value: Array.from({ length: 2000 }, (_, i) => `1.2.3.${i + 1}`),
        }),
      ),
    ],
    [
      'dicomdir',
      writeDicom([
        { tag: Tag.SopClassUid, vr: 'UI', value: '1.2.840.10008.1.3.10' },
        { tag: Tag.SopInstanceUid, vr: 'UI', value: '1.2.3.4' },
        { tag: Tag.PatientName, vr: 'PN', value: CANARY_PATIENT_NAME },
      ]),
    ],
  ])('%s', (reason, bytes) => {
    const error = rejection(() => deidentifyObject(bytes, session()));
    expect(error.reason).toBe(reason);
    expect(error.message).not.toContain('CANARY');
  });
});
