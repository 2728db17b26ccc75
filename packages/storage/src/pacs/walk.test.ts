/**
 * The study-window walk against an in-memory PACS that matches dates and times the way Orthanc
 * does (range bounds compared as strings, empty values sort first) and caps its answers the two
 * ways real archives do: exactly C entries, or C + 1 (Orthanc's LimitFindInstances). Every
 * instance must be listed exactly once, also when the walk is resumed from any cursor.
 */
import { describe, expect, it } from 'vitest';
import { studyWindowMatch, type StudyWindow } from './windows.js';
import { walkStudyWindows, type StudyWalkCursor, type UnlistedReason, type WindowAnswer } from './walk.js';

interface Instance {
  readonly sop: string;
  readonly date: string;
  /** Undefined: the attribute is absent (Orthanc then matches no range on it). */
  readonly time: string | undefined;
}

/** DICOM range matching as Orthanc does it: inclusive bounds compared as strings. */
function matchesRange(value: string | undefined, match: string | undefined): boolean {
  if (match === undefined) return true;
  if (value === undefined) return false;
  const dash = match.indexOf('-');
  if (dash === -1) return value === match;
  const lower = match.slice(0, dash);
  const upper = match.slice(dash + 1);
  return (lower === '' || value >= lower) && (upper === '' || value <= upper);
}

interface FakePacs {
  readonly query: (window: StudyWindow, offset: number) => Promise<WindowAnswer<Instance>>;
  readonly requests: () => number;
}

/** `cap`: answers hold at most this many (`plusOne`: Orthanc's cap + 1); offset pages within the capped set. */
function fakePacs(instances: readonly Instance[], cap: number, plusOne = false): FakePacs {
  let requests = 0;
  return {
    requests: () => requests,
    query: (window, offset) => {
      requests += 1;
      const match = studyWindowMatch(window);
      const found = instances
        .filter((i) => matchesRange(i.date, match.studyDate) && matchesRange(i.time, match.studyTime))
        // Any order: the walk must not rely on the PACS sorting.
        .sort((a, b) => (a.sop.split('').reverse().join('') < b.sop.split('').reverse().join('') ? -1 : 1));
      const capped = found.slice(0, plusOne ? cap + 1 : cap);
      return Promise.resolve({ entries: capped.slice(offset), truncated: false });
    },
  };
}

/** Seeded pseudo-random numbers (mulberry32). */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `count` instances over a few days with times in every spelling DICOM allows; `undated` of them
 * without a Study Date and `untimed` without a Study Time.
 */
function archive(count: number, seed: number, untimed = 0, undated = 0): Instance[] {
  const next = random(seed);
  const days = ['20240229', '20250101', '20250102', '20250317', '20251231'];
  const instances: Instance[] = [];
  for (let i = 0; i < count; i++) {
    const hour = Math.floor(next() * 24);
    const minute = Math.floor(next() * 60);
    const second = Math.floor(next() * 60);
    const two = (n: number): string => String(n).padStart(2, '0');
    const forms = [
      two(hour),
      `${two(hour)}${two(minute)}`,
      `${two(hour)}${two(minute)}${two(second)}`,
      `${two(hour)}${two(minute)}${two(second)}.${String(Math.floor(next() * 1e6)).padStart(6, '0')}`,
      // Invalid, but stored by real archives: minutes or seconds past 59.
      `${two(hour)}${two(60 + Math.floor(next() * 40))}00`,
    ];
    instances.push({
      sop: `1.2.3.${i}`,
      // Instances without a Study Date are listed by the walk's open-start window.
      date: i < undated ? '' : (days[Math.floor(next() * days.length)] ?? ''),
      time: i >= undated && i < undated + untimed ? '' : (forms[Math.floor(next() * forms.length)] ?? ''),
    });
  }
  return instances;
}

async function walkAll(
  pacs: FakePacs,
  options: {
    cursor?: StudyWalkCursor;
    limit?: number;
    range?: { from?: string; to?: string };
    trustBelow?: number;
  } = {},
): Promise<{ sops: string[]; cursors: StudyWalkCursor[]; unlisted: UnlistedReason[] }> {
  const sops: string[] = [];
  const cursors: StudyWalkCursor[] = [];
  const unlisted: UnlistedReason[] = [];
  for await (const { entry, cursor } of walkStudyWindows({
    range: options.range ?? {},
    lastDate: '20261208',
    query: pacs.query,
    keyOf: (i) => i.sop,
    timeOf: (i) => i.time,
    onUnlisted: (_window, reason) => unlisted.push(reason),
    ...(options.cursor ? { cursor: options.cursor } : {}),
    ...(options.limit ? { limit: options.limit } : {}),
    ...(options.trustBelow ? { trustBelow: options.trustBelow } : {}),
  })) {
    sops.push(entry.sop);
    cursors.push(cursor);
  }
  return { sops, cursors, unlisted };
}

