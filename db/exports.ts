import { asc, eq, sql, type SQL } from 'drizzle-orm';
import { Readable } from 'node:stream';
import { csvField, csvRecord, type CsvFormulas, type CsvValue } from '../lib/csv.js';
import { pseudonymizer } from '../lib/pseudonym.js';
import { isoTimes } from '../lib/time.js';
import { StatementWriter, type XapiActor } from '../lib/xapi.js';
import { exportFormats, exportKinds, type ExportFormat, type ExportKind } from '../schemas/export-kinds.js';
import type { Database, Dialect, Snapshot } from './index.js';
import { rows as queryRows, select } from './query.js';
import { bookOrigins } from './schema.js';

/**
 * Research exports: the rows of one kind in one book, of consenting users only, in server-time order, as
 * JSON Lines, CSV or xAPI statements. Read from a snapshot on a connection of their own and streamed with
 * backpressure: memory stays flat however many rows there are, and the server keeps writing meanwhile.
 */

export { exportFormats, exportKinds, type ExportFormat, type ExportKind };

export const exportContentTypes: Record<ExportFormat, string> = {
  jsonl: 'application/x-ndjson',
  csv: 'text/csv; charset=utf-8',
  xapi: 'application/x-ndjson',
};
export const exportFileExtensions: Record<ExportFormat, string> = { jsonl: 'jsonl', csv: 'csv', xapi: 'xapi.jsonl' };

export interface ExportRequest {
  book: string;
  /** A course of the book: only its enrolled students' rows (the caller intersects since and until with its dates). */
  course?: string | undefined;
  kind: ExportKind;
  format: ExportFormat;
  /** Server time in ms: rows at or after it (all when undefined). */
  since?: number | undefined;
  /** Server time in ms: rows before it; never later than the moment the export starts. */
  until?: number | undefined;
  /** User ids, usernames, names and emails besides the pseudonyms (admins only: the caller checks and logs). */
  identify: boolean;
  /** The server secret, from which each book's pseudonym key is derived (lib/pseudonym.ts). */
  secret: string;
  /** The server's public origin: xAPI actors are accounts on it. */
  homePage: string;
  /** CSV: neutralise text a spreadsheet would run as a formula (`escape`, the default) or write it as stored (`raw`). */
  csvFormulas?: CsvFormulas | undefined;
}

/** What an export holds: the first line of JSON Lines (`{"meta": …}`), and response headers / CLI messages otherwise. */
export interface ExportMeta {
  book: string;
  /** A course's export: only its enrolled students (the key is left out of a book's export). */
  course?: string;
  kind: ExportKind;
  format: ExportFormat;
  since: string | null;
  /** Exclusive; pass it as `since` to get what came after this export. */
  until: string;
  pseudonymised: boolean;
  /** Consenting users with rows in the window: those exported. */
  users: number;
  /** Users with rows in the window left out because they have not given research consent. */
  excludedUsers: number;
  generatedAt: string;
}

export interface Export {
  meta: ExportMeta;
  /** The formatted rows. Destroy it when not reading it to the end: it holds a database connection. */
  stream: ExportStream;
  /** How many rows the stream will give (a query of its own, for progress bars): call it before reading the stream. */
  countRows(): Promise<number>;
}

/** Exports read a snapshot through a second connection, which a private in-memory SQLite database cannot have. */
export class ExportUnavailableError extends Error {
  override name = 'ExportUnavailableError';
}

/** How a stored value is written: as it is, as the JSON text it holds, as an ISO time (stored ms), as a boolean (stored 0/1), as the user's pseudonym. */
type Encoding = 'value' | 'json' | 'time' | 'bool' | 'pseudonym';
/** One field of a record: its name, the column it comes from, how it is written. */
type Field = readonly [name: string, column: string, encoding: Encoding];

/**
 * Rows are read as arrays (cheaper than objects): the kind's columns, then user_id and the time, then with
 * identify the username, name and email. `R` is the tuple of the kind's columns.
 */
