/**
 * The walk of a DIMSE archive: C-FIND study -> series -> image, one study day at a time, in a
 * stable order that a cursor resumes from. Pure logic over an injected `find` (the C-FIND SCU in
 * production, a table in tests).
 *
 * Windows: the study-level query of a day asks for that StudyDate; when the PACS caps it (as many
 * matches as `maxMatches`, or Out of Resources A700/A701) the day is split into StudyTime halves,
 * down to a minute. Order: days ascending, then Study, Series and SOP Instance UID ascending, so
 * the cursor (day + the three UIDs of the last listed instance) resumes right after that
 * instance, re-querying only its day. A cursor holds dates and UIDs only, no patient data.
 *
 * Filters: patient and accession filters go to the PACS at study level (it does the wildcard
 * matching) and are checked again here when it answers a value; modality, body part, station
 * and institution are matched here on the attributes the PACS returns at series level (the
 * institution at study level too), since PACS differ in which keys they match themselves. A
 * series that does not return a filtered attribute does not match: a cohort is never widened.
 */
import type { DimseFilters } from './dimse-uri.js';

/** Study Root levels, as the SCU names them. */
export type WalkLevel = 'STUDY' | 'SERIES' | 'IMAGE';

/** The C-FIND the walk needs; rejects with `{ status }` for a failure status. */
export type WalkFind = (
  level: WalkLevel,
  keys: Readonly<Record<string, string>>,
) => Promise<readonly Readonly<Record<string, unknown>>[]>;

/** Where a listing resumes: after this instance of this day ('' = no date range). */
export interface WalkCursor {
  readonly day: string;
  readonly study: string;
  readonly series: string;
  readonly sop: string;
}

/** One listed instance. */
export interface WalkedInstance {
  readonly study: string;
  readonly series: string;
  readonly sop: string;
  readonly cursor: WalkCursor;
}

export interface WalkOptions {
  readonly cursor?: WalkCursor;
  /** A study query answering this many matches is taken as capped and split (default 1000). */
  readonly maxMatches?: number;
  /** Today as YYYYMMDD (the default `until`); tests fix it. */
  readonly today?: string;
}

/** A capped window that cannot be split further, or a PACS answer the walk cannot use. */
export class DimseWalkError extends Error {
  override readonly name = 'DimseWalkError';
}

const SECONDS_PER_DAY = 24 * 3600;
/** The smallest StudyTime window a capped day is split into. */
const MIN_WINDOW_SECONDS = 60;

/** Encodes a cursor (opaque to the ingest). */
export function encodeWalkCursor(cursor: WalkCursor): string {
  return JSON.stringify([cursor.day, cursor.study, cursor.series, cursor.sop]);
}

/** Decodes a cursor; throws DimseWalkError for one that is not ours. */
export function decodeWalkCursor(text: string): WalkCursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new DimseWalkError('not a dimse:// listing cursor');
  }
  if (!Array.isArray(parsed) || parsed.length !== 4 || !parsed.every((part) => typeof part === 'string')) {
    throw new DimseWalkError('not a dimse:// listing cursor');
  }
  const [day, study, series, sop] = parsed as [string, string, string, string];
  return { day, study, series, sop };
}

/** Study days from `since` to `until` inclusive (YYYYMMDD), ascending. */
export function* studyDays(since: string, until: string): Generator<string> {
  const toDate = (day: string): Date =>
    new Date(Date.UTC(Number(day.slice(0, 4)), Number(day.slice(4, 6)) - 1, Number(day.slice(6, 8))));
  for (let date = toDate(since); date <= toDate(until); date.setUTCDate(date.getUTCDate() + 1)) {
    yield date.toISOString().slice(0, 10).replaceAll('-', '');
  }
}

/** Today (UTC) as YYYYMMDD. */
function todayUtc(): string {
  return new Date().toISOString().slice(0, 10).replaceAll('-', '');
}

/** A value as dcmjs naturalizes it, as text: multiple values joined with a backslash. */
export function textOf(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value.trim();
  if (typeof value === 'number') return String(value);
  if (Array.isArray(value))
    return value
      .map(textOf)
      .filter((v) => v !== '')
      .join('\\');
  if (typeof value === 'object' && 'Alphabetic' in value) return textOf(value.Alphabetic);
  return '';
}

function sameText(a: string, b: string): boolean {
  return a.trim().toUpperCase() === b.trim().toUpperCase();
}

/** HHMMSS of a second of the day. */
function hhmmss(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return [h, m, s].map((n) => String(n).padStart(2, '0')).join('');
}

function isCapStatus(error: unknown): boolean {
  const status = (error as { status?: unknown } | undefined)?.status;
  return status === 0xa700 || status === 0xa701;
}

