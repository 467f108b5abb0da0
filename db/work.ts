import type { Static } from 'typebox';
import type { Answer as AnswerSchema, Program as ProgramSchema } from '../schemas/work.js';
import type { Database, Queries } from './index.js';

/** Times leave the database as ISO strings. */
export const iso = (ms: number) => new Date(ms).toISOString();

/** A program version and an answer as the API shows them: the route schemas' types. */
export type Program = Static<typeof ProgramSchema>;
export type Answer = Static<typeof AnswerSchema>;

export interface ProgramRow {
  activity: string;
  version: number;
  code: string;
  language: string | null;
  page: string | null;
  saved_at: number;
}

export interface AnswerRow {
  question: string;
  attempt: number;
  kind: string;
  answer: string;
  correct: number | null;
  score: number | null;
  page: string | null;
  saved_at: number;
}

/** A stored program row as the API shows it. */
export const programFromRow = (r: ProgramRow): Program => ({ activity: r.activity, version: r.version, code: r.code, language: r.language, page: r.page, savedAt: iso(r.saved_at) });
/** A stored answer row as the API shows it. */
export const answerFromRow = (r: AnswerRow): Answer => ({
  question: r.question,
  attempt: r.attempt,
  kind: r.kind,
  answer: JSON.parse(r.answer) as unknown,
  correct: r.correct === null ? null : r.correct === 1,
  score: r.score,
  page: r.page,
  savedAt: iso(r.saved_at),
});

/** The columns the API shows, in its order. */
const programColumns = 'activity, version, code, language, page, saved_at';
const answerColumns = 'question, attempt, kind, answer, correct, score, page, saved_at';

/**
 * An ISO time from a column of milliseconds, computed by the database (integer arithmetic: no float rounding in
 * SQLite). On SQLite `datetime` and string operations: a third cheaper than strftime with printf, and the dates are
 * much of what a page state costs to build.
 */
const isoSql = {
  sqlite: (column: string) => `replace(datetime(${column} / 1000, 'unixepoch'), ' ', 'T') || '.' || substr('00' || (${column} % 1000), -3) || 'Z'`,
  postgres: (column: string) => `to_char(to_timestamp(${column} / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`,
};

/**
 * A latest row's entry in the page state as the database builds it from the row's columns: every program's (a
 * program's entry would hold its code a second time: writes of 20 KiB of code got a quarter slower, measured),
 * and the answers written before migration 0007 or whose entry was cleared (work moved between students).
 */
const builtEntrySql = {
  sqlite: {
    programs: `json_object('activity', activity, 'version', version, 'code', code, 'language', language, 'page', page, 'savedAt', ${isoSql.sqlite('saved_at')})`,
    answers: `json_object('latest', json_object('question', question, 'attempt', attempt, 'kind', kind,
        'answer', json(answer), 'correct', CASE correct WHEN 1 THEN json('true') WHEN 0 THEN json('false') END, 'score', score,
        'page', page, 'savedAt', ${isoSql.sqlite('saved_at')}), 'attempts', attempt)`,
  },
  postgres: {
    programs: `json_build_object('activity', activity, 'version', version, 'code', code, 'language', language, 'page', page, 'savedAt', ${isoSql.postgres('saved_at')})::text`,
    answers: `json_build_object('latest', json_build_object('question', question, 'attempt', attempt, 'kind', kind,
        'answer', answer::json, 'correct', CASE correct WHEN 1 THEN true WHEN 0 THEN false END, 'score', score,
        'page', page, 'savedAt', ${isoSql.postgres('saved_at')}), 'attempts', attempt)::text`,
  },
};

/** The tables of a page state: each one's key (the activity or the question) and whether its rows keep their entry. */
const pageTables = { programs: { key: 'activity', entries: false }, answers: { key: 'question', entries: true } } as const;
/** How each dialect joins the entries. */
const joinSql = {
  sqlite: { key: (column: string) => `json_quote(${column})`, concat: (items: string) => `group_concat(${items}, ',')` },
  postgres: { key: (column: string) => `to_json(${column})::text`, concat: (items: string) => `string_agg(${items}, ',')` },
};

/**
 * One table's half of the page state, put together by the database from the rows marked latest (one range scan of
 * a partial index, however long the histories): each answer's entry as it was written with the row (`page_entry`),
 * else built from its columns, keyed by its activity or question quoted as JSON.
 */
