/** Parsers for commander options that fail with a usage error naming the flag. */
import { UsageError } from './output.js';

/** An integer option in [min, max]. */
export function integerOption(flag: string, min: number, max: number = Number.MAX_SAFE_INTEGER) {
  return (raw: string): number => {
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `between ${min} and ${max}`;
      throw new UsageError(`${flag} must be an integer ${range}, got "${raw}"`);
    }
    return value;
  };
}

/** An option whose value is one of a fixed list. */
export function choiceOption<T extends string>(flag: string, allowed: readonly T[]) {
  return (raw: string): T => {
    const match = allowed.find((candidate) => candidate === raw);
    if (match === undefined) {
      throw new UsageError(`${flag} must be one of ${allowed.join(', ')}, got "${raw}"`);
    }
    return match;
  };
}

/**
 * A repeatable option whose values are items of a fixed list, also comma-separated
 * (`--retain uids,device --retain dates`): each use adds to the previous ones.
 */
export function listOption<T extends string>(flag: string, allowed: readonly T[]) {
  const one = choiceOption(flag, allowed);
  return (raw: string, previous: readonly T[] = []): T[] => [
    ...previous,
    ...raw
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '')
      .map(one),
  ];
}
