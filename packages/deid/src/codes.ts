/**
 * De-identification Method codes: PS3.16 CID 7050 "De-identification Method" (coding scheme DCM),
 * one per profile and option, written into De-identification Method Code Sequence (0012,0064).
 */
import type { ProfileOptions } from './options.js';

export interface CodedConcept {
  readonly value: string;
  readonly scheme: 'DCM';
  readonly meaning: string;
}

const dcm = (value: string, meaning: string): CodedConcept => ({ value, scheme: 'DCM', meaning });

/** The CID 7050 codes this package can claim (Code Value and Code Meaning as in PS3.16). */
export const DEID_METHOD_CODES = {
  basicProfile: dcm('113100', 'Basic Application Confidentiality Profile'),
  cleanDescriptors: dcm('113105', 'Clean Descriptors Option'),
  retainFullDates: dcm('113106', 'Retain Longitudinal Temporal Information Full Dates Option'),
  retainModifiedDates: dcm('113107', 'Retain Longitudinal Temporal Information Modified Dates Option'),
  retainPatientCharacteristics: dcm('113108', 'Retain Patient Characteristics Option'),
  retainDeviceIdentity: dcm('113109', 'Retain Device Identity Option'),
  retainUids: dcm('113110', 'Retain UIDs Option'),
  retainSafePrivate: dcm('113111', 'Retain Safe Private Option'),
  retainInstitutionIdentity: dcm('113112', 'Retain Institution Identity Option'),
} as const;

/** The codes for a profile: the Basic Profile first, then each option used, in code order. */
export function methodCodes(options: ProfileOptions): CodedConcept[] {
  const codes: CodedConcept[] = [DEID_METHOD_CODES.basicProfile];
  if (options.clean.includes('descriptors')) codes.push(DEID_METHOD_CODES.cleanDescriptors);
  for (const option of options.retain) {
    switch (option) {
      case 'dates':
        codes.push(DEID_METHOD_CODES.retainFullDates);
        break;
      case 'modified-dates':
        codes.push(DEID_METHOD_CODES.retainModifiedDates);
        break;
      case 'patient-characteristics':
        codes.push(DEID_METHOD_CODES.retainPatientCharacteristics);
        break;
      case 'device':
        codes.push(DEID_METHOD_CODES.retainDeviceIdentity);
        break;
      case 'uids':
        codes.push(DEID_METHOD_CODES.retainUids);
        break;
      case 'safe-private':
        codes.push(DEID_METHOD_CODES.retainSafePrivate);
        break;
      case 'institution':
        codes.push(DEID_METHOD_CODES.retainInstitutionIdentity);
        break;
    }
  }
  return codes.sort((a, b) => a.value.localeCompare(b.value));
}
