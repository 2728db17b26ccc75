import { createHmac, createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { objectKeyOf, patientKeyOf } from './extract.js';

describe('train keys', () => {
  it('keys objects by URI and version: ETag when known, else size and modification time', () => {
    expect(objectKeyOf({ uri: 's3://b/a.dcm', etag: 'abc', size: 10, cursor: '' })).toBe(
      's3://b/a.dcm\netag:abc',
    );
    const entry = { uri: 'file:///d/a.dcm', size: 10, lastModified: new Date(5000), cursor: '' };
    expect(objectKeyOf(entry)).toBe('file:///d/a.dcm\nsize:10:mtime:5000');
    expect(objectKeyOf({ ...entry, size: 11 })).not.toBe(objectKeyOf(entry));
  });

  it('hashes the Patient ID with the salt (HMAC), or with plain sha256 without one; blank IDs have no key', () => {
    const salt = 'a-salt-of-sixteen-chars';
    expect(patientKeyOf(' PID-1 \0', salt)).toBe(createHmac('sha256', salt).update('PID-1').digest('hex'));
    expect(patientKeyOf('PID-1', undefined)).toBe(createHash('sha256').update('PID-1').digest('hex'));
    expect(patientKeyOf('PID-1', undefined)).not.toContain('PID');
    expect(patientKeyOf('  ', salt)).toBeUndefined();
    expect(patientKeyOf(undefined, undefined)).toBeUndefined();
  });
});