/** Walks the archive; see the module comment. */
export async function* walkDimse(
  find: WalkFind,
  filters: DimseFilters,
  options: WalkOptions = {},
): AsyncGenerator<WalkedInstance> {
  const maxMatches = options.maxMatches ?? 1000;
  const cursor = options.cursor;
  const days =
    filters.since === undefined
      ? ['']
      : studyDays(filters.since, filters.until ?? options.today ?? todayUtc());
  const modalities = new Set(filters.modalities);
  let listed = 0;

  const studyKeys = (day: string, time: string): Record<string, string> => ({
    StudyInstanceUID: '',
    StudyDate: day,
    StudyTime: time,
    ModalitiesInStudy: '',
    InstitutionName: '',
    // Patient attributes only when they filter: nothing else here needs them.
    ...(filters.accession !== undefined ? { AccessionNumber: filters.accession } : {}),
    ...(filters.patientId !== undefined ? { PatientID: filters.patientId } : {}),
    ...(filters.patientName !== undefined ? { PatientName: filters.patientName } : {}),
  });

  /** The studies of one day (all of them when `day` is ''), splitting capped windows by StudyTime. */
  const studiesOf = async (day: string): Promise<Map<string, Readonly<Record<string, unknown>>>> => {
    const studies = new Map<string, Readonly<Record<string, unknown>>>();
    const window = async (from: number, to: number): Promise<void> => {
      const whole = from === 0 && to === SECONDS_PER_DAY;
      let matches: readonly Readonly<Record<string, unknown>>[] | undefined;
      try {
        matches = await find('STUDY', studyKeys(day, whole ? '' : `${hhmmss(from)}-${hhmmss(to - 1)}`));
      } catch (error) {
        if (!isCapStatus(error)) throw error;
      }
      if (matches !== undefined && matches.length < maxMatches) {
        for (const match of matches) {
          const uid = textOf(match.StudyInstanceUID);
          if (uid !== '') studies.set(uid, match);
        }
        return;
      }
      if (day === '') {
        throw new DimseWalkError(
          `the PACS capped a study query without a date range at ${maxMatches} matches: give since= and until=`,
        );
      }
      if (to - from <= MIN_WINDOW_SECONDS) {
        throw new DimseWalkError(
          `the PACS capped a one-minute study window of ${day} at ${maxMatches} matches`,
        );
      }
      const middle = from + Math.floor((to - from) / 2);
      await window(from, middle);
      await window(middle, to);
    };
    await window(0, SECONDS_PER_DAY);
    return studies;
  };

  const studyMatches = (study: Readonly<Record<string, unknown>>): boolean => {
    const inStudy = textOf(study.ModalitiesInStudy);
    if (inStudy !== '' && !inStudy.split('\\').some((m) => modalities.has(m.trim().toUpperCase())))
      return false;
    const patientId = textOf(study.PatientID);
    if (filters.patientId !== undefined && patientId !== '' && patientId !== filters.patientId) return false;
    const accession = textOf(study.AccessionNumber);
    if (filters.accession !== undefined && accession !== '' && accession !== filters.accession) return false;
    return true;
  };

  const seriesMatches = (
    series: Readonly<Record<string, unknown>>,
    study: Readonly<Record<string, unknown>>,
  ): boolean => {
    if (!modalities.has(textOf(series.Modality).toUpperCase())) return false;
    if (filters.bodyPart !== undefined && !sameText(textOf(series.BodyPartExamined), filters.bodyPart))
      return false;
    if (filters.station !== undefined && !sameText(textOf(series.StationName), filters.station)) return false;
    if (filters.institution !== undefined) {
      const institution = textOf(series.InstitutionName) || textOf(study.InstitutionName);
      if (!sameText(institution, filters.institution)) return false;
    }
    return true;
  };

  for (const day of days) {
    if (cursor !== undefined && day < cursor.day) continue;
    const resumeDay = cursor !== undefined && day === cursor.day;
    const studies = await studiesOf(day);
    for (const studyUid of [...studies.keys()].sort()) {
      if (resumeDay && studyUid < cursor.study) continue;
      const study = studies.get(studyUid) ?? {};
      if (!studyMatches(study)) continue;
      const seriesList = await find('SERIES', {
        StudyInstanceUID: studyUid,
        SeriesInstanceUID: '',
        Modality: '',
        BodyPartExamined: '',
        StationName: '',
        InstitutionName: '',
      });
      const seriesUids = [
        ...new Set(seriesList.filter((s) => seriesMatches(s, study)).map((s) => textOf(s.SeriesInstanceUID))),
      ]
        .filter((uid) => uid !== '')
        .sort();
      for (const seriesUid of seriesUids) {
        const resumeSeries = resumeDay && studyUid === cursor.study;
        if (resumeSeries && seriesUid < cursor.series) continue;
        const images = await find('IMAGE', {
          StudyInstanceUID: studyUid,
          SeriesInstanceUID: seriesUid,
          SOPInstanceUID: '',
        });
        const sops = [...new Set(images.map((image) => textOf(image.SOPInstanceUID)))]
          .filter((uid) => uid !== '')
          .sort();
        for (const sop of sops) {
          if (resumeSeries && seriesUid === cursor.series && sop <= cursor.sop) continue;
          yield {
            study: studyUid,
            series: seriesUid,
            sop,
            cursor: { day, study: studyUid, series: seriesUid, sop },
          };
          listed += 1;
          if (filters.limit !== undefined && listed >= filters.limit) return;
        }
      }
    }
  }
}
