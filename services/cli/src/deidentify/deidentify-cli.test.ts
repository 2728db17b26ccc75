/**
 * `cxr deidentify` as a real process on a folder of phantom CRs of the canary patient (one stored
 * under a file name that is PHI), a public chest CR, a burned-in image and bad files: what it
 * writes, what it rejects, where the canary is (in the map only) and how it exits.
 */
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import dicomParser from 'dicom-parser';
import {
  Tag,
  generateChestPhantom,
  littleEndianBytes,
  publicDicomPath,
  tag,
  writeDicom,
  type DataElement,
} from '@cxr/dicom/testing';
import { CANARY_PATIENT_ID, CANARY_PATIENT_NAME, buildChestDataSet } from '@cxr/fixtures';
import { deterministicUid } from '@cxr/dicom/testing';
import { hashPatientId, openStore, parseResultRow } from '@cxr/store';
import { expectNoCanary, runCxr, type RunResult } from '../testing/run-cxr.js';

/** A small phantom CR of the canary patient, study "cli", instance `instance`. */
function phantom(instance: string, extra: readonly DataElement[] = []): Uint8Array {
  const pixels = generateChestPhantom({ rows: 16, columns: 16, seed: 2, bitsStored: 12 });
  const elements = buildChestDataSet(
    { seed: 'cli', rows: 16, columns: 16, bitsAllocated: 16, bitsStored: 12 },
    { kind: 'native', bytes: littleEndianBytes(pixels) },
  ).map((e) =>
    e.tag === Tag.SopInstanceUid ? { ...e, value: `1.2.826.0.1.3680043.10.8888.${instance}` } : e,
  );
  return writeDicom([...elements, ...extra]);
}

/** Every byte of every file in `dir` (names included), as Latin-1 text. */
async function everything(dir: string): Promise<string> {
  const names = await readdir(dir);
  const contents = await Promise.all(names.map((name) => readFile(join(dir, name), 'latin1')));
  return [...names, ...contents].join('\n');
}

const BURNED_IN: DataElement = { tag: tag(0x0028, 0x0301), vr: 'CS', value: 'YES' };

