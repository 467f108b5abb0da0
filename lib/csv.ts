/** CSV as RFC 4180 says: records end with CRLF; a field holding a comma, a double quote, CR or LF is quoted, its quotes doubled. */

export type CsvValue = string | number | boolean | null;

const needsQuotes = /[",\r\n]/;

/** One field. null is an empty field; the empty string is `""`, so the two stay apart. */
export function csvField(value: CsvValue): string {
  if (value === null) return '';
  if (typeof value !== 'string') return String(value);
  if (value === '') return '""';
  return needsQuotes.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** One record, CRLF included. */
export function csvRecord(values: readonly CsvValue[]): string {
  let line = '';
  for (let i = 0; i < values.length; i++) line += (i === 0 ? '' : ',') + csvField(values[i]!);
  return `${line}\r\n`;
}
