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

/** A record read by parseCsv: its fields, and the line of the file it starts on (1-based). */
export interface CsvRow {
  line: number;
  fields: string[];
}

export class CsvSyntaxError extends Error {
  override name = 'CsvSyntaxError';
  constructor(
    readonly line: number,
    problem: string,
  ) {
    super(`line ${line}: ${problem}`);
  }
}

/**
 * Reads CSV as RFC 4180 writes it (and spreadsheets save it): fields separated by commas, records by CRLF or LF; a
 * quoted field may hold commas, line breaks and doubled quotes. Lenient where spreadsheets are: a byte order mark is
 * dropped, the last record may end without a line break, empty lines are skipped. Throws CsvSyntaxError (with the
 * line) for a quote opened and never closed, or text after a closing quote.
 */
export function parseCsv(text: string): CsvRow[] {
  const input = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const records: CsvRow[] = [];
  let fields: string[] = [];
  let field = '';
  /** Whether the record has anything yet (a quoted empty field counts). */
  let started = false;
  let line = 1;
  let start = 1;
  let i = 0;
  const endRecord = () => {
    if (started) records.push({ line: start, fields: [...fields, field] });
    fields = [];
    field = '';
    started = false;
  };
  while (i < input.length) {
    const c = input[i]!;
    if (c === '"' && field === '') {
      started = true;
      const opened = line;
      for (i++; ; ) {
        if (i >= input.length) throw new CsvSyntaxError(opened, 'a quoted field is never closed (a " is missing)');
        const q = input[i]!;
        if (q === '"' && input[i + 1] === '"') {
          field += '"';
          i += 2;
        } else if (q === '"') {
          i++;
          break;
        } else {
          if (q === '\n') line++;
          field += q;
          i++;
        }
      }
      const next = input[i];
      if (next !== undefined && next !== ',' && next !== '\n' && next !== '\r') throw new CsvSyntaxError(line, 'text after the closing " of a quoted field (a " inside a field is written "")');
    } else if (c === ',') {
      started = true;
      fields.push(field);
      field = '';
      i++;
    } else if (c === '\r' || c === '\n') {
      endRecord();
      i += c === '\r' && input[i + 1] === '\n' ? 2 : 1;
      start = ++line;
    } else {
      started = true;
      field += c;
      i++;
    }
  }
  endRecord();
  return records;
}
