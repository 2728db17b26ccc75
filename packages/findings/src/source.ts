/**
 * What a findings object takes from the screened image: the UIDs it references and the Patient,
 * General Study and Patient Study attributes it must repeat so the PACS files it in the same
 * study. These are patient data: they go into the object and nowhere else (no log, no error, no
 * store; the result store deliberately keeps none of them).
 */
import { parseDicomBytes } from '@cxr/dicom';
import { FindingsError } from './errors.js';
import { asPart10File, readPart10Header, type NaturalDataset } from './part10.js';
import { isValidUid } from './uids.js';

/**
 * Patient Module (PS3.3 C.7.1.1) attributes copied when present: identification, demographics
 * the PACS matches on, de-identification status and the veterinary attributes required there.
 */
const PATIENT_KEYWORDS = [
  'PatientName',
  'PatientID',
  'IssuerOfPatientID',
  'IssuerOfPatientIDQualifiersSequence',
  'TypeOfPatientID',
  'PatientBirthDate',
  'PatientBirthTime',
  'PatientSex',
  'OtherPatientIDsSequence',
  'OtherPatientNames',
  'QualityControlSubject',
  'PatientIdentityRemoved',
  'DeidentificationMethod',
  'DeidentificationMethodCodeSequence',
  'PatientSpeciesDescription',
  'PatientSpeciesCodeSequence',
  'PatientBreedDescription',
  'PatientBreedCodeSequence',
  'BreedRegistrationSequence',
  'ResponsiblePerson',
  'ResponsiblePersonRole',
  'ResponsibleOrganization',
] as const;

/** General Study Module (PS3.3 C.7.2.1) attributes copied when present. */
const GENERAL_STUDY_KEYWORDS = [
  'StudyInstanceUID',
  'StudyDate',
  'StudyTime',
  'ReferringPhysicianName',
  'ReferringPhysicianIdentificationSequence',
  'StudyID',
  'AccessionNumber',
  'IssuerOfAccessionNumberSequence',
  'StudyDescription',
  'ProcedureCodeSequence',
] as const;

/** Patient Study Module (PS3.3 C.7.2.2) attributes copied when present. */
const PATIENT_STUDY_KEYWORDS = ['PatientAge', 'PatientSize', 'PatientWeight', 'PatientSexNeutered'] as const;

/** Type 2 attributes of those modules: written empty when the source lacks them. */
const TYPE_2_KEYWORDS = [
  'PatientName',
  'PatientID',
  'PatientBirthDate',
  'PatientSex',
  'StudyDate',
  'StudyTime',
  'ReferringPhysicianName',
  'StudyID',
  'AccessionNumber',
] as const;

// Copied values that break their VR's rules are not repeated: dciodvfy calls them errors and a
// PACS may refuse the whole object for one (public sets carry e.g. Patient's Age "62", PS3.5
// 6.2 wants "062Y"). A Type 2 attribute is then written empty, another one left out; the PACS
// keeps the source's value in the source image.
const DATE = /^\d{8}$/;
const TIME = /^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?$/;
const VALUE_RULES: Readonly<Record<string, RegExp>> = {
  PatientBirthDate: DATE,
  PatientBirthTime: TIME,
  StudyDate: DATE,
  StudyTime: TIME,
  PatientAge: /^\d{3}[DWMY]$/,
  PatientSex: /^[MFO]$/,
  PatientSexNeutered: /^(ALTERED|UNALTERED)$/,
};

/** Whether a copied value may be repeated as it is (empty values always may). */
function isValidCopy(keyword: string, value: unknown): boolean {
  const rule = VALUE_RULES[keyword];
  if (rule === undefined || value === '' || (Array.isArray(value) && value.length === 0)) return true;
  const text = Array.isArray(value) && value.length === 1 ? (value[0] as unknown) : value;
  return typeof text === 'string' && rule.test(text.trim());
}