function pageSql(dialect: keyof typeof joinSql, table: keyof typeof pageTables): string {
  const { key, concat } = joinSql[dialect];
  const entry = pageTables[table].entries ? `COALESCE(page_entry, ${builtEntrySql[dialect][table]})` : builtEntrySql[dialect][table];
  return `SELECT '{' || COALESCE(${concat(`${key(pageTables[table].key)} || ':' || ${entry}`)}, '') || '}'
      FROM ${table} WHERE user_id = @user AND book_id = @book AND page = @page AND latest = 1`;
}

/** The whole page state in one statement (one read, one snapshot of both tables). */
const pageStateSql = Object.fromEntries(
  (['sqlite', 'postgres'] as const).map((dialect) => [dialect, `SELECT '{"programs":' || (${pageSql(dialect, 'programs')}) || ',"answers":' || (${pageSql(dialect, 'answers')}) || '}' AS state`]),
) as Record<keyof typeof joinSql, string>;

const json = (value: string | number | null | undefined) => JSON.stringify(value ?? null);

/**
 * A new attempt's entry in the page state, as the JSON text around its number, which the INSERT computes: the
 * entry is `parts[0] || n || parts[1] || n || parts[2]`. The same JSON the database builds from the row's columns
 * (`builtEntrySql`; test: both ways give the same page state).
 */
const answerEntry = (question: string, kind: string, answer: string, correct: 0 | 1 | null, score: number | null, page: string | null, savedAt: string) => [
  `{"latest":{"question":${json(question)},"attempt":`,
  `,"kind":${json(kind)},"answer":${answer},"correct":${correct === null ? 'null' : correct === 1 ? 'true' : 'false'},"score":${json(score)},"page":${json(page)},"savedAt":"${savedAt}"},"attempts":`,
  '}',
];

const insertProgram = `INSERT INTO programs (user_id, book_id, activity, version, code, language, page, saved_at, latest)
  SELECT ?, ?, ?, COALESCE(MAX(version), 0) + 1, ?, ?, ?, ?, 1 FROM programs WHERE user_id = ? AND book_id = ? AND activity = ?
  RETURNING version`;
// Through the newest version's row id (one probe of the version index), not a scan of the whole history.
const unmarkLatestProgram =
  'UPDATE programs SET latest = 0 WHERE id = (SELECT id FROM programs WHERE user_id = ? AND book_id = ? AND activity = ? ORDER BY version DESC LIMIT 1)';
const insertAnswer = `INSERT INTO answers (user_id, book_id, question, attempt, kind, answer, correct, score, page, saved_at, latest, page_entry)
  SELECT ?, ?, ?, COALESCE(MAX(attempt), 0) + 1, ?, ?, ?, ?, ?, ?, 1, ? || (COALESCE(MAX(attempt), 0) + 1) || ? || (COALESCE(MAX(attempt), 0) + 1) || ?
  FROM answers WHERE user_id = ? AND book_id = ? AND question = ?
  RETURNING attempt`;
const unmarkLatestAnswer =
  'UPDATE answers SET latest = 0, page_entry = NULL WHERE id = (SELECT id FROM answers WHERE user_id = ? AND book_id = ? AND question = ? ORDER BY attempt DESC LIMIT 1)';

/** What a write of a student's versioned work holds against writers in other processes: the student. */
export const workLock = (userId: string) => `work:${userId}`;

export interface Owner {
  userId: string;
  bookId: string;
}

/** Saves a new version of a program; returns its number and time. */
export async function saveProgram(db: Database, { userId, bookId }: Owner, activity: string, p: { code: string; language?: string | undefined; page?: string | undefined }) {
  const savedAt = Date.now();
  const [, row] = await db.writeSteps(
    [
      ['run', unmarkLatestProgram, [userId, bookId, activity]],
      ['get', insertProgram, [userId, bookId, activity, p.code, p.language ?? null, p.page ?? null, savedAt, userId, bookId, activity]],
    ],
    [workLock(userId)],
  );
  return { version: (row as { version: number }).version, savedAt: iso(savedAt) };
}

export async function latestProgram(db: Database, { userId, bookId }: Owner, activity: string): Promise<Program | undefined> {
  const row = await db.get<ProgramRow>(`SELECT ${programColumns} FROM programs WHERE user_id = ? AND book_id = ? AND activity = ? ORDER BY version DESC LIMIT 1`, [userId, bookId, activity]);
  return row && programFromRow(row);
}

