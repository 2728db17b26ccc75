/**
 * The options of the profile as the command line names them, without the profile table: what
 * `cxr` needs to register its options (the table loads only when a command runs).
 */
/** What `--retain` accepts: the Retain options of PS3.15 E.3.6 to E.3.11. */
export const RETAIN_OPTIONS = [
  'dates',
  'modified-dates',
  'uids',
  'device',
  'institution',
  'patient-characteristics',
  'safe-private',
] as const;
export type RetainOption = (typeof RETAIN_OPTIONS)[number];

/**
 * What `--clean` accepts. Only the Clean Descriptors Option (E.3.5) is offered: cleaning
 * structured content, graphics or pixel data needs knowledge this package does not have, and
 * without those options the Basic Profile removes that content instead.
 */
export const CLEAN_OPTIONS = ['descriptors'] as const;
export type CleanOption = (typeof CLEAN_OPTIONS)[number];

/** The profile a run applies: the Basic Profile plus these options. */
export interface ProfileOptions {
  readonly retain: readonly RetainOption[];
  readonly clean: readonly CleanOption[];
}

export const BASIC_PROFILE: ProfileOptions = { retain: [], clean: [] };

/** A usage error in the options (two date options, an unknown name). */
export class ProfileOptionsError extends Error {
  override readonly name = 'ProfileOptionsError';
}

/**
 * Options in a canonical order without duplicates. Throws ProfileOptionsError when both date
 * options are asked for: full dates and modified dates exclude each other (PS3.15 E.3.6).
 */
export function normalizeProfileOptions(options: ProfileOptions): ProfileOptions {
  const retain = RETAIN_OPTIONS.filter((option) => options.retain.includes(option));
  const clean = CLEAN_OPTIONS.filter((option) => options.clean.includes(option));
  for (const option of [...options.retain, ...options.clean]) {
    if (
      !(RETAIN_OPTIONS as readonly string[]).includes(option) &&
      !(CLEAN_OPTIONS as readonly string[]).includes(option)
    ) {
      throw new ProfileOptionsError(`unknown profile option "${option}"`);
    }
  }
  if (retain.includes('dates') && retain.includes('modified-dates')) {
    throw new ProfileOptionsError(
      'retain dates and retain modified-dates exclude each other: choose full dates or shifted dates',
    );
  }
  return { retain, clean };
}

/** Option columns of Table E.1-1, as keys of the data file. */
export const OPTION_COLUMNS = [
  'safePrivate',
  'uids',
  'device',
  'institution',
  'patientCharacteristics',
  'fullDates',
  'modifiedDates',
  'cleanDescriptors',
  'cleanStructuredContent',
  'cleanGraphics',
] as const;
export type OptionColumn = (typeof OPTION_COLUMNS)[number];

const RETAIN_COLUMN: Readonly<Record<RetainOption, OptionColumn>> = {
  dates: 'fullDates',
  'modified-dates': 'modifiedDates',
  uids: 'uids',
  device: 'device',
  institution: 'institution',
  'patient-characteristics': 'patientCharacteristics',
  'safe-private': 'safePrivate',
};

const CLEAN_COLUMN: Readonly<Record<CleanOption, OptionColumn>> = { descriptors: 'cleanDescriptors' };

/** The option columns a profile selects. */
export function selectedColumns(options: ProfileOptions): OptionColumn[] {
  return [...options.retain.map((o) => RETAIN_COLUMN[o]), ...options.clean.map((o) => CLEAN_COLUMN[o])];
}
