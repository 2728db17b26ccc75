/**
 * The parts every findings object shares: identity (deterministic UIDs, series numbers), the
 * Patient/Study modules copied from the source, equipment, dates, character set. Pure.
 */
import type { ModelManifest } from '@cxr/model/manifest';
import { PRIVATE_SCHEME } from './codes.js';
import type { NaturalDataset } from './part10.js';
import type { SourceImage } from './source.js';
import { derivedUid, numberFromUid } from './uids.js';

/** Manufacturer and device name written in every findings object. */
export const MANUFACTURER = 'cxr-pipeline';
/** This project's version, written in Software Versions (the findings package version). */
export const CXR_PIPELINE_VERSION = '0.1.0';
/** Implementation Class UID of the files this package writes (PS3.7 D.3.3.2). */
export const IMPLEMENTATION_CLASS_UID = derivedUid('implementation-class', MANUFACTURER);
/** Implementation Version Name (SH, at most 16 characters). */
export const IMPLEMENTATION_VERSION_NAME = `CXR_${CXR_PIPELINE_VERSION}`;
/** What every findings object says it is, in its series description and content. */
export const NOT_A_DIAGNOSIS = 'AI screening, not a diagnosis';

// LO values (descriptions, model names) hold at most 64 characters (PS3.5 Table 6.2-1).
const MAX_LO = 64;

/** `text` cut to an LO value (at most 64 characters, "..." where cut). */
export function longString(text: string): string {
  return text.length <= MAX_LO ? text : `${text.slice(0, MAX_LO - 3)}...`;
}

/** Series Description of a findings series: names the model and says it is no diagnosis (LO). */
export function findingsSeriesDescription(
  kind: 'report' | 'summary',
  modelId: string,
  modelVersion: string,
): string {
  const what = kind === 'report' ? 'AI screening' : 'AI screening summary';
  const full = `${what} (${MANUFACTURER}, ${modelId} ${modelVersion}), not a diagnosis`;
  if (full.length <= MAX_LO) return full;
  // Keep the disclaimer whole and shorten the model name instead.
  const tail = '), not a diagnosis';
  const head = `${what} (`;
  const room = MAX_LO - head.length - tail.length;
  const model = `${modelId} ${modelVersion}`;
  return `${head}${model.length <= room ? model : `${model.slice(0, room - 3)}...`}${tail}`;
}

/** The UIDs and numbers of one findings object. */
export interface FindingsIdentity {
  readonly sopInstanceUid: string;
  readonly seriesInstanceUid: string;
  readonly seriesNumber: number;
  readonly instanceNumber: number;
}

/**
 * Deterministic identity: the instance UID from (source SOP Instance UID, model id, version), the
 * series UID from (Study Instance UID, model id, version), so every SR of one model version in a
 * study shares a new series. The summary image uses other purposes and the next series number.
 */
export function findingsIdentity(
  kind: 'report' | 'summary',
  source: SourceImage,
  manifest: Pick<ModelManifest, 'id' | 'version' | 'findings'>,
): FindingsIdentity {
  const { id, version } = manifest;
  // Even numbers in 9000-9898 for reports, the next odd one for their summaries: high enough to
  // sort after the acquired series, stable per model version.
  const reportSeriesNumber =
    manifest.findings?.seriesNumber ?? 9000 + 2 * numberFromUid(JSON.stringify([id, version]), 0, 449);
  return {
    sopInstanceUid: derivedUid(
      kind === 'report' ? 'sr-instance' : 'sc-instance',
      source.sopInstanceUid,
      id,
      version,
    ),
    seriesInstanceUid: derivedUid(
      kind === 'report' ? 'sr-series' : 'sc-series',
      source.studyInstanceUid,
      id,
      version,
    ),
    seriesNumber: kind === 'report' ? reportSeriesNumber : reportSeriesNumber + 1,
    instanceNumber: source.instanceNumber ?? 1,
  };
}

/** DICOM DA and TM of an instant: in the source's timezone offset when it has one, else local time. */
export function dicomDateTime(now: Date, timezoneOffset: string | undefined): { date: string; time: string } {
  const offset = /^([+-])(\d{2})(\d{2})$/.exec(timezoneOffset ?? '');
  const two = (n: number): string => String(n).padStart(2, '0');
  if (offset !== null) {
    const minutes = (offset[1] === '-' ? -1 : 1) * (Number(offset[2]) * 60 + Number(offset[3]));
    const shifted = new Date(now.getTime() + minutes * 60_000);
    return {
      date: `${shifted.getUTCFullYear()}${two(shifted.getUTCMonth() + 1)}${two(shifted.getUTCDate())}`,
      time: `${two(shifted.getUTCHours())}${two(shifted.getUTCMinutes())}${two(shifted.getUTCSeconds())}`,
    };
  }
  return {
    date: `${now.getFullYear()}${two(now.getMonth() + 1)}${two(now.getDate())}`,
    time: `${two(now.getHours())}${two(now.getMinutes())}${two(now.getSeconds())}`,
  };
}

/**
 * Coding Scheme Identification Sequence item declaring the private 99CXR scheme (PS3.3
 * C.12.1.1.3). It has no UID: Coding Scheme UID is required only for schemes identified by one.
 */
export function privateCodingScheme(): NaturalDataset {
  return {
    CodingSchemeDesignator: PRIVATE_SCHEME,
    CodingSchemeName: 'cxr-pipeline model labels and decisions',
    CodingSchemeResponsibleOrganization: MANUFACTURER,
  };
}

/**
 * The attributes every findings object shares: SOP Common, the copied Patient, General Study and
 * Patient Study modules, General Equipment, and the series and instance identity.
 */
export function commonAttributes(
  sopClassUid: string,
  identity: FindingsIdentity,
  source: SourceImage,
  result: { readonly modelId: string; readonly modelVersion: string },
  now: Date,
): NaturalDataset {
  const created = dicomDateTime(now, source.timezoneOffset);
  return {
    ...source.modules,
    ...(source.timezoneOffset === undefined ? {} : { TimezoneOffsetFromUTC: source.timezoneOffset }),
    SOPClassUID: sopClassUid,
    SOPInstanceUID: identity.sopInstanceUid,
    InstanceCreationDate: created.date,
    InstanceCreationTime: created.time,
    SeriesInstanceUID: identity.seriesInstanceUid,
    SeriesNumber: identity.seriesNumber,
    InstanceNumber: identity.instanceNumber,
    ContentDate: created.date,
    ContentTime: created.time,
    Manufacturer: MANUFACTURER,
    ManufacturerModelName: longString(result.modelId),
    SoftwareVersions: [
      `${MANUFACTURER} ${CXR_PIPELINE_VERSION}`,
      longString(`${result.modelId} ${result.modelVersion}`),
    ],
  };
}

/**
 * Adds Specific Character Set ISO_IR 192 (UTF-8) when any value is not ASCII: dcmjs writes every
 * string as UTF-8, and a copied patient name may well hold non-ASCII letters.
 */
export function withCharacterSet(dataset: NaturalDataset): NaturalDataset {
  // eslint-disable-next-line no-control-regex
  return /[^\x00-\x7f]/.test(JSON.stringify(dataset))
    ? { SpecificCharacterSet: 'ISO_IR 192', ...dataset }
    : dataset;
}
