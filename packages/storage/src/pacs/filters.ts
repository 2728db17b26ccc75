/**
 * What to list from a PACS: the QIDO-RS / C-FIND filters of a PACS source, given as query
 * parameters of the source URI (`dicomweb+http://pacs/dicom-web?modality=CR&study-date=...`) or
 * as command-line flags (`--modality CR`). Shared by the DICOMweb and DIMSE sources. Pure.
 *
 * Privacy: Patient ID and Accession Number select a cohort of patients, so they are patient
 * identifiers. They may be given, but no message here ever repeats them, and anything derived
 * from a filter set for keys or logs goes through `pacsFilterKey` (a hash), never the values.
 */
import { createHash } from 'node:crypto';
import { ObjectSourceConfigError } from '../errors.js';

/** URI schemes of PACS sources: only these take filters. */
export const PACS_SCHEMES = ['dicomweb+http', 'dicomweb+https', 'dimse'] as const;

/** Whether a source URI names a PACS (DICOMweb or DIMSE) rather than a bucket, folder or manifest. */
export function isPacsUri(uri: string): boolean {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(uri)?.[1]?.toLowerCase();
  return PACS_SCHEMES.some((candidate) => candidate === scheme);
}

/** The filter names, as command-line flags (`--study-date`) and URI query parameters. */
export const PACS_FILTER_NAMES = [
  'study-date',
  'modality',
  'body-part',
  'station',
  'institution',
  'accession',
  'patient-id',
  'limit',
] as const;
export type PacsFilterName = (typeof PACS_FILTER_NAMES)[number];

/** Filters whose values identify patients: never echoed, never in keys or logs. */
export const PATIENT_FILTER_NAMES: ReadonlySet<PacsFilterName> = new Set(['accession', 'patient-id']);

/** The DICOM keyword each filter matches (PS3.6), also accepted as a URI query parameter name. */
export const PACS_FILTER_KEYWORDS: Readonly<Record<Exclude<PacsFilterName, 'limit'>, string>> = {
  'study-date': 'StudyDate',
  modality: 'Modality',
  'body-part': 'BodyPartExamined',
  station: 'StationName',
  institution: 'InstitutionName',
  accession: 'AccessionNumber',
  'patient-id': 'PatientID',
};

/** Raw filter values as given (flags or URI parameters); `modality` may be repeated. */
export type PacsFilterInput = Readonly<Partial<Record<PacsFilterName, string | readonly string[]>>>;

/** An inclusive range of study dates, `YYYYMMDD` (DICOM DA). */
export interface StudyDateRange {
  readonly from: string;
  readonly to: string;
}

/** A study date filter as given: either end may be open (the walk closes it, see `studyDateWalkRange`). */
export interface StudyDateFilter {
  readonly from?: string;
  readonly to?: string;
}

/** Validated filters of a PACS source. */
export interface PacsFilters {
  /** Study Date range; undefined = the whole archive. */
  readonly studyDate?: StudyDateFilter;
  /** Modalities, each queried on its own (QIDO-RS lists values for UIDs only); empty = any modality. */
  readonly modalities: readonly string[];
  readonly bodyPart?: string;
  readonly station?: string;
  readonly institution?: string;
  /** Patient identifier: never logged or echoed. */
  readonly accession?: string;
  /** Patient identifier: never logged or echoed. */
  readonly patientId?: string;
  /** At most this many instances are listed (a cohort cap). */
  readonly limit?: number;
}

/** Chest radiographs: computed and digital radiography. */
export const DEFAULT_MODALITIES: readonly string[] = ['CR', 'DX'];

/** Earliest study date a walk without a date filter starts from. */
export const EARLIEST_STUDY_DATE = '19000101';

const NAME_BY_LOWERCASE: ReadonlyMap<string, PacsFilterName> = new Map([
  ...PACS_FILTER_NAMES.map((name) => [name, name] as const),
  ...Object.entries(PACS_FILTER_KEYWORDS).map(
    ([name, keyword]) => [keyword.toLowerCase(), name as PacsFilterName] as const,
  ),
]);

/**
 * The filters in a source URI's query string. Names are the flag names or DICOM keywords, in any
 * case; an unknown name is a configuration error naming the parameter (never its value).
 */
