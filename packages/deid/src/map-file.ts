/**
 * The re-identification map: one JSON file with the run's secret key, its profile and every
 * replacement made (original UID -> replacement, patient identity -> pseudonym and date offset,
 * source object -> output file). With the key, a later run with the same map makes the same
 * replacements (more images of the same study join the same new study); with the records, an
 * authorised person can go back from a shared file to the original. It is PHI: created with mode
 * 0600, refused when others may read it, and never placed inside the output folder.
 */
import { randomBytes } from 'node:crypto';
import { chmod, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, isAbsolute } from 'node:path';
import { realpathSync } from 'node:fs';
import type { InstanceUids } from './deidentify.js';
import { CLEAN_OPTIONS, normalizeProfileOptions, RETAIN_OPTIONS, type ProfileOptions } from './options.js';
import { PROFILE_TABLE_SOURCE } from './profile.js';
import { DeidSession, generateKey, KEY_BYTES, type PatientRecord, type SessionState } from './session.js';

export const MAP_FORMAT = 'cxr-deid-map/1';

/** One de-identified object as the map records it. */
export interface MapInstance {
  /** Where the object was read from (URI as listed: may hold PHI). */
  readonly source: string;
  /** The output file name (relative to the output folder). */
  readonly file: string;
  readonly original: InstanceUids;
  readonly deidentified: InstanceUids;
}

/** The map file's content. */
export interface DeidMap {
  readonly format: typeof MAP_FORMAT;
  readonly warning: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** The HMAC key, hex: whoever has it can recompute every replacement from the originals. */
  readonly key: string;
  readonly profile: ProfileOptions;
  /** The edition of PS3.15 Table E.1-1 the runs applied. */
  readonly table: string;
  readonly uids: Readonly<Record<string, string>>;
  readonly patients: readonly PatientRecord[];
  readonly instances: readonly MapInstance[];
}

const WARNING =
  'Re-identification map: contains patient identifiers and the key of every replacement. Keep it apart from the shared data, readable by its owner only.';

/** A map that cannot be used as given (missing, unreadable, readable by others, another profile). */
export class MapFileError extends Error {
  override readonly name = 'MapFileError';
}

function profilesEqual(a: ProfileOptions, b: ProfileOptions): boolean {
  return a.retain.join(',') === b.retain.join(',') && a.clean.join(',') === b.clean.join(',');
}

function describeProfile(profile: ProfileOptions): string {
  const parts = [
    'basic',
    ...profile.retain.map((option) => `retain ${option}`),
    ...profile.clean.map((option) => `clean ${option}`),
  ];
  return parts.join(', ');
}

function parseMap(text: string, path: string): DeidMap {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new MapFileError(`${path} is not a de-identification map (not JSON)`);
  }
  const map = value as Partial<DeidMap> | null;
  if (map === null || typeof map !== 'object' || map.format !== MAP_FORMAT) {
    throw new MapFileError(`${path} is not a de-identification map (format is not ${MAP_FORMAT})`);
  }
  if (typeof map.key !== 'string' || !/^[0-9a-f]+$/.test(map.key) || map.key.length < KEY_BYTES * 2) {
    throw new MapFileError(`${path}: the key is missing or too short`);
  }
  const profile = map.profile;
  const known = (list: unknown, allowed: readonly string[]): boolean =>
    Array.isArray(list) && list.every((item) => typeof item === 'string' && allowed.includes(item));
  if (
    profile === undefined ||
    !known(profile.retain, RETAIN_OPTIONS) ||
    !known(profile.clean, CLEAN_OPTIONS)
  ) {
    throw new MapFileError(`${path}: the profile is missing or unknown`);
  }
  if (typeof map.uids !== 'object' || !Array.isArray(map.patients) || !Array.isArray(map.instances)) {
    throw new MapFileError(`${path}: the uids, patients or instances are missing`);
  }
  return map as DeidMap;
}

/** An open map: the session it keys, and what it already recorded. */
export interface OpenMap {
  readonly path: string;
  readonly session: DeidSession;
  readonly map: DeidMap;
  /** True when this call created the file. */
  readonly created: boolean;
}

/**
 * Opens the map at `path` and the session it keys. An existing map must be readable by its owner
 * only and made with the same profile as `profile` (one map, one profile: the replacements of
 * two profiles would not match); its profile is used when `profile` is undefined. A missing map
 * is created with a new random key (and written at once, mode 0600, before any output exists)
 * when a profile is given, and is an error otherwise.
 */
