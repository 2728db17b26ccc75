export * from './errors.js';
export * from './options.js';
export * from './profile.js';
export { DEID_METHOD_CODES, methodCodes, type CodedConcept } from './codes.js';
export {
  deidentifiedFileName,
  DeidSession,
  generateKey,
  KEY_BYTES,
  MAX_DATE_SHIFT_DAYS,
  type PatientIdentity,
  type PatientPseudonym,
  type PatientRecord,
  type SessionState,
} from './session.js';
export {
  deidentifyObject,
  type DeidentifiedObject,
  type DeidentifyOptions,
  type InstanceUids,
} from './deidentify.js';
export { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from './part10.js';
export {
  ephemeralSession,
  isInside,
  MAP_FORMAT,
  MapFileError,
  openMapFile,
  saveMapFile,
  type DeidMap,
  type MapInstance,
  type OpenMap,
} from './map-file.js';
export {
  cleanDescriptor,
  DUMMY_DATE,
  DUMMY_DATE_TIME,
  DUMMY_TEXT,
  DUMMY_TIME,
  shiftDates,
} from './values.js';
