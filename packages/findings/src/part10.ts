/**
 * The one module that talks to dcmjs: reads a Part 10 object's data set (without its pixels) and
 * writes a keyword-keyed data set as a Part 10 file. Everything else builds plain objects.
 */
import { data, log } from 'dcmjs';

// dcmjs reports odd elements through its own logger, and its messages may quote element values,
// which here are patient data: nothing of dcmjs goes to the console. Errors still throw.
log.setLevel('silent');
for (const logger of Object.values(log.getLoggers())) logger.setLevel('silent');

/** A data set keyed by DICOM keyword (dcmjs' "naturalized" form), e.g. `{ PatientID: '123' }`. */
export type NaturalDataset = Record<string, unknown>;

export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
const PIXEL_DATA_TAG = '7FE00010';

/** An ArrayBuffer holding exactly `bytes` (dcmjs reads ArrayBuffers). */
function exactArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  if (bytes.buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) {
    return bytes.buffer;
  }
  return bytes.slice().buffer;
}

/**
 * The data set of a Part 10 object up to (not including) its Pixel Data, keyword-keyed. Strings
 * are decoded with the object's Specific Character Set. Throws when the bytes are not Part 10.
 */
export function readPart10Header(bytes: Uint8Array): NaturalDataset {
  const file = data.DicomMessage.readFile(exactArrayBuffer(bytes), {
    untilTag: PIXEL_DATA_TAG,
    includeUntilTagValue: false,
  });
  const { [PIXEL_DATA_TAG]: _pixelData, ...header } = file.dict;
  return data.DicomMetaDictionary.naturalizeDataset(header);
}

export interface Part10Meta {
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly implementationClassUid: string;
  /** At most 16 characters (SH). */
  readonly implementationVersionName: string;
}

/** Writes a keyword-keyed data set as a Part 10 file in explicit VR little endian (PS3.10 7.1). */
export function writePart10(dataset: NaturalDataset, meta: Part10Meta): Uint8Array {
  const file = new data.DicomDict({
    '00020001': { vr: 'OB', Value: [new Uint8Array([0, 1]).buffer] },
    '00020002': { vr: 'UI', Value: [meta.sopClassUid] },
    '00020003': { vr: 'UI', Value: [meta.sopInstanceUid] },
    '00020010': { vr: 'UI', Value: [EXPLICIT_VR_LITTLE_ENDIAN] },
    '00020012': { vr: 'UI', Value: [meta.implementationClassUid] },
    '00020013': { vr: 'SH', Value: [meta.implementationVersionName] },
  });
  file.dict = data.DicomMetaDictionary.denaturalizeDataset(dataset);
  return new Uint8Array(file.write());
}
