export {
  CsvFormatError,
  CsvParser,
  normalizeName,
  parseCsv,
  parseCsvText,
  readCsvFile,
  type CsvRecord,
} from './reader.js';
export { csvField, csvRecord, type CsvCell } from './writer.js';
