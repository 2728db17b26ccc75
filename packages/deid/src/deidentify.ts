/**
 * De-identification of one DICOM object: bytes in, bytes out, with the session's keyed
 * replacements. Pixel Data is copied byte for byte (native or encapsulated): this profile cleans
 * attributes, not pixels, so text burned into an image stays; Burned In Annotation (0028,0301)
 * says when the writer knew of some.
 */
import { MAX_SEQUENCE_DEPTH } from '@cxr/dicom';
import { methodCodes } from './codes.js';
import { readDataSet, valueBytes, valueText, type ElementNode } from './dataset.js';
import { DeidRejectedError } from './errors.js';
import { readInputDataSet, writePart10 } from './part10.js';
import { profileEntryFor } from './profile.js';
import { rewriteDataSet, type Insertion } from './rewrite.js';
import { deidentifiedFileName, unpadded, type DeidSession, type PatientPseudonym } from './session.js';

const Tags = {
  SpecificCharacterSet: 0x00080005,
  SopClassUid: 0x00080016,
  SopInstanceUid: 0x00080018,
  CodeValue: 0x00080100,
  CodingSchemeDesignator: 0x00080102,
  CodeMeaning: 0x00080104,
  PatientName: 0x00100010,
  PatientId: 0x00100020,
  IssuerOfPatientId: 0x00100021,
  PatientIdentityRemoved: 0x00120062,
  DeidentificationMethod: 0x00120063,
  DeidentificationMethodCodeSequence: 0x00120064,
  StudyInstanceUid: 0x0020000d,
  SeriesInstanceUid: 0x0020000e,
  BurnedInAnnotation: 0x00280301,
  LongitudinalTemporalInformationModified: 0x00280303,
} as const;

/** Media Storage Directory Storage: a DICOMDIR. */
const DICOMDIR_SOP_CLASS = '1.2.840.10008.1.3.10';

export interface DeidentifyOptions {
  /** Refuse (DeidRejectedError `burned_in_annotation`) objects whose Burned In Annotation is YES. */
  readonly rejectBurnedIn?: boolean;
}

/** UIDs of an object before and after (PHI before: for the map only). */
export interface InstanceUids {
  readonly sopInstanceUid: string;
  readonly studyInstanceUid: string | null;
  readonly seriesInstanceUid: string | null;
}

/** A de-identified object. */
export interface DeidentifiedObject {
  /** The Part 10 file to write. */
  readonly bytes: Uint8Array;
  /** The file name to write it under: its new SOP Instance UID, never anything of the input's name. */
  readonly fileName: string;
  readonly uids: InstanceUids;
  /** The input's UIDs: PHI, for the re-identification map only. */
  readonly originalUids: InstanceUids;
  /** Burned In Annotation (0028,0301) is YES: the pixels may show identifying text. */
  readonly burnedInAnnotation: boolean;
  readonly transferSyntaxUid: string;
  readonly patient: PatientPseudonym;
}

/** Whether an implicit VR element is a sequence, by the table's VR (the reader guesses the others). */
function sequenceHint(tag: number): boolean | undefined {
  const vr = profileEntryFor(tag)?.vr;
  if (vr === undefined) return undefined;
  return vr === 'SQ';
}

function topLevel(elements: readonly ElementNode[], tag: number): ElementNode | undefined {
  // Elements are in tag order in any valid data set; a linear scan is cheap at the top level.
  return elements.find((element) => element.tag === tag);
}

/** De-identification Method (0012,0063): the profile and each option, one value each (LO, VM 1-n). */
function methodInsertions(session: DeidSession): Insertion[] {
  const codes = methodCodes(session.options);
  const dates = session.options.retain.includes('dates')
    ? 'UNMODIFIED'
    : session.options.retain.includes('modified-dates')
      ? 'MODIFIED'
      : 'REMOVED';
  return [
    { tag: Tags.PatientIdentityRemoved, vr: 'CS', value: 'YES' },
    { tag: Tags.DeidentificationMethod, vr: 'LO', value: codes.map((code) => code.meaning).join('\\') },
    {
      tag: Tags.DeidentificationMethodCodeSequence,
      vr: 'SQ',
      value: codes.map((code) => [
        { tag: Tags.CodeValue, vr: 'SH', value: code.value },
        { tag: Tags.CodingSchemeDesignator, vr: 'SH', value: code.scheme },
        { tag: Tags.CodeMeaning, vr: 'LO', value: code.meaning },
      ]),
    },
    // PS3.15 E.2 and E.3.6: whether dates were removed, kept or modified.
    { tag: Tags.LongitudinalTemporalInformationModified, vr: 'CS', value: dates },
  ];
}

