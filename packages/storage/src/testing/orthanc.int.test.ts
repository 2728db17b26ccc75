/**
 * The test PACS itself: Orthanc starts on loopback, stores an uploaded chest CR (a public file),
 * answers QIDO-RS with it and serves its stored bytes unchanged over WADO-RS, and keeps them
 * across a SIGKILL and a restart on the same ports.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publicDicomFile } from './dicom-copies.js';
import { startOrthanc, type RunningOrthanc } from './orthanc.js';

describe('startOrthanc (Debian Orthanc + DICOMweb plugin)', () => {
  let orthanc: RunningOrthanc;
  let bytes: Uint8Array;

  beforeAll(async () => {
    orthanc = await startOrthanc();
    bytes = new Uint8Array(await readFile(publicDicomFile('siim_cr_jpegbaseline.dcm')));
  }, 60_000);
  afterAll(async () => {
    await orthanc.dispose();
  });

  it('stores an instance and answers QIDO-RS and WADO-RS with the stored bytes', async () => {
    await orthanc.upload(bytes);
    expect(await orthanc.instanceCount()).toBe(1);
    const qido = await fetch(`${orthanc.dicomwebUrl}/instances?Modality=CR,DX`, {
      headers: { Accept: 'application/dicom+json' },
    });
    expect(qido.status).toBe(200);
    const found = (await qido.json()) as Record<string, { Value?: unknown[] }>[];
    expect(found).toHaveLength(1);
    const sop = found[0]?.['00080018']?.Value?.[0];
    const study = found[0]?.['0020000D']?.Value?.[0];
    const series = found[0]?.['0020000E']?.Value?.[0];
    const wado = await fetch(
      `${orthanc.dicomwebUrl}/studies/${String(study)}/series/${String(series)}/instances/${String(sop)}`,
      {
        headers: { Accept: 'multipart/related; type="application/dicom"; transfer-syntax=*' },
      },
    );
    expect(wado.status).toBe(200);
    const body = new Uint8Array(await wado.arrayBuffer());
    // The part holds the file as uploaded (no transcoding): find its DICM prefix and compare.
    const text = Buffer.from(body).toString('latin1');
    const start = text.indexOf('DICM') - 128;
    expect(start).toBeGreaterThan(0);
    expect(Buffer.from(body.subarray(start, start + bytes.length)).equals(Buffer.from(bytes))).toBe(true);
  });

  it('keeps its storage across a SIGKILL and a restart on the same ports', async () => {
    await orthanc.kill();
    expect(orthanc.running).toBe(false);
    await expect(fetch(`${orthanc.httpUrl}/system`)).rejects.toThrow();
    await orthanc.restart();
    expect(orthanc.running).toBe(true);
    expect(await orthanc.instanceCount()).toBe(1);
  }, 60_000);
});
