/**
 * SR content items (PS3.3 C.17.3 Document Content Macro) as keyword-keyed data sets, one builder
 * per value type. Pure: the report module composes them into the TID 1500 tree.
 */
import type { CodedConcept } from './codes.js';
import type { NaturalDataset } from './part10.js';

/** Relationship of a content item with its parent (PS3.3 C.17.3.2.4). */
export type Relationship =
  'CONTAINS' | 'HAS OBS CONTEXT' | 'HAS CONCEPT MOD' | 'HAS PROPERTIES' | 'HAS ACQ CONTEXT';

// Code Value is SH (16 characters); longer values go in Long Code Value (UC), PS3.3 8.8.
const MAX_SHORT_CODE_VALUE = 16;
// DCMR, the DICOM Content Mapping Resource (PS3.16), as Mapping Resource of template ids.
const DCMR_UID = '1.2.840.10008.8.1.1';

/** One item of a Code Sequence (PS3.3 Table 8.8-1). */
export function codeSequenceItem(concept: CodedConcept): NaturalDataset {
  const value =
    concept.value.length > MAX_SHORT_CODE_VALUE
      ? { LongCodeValue: concept.value }
      : { CodeValue: concept.value };
  return { ...value, CodingSchemeDesignator: concept.scheme, CodeMeaning: concept.meaning };
}

function item(
  relationship: Relationship | undefined,
  valueType: string,
  name: CodedConcept,
  fields: NaturalDataset,
): NaturalDataset {
  return {
    ...(relationship === undefined ? {} : { RelationshipType: relationship }),
    ValueType: valueType,
    ConceptNameCodeSequence: [codeSequenceItem(name)],
    ...fields,
  };
}

function withChildren(fields: NaturalDataset, children: readonly NaturalDataset[]): NaturalDataset {
  return children.length === 0 ? fields : { ...fields, ContentSequence: [...children] };
}

/** A CONTAINER; `relationship` undefined for the root. `templateId` names the DCMR template it starts. */
export function containerItem(
  relationship: Relationship | undefined,
  name: CodedConcept,
  children: readonly NaturalDataset[],
  templateId?: string,
): NaturalDataset {
  const template =
    templateId === undefined
      ? {}
      : {
          ContentTemplateSequence: [
            { MappingResource: 'DCMR', MappingResourceUID: DCMR_UID, TemplateIdentifier: templateId },
          ],
        };
  return item(
    relationship,
    'CONTAINER',
    name,
    withChildren({ ContinuityOfContent: 'SEPARATE', ...template }, children),
  );
}

export function codeItem(
  relationship: Relationship,
  name: CodedConcept,
  value: CodedConcept,
): NaturalDataset {
  return item(relationship, 'CODE', name, { ConceptCodeSequence: [codeSequenceItem(value)] });
}

export function textItem(relationship: Relationship, name: CodedConcept, value: string): NaturalDataset {
  return item(relationship, 'TEXT', name, { TextValue: value });
}

export function uidrefItem(relationship: Relationship, name: CodedConcept, uid: string): NaturalDataset {
  return item(relationship, 'UIDREF', name, { UID: uid });
}

/**
 * A NUM (PS3.3 C.18.1 Numeric Measurement Macro). Numeric Value is a DS of at most 16 characters,
 * so the exact double also goes in Floating Point Value.
 */
export function numItem(
  relationship: Relationship,
  name: CodedConcept,
  value: number,
  unit: CodedConcept,
  children: readonly NaturalDataset[] = [],
): NaturalDataset {
  if (!Number.isFinite(value)) throw new RangeError('a NUM content item needs a finite value');
  return item(
    relationship,
    'NUM',
    name,
    withChildren(
      {
        MeasuredValueSequence: [
          {
            MeasurementUnitsCodeSequence: [codeSequenceItem(unit)],
            NumericValue: value,
            FloatingPointValue: value,
          },
        ],
      },
      children,
    ),
  );
}

/** An IMAGE reference (PS3.3 C.18.4 Image Reference Macro). */
export function imageItem(
  relationship: Relationship,
  name: CodedConcept,
  sopClassUid: string,
  sopInstanceUid: string,
  children: readonly NaturalDataset[] = [],
): NaturalDataset {
  return item(
    relationship,
    'IMAGE',
    name,
    withChildren(
      {
        ReferencedSOPSequence: [
          { ReferencedSOPClassUID: sopClassUid, ReferencedSOPInstanceUID: sopInstanceUid },
        ],
      },
      children,
    ),
  );
}
