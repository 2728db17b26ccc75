import { randomBytes } from 'node:crypto';

/**
 * A fresh run id (`run-20261207T051813Z-5fd1e4`): sortable by start time, unique enough for one
 * archive's runs. Runs group results in the store (`listRuns`, exports by run).
 */
export function newRunId(now: Date = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `run-${stamp}-${randomBytes(3).toString('hex')}`;
}