/** The screened image as a findings object needs it. */
export interface SourceImage {
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly studyInstanceUid: string;
  readonly seriesInstanceUid: string;
  /** Modality (0008,0060), if any. */
  readonly modality: string | undefined;
  /** Instance Number (0020,0013), if any: findings objects reuse it so they sort like their images. */
  readonly instanceNumber: number | undefined;
  /** Timezone Offset From UTC (0008,0201), if any: it applies to the copied dates and times too. */
  readonly timezoneOffset: string | undefined;
  /** Patient Orientation (0020,0020) as stored (the summary image keeps the orientation). */
  readonly patientOrientation: unknown;
  /** Body Part Examined (0018,0015), if a valid CS value (the summary image repeats it). */
  readonly bodyPartExamined: string | undefined;
  /** Lossy Image Compression (0028,2110): "01" when the source has been lossy compressed. */
  readonly lossyImageCompression: string | undefined;
  /** Patient, General Study and Patient Study attributes, keyword-keyed. Patient data. */
  readonly modules: NaturalDataset;
}

/** The single string value of a naturalized element, if it has exactly one. */
function singleString(value: unknown): string | undefined {
  const first = Array.isArray(value) ? (value.length === 1 ? (value[0] as unknown) : undefined) : value;
  if (typeof first === 'string') return first.trim() === '' ? undefined : first.trim();
  if (typeof first === 'number') return String(first);
  return undefined;
}

function requiredUid(header: NaturalDataset, keyword: string, name: string): string {
  const uid = singleString(header[keyword]);
  if (uid === undefined || !isValidUid(uid)) {
    // The attribute name, never its value: a misplaced value could be a patient identifier.
    throw new FindingsError(
      'source_missing_uid',
      `the source image has no valid ${name} (${keyword}): no findings object references it`,
    );
  }
  return uid;
}

/** Reads the screened object's header; throws FindingsError when it cannot carry findings. */
export function readSourceImage(bytes: Uint8Array): SourceImage {
  let header: NaturalDataset;
  try {
    header = readPart10Header(asPart10File(bytes, () => parseDicomBytes(bytes).transferSyntaxUid));
  } catch (cause) {
    // dcmjs messages are not repeated: they may quote element values.
    throw new FindingsError('source_unreadable', 'the source is not a readable DICOM Part 10 object', {
      cause,
    });
  }
  const sopInstanceUid = requiredUid(header, 'SOPInstanceUID', 'SOP Instance UID');
  const sopClassUid = requiredUid(header, 'SOPClassUID', 'SOP Class UID');
  const studyInstanceUid = requiredUid(header, 'StudyInstanceUID', 'Study Instance UID');
  const seriesInstanceUid = requiredUid(header, 'SeriesInstanceUID', 'Series Instance UID');
  const modules: NaturalDataset = {};
  for (const keyword of [...PATIENT_KEYWORDS, ...GENERAL_STUDY_KEYWORDS, ...PATIENT_STUDY_KEYWORDS]) {
    if (keyword in header && isValidCopy(keyword, header[keyword])) modules[keyword] = header[keyword];
  }
  for (const keyword of TYPE_2_KEYWORDS) {
    if (!(keyword in modules)) modules[keyword] = '';
  }
  modules.StudyInstanceUID = studyInstanceUid;
  const instanceNumber = Number(singleString(header.InstanceNumber));
  const bodyPart = singleString(header.BodyPartExamined);
  return {
    sopClassUid,
    sopInstanceUid,
    studyInstanceUid,
    seriesInstanceUid,
    modality: singleString(header.Modality),
    instanceNumber: Number.isInteger(instanceNumber) ? instanceNumber : undefined,
    timezoneOffset: singleString(header.TimezoneOffsetFromUTC),
    patientOrientation: header.PatientOrientation,
    lossyImageCompression: singleString(header.LossyImageCompression),
    bodyPartExamined: bodyPart !== undefined && /^[A-Z0-9_ ]{1,16}$/.test(bodyPart) ? bodyPart : undefined,
    modules,
  };
}
