/**
 * How a labels file's key finds its object, shared by `cxr evaluate` and `cxr train` so that the
 * two commands match the same rows. A `file` key is compared with the object's base name (the
 * last segment of its URI, percent-decoded): exactly, else both without an image extension, so
 * `00000001_000.png` (NIH's name) finds `00000001_000.dcm` (the archive's) and `1.2.3.4` finds
 * `1.2.3.4.dcm`. Only a known image extension is removed, never whatever follows the last dot:
 * that would cut UID names (`1.2.840.113619.2.55.3` -> `1.2.840.113619.2.55`) and names like
 * `x.jpeg_ls_lossless`.
 */

/** The last path segment of a URI or path (`s3://b/x/00000001_000.png` -> `00000001_000.png`). */
export function baseName(value: string): string {
  const segment =
    value
      .replace(/[?#].*$/, '')
      .split(/[/\\]/)
      .pop() ?? value;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

// Extensions an image file carries on one side and not, or differently, on the other: a DICOM
// archive's `.dcm` / `.dicom`, and the PNG/JPEG names of published label files.
const IMAGE_EXTENSION = /\.(?:dcm|dicom|png|jpe?g)$/i;

/** A file name without its image extension, if it has one (`a.DCM` -> `a`, `1.2.3` -> `1.2.3`). */
export function withoutImageExtension(name: string): string {
  const stripped = name.replace(IMAGE_EXTENSION, '');
  return stripped === '' ? name : stripped;
}

/**
 * Finds the label row of an object by `file` key: the index in `keys` of the row whose key equals
 * the object's base name, else of the one row whose key equals it once both lose their image
 * extension. A stem two rows share matches neither: the key cannot tell them apart.
 */
export function fileKeyMatcher(keys: readonly string[]): (objectUri: string) => number | undefined {
  const byName = new Map<string, number>();
  const byStem = new Map<string, number | null>();
  keys.forEach((key, i) => {
    if (!byName.has(key)) byName.set(key, i);
    const stem = withoutImageExtension(key);
    byStem.set(stem, byStem.has(stem) ? null : i);
  });
  return (objectUri) => {
    const name = baseName(objectUri);
    return byName.get(name) ?? byStem.get(withoutImageExtension(name)) ?? undefined;
  };
}

/** Unmatched keys shown per side: enough to see the pattern, few enough for one line. */
export const UNMATCHED_KEYS_SHOWN = 5;

/** Keys of one side that found no partner: how many, and the first few in input order. */
export interface UnmatchedKeys {
  readonly count: number;
  readonly first: readonly string[];
}

/** Collects unmatched keys: counts them all, keeps the first UNMATCHED_KEYS_SHOWN. */
export class UnmatchedKeyCollector {
  #count = 0;
  readonly #first: { readonly order: number; readonly key: string }[] = [];

  /** `order` places the key (e.g. its listing position) when keys arrive out of order. */
  add(key: string, order = this.#count): void {
    this.#count += 1;
    this.#first.push({ order, key });
    this.#first.sort((a, b) => a.order - b.order);
    this.#first.length = Math.min(this.#first.length, UNMATCHED_KEYS_SHOWN);
  }

  /** Keys added so far. */
  get count(): number {
    return this.#count;
  }

  result(): UnmatchedKeys {
    return { count: this.#count, first: this.#first.map((k) => k.key) };
  }
}

/**
 * One line about one side's unmatched keys, e.g. `3 of 82 scored predictions have no label row
 * (first: "a.dcm", "b.dcm", "c.dcm")`; undefined when every key matched. Keys are quoted as JSON
 * strings so that a comma or a line break in one cannot blur the list or break the line.
 */
export function unmatchedLine(unmatched: UnmatchedKeys, total: number, what: string): string | undefined {
  if (unmatched.count === 0) return undefined;
  const first = unmatched.first.map((key) => JSON.stringify(key)).join(', ');
  const more = unmatched.count > unmatched.first.length ? ', ...' : '';
  return `${unmatched.count} of ${total} ${what} (first: ${first}${more})`;
}
