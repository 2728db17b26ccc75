/** The store's fixed choices, in a module that imports nothing (for command-line help). */

/** Formats of `cxr results export`. */
export const EXPORT_FORMATS = ['csv', 'jsonl', 'parquet'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];
