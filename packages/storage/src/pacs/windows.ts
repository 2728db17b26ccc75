/**
 * Study windows: the slices of an archive a PACS walk asks for one at a time (QIDO-RS or
 * C-FIND), by Study Date and, inside one day, by Study Time. Pure: date arithmetic, splitting,
 * the matching strings of a window, and what is left of a walk after a window.
 *
 * Why the bounds are written the way they are (DICOM range matching, PS3.4 C.2.2.2.5):
 * - The first window of a walk without a start date has an open start (`-20251231`), the last
 *   one without an end date an open end (`20250101-`), and a walk without any date filter starts
 *   with no Study Date key at all. An archive that compares values as strings (Orthanc does)
 *   then also lists instances whose study has no date (an empty value sorts first); a window
 *   with both ends closed never could.
 * - Times may be written `HH`, `HHMM`, `HHMMSS` or `HHMMSS.FFFFFF`, and Orthanc compares them as
 *   strings: `12` sorts between `115959.999999` and `120000`, and so does an invalid `116000`. A
 *   split point is therefore written as coarsely as it is exact (`12` for noon, `1230` for 12:30,
 *   `123015` otherwise). At a whole hour or minute the window before it ends AT that same value:
 *   the two share their boundary, so every stored string, valid or not (`116000`), falls in one
 *   of them whether the PACS compares strings or times, and an instance both list belongs to the
 *   later one (`studyWindowOwnsTime`). Inside a minute a window ends at `HHMMSS.999999`. The
 *   first window of a day has an open start (`-12`), which also lists studies without a time.
 */

/** A slice of the archive: a range of study dates, or a range of study times within one date. */
export type StudyWindow =
  | {
      readonly kind: 'dates';
      /** First date, `YYYYMMDD`; undefined = open start (also studies without a date, see above). */
      readonly from?: string;
      /** Last date (inclusive); undefined = open end. */
      readonly to?: string;
    }
  | {
      readonly kind: 'time';
      readonly date: string;
      /** First second of the day (0-86399); undefined = open start (also studies without a time). */
      readonly fromSecond?: number;
      /** Last second (inclusive); undefined = open end. */
      readonly toSecond?: number;
    };

/** The date and time matching values of a window (DICOM range matching strings). */
export interface StudyWindowMatch {
  /** Study Date (0008,0020) matching value; undefined = no date key (any date, or none). */
  readonly studyDate?: string;
  /** Study Time (0008,0030) matching value; undefined = any time. */
  readonly studyTime?: string;
}

const SECONDS_PER_DAY = 86_400;
const MS_PER_DAY = 86_400_000;

function dateToEpochDay(date: string): number {
  return (
    Date.UTC(Number(date.slice(0, 4)), Number(date.slice(4, 6)) - 1, Number(date.slice(6, 8))) / MS_PER_DAY
  );
}

function epochDayToDate(day: number): string {
  return new Date(day * MS_PER_DAY).toISOString().slice(0, 10).replaceAll('-', '');
}

/** `YYYYMMDD` plus `days` (negative to go back). */
export function addDays(date: string, days: number): string {
  return epochDayToDate(dateToEpochDay(date) + days);
}

/** The UTC calendar date of a timestamp as `YYYYMMDD`. */
export function dicomDateOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10).replaceAll('-', '');
}

function twoDigits(value: number): string {
  return String(value).padStart(2, '0');
}

/** A second of the day as `HHMMSS`. */
function hhmmss(second: number): string {
  return `${twoDigits(Math.floor(second / 3600))}${twoDigits(Math.floor(second / 60) % 60)}${twoDigits(second % 60)}`;
}

/** A second of the day as a lower bound, as coarse as exact (`HH`, `HHMM` or `HHMMSS`; see the file comment). */
function lowerTimeBound(second: number): string {
  const full = hhmmss(second);
  if (second % 3600 === 0) return full.slice(0, 2);
  if (second % 60 === 0) return full.slice(0, 4);
  return full;
}

/**
 * The upper bound of a time window ending at `second` (inclusive): at a whole minute or hour the
 * next window's coarse lower bound itself, shared (see the file comment); inside a minute the
 * end of the second, since strings between `HHMMSS.999999` and the next `HHMMSS` are no times.
 */
function upperTimeBound(second: number): string {
  const next = second + 1;
  if (next >= SECONDS_PER_DAY) return '';
  return next % 60 === 0 ? lowerTimeBound(next) : `${hhmmss(second)}.999999`;
}

/**
 * Whether a time window owns an instance it listed with this Study Time: not when the value lies
 * at or past the shared upper bound, where the next window lists it too (see the file comment).
 */
export function studyWindowOwnsTime(window: StudyWindow, time: string | undefined): boolean {
  if (window.kind !== 'time' || window.toSecond === undefined) return true;
  const next = window.toSecond + 1;
  if (next >= SECONDS_PER_DAY || next % 60 !== 0) return true;
  return (time ?? '') < lowerTimeBound(next);
}

