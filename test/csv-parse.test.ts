import t from 'tap';
import { csvRecord, CsvSyntaxError, parseCsv } from '../lib/csv.js';

/** lib/csv.ts's reader (roster files): RFC 4180 as spreadsheets write it. */

t.test('parseCsv reads quoted fields with commas, doubled quotes and line breaks, CRLF or LF, each record with the line it starts on', async (t) => {
  t.same(parseCsv('a,"b, c","say ""hi"""\r\n"two\nlines",,x\nlast'), [
    { line: 1, fields: ['a', 'b, c', 'say "hi"'] },
    { line: 2, fields: ['two\nlines', '', 'x'] },
    { line: 4, fields: ['last'] },
  ]);
});

t.test('parseCsv drops a byte order mark and skips empty lines; a quoted empty field is a record', async (t) => {
  t.same(parseCsv('\ufeffh\n\n\r\nv\n""\n'), [
    { line: 1, fields: ['h'] },
    { line: 4, fields: ['v'] },
    { line: 5, fields: [''] },
  ]);
  t.same(parseCsv(''), []);
});

t.test('parseCsv reads back what csvRecord writes', async (t) => {
  const values = ['plain', 'with, comma', 'with "quotes"', 'two\r\nlines', ''];
  t.same(parseCsv(csvRecord(values, 'raw') + csvRecord(['x'], 'raw')), [
    { line: 1, fields: values },
    { line: 3, fields: ['x'] },
  ]);
});

t.test('parseCsv refuses a quote never closed and text after a closing quote, naming the line', async (t) => {
  t.throws(() => parseCsv('a\nb,"open\nstill open'), new CsvSyntaxError(2, 'a quoted field is never closed (a " is missing)'));
  t.throws(() => parseCsv('a\n"closed"then'), { message: 'line 2: text after the closing " of a quoted field (a " inside a field is written "")' });
});
