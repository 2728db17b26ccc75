/**
 * A test PACS archive: copies of the generated fixtures uploaded to an Orthanc with fresh UIDs,
 * spread over a few study days and times. Chest radiographs (CR and DX) in every transfer syntax
 * the fixture generator writes but HTJ2K, each carrying the canary patient; instances of other modalities
 * that the default filter must leave out; and broken instances Orthanc accepts (a truncated pixel
 * data, an unsupported transfer syntax, a corrupt JPEG stream), with the reason each must end with.
 */
import { dicomCopy, freshUid, type InstanceChanges, type RunningOrthanc } from '@cxr/storage/testing';
import type { RejectReason } from '@cxr/dicom';
import { fixtures, goodFixtures } from './pipeline.js';

/** Digital X-Ray Image Storage - For Presentation (PS3.4 B.5). */
const DX_SOP_CLASS = '1.2.840.10008.5.1.4.1.1.1.1';

/** One uploaded instance and how the screening must end for it. */
export interface PacsInstance {
  readonly studyInstanceUid: string;
  readonly seriesInstanceUid: string;
  readonly sopInstanceUid: string;
  readonly modality: string;
  /** Undefined: not listed at all (another modality). */
  readonly expected?:
    { readonly outcome: 'ok' } | { readonly outcome: 'rejected'; readonly reason: RejectReason };
}

export interface PacsArchive {
  readonly instances: readonly PacsInstance[];
  /** The instances the default filter (CR, DX) lists. */
  readonly listed: readonly PacsInstance[];
}

/** `HHMMSS` of a second of the day. */
function hhmmss(second: number): string {
  return [Math.floor(second / 3600), Math.floor(second / 60) % 60, second % 60]
    .map((n) => String(n).padStart(2, '0'))
    .join('');
}

/** The reject fixtures Orthanc stores (it refuses files it cannot parse at all). */
const BROKEN: readonly { readonly name: string; readonly reason: RejectReason }[] = [
  { name: 'pixel-data-short', reason: 'pixel_data_short' },
  { name: 'unsupported-mpeg2', reason: 'unsupported_transfer_syntax' },
  { name: 'corrupt-jpeg-lossless', reason: 'corrupt_stream' },
];

/**
 * Uploads `good` chest radiographs (cycling through the fixtures, every third one a DX), two
 * copies of each broken fixture, and `others` instances of CT, MR and US; returns what it put in.
 */
export async function fillPacs(
  orthanc: RunningOrthanc,
  options: { readonly good: number; readonly others: number; readonly days?: readonly string[] },
): Promise<PacsArchive> {
  const days = options.days ?? ['20240301', '20240302', '20240303', '20240304'];
  const instances: PacsInstance[] = [];
  let n = 0;
  const upload = async (
    path: string,
    changes: InstanceChanges,
    expected: PacsInstance['expected'],
  ): Promise<void> => {
    const uids = { studyInstanceUid: freshUid(), seriesInstanceUid: freshUid(), sopInstanceUid: freshUid() };
    const day = days[n % days.length] ?? '20240301';
    // Distinct valid times from 07:00, a few minutes apart; every 25th without a Study Time at all.
    const time = n % 25 === 24 ? null : hhmmss(7 * 3600 + Math.floor(n / days.length) * 370);
    n += 1;
    await orthanc.upload(await dicomCopy(path, { ...uids, studyDate: day, studyTime: time, ...changes }));
    instances.push({ ...uids, modality: changes.modality ?? 'CR', ...(expected ? { expected } : {}) });
  };
  // dcmtk's dcmodify cannot edit HTJ2K files (a transfer syntax it does not know): every other
  // syntax of the fixture set is in the archive.
  const good = goodFixtures().filter((f) => !f.transferSyntaxUid.startsWith('1.2.840.10008.1.2.4.20'));
  for (let i = 0; i < options.good; i++) {
    const fixture = good[i % good.length];
    if (fixture === undefined) throw new Error('no good fixtures');
    const dx = i % 3 === 2;
    await upload(fixture.path, dx ? { modality: 'DX', sopClassUid: DX_SOP_CLASS } : { modality: 'CR' }, {
      outcome: 'ok',
    });
  }
  for (const { name, reason } of BROKEN) {
    const fixture = fixtures().fixtures.find((f) => f.name === name);
    if (fixture === undefined) throw new Error(`no fixture ${name}`);
    for (let copy = 0; copy < 2; copy++)
      await upload(fixture.path, { modality: 'CR' }, { outcome: 'rejected', reason });
  }
  const otherModalities = ['CT', 'MR', 'US'];
  for (let i = 0; i < options.others; i++) {
    const fixture = good[i % good.length];
    if (fixture === undefined) throw new Error('no good fixtures');
    await upload(fixture.path, { modality: otherModalities[i % otherModalities.length] ?? 'CT' }, undefined);
  }
  return { instances, listed: instances.filter((i) => i.expected !== undefined) };
}

/** The object URI the pipeline keeps for an instance of a DICOMweb source based at `base`. */
export function instanceUri(base: string, instance: PacsInstance): string {
  return `${base}/studies/${instance.studyInstanceUid}/series/${instance.seriesInstanceUid}/instances/${instance.sopInstanceUid}`;
}