/** A person name or ID as text for the map: UTF-8 when the object says ISO_IR 192, else Latin-1. */
function decodedText(bytes: Uint8Array, element: ElementNode | undefined, utf8: boolean): string | undefined {
  if (element === undefined || element.length === undefined) return undefined;
  const text = Buffer.from(valueBytes(bytes, element)).toString(utf8 ? 'utf8' : 'latin1');
  return unpadded(text);
}

/**
 * De-identifies one object under the session's profile. Throws DeidRejectedError for an object
 * that is not written (not DICOM, truncated, malformed, no SOP Instance UID, a DICOMDIR, or burned
 * in annotation with `rejectBurnedIn`); its message never holds patient data.
 */
export function deidentifyObject(
  bytes: Uint8Array,
  session: DeidSession,
  options: DeidentifyOptions = {},
): DeidentifiedObject {
  const input = readInputDataSet(bytes);
  const elements = readDataSet(input.bytes, input.start, input.encoding, {
    maxDepth: MAX_SEQUENCE_DEPTH,
    isSequence: sequenceHint,
  });
  const text = (tag: number): string | undefined => {
    const element = topLevel(elements, tag);
    return element === undefined ? undefined : valueText(input.bytes, element);
  };

  const sopClassUid = text(Tags.SopClassUid) ?? input.metaSopClassUid;
  if (sopClassUid === DICOMDIR_SOP_CLASS) {
    throw new DeidRejectedError(
      'dicomdir',
      'a DICOMDIR names the original files and their folders: it is not de-identified (make a new one from the output)',
    );
  }
  const sopInstanceUid = unpadded(text(Tags.SopInstanceUid) ?? '');
  if (sopInstanceUid === '')
    throw new DeidRejectedError('no_sop_instance_uid', 'no SOP Instance UID (0008,0018)');
  const burnedInAnnotation = (text(Tags.BurnedInAnnotation) ?? '').trim().toUpperCase() === 'YES';
  if (burnedInAnnotation && options.rejectBurnedIn === true) {
    throw new DeidRejectedError(
      'burned_in_annotation',
      'Burned In Annotation (0028,0301) is YES: the pixels may show identifying text',
    );
  }

  const utf8 = (text(Tags.SpecificCharacterSet) ?? '').includes('ISO_IR 192');
  const studyInstanceUid = unpadded(text(Tags.StudyInstanceUid) ?? '');
  const seriesInstanceUid = unpadded(text(Tags.SeriesInstanceUid) ?? '');
  const patientId = decodedText(input.bytes, topLevel(elements, Tags.PatientId), utf8);
  const issuerOfPatientId = decodedText(input.bytes, topLevel(elements, Tags.IssuerOfPatientId), utf8);
  const patientName = decodedText(input.bytes, topLevel(elements, Tags.PatientName), utf8);
  const patient = session.patient({
    ...(patientId === undefined ? {} : { patientId }),
    ...(issuerOfPatientId === undefined ? {} : { issuerOfPatientId }),
    ...(patientName === undefined ? {} : { patientName }),
    studyInstanceUid,
    sopInstanceUid,
  });

  const retainUids = session.options.retain.includes('uids');
  const mapped = (uid: string): string => (uid === '' || retainUids ? uid : session.uid(uid));
  const dataSet = rewriteDataSet(
    elements,
    input.encoding,
    {
      bytes: input.bytes,
      session,
      columns: session.columns,
      patient,
      retainSafePrivate: session.options.retain.includes('safe-private'),
    },
    methodInsertions(session),
  );
  const newSopInstanceUid = mapped(sopInstanceUid);
  const file = writePart10(
    { sopClassUid, sopInstanceUid: newSopInstanceUid, transferSyntaxUid: input.transferSyntaxUid },
    dataSet,
    input.deflated,
  );
  return {
    bytes: file,
    fileName: deidentifiedFileName(newSopInstanceUid),
    uids: {
      sopInstanceUid: newSopInstanceUid,
      studyInstanceUid: studyInstanceUid === '' ? null : mapped(studyInstanceUid),
      seriesInstanceUid: seriesInstanceUid === '' ? null : mapped(seriesInstanceUid),
    },
    originalUids: {
      sopInstanceUid,
      studyInstanceUid: studyInstanceUid === '' ? null : studyInstanceUid,
      seriesInstanceUid: seriesInstanceUid === '' ? null : seriesInstanceUid,
    },
    burnedInAnnotation,
    transferSyntaxUid: input.transferSyntaxUid,
    patient,
  };
}
