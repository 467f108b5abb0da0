/** CSV as RFC 4180 says: records end with CRLF; a field holding a comma, a double quote, CR or LF is quoted, its quotes doubled. */

export type CsvValue = string | number | boolean | null;

/**
 * What happens to text that a spreadsheet would run as a formula (OWASP "CSV injection"): `escape` (the default)
 * prefixes a single quote to text starting with =, +, -, @, TAB or CR, so the cell shows the text instead of computing
 * it; `raw` writes the text as stored, for tools that read CSV as data. Numbers (ids, versions, scores) are never
 * changed: a negative score stays a number.
 */
export const csvFormulaModes = ['escape', 'raw'] as const;
export type CsvFormulas = (typeof csvFormulaModes)[number];

const needsQuotes = /[",\r\n]/;

/** Whether a spreadsheet would take text starting with this character as a formula: = + - @ TAB CR. */
function startsFormula(text: string): boolean {
  const c = text.charCodeAt(0);
  return c === 61 || c === 43 || c === 45 || c === 64 || c === 9 || c === 13;
}

/** One field. null is an empty field; the empty string is `""`, so the two stay apart. */
export function csvField(value: CsvValue, formulas: CsvFormulas = 'escape'): string {
  if (value === null) return '';
  if (typeof value !== 'string') return String(value);
  if (value === '') return '""';
  const text = formulas === 'escape' && startsFormula(value) ? `'${value}` : value;
  return needsQuotes.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One record, CRLF included. */
export function csvRecord(values: readonly CsvValue[], formulas: CsvFormulas = 'escape'): string {
  let line = '';
  for (let i = 0; i < values.length; i++) line += (i === 0 ? '' : ',') + csvField(values[i]!, formulas);
  return `${line}\r\n`;
}