describe('walkStudyWindows', () => {
  // 6 undated and 5 untimed per day on average: fewer than the smallest cap below, in any window.
  const instances = archive(400, 7, 20, 6);
  const all = instances.map((i) => i.sop).sort();

  it.each([
    ['no cap', 100_000, false],
    ['a cap of 50 answering 50', 50, false],
    ['a cap of 25 answering 26 (Orthanc)', 25, true],
    ['a cap of 10 answering 10', 10, false],
    ['a cap of 10 answering 11 (Orthanc)', 10, true],
  ])('lists every instance exactly once with %s', async (_name, cap, plusOne) => {
    const pacs = fakePacs(instances, cap, plusOne);
    const { sops, unlisted } = await walkAll(pacs);
    expect(unlisted).toEqual([]);
    expect(sops).toHaveLength(new Set(sops).size);
    expect([...sops].sort()).toEqual(all);
  });

  it('lists every instance with a cap as low as 5 when told to trust only smaller answers', async () => {
    const spread = archive(300, 11, 0, 2);
    const pacs = fakePacs(spread, 5, true);
    const { sops, unlisted } = await walkAll(pacs, { trustBelow: 5 });
    expect(unlisted).toEqual([]);
    expect([...sops].sort()).toEqual(spread.map((i) => i.sop).sort());
  });

  it('answers a small archive in a handful of requests', async () => {
    const pacs = fakePacs(instances, 100_000);
    await walkAll(pacs);
    // The whole archive in one answer, verified by its two halves (and deeper while every
    // instance sits in one half: 1900-2026 halves twice before the halves share them).
    expect(pacs.requests()).toBeLessThan(12);
  });

  it('resumes after any entry with exactly the entries not yet listed', async () => {
    const pacs = fakePacs(instances, 20, true);
    const { sops, cursors } = await walkAll(pacs);
    for (const at of [0, 1, 57, 200, sops.length - 2]) {
      // Through JSON, as the cursor store keeps it.
      const cursor = JSON.parse(JSON.stringify(cursors[at])) as StudyWalkCursor;
      const rest = await walkAll(pacs, { cursor });
      // The windows after a resume may be cut differently: the same instances, maybe in another order.
      expect([...rest.sops].sort()).toEqual(sops.slice(at + 1).sort());
      expect(rest.cursors.at(-1)?.listed).toBe(sops.length);
    }
  });

  it('stops at the limit, also across a resume', async () => {
    const pacs = fakePacs(instances, 30);
    const first = await walkAll(pacs, { limit: 120 });
    expect(first.sops).toHaveLength(120);
    const cursor = first.cursors[49];
    const resumed = await walkAll(pacs, { limit: 120, ...(cursor ? { cursor } : {}) });
    expect(resumed.sops).toHaveLength(70);
    expect(resumed.sops.filter((sop) => first.sops.slice(0, 50).includes(sop))).toEqual([]);
  });

  it('keeps to a closed date range', async () => {
    const pacs = fakePacs(instances, 10, true);
    const { sops } = await walkAll(pacs, { range: { from: '20250101', to: '20250102' } });
    const expected = instances
      .filter((i) => i.date === '20250101' || i.date === '20250102')
      .map((i) => i.sop)
      .sort();
    expect([...sops].sort()).toEqual(expected);
  });

  it.each([
    ['answering 10', false],
    ['answering 11 (Orthanc)', true],
  ])(
    'reports a date and second holding more instances than a cap of 10 %s, listing what it can',
    async (_name, plusOne) => {
      const same = Array.from({ length: 30 }, (_, i) => ({
        sop: `9.9.${i}`,
        date: '20250101',
        time: '101010',
      }));
      const pacs = fakePacs([...same, ...instances], 10, plusOne);
      const { sops, unlisted } = await walkAll(pacs);
      expect(unlisted).toEqual(['query_truncated']);
      expect(sops).toHaveLength(new Set(sops).size);
      expect(sops.filter((sop) => sop.startsWith('9.9.')).length).toBe(plusOne ? 11 : 10);
      expect(sops.filter((sop) => !sop.startsWith('9.9.')).sort()).toEqual(all);
    },
  );

  it('pages a date and second that the PACS pages properly, and lists all of it', async () => {
    const same = Array.from({ length: 30 }, (_, i) => ({
      sop: `9.9.${i}`,
      date: '20250101',
      time: '101010',
    }));
    const whole = [...same, ...instances];
    const pacs = fakePacs(whole, 10);
    // A PACS whose pages go past its per-answer cap (offset paging works).
    const paging = {
      requests: pacs.requests,
      query: async (window: StudyWindow, offset: number): Promise<WindowAnswer<Instance>> => {
        const full = await fakePacs(whole, 100_000).query(window, 0);
        return { entries: full.entries.slice(offset, offset + 10), truncated: false };
      },
    };
    const { sops, unlisted } = await walkAll(paging);
    expect(unlisted).toEqual([]);
    expect([...sops].sort()).toEqual(whole.map((i) => i.sop).sort());
  });

  it('reports a window whose answer is unusable and goes on with the next', async () => {
    // A PACS cut short at 21 answers: the day of 2025-01-02 is reached by splitting, and every
    // query for that day alone fails.
    const pacs = fakePacs(instances, 20, true);
    const broken = (window: StudyWindow): boolean =>
      window.kind === 'dates' && window.from === '20250102' && window.to === '20250102';
    const sops: string[] = [];
    const unlisted: string[] = [];
    for await (const { entry } of walkStudyWindows({
      range: {},
      lastDate: '20261208',
      query: (window, offset) => (broken(window) ? Promise.resolve(undefined) : pacs.query(window, offset)),
      keyOf: (i) => i.sop,
      timeOf: (i) => i.time,
      onUnlisted: (window, reason) => unlisted.push(`${reason} ${JSON.stringify(window)}`),
    })) {
      sops.push(entry.sop);
    }
    expect(unlisted).toEqual(['query_failed {"kind":"dates","from":"20250102","to":"20250102"}']);
    const missing = instances.filter((i) => i.date === '20250102').map((i) => i.sop);
    expect(missing.length).toBeGreaterThan(21);
    expect([...sops].sort()).toEqual(all.filter((sop) => !missing.includes(sop)));
  });

  it('lists the instances a split cannot reach (no Study Time at all) with their window, before its halves', async () => {
    // Study Time absent (not empty): a day query finds them, no time range does.
    const untimed = Array.from({ length: 14 }, (_, i) => ({
      sop: `7.7.${i}`,
      date: '20250101',
      time: undefined,
    }));
    const timed = Array.from({ length: 30 }, (_, i) => ({
      sop: `8.8.${i}`,
      date: '20250101',
      time: String(80000 + i * 100).padStart(6, '0'),
    }));
    for (const [cap, expectReport] of [
      [100_000, false],
      [10, true],
    ] as const) {
      const pacs = fakePacs([...untimed, ...timed], cap, true);
      const { sops, unlisted, cursors } = await walkAll(pacs);
      expect(new Set(sops).size).toBe(sops.length);
      if (!expectReport) {
        expect(unlisted).toEqual([]);
        expect([...sops].sort()).toEqual([...untimed, ...timed].map((i) => i.sop).sort());
        // Resuming among the orphans lists the rest of them and then the halves.
        const at = sops.findIndex((sop) => sop.startsWith('7.7.'));
        const cursor = JSON.parse(JSON.stringify(cursors[at + 3])) as StudyWalkCursor;
        expect(cursor.phase).toBe('orphans');
        const rest = await walkAll(pacs, { cursor });
        expect([...rest.sops].sort()).toEqual(sops.slice(at + 4).sort());
      } else {
        // Cut short at 11 per answer: the untimed ones it showed are listed, and the window is
        // reported, since more of them may hide behind the cap.
        expect(unlisted).toContain('query_truncated');
        expect(sops.filter((sop) => sop.startsWith('8.8.')).sort()).toEqual(timed.map((i) => i.sop).sort());
        expect(sops.filter((sop) => sop.startsWith('7.7.')).length).toBeGreaterThan(0);
      }
    }
  });
});
