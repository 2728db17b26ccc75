import { randomBytes } from 'node:crypto';

/** A fresh run id: sortable by start time, unique enough for one archive's runs. */
export function newRunId(now: Date = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `run-${stamp}-${randomBytes(3).toString('hex')}`;
}
