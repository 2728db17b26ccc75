import { describe, expect, it } from 'vitest';
import { hashPatientId } from './patient-id.js';

const SALT = 'site-salt-0123456789abcdef';

describe('hashPatientId', () => {
  it('is deterministic, 64 hex digits, and never the raw ID', () => {
    const hash = hashPatientId('PID-0042', SALT);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hashPatientId('PID-0042', SALT)).toBe(hash);
    expect(hash).not.toContain('PID-0042');
  });

  it('depends on the salt and on the ID', () => {
    const hash = hashPatientId('PID-0042', SALT);
    expect(hashPatientId('PID-0042', `${SALT}x`)).not.toBe(hash);
    expect(hashPatientId('PID-0043', SALT)).not.toBe(hash);
  });

  it('ignores DICOM LO padding (PS3.5 6.2): trailing spaces and NUL', () => {
    expect(hashPatientId('PID-0042 ', SALT)).toBe(hashPatientId('PID-0042', SALT));
    expect(hashPatientId('PID-0042\0', SALT)).toBe(hashPatientId('PID-0042', SALT));
  });

  it('refuses a short salt or an empty ID without echoing the ID', () => {
    expect(() => hashPatientId('PID-0042', 'short')).toThrow(/salt/);
    expect(() => hashPatientId('PID-0042', '')).toThrow(/salt/);
    expect(() => hashPatientId('   ', SALT)).toThrow(/empty/);
    try {
      hashPatientId('PID-0042', 'short');
    } catch (error) {
      expect(String(error)).not.toContain('PID-0042');
    }
  });
});