/** Versions older than `before` (all when undefined), newest first. */
export async function programHistory(db: Database, { userId, bookId }: Owner, activity: string, limit: number, before?: number): Promise<Program[]> {
  const rows = await db.all<ProgramRow>(
    `SELECT ${programColumns} FROM programs WHERE user_id = ? AND book_id = ? AND activity = ? AND version < ? ORDER BY version DESC LIMIT ?`,
    [userId, bookId, activity, before ?? 2 ** 31 - 1, limit],
  );
  return rows.map(programFromRow);
}

export interface NewAnswer {
  kind: string;
  answer: unknown;
  correct?: boolean | undefined;
  score?: number | undefined;
  page?: string | undefined;
}

/** Records one more attempt at a question; returns its number and time. */
export async function saveAnswer(db: Database, { userId, bookId }: Owner, question: string, a: NewAnswer) {
  const savedAt = Date.now();
  const at = iso(savedAt);
  const correct = a.correct === undefined ? null : a.correct ? 1 : 0;
  const answer = JSON.stringify(a.answer);
  const entry = answerEntry(question, a.kind, answer, correct, a.score ?? null, a.page ?? null, at);
  const [, row] = await db.writeSteps(
    [
      ['run', unmarkLatestAnswer, [userId, bookId, question]],
      ['get', insertAnswer, [userId, bookId, question, a.kind, answer, correct, a.score ?? null, a.page ?? null, savedAt, ...entry, userId, bookId, question]],
    ],
    [workLock(userId)],
  );
  return { attempt: (row as { attempt: number }).attempt, savedAt: at };
}

/** The latest attempt at a question (its number is the count of attempts). */
export async function latestAnswer(db: Database, { userId, bookId }: Owner, question: string): Promise<Answer | undefined> {
  const row = await db.get<AnswerRow>(`SELECT ${answerColumns} FROM answers WHERE user_id = ? AND book_id = ? AND question = ? ORDER BY attempt DESC LIMIT 1`, [userId, bookId, question]);
  return row && answerFromRow(row);
}

/**
 * Everything a student has on one page, as the JSON text of `{programs: {activity: latest}, answers: {question:
 * {latest, attempts}}}`: made by the database, it needs no row objects, parsing or serialising here (the hot read).
 */
export async function pageStateJson(db: Database, { userId, bookId }: Owner, page: string): Promise<Buffer> {
  return (await db.bytes(pageStateSql[db.dialect], { user: userId, book: bookId, page }))!;
}

export async function setPosition(db: Database, { userId, bookId }: Owner, page: string, scroll: number | undefined) {
  const updatedAt = Date.now();
  await db.writeSteps([
    [
      'run',
      `INSERT INTO positions (user_id, book_id, page, scroll, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (user_id, book_id) DO UPDATE SET page = excluded.page, scroll = excluded.scroll, updated_at = excluded.updated_at`,
      [userId, bookId, page, scroll ?? null, updatedAt],
    ],
  ]);
  return { page, scroll: scroll ?? null, updatedAt: iso(updatedAt) };
}

export async function position(db: Queries, { userId, bookId }: Owner) {
  const row = await db.get<{ page: string; scroll: number | null; updated_at: number }>('SELECT page, scroll, updated_at FROM positions WHERE user_id = ? AND book_id = ?', [userId, bookId]);
  return row && { page: row.page, scroll: row.scroll, updatedAt: iso(row.updated_at) };
}

export async function setPageComplete(db: Database, { userId, bookId }: Owner, page: string, complete: boolean): Promise<void> {
  const now = Date.now();
  await db.writeSteps([
    complete
      ? ['run', 'INSERT INTO page_completions (user_id, book_id, page, completed_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING', [userId, bookId, page, now]]
      : ['run', 'DELETE FROM page_completions WHERE user_id = ? AND book_id = ? AND page = ?', [userId, bookId, page]],
  ]);
}

export async function completedPages(db: Queries, { userId, bookId }: Owner) {
  const rows = await db.all<{ page: string; completed_at: number }>(
    'SELECT page, completed_at FROM page_completions WHERE user_id = ? AND book_id = ? ORDER BY completed_at, page',
    [userId, bookId],
  );
  return rows.map((r) => ({ page: r.page, completedAt: iso(r.completed_at) }));
}

export interface NewEvent {
  type: string;
  target?: string | undefined;
  page?: string | undefined;
  /** The event's data as JSON text. */
  data?: string | undefined;
  clientTime?: number | undefined;
}

/**
 * A batch of events in one statement (one round trip on PostgreSQL, one statement instead of one a row on SQLite):
 * PostgreSQL takes the columns as arrays, SQLite the rows as one JSON array of arrays.
 */
