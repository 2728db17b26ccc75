/** The CSV writer: RFC 4180 fields and CRLF-terminated records, the reader's inverse. */

/** One cell: text, a number, or null (an empty field). */
export type CsvCell = string | number | null;

/** One CSV field per RFC 4180 section 2: quoted when it holds a comma, quote, CR or LF. */
export function csvField(value: CsvCell): string {
  if (value === null) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** One CSV record, CRLF-terminated as RFC 4180 section 2 rule 1 says. */
export function csvRecord(values: readonly CsvCell[]): string {
  return `${values.map(csvField).join(',')}\r\n`;
}