describe('cxr deidentify', () => {
  let dir: string;
  let source: string;
  const run = (...args: string[]): Promise<RunResult> => runCxr({ cwd: dir }, ...args);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cxr-deidentify-'));
    source = join(dir, 'source');
    await mkdir(join(source, 'sub'), { recursive: true });
    // Exported archives name files after the patient: the name must not survive either.
    await writeFile(join(source, `${CANARY_PATIENT_NAME}_${CANARY_PATIENT_ID}.dcm`), phantom('1'));
    await writeFile(join(source, 'sub', 'b.dcm'), phantom('2'));
    await writeFile(join(source, 'burned.dcm'), phantom('3', [BURNED_IN]));
    await writeFile(join(source, 'siim.dcm'), await readFile(publicDicomPath('siim_cr_jpegbaseline.dcm')));
    await writeFile(join(source, 'notes.txt'), `not DICOM: ${CANARY_PATIENT_NAME}`);
    await writeFile(join(source, 'truncated.dcm'), phantom('4').subarray(0, 300));
  }, 60_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes every readable object under its new UID, rejects the rest, keeps the canary in the map only', async () => {
    const out = join(dir, 'out');
    const map = join(dir, 'keys', 'map.json');
    await mkdir(join(dir, 'keys'));
    const result = await run('deidentify', source, '--out', out, '--map', map, '--json');
    expect(result.code, result.stderr).toBe(0);
    expectNoCanary(result);
    const summary = JSON.parse(result.stdout) as {
      listed: number;
      written: number;
      rejected: Record<string, number>;
      burnedIn: number;
      failed: number;
      complete: boolean;
    };
    expect(summary).toMatchObject({ listed: 6, written: 4, burnedIn: 1, failed: 0, complete: true });
    expect(summary.rejected).toEqual({ not_dicom: 1, truncated: 1 });

    const files = await readdir(out);
    expect(files).toHaveLength(4);
    for (const name of files) expect(name).toMatch(/^2\.25\.\d+\.dcm$/);
    expect(await everything(out)).not.toContain('CANARY');

    // The two phantom instances of one study are still one study, two instances.
    const studies = new Map<string, number>();
    for (const name of files) {
      const parsed = dicomParser.parseDicom(new Uint8Array(await readFile(join(out, name))));
      expect(`${parsed.string('x00020003')}.dcm`).toBe(name);
      const study = parsed.string('x0020000d') ?? '';
      studies.set(study, (studies.get(study) ?? 0) + 1);
    }
    expect([...studies.values()].sort()).toEqual([1, 3]);

    expect((await stat(map)).mode & 0o777).toBe(0o600);
    const mapText = await readFile(map, 'utf8');
    expect(mapText).toContain(CANARY_PATIENT_ID);
    expect(mapText).toContain(CANARY_PATIENT_NAME);
    const recorded = JSON.parse(mapText) as { instances: { source: string; file: string }[] };
    expect(recorded.instances.map((i) => i.file).sort()).toEqual([...files].sort());

    // The same map again: the same files, byte for byte.
    const again = join(dir, 'again');
    const rerun = await run('deidentify', source, '--out', again, '--map', map);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stdout).toContain('de-identified 4 of 6 objects');
    expect((await readdir(again)).sort()).toEqual([...files].sort());
    for (const name of files) {
      expect((await readFile(join(again, name))).equals(await readFile(join(out, name)))).toBe(true);
    }
  }, 120_000);

  it('exports the rows of the same images de-identified with the same map: file names and UIDs match', async () => {
    const out = join(dir, 'shared');
    const map = join(dir, 'keys', 'shared-map.json');
    await mkdir(join(dir, 'keys'), { recursive: true });
    expect((await run('deidentify', source, '--out', out, '--map', map)).code).toBe(0);

    const storeUrl = `sqlite:${join(dir, 'results.sqlite')}`;
    const store = await openStore(storeUrl);
    try {
      await store.upsertResults(
        ['1', '2'].map((instance) =>
          parseResultRow({
            runId: 'run-shared',
            uri: `file://${join(source, instance === '1' ? `${CANARY_PATIENT_NAME}_${CANARY_PATIENT_ID}.dcm` : 'sub/b.dcm')}`,
            studyInstanceUid: deterministicUid('cli', 'study'),
            seriesInstanceUid: deterministicUid('cli', 'series'),
            sopInstanceUid: `1.2.826.0.1.3680043.10.8888.${instance}`,
            patientIdHash: hashPatientId(CANARY_PATIENT_ID, 'deidentify-cli-test-salt'),
            institution: 'Phantom General Hospital',
            modelId: 'seed',
            modelVersion: '1.0.0',
            scores: { normal: 0.5 },
            decision: 'normal',
            outcome: 'ok',
            enqueuedAt: '2026-12-01T10:11:12.000Z',
          }),
        ),
      );
    } finally {
      await store.close();
    }
    const csvPath = join(dir, 'shared.csv');
    const exported = await run(
      ...['results', 'export', '--run', 'run-shared', '--format', 'csv', '--out', csvPath],
      ...['--store', storeUrl, '--deidentify', '--map', map],
    );
    expect(exported.code, exported.stderr).toBe(0);
    expectNoCanary(exported);
    const csv = await readFile(csvPath, 'utf8');
    expect(csv).not.toContain('CANARY');
    expect(csv).not.toContain('1.2.826.0.1.3680043.10.8888.1');
    expect(csv).not.toContain('1.2.826.0.1.3680043.10.8888.2');
    expect(csv).not.toContain('Phantom General');
    const [header, ...records] = csv
      .trim()
      .split('\r\n')
      .map((line) => line.split(','));
    const column = (name: string): string[] => records.map((r) => r[header!.indexOf(name)] ?? '');
    for (const [index, file] of column('uri').entries()) {
      const image = dicomParser.parseDicom(new Uint8Array(await readFile(join(out, file))));
      expect(column('sop_instance_uid')[index]).toBe(image.string('x00080018'));
      expect(column('study_instance_uid')[index]).toBe(image.string('x0020000d'));
    }
    expect(new Set(column('patient_id_hash')).size).toBe(1);
  }, 120_000);

  it('leaves burned-in images out with --reject-burned-in, and reads a single file or a manifest as a source', async () => {
    const out = join(dir, 'no-burned');
    const result = await run('deidentify', source, '--out', out, '--reject-burned-in');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      /rejected 3 \(not written\): burned_in_annotation 1, not_dicom 1, truncated 1/,
    );
    expect(result.stdout).toContain('map: none');
    expect(await readdir(out)).toHaveLength(3);

    const single = await run('deidentify', join(source, 'sub', 'b.dcm'), '--out', join(dir, 'single'));
    expect(single.code, single.stderr).toBe(0);
    expect(await readdir(join(dir, 'single'))).toHaveLength(1);

    const manifest = join(dir, 'list.csv');
    await writeFile(
      manifest,
      `uri\r\nfile://${join(source, 'sub', 'b.dcm')}\r\nfile://${join(source, 'burned.dcm')}\r\n`,
    );
    const listed = await run('deidentify', manifest, '--out', join(dir, 'from-manifest'));
    expect(listed.code, listed.stderr).toBe(0);
    expect(await readdir(join(dir, 'from-manifest'))).toHaveLength(2);
  }, 120_000);

  it.each([
    ['the map inside the output', ['--out', 'o1', '--map', 'o1/map.json'], /must not be inside --out/],
    ['the output inside the source', ['--out', 'source/o2'], /must not be inside the source folder/],
    ['both date options', ['--out', 'o3', '--retain', 'dates,modified-dates'], /exclude each other/],
    ['an unknown option', ['--out', 'o4', '--retain', 'faces'], /--retain must be one of/],
  ])('exits 2 for %s, writing nothing', async (_what, args, message) => {
    const result = await run('deidentify', 'source', ...args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    await expect(stat(join(dir, args[1]!, 'map.json'))).rejects.toThrow();
  });

  it('exits 2 for a map made with another profile, or readable by others', async () => {
    const map = join(dir, 'dates-map.json');
    const first = await run(
      'deidentify',
      join(source, 'sub'),
      '--out',
      join(dir, 'd1'),
      '--map',
      map,
      '--retain',
      'dates',
    );
    expect(first.code, first.stderr).toBe(0);
    const other = await run('deidentify', join(source, 'sub'), '--out', join(dir, 'd2'), '--map', map);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/made with the profile "basic, retain dates", not "basic"/);
    await chmod(map, 0o644);
    const open = await run(
      'deidentify',
      join(source, 'sub'),
      '--out',
      join(dir, 'd3'),
      '--map',
      map,
      '--retain',
      'dates',
    );
    expect(open.code).toBe(2);
    expect(open.stderr).toMatch(/may be read by others/);
  }, 120_000);
});
