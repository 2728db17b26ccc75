/**
 * Patient ID pseudonymisation. Retrospective studies need to join several images of one patient,
 * never to know who the patient is, so the store keeps only a keyed hash of Patient ID (0010,0020)
 * and never Patient's Name (0010,0010).
 */
import { createHmac } from 'node:crypto';

// A short salt is guessable, and Patient IDs are a small, enumerable space: with a known salt the
// hash is reversible by brute force, so the salt is a secret and must have real entropy.
const MIN_SALT_LENGTH = 16;

/**
 * Salted SHA-256 of a Patient ID, as HMAC-SHA-256 keyed by the salt (64 lowercase hex digits).
 * HMAC rather than sha256(salt + id) so that no salt/ID split can collide with another.
 */
export function hashPatientId(patientId: string, salt: string): string {
  if (salt.length < MIN_SALT_LENGTH) {
    throw new Error(`patient ID salt must be at least ${MIN_SALT_LENGTH} characters`);
  }
  // LO values are padded with spaces and leading/trailing spaces are not significant
  // (PS3.5 6.2, Table 6.2-1), so "ABC " and "ABC" are the same patient.
  const normalized = patientId.replace(/\0+$/, '').trim();
  if (normalized === '') throw new Error('patient ID is empty');
  return createHmac('sha256', salt).update(normalized, 'utf8').digest('hex');
}
