/**
 * Deterministic UIDs for findings objects: `2.25.` + the decimal value of a name-based UUID
 * (PS3.5 B.2 "UUID derived UID"; version 5 of RFC 9562: SHA-1 of a namespace and a name). The
 * same source image and model version always give the same SR SOP Instance UID, so a re-sent
 * report replaces the previous one in the PACS instead of duplicating it.
 */
import { createHash } from 'node:crypto';

// The cxr-pipeline findings namespace (a random UUID, fixed forever: changing it changes every
// derived UID and so duplicates every report already sent).
const NAMESPACE = Buffer.from('fefb10bf-61ed-4481-b7f0-9f1cf38501f1'.replaceAll('-', ''), 'hex');

/** What a derived UID identifies; the purpose is part of the hashed name, so they never collide. */
export type UidPurpose =
  | 'sr-instance'
  | 'sr-series'
  | 'sc-instance'
  | 'sc-series'
  | 'tracking'
  | 'device-observer'
  | 'implementation-class';

/** A 2.25 UID from a UUID v5 of (purpose, parts): at most 44 characters, no leading zeros. */
export function derivedUid(purpose: UidPurpose, ...parts: readonly string[]): string {
  // JSON keeps the parts apart: ('a.b', 'c') and ('a', 'b.c') hash differently.
  const name = Buffer.from(JSON.stringify([purpose, ...parts]), 'utf8');
  const bytes = createHash('sha1').update(NAMESPACE).update(name).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50; // version 5
  bytes[8] = (bytes[8]! & 0x3f) | 0x80; // RFC 9562 variant
  return `2.25.${BigInt(`0x${bytes.toString('hex')}`).toString(10)}`;
}

/** Whether `uid` is a valid DICOM UID: digits and dots, at most 64 characters, no component with a leading zero (PS3.5 9.1). */
export function isValidUid(uid: string): boolean {
  return uid.length <= 64 && /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/.test(uid);
}

/** A number in [min, max] derived from a UID (stable Series Numbers). */
export function numberFromUid(uid: string, min: number, max: number): number {
  const digest = createHash('sha1').update(uid).digest();
  return min + (digest.readUInt32BE(0) % (max - min + 1));
}