export function pacsFilterInputFromQuery(params: URLSearchParams): PacsFilterInput {
  const input: Partial<Record<PacsFilterName, string[]>> = {};
  for (const [rawName, value] of params) {
    const name = NAME_BY_LOWERCASE.get(rawName.toLowerCase());
    if (name === undefined) {
      throw new ObjectSourceConfigError(
        `unknown PACS filter "${rawName}" in the source URI (use ${PACS_FILTER_NAMES.join(', ')})`,
      );
    }
    (input[name] ??= []).push(value);
  }
  return input;
}

/**
 * Combines the URI's filters with the flags: a flag replaces the URI's value of the same filter,
 * so that a command line can narrow a configured source.
 */
export function mergePacsFilterInput(
  fromUri: PacsFilterInput,
  fromFlags: PacsFilterInput = {},
): PacsFilterInput {
  const merged: Partial<Record<PacsFilterName, string | readonly string[]>> = { ...fromUri };
  for (const name of PACS_FILTER_NAMES) {
    const value = fromFlags[name];
    if (value !== undefined) merged[name] = value;
  }
  return merged;
}

function single(name: PacsFilterName, value: string | readonly string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (value.length > 1) throw new ObjectSourceConfigError(`PACS filter ${name} is given more than once`);
  return value[0];
}

/** Whether `YYYYMMDD` is a real calendar date. */
export function isDicomDate(value: string): boolean {
  const match = /^(\d{4})(\d{2})(\d{2})$/.exec(value);
  if (match === null) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/**
 * A study date filter: `YYYYMMDD-YYYYMMDD`, `YYYYMMDD` (one day), or an open end (`YYYYMMDD-`,
 * `-YYYYMMDD`), as DICOM range matching writes it (PS3.4 C.2.2.2.5).
 */
export function parseStudyDateFilter(raw: string): StudyDateFilter {
  const match = /^(\d{8})?(-)?(\d{8})?$/.exec(raw.trim());
  const from = match?.[1];
  const dash = match?.[2];
  const to = match?.[3];
  const usable =
    match !== null &&
    (from !== undefined || to !== undefined) &&
    (dash !== undefined || to === undefined) &&
    (from === undefined || isDicomDate(from)) &&
    (to === undefined || isDicomDate(to));
  if (!usable) {
    throw new ObjectSourceConfigError(
      `study-date must be YYYYMMDD-YYYYMMDD, YYYYMMDD, YYYYMMDD- or -YYYYMMDD (real dates), got "${raw}"`,
    );
  }
  if (from !== undefined && to !== undefined && from > to) {
    throw new ObjectSourceConfigError(`study-date range ends before it starts: "${raw}"`);
  }
  if (dash === undefined) return { from, to: from };
  return { ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }) };
}

/**
 * The dates a walk covers: the filter's range, an open start from EARLIEST_STUDY_DATE, an open
 * end (or no filter) up to `lastDate` (the day after today: studies stamped in a later time zone).
 */
export function studyDateWalkRange(filter: StudyDateFilter | undefined, lastDate: string): StudyDateRange {
  const from = filter?.from ?? EARLIEST_STUDY_DATE;
  const to = filter?.to ?? (lastDate < from ? from : lastDate);
  return { from, to };
}

/** Modalities from `CR,DX`, `CR\DX` or repeated parameters; `*` (alone) means any modality. */
function parseModalities(values: readonly string[]): string[] {
  const items = values.flatMap((value) => value.split(/[,\\]/)).map((item) => item.trim().toUpperCase());
  if (items.length === 1 && items[0] === '*') return [];
  const valid = items.every((item) => /^[A-Z0-9_]{1,16}$/.test(item));
  if (!valid || items.length === 0) {
    throw new ObjectSourceConfigError(
      `modality must be a comma-separated list of DICOM modality codes such as CR,DX (or * for any), got "${values.join(',')}"`,
    );
  }
  return [...new Set(items)].sort();
}

/**
 * A free-text matching value (LO/SH/CS, QIDO-RS wildcards `*` and `?` allowed). Patient filters
 * are checked the same way but their value is never repeated in the message.
 */