interface Kind<R extends unknown[]> {
  table: string;
  /** The column holding the row's server time (read as `at`). */
  time: string;
  /** What orders rows of the same time in PostgreSQL (SQLite: the rowid, which its time index ends with). */
  tieBreak: string;
  /** The table's columns an export reads, besides user_id and the time. */
  columns: readonly string[];
  /** The record's fields before and after the user's. */
  before: readonly Field[];
  after: readonly Field[];
  /** The row as an xAPI statement (JSON text). */
  statement(writer: StatementWriter, actor: XapiActor, row: R, at: number): string;
}

type EventRow = [id: number, type: string, target: string | null, page: string | null, data: string | null, clientTime: number | null];
type AnswerRow = [id: number, question: string, attempt: number, kind: string, answer: string, correct: number | null, score: number | null, page: string | null];
type ProgramRow = [id: number, activity: string, version: number, language: string | null, page: string | null, code: string];
type CompletionRow = [page: string];
type AssignmentRow = [experiment: string, variant: string, page: string | null, replacedVariant: string | null];

const events: Kind<EventRow> = {
  table: 'events',
  tieBreak: 'r.id',
  time: 'server_time',
  columns: ['id', 'type', 'target', 'page', 'data', 'client_time'],
  before: [['id', 'id', 'value']],
  after: [
    ['type', 'type', 'value'],
    ['target', 'target', 'value'],
    ['page', 'page', 'value'],
    ['data', 'data', 'json'],
    ['clientTime', 'client_time', 'time'],
    ['serverTime', 'at', 'time'],
  ],
  statement: (writer, actor, [id, type, target, page, dataJson, clientTime], at) => writer.event(actor, { id, type, target, page, dataJson, clientTime, at }),
};

const answers: Kind<AnswerRow> = {
  table: 'answers',
  tieBreak: 'r.id',
  time: 'saved_at',
  columns: ['id', 'question', 'attempt', 'kind', 'answer', 'correct', 'score', 'page'],
  before: [['id', 'id', 'value']],
  after: [
    ['question', 'question', 'value'],
    ['attempt', 'attempt', 'value'],
    ['kind', 'kind', 'value'],
    ['answer', 'answer', 'json'],
    ['correct', 'correct', 'bool'],
    ['score', 'score', 'value'],
    ['page', 'page', 'value'],
    ['savedAt', 'at', 'time'],
  ],
  statement: (writer, actor, [id, question, attempt, kind, answer, correct, score, page], at) =>
    writer.answer(actor, { id, question, attempt, kind, answer: JSON.parse(answer) as unknown, correct: correct === null ? null : correct === 1, score, page, at }),
};

const programs: Kind<ProgramRow> = {
  table: 'programs',
  tieBreak: 'r.id',
  time: 'saved_at',
  columns: ['id', 'activity', 'version', 'language', 'page', 'code'],
  before: [['id', 'id', 'value']],
  after: [
    ['activity', 'activity', 'value'],
    ['version', 'version', 'value'],
    ['language', 'language', 'value'],
    ['page', 'page', 'value'],
    ['code', 'code', 'value'],
    ['savedAt', 'at', 'time'],
  ],
  statement: (writer, actor, [id, activity, version, language, page, code], at) => writer.program(actor, { id, activity, version, language, page, code, at }),
};

const completions: Kind<CompletionRow> = {
  table: 'page_completions',
  tieBreak: 'r.user_id, r.page',
  time: 'completed_at',
  columns: ['page'],
  before: [],
  after: [
    ['page', 'page', 'value'],
    ['completedAt', 'at', 'time'],
  ],
  statement: (writer, actor, [page], at) => writer.completion(actor, { page, at }),
};

