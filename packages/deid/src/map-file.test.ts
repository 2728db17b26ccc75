import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isInside, MapFileError, openMapFile, saveMapFile, type MapInstance } from './map-file.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cxr-deid-map-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const BASIC = { retain: [], clean: [] } as const;

function instance(source: string, file: string): MapInstance {
  return {
    source,
    file,
    original: { sopInstanceUid: '1.2.3', studyInstanceUid: '1.2', seriesInstanceUid: null },
    deidentified: { sopInstanceUid: '2.25.3', studyInstanceUid: '2.25.2', seriesInstanceUid: null },
  };
}

describe('the re-identification map', () => {
  it('is created with a new key, readable by its owner only, before anything is replaced', async () => {
    const path = join(dir, 'map.json');
    const opened = await openMapFile(path, BASIC);
    expect(opened.created).toBe(true);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const written = JSON.parse(await readFile(path, 'utf8')) as { key: string; format: string };
    expect(written.format).toBe('cxr-deid-map/1');
    expect(written.key).toMatch(/^[0-9a-f]{64}$/);
  });

  it('gives the same replacements when opened again, and records them with the instances', async () => {
    const path = join(dir, 'map.json');
    const first = await openMapFile(path, BASIC);
    const uid = first.session.uid('1.2.826.0.1.3680043.10.5.1');
    const pseudonym = first.session.patient({
      patientId: 'CANARY-ID-0001',
      patientName: 'CANARY^NAME',
    }).pseudonym;
    await saveMapFile(first, [instance('file:///in/a.dcm', 'a.dcm')]);

    const again = await openMapFile(path, BASIC);
    expect(again.created).toBe(false);
    expect(again.session.uid('1.2.826.0.1.3680043.10.5.1')).toBe(uid);
    expect(again.session.patient({ patientId: 'CANARY-ID-0001' }).pseudonym).toBe(pseudonym);
    const saved = await saveMapFile(again, [
      instance('file:///in/a.dcm', 'a2.dcm'),
      instance('file:///in/b.dcm', 'b.dcm'),
    ]);
    expect(saved.map.instances.map((i) => i.file)).toEqual(['a2.dcm', 'b.dcm']);

    const text = await readFile(path, 'utf8');
    // The map is where the identities are: that is what it is for.
    expect(text).toContain('CANARY-ID-0001');
    expect(text).toContain('CANARY^NAME');
    expect(text).toContain(`"1.2.826.0.1.3680043.10.5.1": "${uid}"`);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it('refuses a map that others may read', async () => {
    const path = join(dir, 'map.json');
    await openMapFile(path, BASIC);
    await chmod(path, 0o644);
    await expect(openMapFile(path, BASIC)).rejects.toThrow(/may be read by others \(mode 644\)/);
  });

  it('refuses a map made with another profile, and uses the recorded one when none is given', async () => {
    const path = join(dir, 'map.json');
    await openMapFile(path, { retain: ['modified-dates'], clean: [] });
    await expect(openMapFile(path, BASIC)).rejects.toThrow(
      /made with the profile "basic, retain modified-dates", not "basic"/,
    );
    expect((await openMapFile(path)).session.options.retain).toEqual(['modified-dates']);
  });

  it('refuses a missing map when no profile is given (an export never creates one), and a file that is no map', async () => {
    await expect(openMapFile(join(dir, 'none.json'))).rejects.toBeInstanceOf(MapFileError);
    const other = join(dir, 'other.json');
    await writeFile(other, '{"hello": 1}', { mode: 0o600 });
    await expect(openMapFile(other, BASIC)).rejects.toThrow(/is not a de-identification map/);
  });
});

describe('isInside', () => {
  it('tells a path inside a folder, through symbolic links, from one outside', async () => {
    const out = join(dir, 'out');
    await mkdir(out);
    await symlink(out, join(dir, 'link'));
    expect(isInside(join(out, 'map.json'), out)).toBe(true);
    expect(isInside(join(out, 'sub', 'map.json'), out)).toBe(true);
    expect(isInside(join(dir, 'link', 'map.json'), out)).toBe(true);
    expect(isInside(join(dir, 'map.json'), out)).toBe(false);
    expect(isInside(join(dir, 'outside', 'map.json'), out)).toBe(false);
  });
});