function matchingValue(name: PacsFilterName, raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const value = raw.trim();
  // 64 characters: the longest of LO (Accession is SH: 16; Patient ID, Institution: LO 64).
  // A backslash would be read as a value separator, control characters are never in these VRs.
  // eslint-disable-next-line no-control-regex
  const valid = value !== '' && value.length <= 64 && !/[\\\u0000-\u001f\u007f]/.test(value);
  if (valid) return value;
  const shown = PATIENT_FILTER_NAMES.has(name) ? '' : `, got "${raw}"`;
  throw new ObjectSourceConfigError(
    `${name} must be 1-64 characters without backslashes or control characters${shown}`,
  );
}

/** Validates raw filter values (see PacsFilterInput). */
export function parsePacsFilters(input: PacsFilterInput): PacsFilters {
  const studyDate = single('study-date', input['study-date']);
  const modality = input.modality;
  const limit = single('limit', input.limit);
  let parsedLimit: number | undefined;
  if (limit !== undefined) {
    parsedLimit = Number(limit);
    if (!/^\d+$/.test(limit.trim()) || !Number.isSafeInteger(parsedLimit) || parsedLimit < 1) {
      throw new ObjectSourceConfigError(`limit must be a positive integer, got "${limit}"`);
    }
  }
  const optional = <K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> =>
    value === undefined ? {} : ({ [key]: value } as Record<K, V>);
  return {
    ...optional('studyDate', studyDate === undefined ? undefined : parseStudyDateFilter(studyDate)),
    modalities:
      modality === undefined
        ? [...DEFAULT_MODALITIES]
        : parseModalities(typeof modality === 'string' ? [modality] : modality),
    ...optional('bodyPart', matchingValue('body-part', single('body-part', input['body-part']))),
    ...optional('station', matchingValue('station', single('station', input.station))),
    ...optional('institution', matchingValue('institution', single('institution', input.institution))),
    ...optional('accession', matchingValue('accession', single('accession', input.accession))),
    ...optional('patientId', matchingValue('patient-id', single('patient-id', input['patient-id']))),
    ...optional('limit', parsedLimit),
  };
}

/**
 * Matching keys besides study date and modality (which the date-window walk sets per request),
 * as DICOM keyword -> value: what a QIDO-RS query string or a C-FIND identifier carries.
 */
export function pacsMatchingKeys(filters: PacsFilters): Record<string, string> {
  const keys: Record<string, string> = {};
  if (filters.bodyPart !== undefined) keys.BodyPartExamined = filters.bodyPart;
  if (filters.station !== undefined) keys.StationName = filters.station;
  if (filters.institution !== undefined) keys.InstitutionName = filters.institution;
  if (filters.accession !== undefined) keys.AccessionNumber = filters.accession;
  if (filters.patientId !== undefined) keys.PatientID = filters.patientId;
  return keys;
}

/**
 * A short stable identifier of a filter set (16 hex digits of a SHA-256 over its canonical form),
 * for keys and logs: two sources with different filters get different cursors, and no key or log
 * line spells out a Patient ID. Open date ends stay open here, so a walk resumed on a later day
 * finds its cursor again.
 */
export function pacsFilterKey(filters: PacsFilters): string {
  const canonical = JSON.stringify([
    filters.studyDate?.from ?? null,
    filters.studyDate?.to ?? null,
    filters.modalities,
    filters.bodyPart ?? null,
    filters.station ?? null,
    filters.institution ?? null,
    filters.accession ?? null,
    filters.patientId ?? null,
    filters.limit ?? null,
  ]);
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

/** Which filters are set, by name (never their values), for log lines. */
export function pacsFilterNamesSet(filters: PacsFilters): PacsFilterName[] {
  const names: PacsFilterName[] = [];
  if (filters.studyDate !== undefined) names.push('study-date');
  if (filters.modalities.length > 0) names.push('modality');
  if (filters.bodyPart !== undefined) names.push('body-part');
  if (filters.station !== undefined) names.push('station');
  if (filters.institution !== undefined) names.push('institution');
  if (filters.accession !== undefined) names.push('accession');
  if (filters.patientId !== undefined) names.push('patient-id');
  if (filters.limit !== undefined) names.push('limit');
  return names;
}
