/**
 * The study-window walk: lists an archive through a query that a PACS may cut short, one window
 * at a time, splitting a window until each answer is complete, and resumable after any entry.
 * Generic over the query (QIDO-RS here; C-FIND can use it too): pure apart from the query it is
 * given.
 *
 * Knowing when an answer is complete is the hard part. A PACS caps result sets (Orthanc's
 * `LimitFindInstances`, a VNA's maximum results) and may not say so: Orthanc capped at 5 answers
 * 6 instances whether 6 or 600 match, and asking for the next page (`offset`) returns nothing.
 * So the walk trusts an answer only when it is smaller than a size it has verified, and verifies
 * by asking for the window's two halves:
 * - halves holding an instance the window's answer did not, or more instances than it, prove the
 *   window was capped: every answer that large is split from then on (`cap`);
 * - halves each smaller than the window's answer, together holding exactly its instances, prove
 *   it complete, and with it that a capped answer is at least that large (`proven`): answers
 *   below it are trusted without asking again (a PACS that caps at C answers C or C + 1 instances
 *   for a window holding more than that, never fewer);
 * - anything else (all of them in one half) says nothing: the halves are walked in its place.
 * Whenever a window is split, its instances that neither half lists are listed with it first
 * ("orphans": a study without a Study Time matches a day but no time range), so that splitting
 * never loses what an answer showed; a window cut short whose halves miss some is reported.
 * An answer the PACS flags as cut short (its own limit reached, a Warning header) is split at
 * once. Answers below `trustBelow` (10: no archive caps that low) are trusted from the start. A
 * window that cannot be split further (one date and second holding more instances than the PACS
 * answers at once) is paged with `offset` and, when it may still be incomplete, reported
 * (`query_truncated`): never silently dropped.
 */
import {
  firstStudyWindow,
  splitStudyWindow,
  studyWindowOwnsTime,
  windowsAfter,
  type StudyWindow,
} from './windows.js';

/** One answer of the PACS for one window (one request). */
export interface WindowAnswer<T> {
  readonly entries: readonly T[];
  /** The PACS said the answer was cut short (our `limit` reached, a Warning 299 header). */
  readonly truncated: boolean;
}

/** Why part of the archive could not be listed (reported, and the walk goes on). */
export type UnlistedReason = 'query_failed' | 'query_truncated';

/** What the walk has learnt about the PACS's result cap; kept in the cursor. */
export interface CapKnowledge {
  /** Answers of this many entries or more are treated as cut short (a cap was observed). */
  cap?: number;
  /** Answers of fewer entries than this are complete (a complete answer this large was verified). */
  proven: number;
}

/** Where a walk resumes: after entry `after` of `window`, with `listed` entries listed so far. */
export interface StudyWalkCursor {
  readonly window: StudyWindow;
  readonly after: string;
  readonly listed: number;
  readonly knowledge: Readonly<CapKnowledge>;
  /** Set when `after` is an orphan of a split window (listed before its halves). */
  readonly phase?: 'orphans';
}

export interface StudyWalkOptions<T> {
  /** The dates to walk (open ends allowed: see windows.ts). */
  readonly range: { readonly from?: string; readonly to?: string };
  /** Stands in for an open end when a window must be halved (the day after today). */
  readonly lastDate: string;
  /**
   * Asks the PACS for one window, from `offset` (0 except for the last-resort paging). Resolves
   * undefined when the answer was unusable (not JSON, after the query's own retries): the window
   * is reported `query_failed` and the walk goes on. Throws to end the walk (bad credentials).
   */
  readonly query: (window: StudyWindow, offset: number) => Promise<WindowAnswer<T> | undefined>;
  /** A unique, sortable key per entry (the SOP Instance UID). */
  readonly keyOf: (entry: T) => string;
  /**
   * The entry's Study Time as stored, when the PACS returned it: decides which of two time
   * windows sharing a boundary lists it (windows.ts). Without it the later window drops what the
   * one before listed, which a resumed walk cannot know (a boundary instance may come twice).
   */
  readonly timeOf?: (entry: T) => string | undefined;
  /** Resume after this entry (from a yielded cursor). */
  readonly cursor?: StudyWalkCursor;
  /** Called for each part of the archive that could not be listed (fully or for sure). */
  readonly onUnlisted?: (window: StudyWindow, reason: UnlistedReason) => void;
  /** Stop after this many entries in all (resumed walks count the ones listed before). */
  readonly limit?: number;
  /** Answers with fewer entries are complete without verification (default 10). */
  readonly trustBelow?: number;
  /** What an earlier walk of the same PACS learnt about its cap (without a cursor). */
  readonly knowledge?: Readonly<CapKnowledge>;
}

