import { describe, expect, it } from 'vitest';
import { derivedUid, isValidUid, numberFromUid } from './uids.js';

describe('derivedUid', () => {
  const samples = Array.from({ length: 500 }, (_, i) =>
    derivedUid('sr-instance', `1.2.840.113619.2.${i}.${i * 7}`, 'model', `${i % 5}.0`),
  );

  it('is a 2.25 UUID-derived UID within the UID rules (<= 64 characters, no leading zeros)', () => {
    for (const uid of samples) {
      expect(isValidUid(uid), uid).toBe(true);
      expect(uid.length).toBeLessThanOrEqual(44);
      expect(uid).toMatch(/^2\.25\.[1-9][0-9]*$/);
    }
  });

  it('is a version 5, RFC 9562 variant UUID in decimal (PS3.5 B.2)', () => {
    for (const uid of samples) {
      const hex = BigInt(uid.slice('2.25.'.length)).toString(16).padStart(32, '0');
      expect(hex[12]).toBe('5');
      expect(['8', '9', 'a', 'b']).toContain(hex[16]);
    }
  });

  it('is deterministic, and differs with any part or the purpose', () => {
    const uid = derivedUid('sr-instance', '1.2.3', 'm', '1');
    expect(derivedUid('sr-instance', '1.2.3', 'm', '1')).toBe(uid);
    expect(derivedUid('sr-instance', '1.2.3', 'm', '2')).not.toBe(uid);
    expect(derivedUid('sr-series', '1.2.3', 'm', '1')).not.toBe(uid);
    // Parts are kept apart: moving a character from one part to the next changes the UID.
    expect(derivedUid('sr-instance', '1.2.3m', '', '1')).not.toBe(uid);
    expect(new Set(samples).size).toBe(samples.length);
  });
});

describe('isValidUid', () => {
  it.each([
    ['1.2.840.10008.1.2.1', true],
    ['2.25.0', true],
    ['1.02.3', false],
    ['1..2', false],
    ['1.2.', false],
    ['CANARY^PATIENT', false],
    [`1.${'2'.repeat(63)}`, false],
  ])('%s: %s', (uid, valid) => {
    expect(isValidUid(uid)).toBe(valid);
  });
});

describe('numberFromUid', () => {
  it('is stable and within its bounds', () => {
    for (let i = 0; i < 200; i++) {
      const n = numberFromUid(`uid-${i}`, 10, 20);
      expect(n).toBeGreaterThanOrEqual(10);
      expect(n).toBeLessThanOrEqual(20);
      expect(numberFromUid(`uid-${i}`, 10, 20)).toBe(n);
    }
  });
});