const insertEvents = {
  postgres: `INSERT INTO events (user_id, book_id, type, target, page, data, client_time, server_time)
  SELECT ?, ?, e.type, e.target, e.page, e.data, e.client_time, ? FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[]) AS e(type, target, page, data, client_time)`,
  sqlite: `INSERT INTO events (user_id, book_id, type, target, page, data, client_time, server_time)
  SELECT ?, ?, e.value ->> 0, e.value ->> 1, e.value ->> 2, e.value ->> 3, e.value ->> 4, ? FROM json_each(?) AS e ORDER BY e.key`,
};

/** Stores a batch of events, all or none, stamped with the server's time. */
export async function saveEvents(db: Database, { userId, bookId }: Owner, batch: NewEvent[]): Promise<number> {
  const serverTime = Date.now();
  const rows = batch.map((e) => [e.type, e.target ?? null, e.page ?? null, e.data ?? null, e.clientTime ?? null] as const);
  const values = db.dialect === 'postgres' ? [0, 1, 2, 3, 4].map((i) => rows.map((r) => r[i])) : [JSON.stringify(rows)];
  await db.writeSteps([['run', insertEvents[db.dialect], [userId, bookId, serverTime, ...values]]]);
  return batch.length;
}

/** The tables of versioned work: the id of a version's activity or question within a book, its counter, the rest. */
const versionedTables = [
  { table: 'programs', key: 'activity', counter: 'version', rest: 'code, language, page, saved_at, latest' },
  { table: 'answers', key: 'question', counter: 'attempt', rest: 'kind, answer, correct, score, page, saved_at, latest' },
];

/**
 * Moving one table's versions between students: copied with their numbers placed after the receiving student's own
 * (id order, so the numbering keeps its order), removed from the sender, and where both had a latest version the
 * moved one stays latest. Page entries are not copied (their numbers change) and those unmarked are cleared: the
 * page state builds the moved rows' entries from their columns.
 */
const moveVersionsSql = versionedTables.map(({ table, key, counter, rest }) => ({
  insert: `INSERT INTO ${table} (user_id, book_id, ${key}, ${counter}, ${rest})
     SELECT @into, w.book_id, w.${key},
            w.${counter} + COALESCE((SELECT MAX(o.${counter}) FROM ${table} o WHERE o.user_id = @into AND o.book_id = w.book_id AND o.${key} = w.${key}), 0),
            ${rest.split(', ').map((column) => `w.${column}`).join(', ')}
     FROM ${table} w WHERE w.user_id = @from ORDER BY w.id`,
  remove: `DELETE FROM ${table} WHERE user_id = ?`,
  unmark: `UPDATE ${table} SET latest = 0${table === 'answers' ? ', page_entry = NULL' : ''} WHERE user_id = @into AND latest = 1
     AND ${counter} < (SELECT MAX(o.${counter}) FROM ${table} o WHERE o.user_id = @into AND o.book_id = ${table}.book_id AND o.${key} = ${table}.${key})`,
}));

/**
 * Moves all work of `from` to `into` (inside the caller's write). Versions and attempt numbers of `from` are
 * placed after those of `into`, so nothing collides and the moved work counts as the latest; a position keeps
 * the newer one; completed pages are united.
 */
export async function moveWork(tx: Queries, from: string, into: string): Promise<void> {
  for (const sql of moveVersionsSql) {
    await tx.run(sql.insert, { from, into });
    await tx.run(sql.remove, [from]);
    await tx.run(sql.unmark, { into });
  }
  await tx.run('UPDATE events SET user_id = ? WHERE user_id = ?', [into, from]);
  await tx.run(
    `INSERT INTO positions (user_id, book_id, page, scroll, updated_at)
     SELECT ?, book_id, page, scroll, updated_at FROM positions WHERE user_id = ? AND true
     ON CONFLICT (user_id, book_id) DO UPDATE SET page = excluded.page, scroll = excluded.scroll, updated_at = excluded.updated_at
     WHERE excluded.updated_at > positions.updated_at`,
    [into, from],
  );
  await tx.run('DELETE FROM positions WHERE user_id = ?', [from]);
  await tx.run(
    'INSERT INTO page_completions (user_id, book_id, page, completed_at) SELECT ?, book_id, page, completed_at FROM page_completions WHERE user_id = ? AND true ON CONFLICT DO NOTHING',
    [into, from],
  );
  await tx.run('DELETE FROM page_completions WHERE user_id = ?', [from]);
}