const assignments: Kind<AssignmentRow> = {
  table: 'experiment_assignments',
  tieBreak: 'r.experiment_id, r.user_id',
  time: 'exposed_at',
  columns: ['experiment_id', 'variant', 'page', 'replaced_variant'],
  before: [],
  after: [
    ['experiment', 'experiment_id', 'value'],
    ['variant', 'variant', 'value'],
    ['page', 'page', 'value'],
    ['replacedVariant', 'replaced_variant', 'value'],
    ['exposedAt', 'at', 'time'],
  ],
  statement: (writer, actor, [experiment, variant, page, replacedVariant], at) => writer.assignment(actor, { experiment, variant, page, replacedVariant, at }),
};

const kinds = { events, answers, programs, completions, assignments } as unknown as Record<ExportKind, Kind<unknown[]>>;

const userFields: readonly Field[] = [['user', 'user_id', 'pseudonym']];
const identityFields: readonly Field[] = [
  ['user', 'user_id', 'pseudonym'],
  ['userId', 'user_id', 'value'],
  ['username', 'username', 'value'],
  ['name', 'name', 'value'],
  ['email', 'email', 'value'],
];

/** What a row holds, in order: the kind's columns, the user, the time, and with identify the person. */
function selected(kind: Kind<unknown[]>, identify: boolean): string[] {
  return [...kind.columns, 'user_id', 'at', ...(identify ? ['username', 'name', 'email'] : [])];
}

/** A kind's rows in the export's window (the placeholders `book`, `since` and `until`). */
const inWindow = (kind: Kind<unknown[]>) =>
  sql`r.book_id = ${sql.placeholder('book')} AND r.${sql.raw(kind.time)} >= ${sql.placeholder('since')} AND r.${sql.raw(kind.time)} < ${sql.placeholder('until')}`;

/**
 * For a course's export (the placeholder `course`): the user whose id is in `column` is enrolled in it, one probe of
 * the enrolments' primary key. Nothing for a book's export.
 */
const enrolledIn = (course: boolean, column: string) =>
  course ? sql` AND EXISTS (SELECT 1 FROM enrolments n WHERE n.course_id = ${sql.placeholder('course')} AND n.user_id = ${sql.raw(column)})` : sql``;

/** The window's rows: by server time then row, which the (book_id, time) index gives without sorting. */
function rowsSql(kind: Kind<unknown[]>, identify: boolean, dialect: Dialect, course = false): SQL {
  const column = (name: string) => (name === 'at' ? `r.${kind.time} AS at` : ['username', 'name', 'email'].includes(name) ? `u.${name}` : `r.${name}`);
  // In SQLite, CROSS JOIN keeps the rows' table outermost, so the index order is the output order.
  return sql`SELECT ${sql.raw(selected(kind, identify).map(column).join(', '))}
    FROM ${sql.raw(kind.table)} r ${sql.raw(dialect === 'sqlite' ? 'CROSS JOIN' : 'JOIN')} users u ON u.id = r.user_id
    WHERE ${inWindow(kind)}${enrolledIn(course, 'r.user_id')} AND u.research_consent = 1
    ORDER BY r.${sql.raw(kind.time)}, ${sql.raw(dialect === 'sqlite' ? 'r.rowid' : kind.tieBreak)}`;
}

/** The query an export of a kind reads its rows with (for EXPLAIN in the tests). */
export function exportRowsSql(kind: ExportKind, identify = false, dialect: Dialect = 'sqlite', course = false): SQL {
  return rowsSql(kinds[kind], identify, dialect, course);
}

/** The same rows counted: consenting users as a list SQLite builds once, which counts several times faster than the join. */
function countSql(kind: Kind<unknown[]>, course: boolean): SQL {
  return sql`SELECT COUNT(*) AS n FROM ${sql.raw(kind.table)} r
    WHERE ${inWindow(kind)}${enrolledIn(course, 'r.user_id')} AND r.user_id IN (SELECT id FROM users WHERE research_consent = 1)`;
}

