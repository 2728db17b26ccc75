/**
 * The end-of-run summary of `cxr deidentify`: counts per outcome and reason, burned-in images,
 * where the output and the map are, throughput. Pure. Nothing here prints a source URI or any
 * DICOM value: counts, reason codes, paths the operator gave and durations only.
 */
import type { DeidRejectReason, ProfileOptions } from '@cxr/deid';
import type { SourceSkipReason } from '@cxr/storage';

export interface DeidentifySummary {
  readonly out: string;
  readonly profile: ProfileOptions;
  /** The map file, or null when the run had none (no re-identification is possible). */
  readonly map: string | null;
  /** Objects the source listed. */
  readonly listed: number;
  /** Objects de-identified and written. */
  readonly written: number;
  /** Objects not written, per reason (bad input, or refused burned-in images). */
  readonly rejected: Readonly<Partial<Record<DeidRejectReason, number>>>;
  /** Objects that could not be read or written (I/O): run the command again for them. */
  readonly failed: number;
  /** Written images whose Burned In Annotation (0028,0301) is YES: their pixels may show identity. */
  readonly burnedIn: number;
  /** Entries the source passed over (links, unreadable folders), per reason. */
  readonly sourceSkipped: Readonly<Partial<Record<SourceSkipReason, number>>>;
  readonly wallSeconds: number;
  readonly instancesPerSecond: number;
  readonly interrupted: boolean;
  /** Every listed object was written or rejected for a reason; nothing failed, nothing left. */
  readonly complete: boolean;
}

function counts(record: Readonly<Partial<Record<string, number>>>): string {
  return Object.entries(record)
    .filter((entry): entry is [string, number] => (entry[1] ?? 0) > 0)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([reason, count]) => `${reason} ${count}`)
    .join(', ');
}

function total(record: Readonly<Partial<Record<string, number>>>): number {
  return Object.values(record).reduce<number>((sum, count) => sum + (count ?? 0), 0);
}

/** The profile as the command line spells it. */
export function describeProfile(profile: ProfileOptions): string {
  return [
    'basic',
    ...profile.retain.map((option) => `retain ${option}`),
    ...profile.clean.map((option) => `clean ${option}`),
  ].join(', ');
}

/** The human summary (stdout). */
export function formatDeidentifySummary(summary: DeidentifySummary): string {
  const lines = [
    `de-identified ${summary.written} of ${summary.listed} objects into ${summary.out} (profile: ${describeProfile(summary.profile)})`,
  ];
  const rejected = total(summary.rejected);
  if (rejected > 0) lines.push(`  rejected ${rejected} (not written): ${counts(summary.rejected)}`);
  if (summary.failed > 0)
    lines.push(`  failed ${summary.failed}: could not be read or written; run the command again`);
  if (summary.burnedIn > 0) {
    lines.push(
      `  burned-in annotation: ${summary.burnedIn} written image(s) say YES: their pixels are not cleaned and may show identity (--reject-burned-in leaves them out)`,
    );
  }
  const skipped = total(summary.sourceSkipped);
  if (skipped > 0) lines.push(`  passed over by the source ${skipped}: ${counts(summary.sourceSkipped)}`);
  lines.push(
    summary.map === null
      ? '  map: none; the replacements cannot be reversed, and another run gives other UIDs'
      : `  map: ${summary.map} (re-identifies the output: keep it apart from it, readable by you only)`,
  );
  lines.push(
    `  ${summary.wallSeconds.toFixed(1)} s, ${summary.instancesPerSecond.toFixed(1)} objects/s${summary.interrupted ? ', interrupted: run the same command again to finish' : ''}`,
  );
  return `${lines.join('\n')}\n`;
}
