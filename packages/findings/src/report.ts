/**
 * The DICOM Structured Report of one screened image: an Enhanced SR whose content follows
 * PS3.16 TID 1500 "Measurement Report" as far as it fits an image-level classification.
 *
 *   Imaging Measurement Report (TID 1500)
 *     Language (TID 1204), Observer Context: the device (TID 1002/1004), Procedure reported
 *     Image Library (TID 1600): the screened image
 *     Imaging Measurements: one Measurement Group (TID 1501) per label with
 *       Tracking Identifier/UID, Finding = the label, Algorithm Identification (TID 4019),
 *       Probability (NUM, TID 300), the label's decision Positive/Negative (CODE) with its
 *       Threshold Value (NUM) when the model decides by thresholds
 *     Qualitative Evaluations: the overall decision (CODE) and "AI screening, not a diagnosis"
 *
 * The Enhanced SR IOD (PS3.3 A.35.2) suffices: the tree is by-value only, with no SCOORD3D.
 */
import type { ModelManifest } from '@cxr/model/manifest';
import { Code, MODALITY_CODES, PRIVATE_SCHEME, PROBABILITY_UNIT, type CodedConcept } from './codes.js';
import { codeItem, containerItem, imageItem, numItem, textItem, uidrefItem } from './content.js';
import {
  IMPLEMENTATION_CLASS_UID,
  IMPLEMENTATION_VERSION_NAME,
  MANUFACTURER,
  NOT_A_DIAGNOSIS,
  commonAttributes,
  findingsIdentity,
  findingsSeriesDescription,
  privateCodingScheme,
  withCharacterSet,
} from './dataset.js';
import {
  interpretResult,
  type InterpretedResult,
  type LabelFinding,
  type ScreeningResult,
} from './interpret.js';
import { writePart10, type NaturalDataset } from './part10.js';
import { readSourceImage, type SourceImage } from './source.js';
import { derivedUid } from './uids.js';

/** Enhanced SR Storage SOP Class (PS3.4 B.5). */
export const ENHANCED_SR_SOP_CLASS_UID = '1.2.840.10008.5.1.4.1.1.88.22';

// A score of a graph without softmax/sigmoid is no probability: a private concept, unit "1".
const SCORE = {
  value: 'score',
  scheme: PRIVATE_SCHEME,
  meaning: 'Model score',
} as const satisfies CodedConcept;
const NO_UNITS = { value: '1', scheme: 'UCUM', meaning: 'no units' } as const satisfies CodedConcept;

/** What findings objects are built from. */
export interface FindingsInput {
  /** The screened DICOM object's bytes (Part 10), as fetched for screening. */
  readonly source: Uint8Array;
  /** The stored result of that object under the manifest's model version. */
  readonly result: ScreeningResult;
  /** The manifest of the model version that produced the result. */
  readonly manifest: ModelManifest;
  /** Content and instance creation time. */
  readonly now: Date;
}

/** A built findings object: Part 10 bytes and the identity the PACS will file it under. */
export interface FindingsObject {
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly seriesInstanceUid: string;
  readonly studyInstanceUid: string;
  readonly bytes: Uint8Array;
}

/** TID 4019 Algorithm Identification: model id, version and the parameters that shaped the scores. */
function algorithmIdentification(interpreted: InterpretedResult, manifest: ModelManifest): NaturalDataset[] {
  const { input, output } = manifest;
  const parameters = [
    ...(interpreted.runtime === null ? [] : [`runtime ${interpreted.runtime}`]),
    `input ${input.size}x${input.size}x${input.channels} ${input.layout}, intensity ${input.intensity.method}, normalization ${input.normalization.method}`,
    `output ${output.activation}, decision rule ${output.decision}`,
  ];
  return [
    textItem('HAS CONCEPT MOD', Code.AlgorithmName, interpreted.modelId),
    textItem('HAS CONCEPT MOD', Code.AlgorithmVersion, interpreted.modelVersion),
    ...parameters.map((text) => textItem('HAS CONCEPT MOD', Code.AlgorithmParameters, text)),
  ];
}

/** TID 1501 Measurement and Qualitative Evaluation Group of one label. */
function labelGroup(
  finding: LabelFinding,
  interpreted: InterpretedResult,
  source: SourceImage,
  algorithm: readonly NaturalDataset[],
): NaturalDataset {
  const [scoreConcept, unit] = interpreted.probabilities
    ? [Code.Probability, PROBABILITY_UNIT]
    : [SCORE, NO_UNITS];
  const threshold =
    finding.threshold === undefined
      ? []
      : [numItem('HAS PROPERTIES', Code.ThresholdValue, finding.threshold, unit)];
  return containerItem(
    'CONTAINS',
    Code.MeasurementGroup,
    [
      textItem('HAS OBS CONTEXT', Code.TrackingIdentifier, finding.label),
      uidrefItem(
        'HAS OBS CONTEXT',
        Code.TrackingUniqueIdentifier,
        derivedUid(
          'tracking',
          source.sopInstanceUid,
          interpreted.modelId,
          interpreted.modelVersion,
          finding.label,
        ),
      ),
      codeItem('CONTAINS', Code.Finding, finding.concept),
      ...algorithm,
      numItem('CONTAINS', scoreConcept, finding.score, unit),
      {
        ...codeItem('CONTAINS', finding.concept, finding.positive ? Code.Positive : Code.Negative),
        ...(threshold.length === 0 ? {} : { ContentSequence: threshold }),
      },
    ],
    '1501',
  );
}