/** Users with rows in the window, by consent: one index probe per user (a course's export: per enrolled user). */
function usersSql(kind: Kind<unknown[]>, course: boolean): SQL {
  return sql`SELECT u.research_consent AS consent, COUNT(*) AS n FROM users u
    WHERE EXISTS (SELECT 1 FROM ${sql.raw(kind.table)} r WHERE r.user_id = u.id AND ${inWindow(kind)})${enrolledIn(course, 'u.id')}
    GROUP BY u.research_consent`;
}

/** ~64 KiB: how much the stream formats per read, and how much it buffers ahead of a slow reader. */
const chunkSize = 64 * 1024;

/**
 * Formats rows a chunk at a time, only when the reader wants more (backpressure), and closes its snapshot at the end.
 * A stored row it cannot write (e.g. a time no date can show, written before Folio checked ranges) is skipped and
 * counted, never the end of the export: `skipped`, `firstSkip`, and the format's own last line (`tail`).
 */
export class ExportStream extends Readable {
  /** Rows formatted so far. */
  rows = 0;
  /** Rows left out because they could not be written. */
  skipped = 0;
  /** Why the first of them could not be written (for the log). */
  firstSkip: string | undefined;
  private next: (() => Promise<unknown[][]>) | undefined;
  private reading = false;

  constructor(
    private readonly snapshot: Snapshot,
    private readonly start: () => () => Promise<unknown[][]>,
    private readonly line: (row: unknown[]) => string,
    private head: string,
    private readonly tail: (skipped: number) => string = () => '',
  ) {
    super({ highWaterMark: chunkSize });
  }

  override _read(): void {
    if (this.reading) return;
    this.reading = true;
    this.fill().then(
      () => (this.reading = false),
      (err: Error) => this.destroy(err),
    );
  }

  /** Formats rows until a chunk is full (or the rows end), then pushes it. */
  private async fill(): Promise<void> {
    let chunk = this.head;
    this.head = '';
    this.next ??= this.start();
    while (chunk.length < chunkSize) {
      const rows = await this.next();
      if (rows.length === 0) {
        if (this.skipped > 0) chunk += this.tail(this.skipped);
        if (chunk !== '') this.push(chunk);
        this.push(null);
        return;
      }
      for (const row of rows) {
        try {
          chunk += this.line(row);
          this.rows++;
        } catch (err) {
          this.skipped++;
          this.firstSkip ??= `${(err as Error).message} (row ${JSON.stringify(row.slice(0, 1))} of the export's columns)`;
        }
      }
    }
    this.push(chunk);
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.snapshot.close().then(
      () => callback(err),
      (closeErr: Error) => callback(err ?? closeErr),
    );
  }
}

/** JSON text as CSV shows it: a JSON string as its text, anything else (objects, arrays, numbers) as JSON text. */
const jsonForCsv = (text: string): string => (text.charCodeAt(0) === 34 ? (JSON.parse(text) as string) : text);

interface Formatter {
  head(meta: ExportMeta): string;
  line(row: unknown[]): string;
  /** The last line when rows were skipped (JSON Lines only: CSV and xAPI have no record for it; the API's trailer says it). */
  tail?(skipped: number): string;
}

/**
 * The experiments of the export's book (by id) and each assigned user's variants, as of the export's `until`: every
 * row of the user carries them. Null when the book has no experiment (the records then have no `experiments`).
 */
interface Conditions {
  ids: string[];
  of: Map<string, Record<string, string>>;
}

const bookExperimentIds = sql`SELECT id FROM experiments WHERE book_id = ${sql.placeholder('book')} ORDER BY id`;
const bookAssignments = sql`SELECT user_id, experiment_id, variant FROM experiment_assignments WHERE book_id = ${sql.placeholder('book')} AND exposed_at < ${sql.placeholder('until')}`;

