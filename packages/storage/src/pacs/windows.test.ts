import { describe, expect, it } from 'vitest';
import {
  addDays,
  describeStudyWindow,
  studyWindowOwnsTime,
  isStudyWindow,
  splitStudyWindow,
  studyWindowMatch,
  windowsAfter,
  type StudyWindow,
} from './windows.js';

const LAST = '20261209';

describe('study windows', () => {
  it('writes DICOM range matching values, open ends included', () => {
    expect(studyWindowMatch({ kind: 'dates' })).toEqual({});
    expect(studyWindowMatch({ kind: 'dates', to: '20241231' })).toEqual({ studyDate: '-20241231' });
    expect(studyWindowMatch({ kind: 'dates', from: '20240101' })).toEqual({ studyDate: '20240101-' });
    expect(studyWindowMatch({ kind: 'dates', from: '20240101', to: '20240101' })).toEqual({
      studyDate: '20240101',
    });
    expect(studyWindowMatch({ kind: 'time', date: '20240101', toSecond: 43199 })).toEqual({
      studyDate: '20240101',
      studyTime: '-12',
    });
    expect(studyWindowMatch({ kind: 'time', date: '20240101', fromSecond: 60, toSecond: 89 })).toEqual({
      studyDate: '20240101',
      studyTime: '0001-000129.999999',
    });
    expect(studyWindowMatch({ kind: 'time', date: '20240101', fromSecond: 43200, toSecond: 44999 })).toEqual({
      studyDate: '20240101',
      studyTime: '12-1230',
    });
    expect(studyWindowMatch({ kind: 'time', date: '20240101', fromSecond: 45000 })).toEqual({
      studyDate: '20240101',
      studyTime: '1230-',
    });
    expect(describeStudyWindow({ kind: 'time', date: '20240101', fromSecond: 45031 })).toBe(
      '20240101 T123031-',
    );
  });

  it('halves dates, then a single day by time, down to one second', () => {
    const all: StudyWindow = { kind: 'dates' };
    const [left, right] = splitStudyWindow(all, LAST) ?? [];
    expect(left).toEqual({ kind: 'dates', to: '19630621' });
    expect(right).toEqual({ kind: 'dates', from: '19630622' });
    expect(splitStudyWindow({ kind: 'dates', from: '20240101', to: '20240101' }, LAST)).toEqual([
      { kind: 'time', date: '20240101', toSecond: 43199 },
      { kind: 'time', date: '20240101', fromSecond: 43200 },
    ]);
    // Whole hours while the window spans hours, whole minutes while it spans minutes.
    expect(splitStudyWindow({ kind: 'time', date: '20240101', fromSecond: 43200 }, LAST)?.[1]).toEqual({
      kind: 'time',
      date: '20240101',
      fromSecond: 64800,
    });
    expect(
      splitStudyWindow({ kind: 'time', date: '20240101', fromSecond: 3600, toSecond: 7199 }, LAST)?.[1],
    ).toEqual({
      kind: 'time',
      date: '20240101',
      fromSecond: 5400,
      toSecond: 7199,
    });
    expect(splitStudyWindow({ kind: 'time', date: '20240101', fromSecond: 60, toSecond: 61 }, LAST)).toEqual([
      { kind: 'time', date: '20240101', fromSecond: 60, toSecond: 60 },
      { kind: 'time', date: '20240101', fromSecond: 61, toSecond: 61 },
    ]);
    expect(
      splitStudyWindow({ kind: 'time', date: '20240101', fromSecond: 61, toSecond: 61 }, LAST),
    ).toBeUndefined();
    // An open end past the last date has nothing to halve.
    expect(splitStudyWindow({ kind: 'dates', from: '20270101' }, LAST)).toBeUndefined();
  });

  it('splits a day into windows that cover every time string, sharing only their boundaries', () => {
    // Every stored time string, valid or not, lands in a window at every level (string comparison,
    // as Orthanc); only a boundary value itself lands in two neighbours.
    let windows: StudyWindow[] = [{ kind: 'time', date: '20240101' }];
    for (let level = 0; level < 6; level++) {
      windows = windows.flatMap((w) => splitStudyWindow(w, LAST) ?? [w]);
    }
    const inWindow = (w: StudyWindow, time: string): boolean => {
      const range = studyWindowMatch(w).studyTime ?? '-';
      const [lower = '', upper = ''] = range.split('-');
      return (lower === '' || time >= lower) && (upper === '' || time <= upper);
    };
    for (const time of [
      '',
      '00',
      '0959',
      '1200',
      '120000',
      '123015.5',
      '235959.999999',
      '23',
      '076000',
      '1161',
    ]) {
      const owners = windows.filter((w) => inWindow(w, time) && studyWindowOwnsTime(w, time));
      expect(owners, time).toHaveLength(1);
    }
    // A boundary written coarsely ('12' at noon) is in both neighbours, and owned by the later one.
    const both = windows.filter((w) => inWindow(w, '12'));
    expect(both).toHaveLength(2);
    expect(both.map((w) => studyWindowOwnsTime(w, '12'))).toEqual([false, true]);
  });

  it('knows what is left of a walk after a window', () => {
    expect(windowsAfter({ kind: 'time', date: '20240101', toSecond: 43199 }, { to: '20240105' })).toEqual([
      { kind: 'time', date: '20240101', fromSecond: 43200 },
      { kind: 'dates', from: '20240102', to: '20240105' },
    ]);
    expect(windowsAfter({ kind: 'dates', to: '20240105' }, { to: '20240105' })).toEqual([]);
    expect(windowsAfter({ kind: 'dates', from: '20240101' }, {})).toEqual([]);
    expect(windowsAfter({ kind: 'dates', to: '19991231' }, {})).toEqual([
      { kind: 'dates', from: '20000101' },
    ]);
    expect(addDays('20240228', 1)).toBe('20240229');
    expect(addDays('20241231', 1)).toBe('20250101');
  });

  it('recognises windows read back from a cursor', () => {
    expect(isStudyWindow({ kind: 'dates', from: '20240101' })).toBe(true);
    expect(isStudyWindow({ kind: 'time', date: '20240101', fromSecond: 86400 })).toBe(false);
    expect(isStudyWindow({ kind: 'dates', from: '2024' })).toBe(false);
    expect(isStudyWindow(null)).toBe(false);
  });
});
