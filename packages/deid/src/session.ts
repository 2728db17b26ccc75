/**
 * The keyed state of a de-identification run: replacement UIDs, patient pseudonyms and date
 * offsets, all derived from one secret key with HMAC-SHA-256, so that the same key gives the same
 * replacements in every run (the same study stays one study, a re-run writes the same files), and
 * nobody without the key can compute them from the originals. Every replacement made is recorded
 * (original -> replacement): that record, with the key, is the re-identification map (map-file.ts).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { DeidRejectedError } from './errors.js';
import {
  normalizeProfileOptions,
  selectedColumns,
  type OptionColumn,
  type ProfileOptions,
} from './options.js';

/** Key length: 256 bits, the HMAC-SHA-256 block-independent strength. */
export const KEY_BYTES = 32;

/** A new random key. */
export function generateKey(): Uint8Array {
  return new Uint8Array(randomBytes(KEY_BYTES));
}

/** The longest date shift, in days (about ten years); shifts are 1 to this many days back. */
export const MAX_DATE_SHIFT_DAYS = 3652;

/** What identifies a patient in one object; the first of these that is present is the patient's key. */
export interface PatientIdentity {
  /** Patient ID (0010,0020), trailing padding removed. */
  readonly patientId?: string;
  /** Issuer of Patient ID (0010,0021): the same ID from two issuers is two patients. */
  readonly issuerOfPatientId?: string;
  /** Patient's Name (0010,0010), used only when there is no Patient ID. */
  readonly patientName?: string;
  /** Study Instance UID: with neither ID nor name, each study counts as its own patient. */
  readonly studyInstanceUid?: string;
  readonly sopInstanceUid?: string;
}

/** What replaces a patient's identity in every object of that patient. */
export interface PatientPseudonym {
  /** Replaces Patient ID and Patient's Name: `ANON-` and 12 characters of a keyed hash. */
  readonly pseudonym: string;
  /** Days added to every date of this patient with the modified-dates option (negative: back). */
  readonly dateOffsetDays: number;
}

/** A patient as recorded in the map: the identity seen and its pseudonym. Contains PHI. */
export interface PatientRecord extends PatientPseudonym {
  readonly patientId: string | null;
  readonly issuerOfPatientId: string | null;
  readonly patientName: string | null;
}

/** Everything a session replaced so far (original -> replacement). Contains PHI. */
export interface SessionState {
  readonly uids: Readonly<Record<string, string>>;
  readonly patients: readonly PatientRecord[];
}

// Crockford's base32: no I, L, O, U, so a pseudonym cannot be misread or spell a word.
const BASE32 = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

function base32(bytes: Uint8Array, characters: number): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < characters) {
      out += BASE32.charAt((buffer >>> (bits - 5)) & 31);
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
    if (out.length >= characters) break;
  }
  return out;
}

/** A value without the trailing spaces and NULs that pad DICOM strings (PS3.5 6.2). */
export function unpadded(value: string): string {
  return value.replace(/[\0 ]+$/, '').replace(/^ +/, '');
}

function patientKey(identity: PatientIdentity): { key: string; complete: boolean } {
  const id = unpadded(identity.patientId ?? '');
  if (id !== '')
    return { key: JSON.stringify(['id', unpadded(identity.issuerOfPatientId ?? ''), id]), complete: true };
  const name = unpadded(identity.patientName ?? '');
  if (name !== '') return { key: JSON.stringify(['name', name]), complete: true };
  const study = unpadded(identity.studyInstanceUid ?? '');
  if (study !== '') return { key: JSON.stringify(['study', study]), complete: false };
  return { key: JSON.stringify(['instance', unpadded(identity.sopInstanceUid ?? '')]), complete: false };
}

/** The keyed replacements of one run (or of several runs sharing a map). */
export class DeidSession {
  readonly options: ProfileOptions;
  /** The Table E.1-1 option columns the options select. */
  readonly columns: readonly OptionColumn[];
  readonly #key: Buffer;
  readonly #uids = new Map<string, string>();
  readonly #patients = new Map<string, PatientRecord>();

