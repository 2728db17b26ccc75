/**
 * Coded concepts of the findings SR, each with where the standard uses it (PS3.16 templates and
 * context groups). DCM codes are DICOM's own (PS3.16 Annex D), SCT SNOMED CT, UMLS the UMLS
 * Metathesaurus, UCUM units; 99CXR is this project's private scheme (PS3.16 8: private coding
 * scheme designators begin with "99") for model labels without a standard code.
 */

/** A coded entry (PS3.3 Table 8.8-1 Code Sequence Macro). */
export interface CodedConcept {
  readonly value: string;
  readonly scheme: string;
  readonly meaning: string;
}

function code(value: string, scheme: string, meaning: string): CodedConcept {
  return { value, scheme, meaning };
}

/** The private coding scheme of model labels (declared in Coding Scheme Identification Sequence). */
export const PRIVATE_SCHEME = '99CXR';

export const Code = {
  // TID 1500 row 1, CID 7021 "Measurement Report Document Title".
  ImagingMeasurementReport: code('126000', 'DCM', 'Imaging Measurement Report'),
  // TID 1204 "Language of Content Item and Descendants" and its value (RFC 5646, CID 5000).
  LanguageOfContentItemAndDescendants: code('121049', 'DCM', 'Language of Content Item and Descendants'),
  EnglishUnitedStates: code('en-US', 'RFC5646', 'English (United States)'),
  // TID 1002 Observer Context, CID 270 "Observer Type".
  ObserverType: code('121005', 'DCM', 'Observer Type'),
  Device: code('121007', 'DCM', 'Device'),
  // TID 1004 Device Observer Identifying Attributes.
  DeviceObserverUid: code('121012', 'DCM', 'Device Observer UID'),
  DeviceObserverName: code('121013', 'DCM', 'Device Observer Name'),
  DeviceObserverManufacturer: code('121014', 'DCM', 'Device Observer Manufacturer'),
  DeviceObserverModelName: code('121015', 'DCM', 'Device Observer Model Name'),
  // TID 1500 row 4, value from CID 100 "Quantitative Diagnostic Imaging Procedures" (which has no
  // chest radiography code; "Imaging procedure" is its generic member).
  ProcedureReported: code('121058', 'DCM', 'Procedure reported'),
  ImagingProcedure: code('363679005', 'SCT', 'Imaging procedure'),
  // TID 1600 Image Library, TID 1601 entry, TID 1602 descriptors.
  ImageLibrary: code('111028', 'DCM', 'Image Library'),
  ImageLibraryGroup: code('126200', 'DCM', 'Image Library Group'),
  Source: code('260753009', 'SCT', 'Source'),
  Modality: code('121139', 'DCM', 'Modality'),
  // TID 1500 row 6 and TID 1501 Measurement and Qualitative Evaluation Group.
  ImagingMeasurements: code('126010', 'DCM', 'Imaging Measurements'),
  MeasurementGroup: code('125007', 'DCM', 'Measurement Group'),
  TrackingIdentifier: code('112039', 'DCM', 'Tracking Identifier'),
  TrackingUniqueIdentifier: code('112040', 'DCM', 'Tracking Unique Identifier'),
  Finding: code('121071', 'DCM', 'Finding'),
  // TID 4019 Algorithm Identification.
  AlgorithmName: code('111001', 'DCM', 'Algorithm Name'),
  AlgorithmVersion: code('111003', 'DCM', 'Algorithm Version'),
  AlgorithmParameters: code('111002', 'DCM', 'Algorithm Parameters'),
  AlgorithmManufacturer: code('122405', 'DCM', 'Algorithm Manufacturer'),
  // TID 300 Measurement: the label's score and the operating threshold it is compared with.
  Probability: code('122157', 'DCM', 'Probability'),
  ThresholdValue: code('122411', 'DCM', 'Threshold Value'),
  // CID 250 "Positive/Negative": the per-label decision.
  Positive: code('10828004', 'SCT', 'Positive'),
  Negative: code('260385009', 'SCT', 'Negative'),
  // TID 1500 rows 12-14: evaluations of the whole image.
  QualitativeEvaluations: code('C0034375', 'UMLS', 'Qualitative Evaluations'),
  ScreeningDecision: code('decision', PRIVATE_SCHEME, 'AI screening decision'),
  Comment: code('121106', 'DCM', 'Comment'),
} as const;

/** Modality codes of CID 29 "Acquisition Modality" for the modalities a chest screen reads. */
export const MODALITY_CODES: Readonly<Record<string, CodedConcept>> = {
  CR: code('CR', 'DCM', 'Computed Radiography'),
  DX: code('DX', 'DCM', 'Digital Radiography'),
};

/** UCUM unit of a probability in [0,1] (a dimensionless annotation, UCUM 2.4 "{...}"). */
export const PROBABILITY_UNIT = code('{probability}', 'UCUM', 'probability');