/** No archive caps its answers below this many results: smaller answers need no verification. */
export const DEFAULT_TRUST_BELOW = 10;

/** One listed entry and the cursor that resumes right after it. */
export interface WalkedEntry<T> {
  readonly entry: T;
  readonly cursor: StudyWalkCursor;
}

interface PendingWindow<T> {
  readonly window: StudyWindow;
  /** An answer already fetched (while verifying the parent window). */
  readonly answer?: WindowAnswer<T>;
  /** Resuming: entries with keys up to this one were listed before. */
  readonly resumeAfter?: string;
  /** Resuming among a window's orphans: split it (listing the orphans after `resumeAfter`), whatever its answer. */
  readonly splitOnly?: boolean;
  /** Its answer was already found unusable (while its parent was split): report it, do not ask again. */
  readonly failed?: boolean;
}

/**
 * Pages through a window that cannot be split, `offset` by `offset` until a page adds nothing
 * new. `grew`: later pages held more (the first answer was cut short, and the PACS pages). Only
 * then is the end of the pages the end of the window: an archive that caps without paging
 * (Orthanc) answers the next page with nothing, which proves nothing.
 */
async function pageThrough<T>(
  options: StudyWalkOptions<T>,
  window: StudyWindow,
  first: WindowAnswer<T>,
): Promise<{ entries: T[]; grew: boolean; complete: boolean }> {
  const byKey = new Map<string, T>();
  for (const entry of first.entries) byKey.set(options.keyOf(entry), entry);
  const firstSize = first.entries.length;
  let last = first;
  for (;;) {
    const page = await options.query(window, byKey.size);
    if (page === undefined)
      return { entries: [...byKey.values()], grew: byKey.size > firstSize, complete: false };
    const before = byKey.size;
    for (const entry of page.entries) byKey.set(options.keyOf(entry), entry);
    if (byKey.size === before) break;
    last = page;
  }
  const grew = byKey.size > firstSize;
  return { entries: [...byKey.values()], grew, complete: grew && !last.truncated };
}