/** The disclaimer every report carries, with the bundle's own warning when it has one. */
function disclaimer(interpreted: InterpretedResult, manifest: ModelManifest): string {
  const warning = manifest.provenance?.warning;
  return [
    `${NOT_A_DIAGNOSIS}: result of ${MANUFACTURER} with model ${interpreted.modelId} ${interpreted.modelVersion}, to be reviewed by a qualified reader.`,
    ...(warning === undefined ? [] : [`Model warning: ${warning}`]),
  ].join(' ');
}

/** The SR content tree (root CONTAINER and its descendants). */
function contentTree(
  interpreted: InterpretedResult,
  source: SourceImage,
  manifest: ModelManifest,
): NaturalDataset {
  const modality = source.modality === undefined ? undefined : MODALITY_CODES[source.modality];
  const algorithm = algorithmIdentification(interpreted, manifest);
  return containerItem(
    undefined,
    Code.ImagingMeasurementReport,
    [
      codeItem('HAS CONCEPT MOD', Code.LanguageOfContentItemAndDescendants, Code.EnglishUnitedStates),
      codeItem('HAS OBS CONTEXT', Code.ObserverType, Code.Device),
      uidrefItem(
        'HAS OBS CONTEXT',
        Code.DeviceObserverUid,
        derivedUid('device-observer', interpreted.modelId, interpreted.modelVersion),
      ),
      textItem('HAS OBS CONTEXT', Code.DeviceObserverName, MANUFACTURER),
      textItem('HAS OBS CONTEXT', Code.DeviceObserverManufacturer, MANUFACTURER),
      textItem('HAS OBS CONTEXT', Code.DeviceObserverModelName, interpreted.modelId),
      codeItem('HAS CONCEPT MOD', Code.ProcedureReported, Code.ImagingProcedure),
      containerItem('CONTAINS', Code.ImageLibrary, [
        containerItem('CONTAINS', Code.ImageLibraryGroup, [
          imageItem(
            'CONTAINS',
            Code.Source,
            source.sopClassUid,
            source.sopInstanceUid,
            modality === undefined ? [] : [codeItem('HAS ACQ CONTEXT', Code.Modality, modality)],
          ),
        ]),
      ]),
      containerItem(
        'CONTAINS',
        Code.ImagingMeasurements,
        interpreted.labels.map((finding) => labelGroup(finding, interpreted, source, algorithm)),
      ),
      containerItem('CONTAINS', Code.QualitativeEvaluations, [
        codeItem('CONTAINS', Code.ScreeningDecision, interpreted.diagnosisConcept),
        textItem('CONTAINS', Code.Comment, disclaimer(interpreted, manifest)),
      ]),
    ],
    '1500',
  );
}

/**
 * Builds the DICOM SR of an ok result (see the module comment for its content). The Patient and
 * Study modules come from `source`; the SR's UIDs are derived from the source's and the model
 * version's, so building again gives the same SOP Instance UID. Throws FindingsError (one line,
 * no patient data) when the source or result cannot make a report.
 */
export function buildFindingsReport(input: FindingsInput): FindingsObject {
  const interpreted = interpretResult(input.result, input.manifest);
  const source = readSourceImage(input.source);
  const identity = findingsIdentity('report', source, input.manifest);
  const tree = contentTree(interpreted, source, input.manifest);
  const dataset = withCharacterSet({
    ...commonAttributes(ENHANCED_SR_SOP_CLASS_UID, identity, source, interpreted, input.now),
    // SR Document Series (PS3.3 C.17.1).
    Modality: 'SR',
    SeriesDescription: findingsSeriesDescription('report', interpreted.modelId, interpreted.modelVersion),
    ReferencedPerformedProcedureStepSequence: [],
    // SR Document General (PS3.3 C.17.2): a device's result nobody has verified yet.
    CompletionFlag: 'COMPLETE',
    VerificationFlag: 'UNVERIFIED',
    PerformedProcedureCodeSequence: [],
    CurrentRequestedProcedureEvidenceSequence: [
      {
        StudyInstanceUID: source.studyInstanceUid,
        ReferencedSeriesSequence: [
          {
            SeriesInstanceUID: source.seriesInstanceUid,
            ReferencedSOPSequence: [
              { ReferencedSOPClassUID: source.sopClassUid, ReferencedSOPInstanceUID: source.sopInstanceUid },
            ],
          },
        ],
      },
    ],
    CodingSchemeIdentificationSequence: [privateCodingScheme()],
    // SR Document Content (PS3.3 C.17.3): the root content item's attributes at the top level.
    ...tree,
  });
  const bytes = writePart10(dataset, {
    sopClassUid: ENHANCED_SR_SOP_CLASS_UID,
    sopInstanceUid: identity.sopInstanceUid,
    implementationClassUid: IMPLEMENTATION_CLASS_UID,
    implementationVersionName: IMPLEMENTATION_VERSION_NAME,
  });
  return {
    sopClassUid: ENHANCED_SR_SOP_CLASS_UID,
    sopInstanceUid: identity.sopInstanceUid,
    seriesInstanceUid: identity.seriesInstanceUid,
    studyInstanceUid: source.studyInstanceUid,
    bytes,
  };
}
