/**
 * The PACS filter flags of `cxr screen` and `cxr ingest` (`--study-date`, `--modality`, ...):
 * the same filters a `dicomweb+http(s)://` or `dimse://` source URI takes as query parameters,
 * which they replace one by one. Validation is @cxr/storage's (parsePacsFilters): a bad value is a
 * usage error naming the flag, never repeating a Patient ID or Accession Number.
 */
import type { Command } from 'commander';
import type { PacsFilterInput } from '@cxr/storage';

/** The flags as commander hands them over. */
export interface PacsFilterFlags {
  readonly studyDate?: string;
  readonly modality?: string;
  readonly bodyPart?: string;
  readonly station?: string;
  readonly institution?: string;
  readonly accession?: string;
  readonly patientId?: string;
  readonly limit?: string;
}

/** Adds the PACS filter flags to a command. */
export function addPacsFilterOptions(command: Command): Command {
  return command
    .option('--study-date <range>', 'PACS: study dates YYYYMMDD-YYYYMMDD (or YYYYMMDD, YYYYMMDD-, -YYYYMMDD)')
    .option('--modality <list>', 'PACS: modalities, comma-separated (default CR,DX; * for any)')
    .option('--body-part <value>', 'PACS: Body Part Examined (wildcards * and ? allowed)')
    .option('--station <value>', 'PACS: Station Name')
    .option('--institution <value>', 'PACS: Institution Name')
    .option('--accession <value>', 'PACS: Accession Number (a patient identifier: never logged)')
    .option('--patient-id <value>', 'PACS: Patient ID (a patient identifier: never logged)')
    .option('--limit <n>', 'PACS: list at most this many instances');
}

/** The flags given, as filter input; undefined when none is. */
export function pacsFiltersOf(flags: PacsFilterFlags): PacsFilterInput | undefined {
  const input: Record<string, string> = {};
  const set = (name: string, value: string | undefined): void => {
    if (value !== undefined) input[name] = value;
  };
  set('study-date', flags.studyDate);
  set('modality', flags.modality);
  set('body-part', flags.bodyPart);
  set('station', flags.station);
  set('institution', flags.institution);
  set('accession', flags.accession);
  set('patient-id', flags.patientId);
  set('limit', flags.limit);
  return Object.keys(input).length === 0 ? undefined : input;
}