export async function openMapFile(path: string, profile?: ProfileOptions): Promise<OpenMap> {
  const wanted = profile === undefined ? undefined : normalizeProfileOptions(profile);
  let text: string | undefined;
  try {
    const info = await stat(path);
    if ((info.mode & 0o077) !== 0) {
      throw new MapFileError(
        `${path} may be read by others (mode ${(info.mode & 0o777).toString(8)}): it holds patient identifiers; chmod 600 it`,
      );
    }
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (error instanceof MapFileError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw new MapFileError(`${path} cannot be read (${code ?? 'read error'})`);
  }
  if (text !== undefined) {
    const map = parseMap(text, path);
    const recorded = normalizeProfileOptions(map.profile);
    if (wanted !== undefined && !profilesEqual(recorded, wanted)) {
      throw new MapFileError(
        `${path} was made with the profile "${describeProfile(recorded)}", not "${describeProfile(wanted)}": use the same options, or a new map`,
      );
    }
    const state: SessionState = { uids: map.uids, patients: map.patients };
    return {
      path,
      session: new DeidSession(Buffer.from(map.key, 'hex'), recorded, state),
      map,
      created: false,
    };
  }
  if (wanted === undefined) throw new MapFileError(`${path}: no such de-identification map`);
  const key = generateKey();
  const now = new Date().toISOString();
  const map: DeidMap = {
    format: MAP_FORMAT,
    warning: WARNING,
    createdAt: now,
    updatedAt: now,
    key: Buffer.from(key).toString('hex'),
    profile: wanted,
    table: `PS3.15 ${PROFILE_TABLE_SOURCE.edition} Table E.1-1`,
    uids: {},
    patients: [],
    instances: [],
  };
  // 'wx': never overwrite a map another run created meanwhile (it holds the only copy of its key).
  const handle = await open(path, 'wx', 0o600).catch((error: unknown) => {
    const code = (error as NodeJS.ErrnoException).code;
    throw new MapFileError(`${path} cannot be created (${code ?? 'write error'})`);
  });
  try {
    await handle.writeFile(`${JSON.stringify(map, null, 2)}\n`);
  } finally {
    await handle.close();
  }
  return { path, session: new DeidSession(key, wanted), map, created: true };
}

/** A session for a run without a map: a fresh key, forgotten at the end (no re-identification). */
export function ephemeralSession(profile: ProfileOptions): DeidSession {
  return new DeidSession(generateKey(), profile);
}

/**
 * Writes the map again with the session's replacements and the run's instances (an instance
 * already recorded for the same source is replaced). Atomic: a temporary file (mode 0600) beside
 * it, then a rename, so a crash leaves the previous map whole. Returns the map as written.
 */
export async function saveMapFile(opened: OpenMap, instances: readonly MapInstance[]): Promise<OpenMap> {
  const state = opened.session.state();
  const bySource = new Map(opened.map.instances.map((instance) => [instance.source, instance]));
  for (const instance of instances) bySource.set(instance.source, instance);
  const map: DeidMap = {
    ...opened.map,
    updatedAt: new Date().toISOString(),
    uids: state.uids,
    patients: state.patients,
    instances: [...bySource.values()],
  };
  const temporary = join(
    dirname(opened.path),
    `.${basename(opened.path)}.${randomBytes(4).toString('hex')}.partial`,
  );
  try {
    const handle = await openFile(temporary);
    try {
      await handle.writeFile(`${JSON.stringify(map, null, 2)}\n`);
    } finally {
      await handle.close();
    }
    await chmod(temporary, 0o600);
    await rename(temporary, opened.path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  return { ...opened, map };
}

function openFile(path: string) {
  return open(path, 'wx', 0o600);
}

/** The real path of `path`, or of its nearest existing ancestor joined with the rest. */
function realish(path: string): string {
  const absolute = resolve(path);
  let existing = absolute;
  const rest: string[] = [];
  for (;;) {
    try {
      return join(realpathSync(existing), ...rest.reverse());
    } catch {
      const parent = dirname(existing);
      if (parent === existing) return absolute;
      rest.push(basename(existing));
      existing = parent;
    }
  }
}

/** Whether `path` lies inside the folder `folder` (after resolving symbolic links). */
export function isInside(path: string, folder: string): boolean {
  const rel = relative(realish(folder), realish(path));
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}