/** Walks the windows of `options.range` and yields every entry once, in window then key order. */
export async function* walkStudyWindows<T>(options: StudyWalkOptions<T>): AsyncGenerator<WalkedEntry<T>> {
  const { keyOf, lastDate } = options;
  const knowledge: CapKnowledge = {
    ...(options.cursor?.knowledge ??
      options.knowledge ?? { proven: options.trustBelow ?? DEFAULT_TRUST_BELOW }),
  };
  let listed = options.cursor?.listed ?? 0;
  const limit = options.limit ?? Infinity;
  if (listed >= limit) return;

  // A stack, last window first: popped in chronological order, halves pushed right then left.
  const stack: PendingWindow<T>[] = [];
  const { cursor } = options;
  if (cursor === undefined) {
    stack.push({ window: firstStudyWindow(options.range) });
  } else {
    stack.push(
      ...windowsAfter(cursor.window, options.range)
        .map((window) => ({ window }))
        .reverse(),
    );
    stack.push({
      window: cursor.window,
      resumeAfter: cursor.after,
      ...(cursor.phase === 'orphans' ? { splitOnly: true } : {}),
    });
  }
  const pushHalves = (
    halves: readonly [StudyWindow, StudyWindow],
    answers: readonly (WindowAnswer<T> | undefined)[],
  ): void => {
    // Both halves were asked already: an unusable answer is reported when the half's turn comes.
    const pending = (window: StudyWindow, answer: WindowAnswer<T> | undefined): PendingWindow<T> =>
      answer === undefined ? { window, failed: true } : { window, answer };
    stack.push(pending(halves[1], answers[1]));
    stack.push(pending(halves[0], answers[0]));
  };

  // Time windows may share a boundary value (windows.ts): what the previous window listed is not
  // listed again, whether or not the entries' times say who owns them.
  let previousKeys = new Set<string>();
  /** The entries of `window` in key order, each with its cursor; false once the limit is reached. */
  function* emit(
    window: StudyWindow,
    entries: readonly T[],
    resumeAfter: string | undefined,
    phase: 'orphans' | undefined,
  ): Generator<WalkedEntry<T>, boolean> {
    const { timeOf } = options;
    const owned =
      timeOf === undefined ? entries : entries.filter((entry) => studyWindowOwnsTime(window, timeOf(entry)));
    const sorted = owned
      .map((entry) => ({ entry, key: keyOf(entry) }))
      .sort((a, b) => compareKeys(a.key, b.key));
    const shared = previousKeys;
    previousKeys = new Set(sorted.map(({ key }) => key));
    for (const { entry, key } of sorted) {
      if (resumeAfter !== undefined && compareKeys(key, resumeAfter) <= 0) continue;
      if (shared.has(key)) continue;
      listed += 1;
      const at: StudyWalkCursor = {
        window,
        after: key,
        listed,
        knowledge: { ...knowledge },
        ...(phase !== undefined ? { phase } : {}),
      };
      yield { entry, cursor: at };
      if (listed >= limit) return false;
    }
    return true;
  }

  for (let pending = stack.pop(); pending !== undefined; pending = stack.pop()) {
    const { window } = pending;
    const answer = pending.failed === true ? undefined : (pending.answer ?? (await options.query(window, 0)));
    if (answer === undefined) {
      options.onUnlisted?.(window, 'query_failed');
      continue;
    }
    const size = answer.entries.length;
    const halves = splitStudyWindow(window, lastDate);
    let cut = answer.truncated || size >= (knowledge.cap ?? Infinity);
    const doubtful = size > 0 && size >= knowledge.proven;
    if (halves === undefined) {
      let entries = answer.entries;
      if (cut || doubtful) {
        // One date and second: nothing left to split. Page, and say so if it may be incomplete.
        const paged = await pageThrough(options, window, answer);
        if (paged.grew) knowledge.cap = Math.min(knowledge.cap ?? Infinity, size);
        if (!paged.complete) options.onUnlisted?.(window, 'query_truncated');
        entries = paged.entries;
      }
      if (!(yield* emit(window, entries, pending.resumeAfter, undefined))) return;
      continue;
    }
    if (!cut && !doubtful && pending.splitOnly !== true) {
      if (!(yield* emit(window, answer.entries, pending.resumeAfter, undefined))) return;
      continue;
    }
    const answers = [await options.query(halves[0], 0), await options.query(halves[1], 0)];
    const [left, right] = answers;
    if (left === undefined || right === undefined) {
      if (cut || pending.splitOnly === true) {
        // The halves are walked anyway; a half that cannot be read is reported when its turn comes.
        pushHalves(halves, answers);
        continue;
      }
      // A half that could not be read verifies nothing; the window's own answer stands.
      if (!(yield* emit(window, answer.entries, pending.resumeAfter, undefined))) return;
      continue;
    }
    const own = new Set(answer.entries.map(keyOf));
    // Distinct: halves of a time window share their boundary value.
    const found = new Set([...left.entries, ...right.entries].map(keyOf));
    if (!cut && pending.splitOnly !== true) {
      const smaller = (half: WindowAnswer<T>): boolean => !half.truncated && half.entries.length < size;
      if (found.size > size || [...found].some((key) => !own.has(key))) {
        knowledge.cap = Math.min(knowledge.cap ?? Infinity, size);
        cut = true;
      } else if (smaller(left) && smaller(right) && found.size === size) {
        knowledge.proven = Math.max(knowledge.proven, size);
        if (!(yield* emit(window, answer.entries, pending.resumeAfter, undefined))) return;
        continue;
      }
    }
    // Split. Instances of the window that neither half lists (no Study Time: a time range never
    // matches an absent value) are listed here, before the halves: they would be lost otherwise.
    const orphans = answer.entries.filter((entry) => !found.has(keyOf(entry)));
    // Of a window cut short, more orphans may hide behind the cap: say so.
    if (orphans.length > 0 && cut) options.onUnlisted?.(window, 'query_truncated');
    const resumeOrphans = pending.splitOnly === true ? pending.resumeAfter : undefined;
    if (!(yield* emit(window, orphans, resumeOrphans, 'orphans'))) return;
    pushHalves(halves, [left, right]);
  }
}

/** Code-unit order (UIDs are ASCII digits and dots): the same in every process and locale. */
function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