/** The book's experiments and who was assigned what (read whole: one small row per assigned student and experiment). */
async function conditionsOf(snapshot: Snapshot, book: string, until: number): Promise<Conditions | null> {
  const ids = (await snapshot.all<{ id: string }>(bookExperimentIds, { book })).map((r) => r.id);
  if (ids.length === 0) return null;
  const of = new Map<string, Record<string, string>>();
  for (const a of await snapshot.all<{ user_id: string; experiment_id: string; variant: string }>(bookAssignments, { book, until })) {
    const mine = of.get(a.user_id) ?? {};
    mine[a.experiment_id] = a.variant;
    of.set(a.user_id, mine);
  }
  return { ids, of };
}

/**
 * The lines of an export. JSON Lines and CSV write each field of the record straight from the row's array (stored
 * JSON is spliced in as it is); xAPI builds a statement object per row. With experiments, each record ends with the
 * user's variants: `experiments: {id: variant}` (JSON Lines), a column `experiments.ID` per experiment (CSV), a
 * `context.extensions` entry `<home page>/xapi/experiments` (xAPI, only for users with an assignment).
 */
function formatter(kind: Kind<unknown[]>, request: ExportRequest, bookOrigin: string, conditions: Conditions | null): Formatter {
  const userOf = pseudonymizer(request.secret, request.book);
  const fields = [...kind.before, ...(request.identify ? identityFields : userFields), ...kind.after];
  const columns = selected(kind, request.identify);
  const from = fields.map(([, column]) => columns.indexOf(column));
  const iso = fields.map(() => isoTimes());
  const userAt = columns.indexOf('user_id');
  const conditionsJson = new Map<string, string>();
  /** The user's variants as JSON text, `{}` when none (remembered per user). */
  const variantsJson = (user: string): string => {
    let text = conditionsJson.get(user);
    if (text === undefined) conditionsJson.set(user, (text = JSON.stringify(conditions?.of.get(user) ?? {})));
    return text;
  };

  switch (request.format) {
    case 'jsonl': {
      const keys = fields.map(([name], i) => `${i === 0 ? '{' : ','}${JSON.stringify(name)}:`);
      const encode = (encoding: Encoding, v: unknown, i: number): string => {
        if (v === null) return 'null';
        switch (encoding) {
          case 'json':
            return v as string; // stored as JSON.stringify wrote it: one line
          case 'time':
            return `"${iso[i]!(v as number)}"`;
          case 'bool':
            return v === 1 ? 'true' : 'false';
          case 'pseudonym':
            return `"${userOf(v as string)}"`;
          default:
            return typeof v === 'string' ? JSON.stringify(v) : String(v);
        }
      };
      return {
        head: (meta) => `${JSON.stringify({ meta })}\n`,
        tail: (skipped) => `${JSON.stringify({ skipped: { rows: skipped, reason: 'stored rows Folio could not write (see the server log)' } })}\n`,
        line: (row) => {
          let line = '';
          for (let i = 0; i < fields.length; i++) line += keys[i]! + encode(fields[i]![2], row[from[i]!], i);
          return conditions ? `${line},"experiments":${variantsJson(row[userAt] as string)}}\n` : `${line}}\n`;
        },
      };
    }
    case 'csv': {
      const formulas = request.csvFormulas ?? 'escape';
      const encode = (encoding: Encoding, v: unknown, i: number): CsvValue => {
        if (v === null) return null;
        switch (encoding) {
          case 'json':
            return jsonForCsv(v as string);
          case 'time':
            return iso[i]!(v as number);
          case 'bool':
            return v === 1;
          case 'pseudonym':
            return userOf(v as string);
          default:
            return v as CsvValue;
        }
      };
      return {
        head: () => csvRecord([...fields.map(([name]) => name), ...(conditions?.ids.map((id) => `experiments.${id}`) ?? [])]),
        line: (row) => {
          let line = '';
          for (let i = 0; i < fields.length; i++) line += (i === 0 ? '' : ',') + csvField(encode(fields[i]![2], row[from[i]!], i), formulas);
          if (conditions) {
            const mine = conditions.of.get(row[userAt] as string);
            for (const id of conditions.ids) line += `,${csvField(mine?.[id] ?? null, formulas)}`;
          }
          return `${line}\r\n`;
        },
      };
    }
    case 'xapi': {
      const writer = new StatementWriter({ homePage: request.homePage, book: request.book, bookOrigin });
      const [user, time, username, name] = ['user_id', 'at', 'username', 'name'].map((c) => columns.indexOf(c)) as [number, number, number, number];
      const actorOf = request.identify
        ? (r: unknown[]): XapiActor => ({ account: (r[username] ?? r[user]) as string, name: r[name] as string | null })
        : (r: unknown[]): XapiActor => ({ account: userOf(r[user] as string) });
      return {
        head: () => '',
        line: (row) => {
          const statement = kind.statement(writer, actorOf(row), row, row[time] as number);
          const id = row[user] as string;
          return `${conditions?.of.has(id) ? writer.withExtension(statement, 'experiments', variantsJson(id)) : statement}\n`;
        },
      };
    }
  }
}

