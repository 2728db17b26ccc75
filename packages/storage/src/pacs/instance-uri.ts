/**
 * Object URIs of PACS instances: the source's base (scheme, host, port, root path; never a query,
 * credentials or a filter) followed by the Study, Series and SOP Instance UIDs, e.g.
 * `dicomweb+https://pacs:443/dicom-web/studies/1.2/series/1.2.3/instances/1.2.3.4` or
 * `dimse://PACS@pacs:104/studies/...`. This is what jobs carry and what the store keeps, so it
 * must never hold a patient identifier: the UIDs name the instance, nothing else does. Pure.
 */

/** The three UIDs that locate an instance (PS3.3 C.7.2.1, C.7.3.1, C.12.1). */
export interface InstanceUids {
  readonly studyInstanceUid: string;
  readonly seriesInstanceUid: string;
  readonly sopInstanceUid: string;
}

/**
 * A UID as DICOM writes it (PS3.5 9.1): digits and dots, 1-64 characters, no empty component.
 * Components with leading zeros are accepted: they break the rule but real archives hold them.
 */
export function isDicomUid(value: string): boolean {
  return value.length <= 64 && /^[0-9]+(\.[0-9]+)*$/.test(value);
}

/** `base/studies/S/series/R/instances/I`; throws a RangeError for a UID that is not one. */
export function pacsInstanceUri(base: string, uids: InstanceUids): string {
  const { studyInstanceUid: study, seriesInstanceUid: series, sopInstanceUid: sop } = uids;
  if (![study, series, sop].every(isDicomUid)) throw new RangeError('not a DICOM UID');
  return `${base.replace(/\/+$/, '')}/studies/${study}/series/${series}/instances/${sop}`;
}

const INSTANCE_PATH = /^(.*)\/studies\/([0-9.]+)\/series\/([0-9.]+)\/instances\/([0-9.]+)$/;

/** Splits an instance URI into its base and UIDs; undefined when it is not one. */
export function parsePacsInstanceUri(uri: string): { base: string; uids: InstanceUids } | undefined {
  const match = INSTANCE_PATH.exec(uri);
  if (match === null) return undefined;
  const [, base = '', study = '', series = '', sop = ''] = match;
  if (![study, series, sop].every(isDicomUid)) return undefined;
  return { base, uids: { studyInstanceUid: study, seriesInstanceUid: series, sopInstanceUid: sop } };
}
