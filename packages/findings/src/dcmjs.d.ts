/**
 * Types for exactly the part of dcmjs 0.52 that @cxr/findings uses (dcmjs ships no TypeScript
 * types). Only part10.ts imports 'dcmjs'; everything else goes through its typed functions.
 */
declare module 'dcmjs' {
  /** One element of a denaturalized data set: its VR and values (nested data sets for SQ). */
  interface DenaturalizedElement {
    vr: string;
    Value?: unknown[];
  }
  /** Tag (8 upper-case hex digits) -> element. */
  type DenaturalizedDataset = Record<string, DenaturalizedElement>;

  interface ReadFileOptions {
    ignoreErrors?: boolean;
    /** Stop reading at this tag (8 hex digits), e.g. Pixel Data, without reading its value. */
    untilTag?: string | null;
    includeUntilTagValue?: boolean;
    noCopy?: boolean;
  }

  class DicomDict {
    constructor(meta: DenaturalizedDataset);
    meta: DenaturalizedDataset;
    dict: DenaturalizedDataset;
    write(options?: { allowInvalidVRLength?: boolean }): ArrayBuffer;
  }

  interface DicomMessage {
    readFile(buffer: ArrayBuffer, options?: ReadFileOptions): DicomDict;
  }

  interface DicomMetaDictionary {
    /** Keyword-keyed data set (e.g. PatientName) from a tag-keyed one. */
    naturalizeDataset(dataset: DenaturalizedDataset): Record<string, unknown>;
    denaturalizeDataset(dataset: Record<string, unknown>): DenaturalizedDataset;
    /** Keyword -> dictionary entry (tag as "(GGGG,EEEE)", VR). */
    nameMap: Record<string, { tag: string; vr: string } | undefined>;
  }

  export const data: {
    DicomDict: typeof DicomDict;
    /** Static methods only. */
    DicomMessage: DicomMessage;
    /** Static methods only. */
    DicomMetaDictionary: DicomMetaDictionary;
  };

  interface Logger {
    setLevel(level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent'): void;
    getLoggers(): Record<string, Logger>;
  }
  /** dcmjs' own loglevel logger (its warnings may quote element values). */
  export const log: Logger;
}