/**
 * Opens an export: counts its users on a fresh snapshot and returns the metadata and the stream of formatted
 * rows. `until` defaults to (and is capped at) now, so `since = meta.until` next time continues without a gap
 * or an overlap. The book must exist (the caller checks).
 */
/** A book's first origin: what names its activities in xAPI statements. */
const firstOrigin = select({ origin: bookOrigins.origin })
  .from(bookOrigins)
  .where(eq(bookOrigins.bookId, sql.placeholder('book')))
  .orderBy(asc(bookOrigins.position), asc(bookOrigins.origin))
  .limit(1);

export async function openExport(db: Database, request: ExportRequest): Promise<Export> {
  if (db.location === ':memory:') throw new ExportUnavailableError('exports need a database file (an in-memory database cannot be read from a second connection)');
  const kind = kinds[request.kind];
  const now = Date.now();
  const course = request.course !== undefined;
  const params = { book: request.book, since: request.since ?? 0, until: Math.min(request.until ?? now, now), ...(course ? { course: request.course } : {}) };
  const snapshot = await db.snapshot();
  try {
    const byConsent = await snapshot.all<{ consent: number; n: number }>(usersSql(kind, course), params);
    const [first] = await queryRows(snapshot, firstOrigin, { book: request.book });
    const bookOrigin = first?.origin ?? `${request.homePage}/api/books/${request.book}`;
    const meta: ExportMeta = {
      book: request.book,
      ...(course ? { course: request.course! } : {}),
      kind: request.kind,
      format: request.format,
      since: request.since === undefined ? null : new Date(request.since).toISOString(),
      until: new Date(params.until).toISOString(),
      pseudonymised: !request.identify,
      users: byConsent.find((c) => c.consent === 1)?.n ?? 0,
      excludedUsers: byConsent.find((c) => c.consent !== 1)?.n ?? 0,
      generatedAt: new Date(now).toISOString(),
    };
    const format = formatter(kind, request, bookOrigin, await conditionsOf(snapshot, request.book, params.until));
    const rows = rowsSql(kind, request.identify, snapshot.dialect, course);
    const stream = new ExportStream(snapshot, () => snapshot.cursor(rows, params, 500), format.line, format.head(meta), format.tail);
    return { meta, stream, countRows: async () => (await snapshot.all<{ n: number }>(countSql(kind, course), params))[0]!.n };
  } catch (err) {
    await snapshot.close();
    throw err;
  }
}

/** Compact UTC time for file names: 2026-11-28T20:00:00.000Z → 20261128T200000Z. */
export function exportFileName(meta: ExportMeta): string {
  const stamp = meta.until.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${meta.course ?? meta.book}-${meta.kind}${meta.pseudonymised ? '' : '-identified'}-${stamp}.${exportFileExtensions[meta.format]}`;
}