/** The matching values of a window. */
export function studyWindowMatch(window: StudyWindow): StudyWindowMatch {
  if (window.kind === 'time') {
    const { fromSecond, toSecond } = window;
    if (fromSecond === undefined && toSecond === undefined) return { studyDate: window.date };
    const lower = fromSecond === undefined ? '' : lowerTimeBound(fromSecond);
    const upper = toSecond === undefined ? '' : upperTimeBound(toSecond);
    return { studyDate: window.date, studyTime: `${lower}-${upper}` };
  }
  const { from, to } = window;
  if (from === undefined && to === undefined) return {};
  if (from !== undefined && from === to) return { studyDate: from };
  return { studyDate: `${from ?? ''}-${to ?? ''}` };
}

/** A window for log lines and skip reports: `20250101-20250131`, `20250101 T12-115959.999999`. */
export function describeStudyWindow(window: StudyWindow): string {
  const match = studyWindowMatch(window);
  const date = match.studyDate ?? 'any-date';
  return match.studyTime === undefined ? date : `${date} T${match.studyTime}`;
}

/**
 * A split point inside `[lo, hi]` seconds (lo < hi): near the middle, at a whole hour when the
 * window spans more than an hour, a whole minute when it spans more than a minute. Returns the
 * first second of the right half (lo < result <= hi).
 */
function timeSplitPoint(lo: number, hi: number): number {
  const middle = lo + Math.ceil((hi - lo + 1) / 2);
  for (const unit of [3600, 60]) {
    if (hi - lo + 1 <= unit) continue;
    const rounded = Math.round(middle / unit) * unit;
    if (rounded > lo && rounded <= hi) return rounded;
  }
  return middle;
}

/**
 * The two halves of a window, in chronological order, or undefined when it cannot be split
 * (one second of one day; a date range whose open end lies beyond `lastDate`). A date range is
 * halved by dates; a single day becomes two time windows split at noon, then halves again.
 * `lastDate` stands in for an open end (the walk uses the day after today).
 */
export function splitStudyWindow(
  window: StudyWindow,
  lastDate: string,
): readonly [StudyWindow, StudyWindow] | undefined {
  if (window.kind === 'time') {
    const lo = window.fromSecond ?? 0;
    const hi = window.toSecond ?? SECONDS_PER_DAY - 1;
    if (lo >= hi) return undefined;
    const split = timeSplitPoint(lo, hi);
    return [
      {
        kind: 'time',
        date: window.date,
        ...optionalSecond('fromSecond', window.fromSecond),
        toSecond: split - 1,
      },
      { kind: 'time', date: window.date, fromSecond: split, ...optionalSecond('toSecond', window.toSecond) },
    ];
  }
  const lo = window.from ?? '19000101';
  const hi = window.to ?? (lastDate > lo ? lastDate : lo);
  if (lo < hi) {
    const middle = epochDayToDate(Math.floor((dateToEpochDay(lo) + dateToEpochDay(hi)) / 2));
    return [
      { kind: 'dates', ...optionalDate('from', window.from), to: middle },
      { kind: 'dates', from: addDays(middle, 1), ...optionalDate('to', window.to) },
    ];
  }
  // One day with both ends closed: by time. An open end here cannot be halved.
  if (window.from !== undefined && window.from === window.to) {
    return splitStudyWindow({ kind: 'time', date: window.from }, lastDate);
  }
  return undefined;
}

function optionalSecond<K extends 'fromSecond' | 'toSecond'>(
  key: K,
  value: number | undefined,
): Partial<Record<K, number>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, number>);
}

function optionalDate<K extends 'from' | 'to'>(
  key: K,
  value: string | undefined,
): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}

/**
 * What remains of a walk over `range` after `window` (a resumed walk continues with these, in
 * order): the rest of the window's day for a time window, then the dates after it.
 */
export function windowsAfter(
  window: StudyWindow,
  range: { readonly from?: string; readonly to?: string },
): StudyWindow[] {
  const rest: StudyWindow[] = [];
  let lastDone: string | undefined;
  if (window.kind === 'time') {
    if (window.toSecond !== undefined) {
      rest.push({ kind: 'time', date: window.date, fromSecond: window.toSecond + 1 });
    }
    lastDone = window.date;
  } else {
    lastDone = window.to;
  }
  if (lastDone === undefined) return rest;
  const next = addDays(lastDone, 1);
  if (range.to !== undefined && next > range.to) return rest;
  rest.push({ kind: 'dates', from: next, ...optionalDate('to', range.to) });
  return rest;
}

/** The first window of a walk over a date filter (open ends stay open). */
export function firstStudyWindow(range: { readonly from?: string; readonly to?: string }): StudyWindow {
  return { kind: 'dates', ...optionalDate('from', range.from), ...optionalDate('to', range.to) };
}

/** Whether a value read back (a cursor) is a well-formed window. */
export function isStudyWindow(value: unknown): value is StudyWindow {
  if (typeof value !== 'object' || value === null) return false;
  const w = value as Record<string, unknown>;
  const date = (v: unknown): boolean => v === undefined || (typeof v === 'string' && /^\d{8}$/.test(v));
  const second = (v: unknown): boolean =>
    v === undefined || (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < SECONDS_PER_DAY);
  if (w.kind === 'dates') return date(w.from) && date(w.to);
  if (w.kind === 'time')
    return typeof w.date === 'string' && date(w.date) && second(w.fromSecond) && second(w.toSecond);
  return false;
}
