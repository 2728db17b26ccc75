/**
 * Test helper: copies of a DICOM file as new instances for a test PACS, with fresh Study, Series
 * and SOP Instance UIDs and chosen attributes (modality, study date and time), written by dcmtk's
 * `dcmodify`, which edits the data set without touching the pixel data, so a copy keeps its
 * transfer syntax (compressed or not) and its defects (a truncated pixel data stays truncated).
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A file of ../shared/data/public-dicom (next to the main checkout; a worktree sits one level
 * deeper), or of CXR_PUBLIC_DICOM_DIR when set.
 */
export function publicDicomFile(name: string): string {
  // Test support, not app code: reading the environment here bypasses @cxr/config on purpose.
  const override = process.env.CXR_PUBLIC_DICOM_DIR;
  if (override !== undefined && override !== '') return join(override, name);
  const repo = fileURLToPath(new URL('../../../../', import.meta.url));
  const dir = [join(repo, '../shared/data/public-dicom'), join(repo, '../../shared/data/public-dicom')].find(
    (d) => existsSync(d),
  );
  if (dir === undefined) throw new Error('../shared/data/public-dicom not found (set CXR_PUBLIC_DICOM_DIR)');
  return join(dir, name);
}

/** A fresh UID under the UUID-derived root 2.25 (PS3.5 B.2). */
export function freshUid(): string {
  return `2.25.${BigInt(`0x${randomUUID().replaceAll('-', '')}`).toString()}`;
}

/** What a copy changes; undefined fields keep the source's value, `''` empties one, null removes it. */
export interface InstanceChanges {
  readonly studyInstanceUid?: string;
  readonly seriesInstanceUid?: string;
  readonly sopInstanceUid?: string;
  readonly modality?: string;
  readonly sopClassUid?: string;
  readonly studyDate?: string;
  readonly studyTime?: string | null;
  readonly bodyPartExamined?: string;
  readonly patientId?: string;
  readonly patientName?: string;
}

const TAGS: Readonly<Record<keyof InstanceChanges, string>> = {
  studyInstanceUid: '(0020,000d)',
  seriesInstanceUid: '(0020,000e)',
  sopInstanceUid: '(0008,0018)',
  modality: '(0008,0060)',
  sopClassUid: '(0008,0016)',
  studyDate: '(0008,0020)',
  studyTime: '(0008,0030)',
  bodyPartExamined: '(0018,0015)',
  patientId: '(0010,0020)',
  patientName: '(0010,0010)',
};

/**
 * The bytes of `sourcePath` with `changes` applied; new UIDs for whichever of the three are not
 * given. dcmodify updates the file meta (Media Storage SOP Instance and Class UIDs) to match.
 */
export async function dicomCopy(sourcePath: string, changes: InstanceChanges = {}): Promise<Uint8Array> {
  const dir = await mkdtemp(join(tmpdir(), 'cxr-dicom-copy-'));
  try {
    const path = join(dir, `${randomBytes(6).toString('hex')}.dcm`);
    await copyFile(sourcePath, path);
    const all: InstanceChanges = {
      studyInstanceUid: freshUid(),
      seriesInstanceUid: freshUid(),
      sopInstanceUid: freshUid(),
      ...changes,
    };
    // -imt: erasing a tag the file does not have is not an error.
    const args = ['-nb', '-q', '-imt'];
    for (const [key, value] of Object.entries(all) as [keyof InstanceChanges, string | null | undefined][]) {
      if (value === null) args.push('-ea', TAGS[key]);
      else if (value !== undefined) args.push('-i', `${TAGS[key]}=${value}`);
    }
    await run('dcmodify', [...args, path]);
    return new Uint8Array(await readFile(path));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