  constructor(key: Uint8Array, options: ProfileOptions, state?: SessionState) {
    if (key.length < KEY_BYTES) throw new Error(`the de-identification key must have ${KEY_BYTES} bytes`);
    this.#key = Buffer.from(key);
    this.options = normalizeProfileOptions(options);
    this.columns = selectedColumns(this.options);
    for (const [original, replacement] of Object.entries(state?.uids ?? {})) {
      this.#uids.set(original, replacement);
    }
    for (const patient of state?.patients ?? []) {
      const { key } = patientKey({
        ...(patient.patientId === null ? {} : { patientId: patient.patientId }),
        ...(patient.issuerOfPatientId === null ? {} : { issuerOfPatientId: patient.issuerOfPatientId }),
        ...(patient.patientName === null ? {} : { patientName: patient.patientName }),
      });
      this.#patients.set(key, patient);
    }
  }

  #digest(purpose: string, value: string): Buffer {
    // The purpose and a NUL keep the derivations apart: a UID never hashes like a patient key.
    return createHmac('sha256', this.#key).update(`${purpose}\0${value}`, 'utf8').digest();
  }

  /**
   * The replacement of a UID: `2.25.` and the decimal value of a UUID (PS3.5 B.2) made of 122 bits
   * of HMAC(key, UID), with the version 8 and variant bits of RFC 9562. At most 44 characters; the
   * same UID always gets the same replacement under the same key. An empty UID stays empty.
   */
  uid(original: string): string {
    const uid = unpadded(original);
    if (uid === '') return '';
    const known = this.#uids.get(uid);
    if (known !== undefined) return known;
    const bytes = this.#digest('uid', uid).subarray(0, 16);
    bytes[6] = (bytes[6]! & 0x0f) | 0x80;
    bytes[8] = (bytes[8]! & 0x3f) | 0x80;
    const replacement = `2.25.${BigInt(`0x${bytes.toString('hex')}`).toString(10)}`;
    this.#uids.set(uid, replacement);
    return replacement;
  }

  /** The pseudonym and date offset of a patient, recorded on first use. */
  patient(identity: PatientIdentity): PatientPseudonym {
    const { key, complete } = patientKey(identity);
    const known = this.#patients.get(key);
    if (known !== undefined) return known;
    const digest = this.#digest('patient', key);
    const pseudonym = `ANON-${base32(digest.subarray(0, 8), 12)}`;
    const dateOffsetDays = -(1 + (digest.readUInt32BE(8) % MAX_DATE_SHIFT_DAYS));
    // Only what identifies the patient is recorded; a per-study key is not an identity worth keeping.
    const record: PatientRecord = {
      patientId:
        complete && unpadded(identity.patientId ?? '') !== '' ? unpadded(identity.patientId ?? '') : null,
      issuerOfPatientId:
        complete && unpadded(identity.issuerOfPatientId ?? '') !== ''
          ? unpadded(identity.issuerOfPatientId ?? '')
          : null,
      patientName: unpadded(identity.patientName ?? '') === '' ? null : unpadded(identity.patientName ?? ''),
      pseudonym,
      dateOffsetDays,
    };
    if (complete) this.#patients.set(key, record);
    return record;
  }

  /**
   * A keyed, non-reversible token for a value that is not a DICOM attribute (an export's patient
   * ID hash): `purpose`-specific, 16 characters of base32.
   */
  token(purpose: string, value: string): string {
    return base32(this.#digest(`token:${purpose}`, value).subarray(0, 10), 16);
  }

  /** Every replacement made so far (PHI: it belongs in the map file only). */
  state(): SessionState {
    return {
      uids: Object.fromEntries(this.#uids),
      patients: [...this.#patients.values()],
    };
  }
}

/**
 * The file name of a de-identified object: derived from its (new) SOP Instance UID only. A UID is
 * digits and dots (PS3.5 9.1); anything else (a retained UID of a broken input) is refused, so a
 * value can never become a path.
 */
export function deidentifiedFileName(sopInstanceUid: string): string {
  if (!/^[0-9][0-9.]{0,63}$/.test(sopInstanceUid)) {
    throw new DeidRejectedError('malformed', 'the SOP Instance UID (0008,0018) is not a valid UID');
  }
  return `${sopInstanceUid}.dcm`;
}
