import { sql, type Placeholder, type SQL } from 'drizzle-orm';
import type { Static } from 'typebox';
import type { Answer as AnswerSchema, Program as ProgramSchema } from '../schemas/work.js';
import { HttpError } from '../lib/errors.js';
import { settings } from '../plugins/config.js';
import type { Database, Queries, Values, WriteStep } from './index.js';
import type { AnswerAttempt, Position, ProgramVersion, Stored } from './schema.js';

/** Times leave the database as ISO strings. */
export const iso = (ms: number) => new Date(ms).toISOString();

/** A program version and an answer as the API shows them: the route schemas' types. */
export type Program = Static<typeof ProgramSchema>;
export type Answer = Static<typeof AnswerSchema>;

/** A program version's columns that the API shows, as stored. */
export type ProgramRow = Pick<Stored<ProgramVersion>, 'activity' | 'version' | 'code' | 'language' | 'page' | 'saved_at'>;
/** An answer attempt's columns that the API shows, as stored. */
export type AnswerRow = Pick<Stored<AnswerAttempt>, 'question' | 'attempt' | 'kind' | 'answer' | 'correct' | 'score' | 'page' | 'saved_at'>;

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
const programColumns = sql.raw('activity, version, code, language, page, saved_at');
const answerColumns = sql.raw('question, attempt, kind, answer, correct, score, page, saved_at');

const names = [
  ...['user', 'book', 'page', 'key', 'code', 'language', 'savedAt', 'kind', 'answer', 'correct', 'score', 'entry0', 'entry1', 'entry2', 'entryBytes'],
  ...['pageMax', 'versions', 'events', 'bytes', 'maxVersions', 'maxEvents', 'maxBytes', 'activity', 'before', 'limit', 'scroll', 'updatedAt', 'completedAt'],
  ...['serverTime', 'rows', 'types', 'targets', 'pages', 'datas', 'clientTimes'],
] as const;
/**
 * The placeholders of the queries below (`${p.user}`), filled per run from the values passed with the query: each
 * query is built once, here, and drizzle renders it once per dialect (db/render.ts).
 */
const p = Object.fromEntries(names.map((name) => [name, sql.placeholder(name)])) as { [Name in (typeof names)[number]]: Placeholder<Name> };

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
function pageSql(dialect: keyof typeof joinSql, table: keyof typeof pageTables): SQL {
  const { key, concat } = joinSql[dialect];
  const entry = pageTables[table].entries ? `COALESCE(page_entry, ${builtEntrySql[dialect][table]})` : builtEntrySql[dialect][table];
  return sql`SELECT '{' || COALESCE(${sql.raw(concat(`${key(pageTables[table].key)} || ':' || ${entry}`))}, '') || '}'
      FROM ${sql.raw(table)} WHERE user_id = ${p.user} AND book_id = ${p.book} AND page = ${p.page} AND latest = 1`;
}

/** When the student marked the page complete, as a JSON string, else `null` (one lookup of the primary key). */
const pageCompletedSql = (dialect: keyof typeof joinSql) =>
  sql`COALESCE((SELECT '"' || ${sql.raw(isoSql[dialect]('completed_at'))} || '"' FROM page_completions WHERE user_id = ${p.user} AND book_id = ${p.book} AND page = ${p.page}), 'null')`;

/** The whole page state in one statement (one read, one snapshot of the tables). */
const pageStateSql = Object.fromEntries(
  (['sqlite', 'postgres'] as const).map((dialect) => [
    dialect,
    sql`SELECT '{"programs":' || (${pageSql(dialect, 'programs')}) || ',"answers":' || (${pageSql(dialect, 'answers')}) || ',"completedAt":' || ${pageCompletedSql(dialect)} || '}' AS state`,
  ]),
) as Record<keyof typeof joinSql, SQL>;

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

/**
 * Limits a write is checked against, in the write itself (db/work.ts's SQL; plugins/config.ts: FOLIO_PAGE_STATE_MAX_BYTES
 * and FOLIO_QUOTA_*).
 */
export interface WorkLimits {
  /** The most a page state may hold, in bytes. */
  pageStateMaxBytes: number;
  /** Program versions and answer attempts one user may store. */
  quotaVersions: number;
  /** Research events one user may store. */
  quotaEvents: number;
  /** Bytes of code, answers and event data one user may store. */
  quotaBytes: number;
}

/** The limits by default (plugins/config.ts), for callers without a configuration (tests, the bench). */
export const defaultWorkLimits: WorkLimits = {
  pageStateMaxBytes: settings.pageStateMaxBytes.schema.default,
  quotaVersions: settings.quotaVersions.schema.default,
  quotaEvents: settings.quotaEvents.schema.default,
  quotaBytes: settings.quotaBytes.schema.default,
};

/**
 * Bytes of `{"programs":{},"answers":{}}` around a page state's entries. The cap counts the programs and answers, what
 * students send; the page's completion time (at most 41 bytes) and the book's experiments come on top.
 */
const pageStateFrame = 28;

/**
 * Bytes a page's latest programs and answers take in its page state, leaving out one activity's or question's (the one
 * being saved replaces it). Programs from the page index alone (`state_bytes`); answers from the lengths of their
 * stored entries, which SQLite reads from the row's header (octet_length) and PostgreSQL from the value's header.
 */
const pageBytesSql = (leaveOut: 'programs' | 'answers') => sql`(SELECT COALESCE(SUM(state_bytes), 0) FROM programs
      WHERE user_id = ${p.user} AND book_id = ${p.book} AND page = ${p.page} AND latest = 1${leaveOut === 'programs' ? sql` AND activity <> ${p.key}` : sql``})
    + (SELECT COALESCE(SUM(COALESCE(octet_length(page_entry), octet_length(answer) + octet_length(COALESCE(page, '')) + 200) + octet_length(question) + 4), 0) FROM answers
      WHERE user_id = ${p.user} AND book_id = ${p.book} AND page = ${p.page} AND latest = 1${leaveOut === 'answers' ? sql` AND question <> ${p.key}` : sql``})`;

/** The page state stays within its cap with the new entry (`entryBytes`); work without a page is in no page state. */
const pageRoomSql = (leaveOut: 'programs' | 'answers') =>
  sql`(CAST(${p.page} AS TEXT) IS NULL OR ${pageBytesSql(leaveOut)} + CAST(${p.entryBytes} AS BIGINT) + ${sql.raw(String(pageStateFrame))} <= CAST(${p.pageMax} AS BIGINT))`;

/** The user's quotas have room for `versions` versions, `events` events and `bytes` bytes more (no usage row: nothing stored yet). */
const quotaRoomSql = sql`NOT EXISTS (SELECT 1 FROM user_usage WHERE user_id = ${p.user} AND (versions + CAST(${p.versions} AS INTEGER) > CAST(${p.maxVersions} AS INTEGER)
    OR events + CAST(${p.events} AS INTEGER) > CAST(${p.maxEvents} AS INTEGER) OR bytes + CAST(${p.bytes} AS BIGINT) > CAST(${p.maxBytes} AS BIGINT)))
  AND CAST(${p.versions} AS INTEGER) <= CAST(${p.maxVersions} AS INTEGER) AND CAST(${p.events} AS INTEGER) <= CAST(${p.maxEvents} AS INTEGER) AND CAST(${p.bytes} AS BIGINT) <= CAST(${p.maxBytes} AS BIGINT)`;

/**
 * SQLite: counts a write's rows in the user's usage, as the step right after its INSERT: `changes()` is the rows that
 * INSERT stored (none when the limits refused it), so the limits are not evaluated a second time (that doubled the SQL
 * of a save on the write thread: 13k saves/s instead of 26k, measured).
 */
const countInserted = sql`INSERT INTO user_usage (user_id, versions, events, bytes)
  SELECT ${p.user}, CAST(${p.versions} AS INTEGER), CAST(${p.events} AS INTEGER), CAST(${p.bytes} AS BIGINT) WHERE changes() > 0
  ON CONFLICT (user_id) DO UPDATE SET versions = user_usage.versions + excluded.versions, events = user_usage.events + excluded.events, bytes = user_usage.bytes + excluded.bytes`;

/**
 * The student's row of the progress grid in the book (grid_summaries, db/grid.ts), kept by the writes that change it:
 * `regrade` bumps its generation (the next grid read recomputes its grades) and raises its time to the write's; `touch`
 * only raises the time (a program or events: no grade changes); `reset` bumps it and forgets its time (a write that
 * may lower the newest time: a completion taken back, a position older than the row's time). `when`: the write
 * stored something (SQLite: `changes() > 0` of the statement before; PostgreSQL: a row of the WITH's `ins`).
 */
const gridRowSql = (kind: 'regrade' | 'touch' | 'reset', time: Placeholder, when: SQL = sql`true`) => {
  const t = sql`CAST(${time} AS BIGINT)`;
  const raised = sql`CASE WHEN grid_summaries.last_at IS NULL OR grid_summaries.last_at < ${t} THEN ${t} ELSE grid_summaries.last_at END`;
  const set = {
    regrade: sql`gen = grid_summaries.gen + 1, last_at = ${raised}`,
    touch: sql`last_at = ${raised}`,
    reset: sql`gen = grid_summaries.gen + 1, last_at = NULL`,
  }[kind];
  return sql`INSERT INTO grid_summaries (user_id, book_id, gen, last_at) SELECT ${p.user}, ${p.book}, 1, ${kind === 'reset' ? sql`NULL` : t} WHERE ${when}
  ON CONFLICT (user_id, book_id) DO UPDATE SET ${set}`;
};
const storedBefore = sql`changes() > 0`;
const storedByIns = sql`EXISTS (SELECT 1 FROM ins)`;

const programRoom = sql`${quotaRoomSql} AND ${pageRoomSql('programs')}`;
const answerRoom = sql`${quotaRoomSql} AND ${pageRoomSql('answers')}`;

// The new version first, marked latest, when the limits allow it (else no row); then the one before it is unmarked. The
// MAX as a plain scalar subquery: one probe of the version index (SQLite's min/max optimisation; as the aggregate of a
// query with a HAVING or in a FROM, it read the whole history: 0.5 ms a save with 4,000 versions, measured).
const insertProgram = sql`INSERT INTO programs (user_id, book_id, activity, version, code, language, page, saved_at, latest, state_bytes)
  SELECT ${p.user}, ${p.book}, ${p.key}, n.version, ${p.code}, ${p.language}, ${p.page}, ${p.savedAt}, 1, CAST(${p.entryBytes} AS INTEGER)
  FROM (SELECT COALESCE((SELECT MAX(version) FROM programs WHERE user_id = ${p.user} AND book_id = ${p.book} AND activity = ${p.key}), 0) + 1 AS version) n
  WHERE ${programRoom}
  RETURNING version`;
// Through the second newest version's row id (one probe of the version index), not a scan of the whole history.
const unmarkPreviousProgram = sql`UPDATE programs SET latest = 0
  WHERE id = (SELECT id FROM programs WHERE user_id = ${p.user} AND book_id = ${p.book} AND activity = ${p.key} ORDER BY version DESC LIMIT 1 OFFSET 1) AND latest = 1`;
const insertAnswer = sql`INSERT INTO answers (user_id, book_id, question, attempt, kind, answer, correct, score, page, saved_at, latest, page_entry)
  SELECT ${p.user}, ${p.book}, ${p.key}, n.attempt, ${p.kind}, ${p.answer}, ${p.correct}, ${p.score}, ${p.page}, ${p.savedAt}, 1, ${p.entry0} || n.attempt || ${p.entry1} || n.attempt || ${p.entry2}
  FROM (SELECT COALESCE((SELECT MAX(attempt) FROM answers WHERE user_id = ${p.user} AND book_id = ${p.book} AND question = ${p.key}), 0) + 1 AS attempt) n
  WHERE ${answerRoom}
  RETURNING attempt`;
const unmarkPreviousAnswer = sql`UPDATE answers SET latest = 0, page_entry = NULL
  WHERE id = (SELECT id FROM answers WHERE user_id = ${p.user} AND book_id = ${p.book} AND question = ${p.key} ORDER BY attempt DESC LIMIT 1 OFFSET 1) AND latest = 1`;

/**
 * PostgreSQL: the INSERT and the count of its rows in one statement (a data-modifying WITH), so that the quota costs no
 * round trip of its own; SQLite, whose steps run on the write thread without round trips, has no such WITH and runs the
 * count as the step right after the INSERT (countInserted).
 */
const withUsageCounted = (insert: SQL, result: string, grid: SQL) => sql`WITH ins AS (${insert}),
  counted AS (INSERT INTO user_usage (user_id, versions, events, bytes)
    SELECT ${p.user}, CAST(${p.versions} AS INTEGER), CAST(${p.events} AS INTEGER), CAST(${p.bytes} AS BIGINT) WHERE EXISTS (SELECT 1 FROM ins)
    ON CONFLICT (user_id) DO UPDATE SET versions = user_usage.versions + excluded.versions, events = user_usage.events + excluded.events, bytes = user_usage.bytes + excluded.bytes),
  grid AS (${grid})
  SELECT ${sql.raw(result)} FROM ins`;

type Statements = readonly (readonly [kind: WriteStep[0], query: SQL])[];

/** Each dialect's statements of a guarded save: the INSERT (its row, or none when refused), the unmarking, the count. */
const guardedSave = (insert: SQL, unmark: SQL, result: string, grid: 'regrade' | 'touch'): Record<Database['dialect'], Statements> => ({
  postgres: [
    ['get', withUsageCounted(insert, result, gridRowSql(grid, p.savedAt, storedByIns))],
    ['run', unmark],
  ],
  sqlite: [
    ['get', insert],
    ['run', countInserted],
    // changes() of the count: 1 when the INSERT stored its row.
    ['run', gridRowSql(grid, p.savedAt, storedBefore)],
    ['run', unmark],
  ],
});
const saveProgramSql = guardedSave(insertProgram, unmarkPreviousProgram, 'version', 'touch');
const saveAnswerSql = guardedSave(insertAnswer, unmarkPreviousAnswer, 'attempt', 'regrade');

/** Statements as the steps of a write, all with the same values. */
const steps = (statements: Statements, values: Values): WriteStep[] => statements.map(([kind, query]) => [kind, query, values]);

const utf8 = (text: string) => Buffer.byteLength(text);
/** Bytes of a JSON value's text, `null` included. */
const jsonBytes = (value: string | null | undefined) => utf8(JSON.stringify(value ?? null));

/**
 * Bytes of a program version's entry in the page state: its code as JSON (escapes included), its names, and a fixed
 * part for the keys, a version of up to 10 digits and the time (the same sum migration 0008 gave stored versions).
 */
function programEntryBytes(activity: string, code: string, language: string | null, page: string | null): number {
  return jsonBytes(code) + 2 * jsonBytes(activity) + jsonBytes(language) + jsonBytes(page) + 101;
}

/** The parameters every guarded write of a user's work shares. */
const limitParams = (userId: string, bookId: string, limits: WorkLimits) => ({
  user: userId,
  book: bookId,
  pageMax: limits.pageStateMaxBytes,
  maxVersions: limits.quotaVersions,
  maxEvents: limits.quotaEvents,
  maxBytes: limits.quotaBytes,
});

/**
 * Why a write of `adding` was refused (read only then): the quota it would pass (413 quota_exceeded), else the page
 * state's cap (413 page_full).
 */
async function refusal(db: Database, userId: string, limits: WorkLimits, adding: { versions: number; events: number; bytes: number }, page?: { name: string; bytes: () => Promise<number> }): Promise<HttpError> {
  const used = (await db.get<{ versions: number; events: number; bytes: number }>(sql`SELECT versions, events, bytes FROM user_usage WHERE user_id = ${userId}`)) ?? { versions: 0, events: 0, bytes: 0 };
  const what = (n: number, adds: number, limit: number, words: string, setting: string) =>
    new HttpError(
      413,
      'quota_exceeded',
      `this account has stored ${n} ${words} of the ${limit} it may (${setting}), and this write adds ${adds}: nothing more can be saved until an administrator raises the quota`,
    );
  if (Number(used.versions) + adding.versions > limits.quotaVersions) return what(Number(used.versions), adding.versions, limits.quotaVersions, 'program versions and answers', 'FOLIO_QUOTA_VERSIONS');
  if (Number(used.events) + adding.events > limits.quotaEvents) return what(Number(used.events), adding.events, limits.quotaEvents, 'events', 'FOLIO_QUOTA_EVENTS');
  if (Number(used.bytes) + adding.bytes > limits.quotaBytes) return what(Number(used.bytes), adding.bytes, limits.quotaBytes, 'bytes', 'FOLIO_QUOTA_BYTES');
  const total = page ? await page.bytes() : 0;
  return new HttpError(
    413,
    'page_full',
    `page "${page?.name}" is full: with this save its programs and answers would take ${total} bytes, over the ${limits.pageStateMaxBytes} a page may hold (FOLIO_PAGE_STATE_MAX_BYTES); ` +
      'save this work on another page, or make room by saving shorter versions of the page\'s other programs',
  );
}

/** The size a page state would have with an entry of `entryBytes` in place of `key`'s. */
const pageBytesWith = (db: Database, table: 'programs' | 'answers', values: Values) => async () =>
  Number((await db.get<{ n: number }>(sql`SELECT ${pageBytesSql(table)} + CAST(${p.entryBytes} AS BIGINT) + ${sql.raw(String(pageStateFrame))} AS n`, values))!.n);

/** What a write of a student's versioned work holds against writers in other processes: the student. */
export const workLock = (userId: string) => `work:${userId}`;

export interface Owner {
  userId: string;
  bookId: string;
}

/**
 * Saves a new version of a program; returns its number and time. Refused (413) when it would pass the user's quotas or
 * its page's cap (`limits`): checked by the INSERT itself, no read before the write. `savedAt` is now, except for work
 * of the past that the demo's class (scripts/demo-class.ts) seeds; the same holds for the other writes' times below.
 */
export async function saveProgram(
  db: Database,
  { userId, bookId }: Owner,
  activity: string,
  p: { code: string; language?: string | undefined; page?: string | undefined },
  limits: WorkLimits = defaultWorkLimits,
  savedAt = Date.now(),
) {
  const page = p.page ?? null;
  const params = Object.assign(limitParams(userId, bookId, limits), {
    key: activity,
    code: p.code,
    language: p.language ?? null,
    page,
    savedAt,
    entryBytes: programEntryBytes(activity, p.code, p.language ?? null, page),
    versions: 1,
    events: 0,
    bytes: utf8(p.code),
  });
  const [row] = await db.writeSteps(steps(saveProgramSql[db.dialect], params), [workLock(userId)]);
  if (!row) throw await refusal(db, userId, limits, params, { name: page!, bytes: pageBytesWith(db, 'programs', params) });
  return { version: (row as { version: number }).version, savedAt: iso(savedAt) };
}

const latestProgramSql = sql`SELECT ${programColumns} FROM programs WHERE user_id = ${p.user} AND book_id = ${p.book} AND activity = ${p.key} ORDER BY version DESC LIMIT 1`;

export async function latestProgram(db: Database, { userId, bookId }: Owner, activity: string): Promise<Program | undefined> {
  const row = await db.get<ProgramRow>(latestProgramSql, { user: userId, book: bookId, key: activity });
  return row && programFromRow(row);
}

const programHistorySql = sql`WITH recent AS (
     SELECT version, octet_length(code) AS size FROM programs
     WHERE user_id = ${p.user} AND book_id = ${p.book} AND activity = ${p.activity} AND version < ${p.before} ORDER BY version DESC LIMIT ${p.limit}),
   sized AS (SELECT version, SUM(size) OVER (ORDER BY version DESC) AS running, ROW_NUMBER() OVER (ORDER BY version DESC) AS n FROM recent),
   page AS (SELECT version FROM sized WHERE running <= ${p.maxBytes} OR n = 1)
   SELECT ${programColumns}, (SELECT COUNT(*) FROM recent) - (SELECT COUNT(*) FROM page) AS more FROM programs
   WHERE user_id = ${p.user} AND book_id = ${p.book} AND activity = ${p.activity} AND version IN (SELECT version FROM page) ORDER BY version DESC`;

/**
 * Versions older than `before` (all when undefined), newest first: at most `limit`, and no more than fit in `maxBytes`
 * of code (at least one). The sizes are summed first from the rows' lengths (octet_length: no code is read), so a page
 * never holds more code in memory than its budget. `next` is the `before` of the following page, or null at the end.
 */
export async function programHistory(
  db: Database,
  { userId, bookId }: Owner,
  activity: string,
  limit: number,
  before: number | undefined,
  maxBytes: number,
): Promise<{ versions: Program[]; next: number | null }> {
  const rows = await db.all<ProgramRow & { more: number }>(programHistorySql, { user: userId, book: bookId, activity, before: before ?? 2 ** 31 - 1, limit, maxBytes });
  const last = rows.at(-1);
  const full = rows.length === limit || (last !== undefined && Number(last.more) > 0);
  return { versions: rows.map(programFromRow), next: full && last && last.version > 1 ? last.version : null };
}

export interface NewAnswer {
  kind: string;
  answer: unknown;
  correct?: boolean | undefined;
  score?: number | undefined;
  page?: string | undefined;
}

/** Records one more attempt at a question; returns its number and time. Refused (413) like a program (saveProgram). */
export async function saveAnswer(db: Database, { userId, bookId }: Owner, question: string, a: NewAnswer, limits: WorkLimits = defaultWorkLimits, savedAt = Date.now()) {
  const at = iso(savedAt);
  const correct = a.correct === undefined ? null : a.correct ? 1 : 0;
  const answer = JSON.stringify(a.answer);
  const page = a.page ?? null;
  const [entry0, entry1, entry2] = answerEntry(question, a.kind, answer, correct, a.score ?? null, page, at) as [string, string, string];
  const params = Object.assign(limitParams(userId, bookId, limits), {
    key: question,
    kind: a.kind,
    answer,
    correct,
    score: a.score ?? null,
    page,
    savedAt,
    entry0,
    entry1,
    entry2,
    // The entry with attempt numbers of up to 10 digits, and its key.
    entryBytes: utf8(entry0) + utf8(entry1) + utf8(entry2) + 20 + utf8(question) + 4,
    versions: 1,
    events: 0,
    bytes: utf8(answer),
  });
  const [row] = await db.writeSteps(steps(saveAnswerSql[db.dialect], params), [workLock(userId)]);
  if (!row) throw await refusal(db, userId, limits, params, { name: page!, bytes: pageBytesWith(db, 'answers', params) });
  return { attempt: (row as { attempt: number }).attempt, savedAt: at };
}

const latestAnswerSql = sql`SELECT ${answerColumns} FROM answers WHERE user_id = ${p.user} AND book_id = ${p.book} AND question = ${p.key} ORDER BY attempt DESC LIMIT 1`;

/** The latest attempt at a question (its number is the count of attempts). */
export async function latestAnswer(db: Database, { userId, bookId }: Owner, question: string): Promise<Answer | undefined> {
  const row = await db.get<AnswerRow>(latestAnswerSql, { user: userId, book: bookId, key: question });
  return row && answerFromRow(row);
}

/**
 * Everything a student has on one page, as the JSON text of `{programs: {activity: latest}, answers: {question:
 * {latest, attempts}}, completedAt}`: made by the database, it needs no row objects, parsing or serialising here (the hot read).
 */
export async function pageStateJson(db: Database, { userId, bookId }: Owner, page: string): Promise<Buffer> {
  return (await db.bytes(pageStateSql[db.dialect], { user: userId, book: bookId, page }))!;
}

const setPositionSql = sql`INSERT INTO positions (user_id, book_id, page, scroll, updated_at) VALUES (${p.user}, ${p.book}, ${p.page}, ${p.scroll}, ${p.updatedAt})
  ON CONFLICT (user_id, book_id) DO UPDATE SET page = excluded.page, scroll = excluded.scroll, updated_at = excluded.updated_at`;

/** A position replaces the previous one, whose time may have been the newest: older than the grid row's time, the row is reset. */
const positionGridSql = sql`INSERT INTO grid_summaries (user_id, book_id, gen, last_at) VALUES (${p.user}, ${p.book}, 1, CAST(${p.updatedAt} AS BIGINT))
  ON CONFLICT (user_id, book_id) DO UPDATE SET
    gen = grid_summaries.gen + CASE WHEN grid_summaries.last_at > CAST(${p.updatedAt} AS BIGINT) THEN 1 ELSE 0 END,
    last_at = CASE WHEN grid_summaries.last_at IS NULL OR grid_summaries.last_at <= CAST(${p.updatedAt} AS BIGINT) THEN CAST(${p.updatedAt} AS BIGINT) ELSE NULL END`;

export async function setPosition(db: Database, { userId, bookId }: Owner, page: string, scroll: number | undefined, updatedAt = Date.now()) {
  const values = { user: userId, book: bookId, page, scroll: scroll ?? null, updatedAt };
  await db.writeSteps([
    ['run', setPositionSql, values],
    ['run', positionGridSql, values],
  ]);
  return { page, scroll: scroll ?? null, updatedAt: iso(updatedAt) };
}

const positionSql = sql`SELECT page, scroll, updated_at FROM positions WHERE user_id = ${p.user} AND book_id = ${p.book}`;

export async function position(db: Queries, { userId, bookId }: Owner) {
  const row = await db.get<Pick<Stored<Position>, 'page' | 'scroll' | 'updated_at'>>(positionSql, { user: userId, book: bookId });
  return row && { page: row.page, scroll: row.scroll, updatedAt: iso(row.updated_at) };
}

const completePageSql = sql`INSERT INTO page_completions (user_id, book_id, page, completed_at) VALUES (${p.user}, ${p.book}, ${p.page}, ${p.completedAt}) ON CONFLICT DO NOTHING`;
const uncompletePageSql = sql`DELETE FROM page_completions WHERE user_id = ${p.user} AND book_id = ${p.book} AND page = ${p.page}`;

const completedGridSql = gridRowSql('regrade', p.completedAt);
const uncompletedGridSql = gridRowSql('reset', p.completedAt);

export async function setPageComplete(db: Database, { userId, bookId }: Owner, page: string, complete: boolean, completedAt = Date.now()): Promise<void> {
  const values = { user: userId, book: bookId, page, completedAt };
  await db.writeSteps([
    ['run', complete ? completePageSql : uncompletePageSql, values],
    ['run', complete ? completedGridSql : uncompletedGridSql, values],
  ]);
}

// `+completed_at`: ordered by the time, SQLite without statistics would read the book's (book_id, completed_at) index for it, every reader's completions.
const completedPagesSql = sql`SELECT page, completed_at FROM page_completions WHERE user_id = ${p.user} AND book_id = ${p.book} ORDER BY +completed_at, page`;

export async function completedPages(db: Queries, { userId, bookId }: Owner) {
  const rows = await db.all<{ page: string; completed_at: number }>(completedPagesSql, { user: userId, book: bookId });
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
 * PostgreSQL takes the columns as arrays, SQLite the rows as one JSON array of arrays. No row when the batch would pass
 * the user's quotas.
 */
const insertEvents = {
  postgres: withUsageCounted(
    sql`INSERT INTO events (user_id, book_id, type, target, page, data, client_time, server_time)
  SELECT ${p.user}, ${p.book}, e.type, e.target, e.page, e.data, e.client_time, ${p.serverTime}
  FROM unnest(CAST(${p.types} AS text[]), CAST(${p.targets} AS text[]), CAST(${p.pages} AS text[]), CAST(${p.datas} AS text[]), CAST(${p.clientTimes} AS bigint[])) AS e(type, target, page, data, client_time)
  WHERE ${quotaRoomSql} RETURNING 1`,
    'COUNT(*) AS n',
    gridRowSql('touch', p.serverTime, storedByIns),
  ),
  sqlite: sql`INSERT INTO events (user_id, book_id, type, target, page, data, client_time, server_time)
  SELECT ${p.user}, ${p.book}, e.value ->> 0, e.value ->> 1, e.value ->> 2, e.value ->> 3, e.value ->> 4, ${p.serverTime} FROM json_each(${p.rows}) AS e
  WHERE ${quotaRoomSql} ORDER BY e.key`,
};

const eventsGridSql = gridRowSql('touch', p.serverTime, storedBefore);

/** Stores a batch of events, all or none, stamped with the server's time; refused (413) past the user's quotas. */
export async function saveEvents(db: Database, { userId, bookId }: Owner, batch: NewEvent[], limits: WorkLimits = defaultWorkLimits, serverTime = Date.now()): Promise<number> {
  const rows = batch.map((e) => [e.type, e.target ?? null, e.page ?? null, e.data ?? null, e.clientTime ?? null] as const);
  const columns =
    db.dialect === 'postgres'
      ? Object.fromEntries(['types', 'targets', 'pages', 'datas', 'clientTimes'].map((name, i) => [name, rows.map((r) => r[i])]))
      : { rows: JSON.stringify(rows) };
  let bytes = 0;
  for (const e of batch) if (e.data !== undefined) bytes += utf8(e.data);
  const params = Object.assign(limitParams(userId, bookId, limits), { serverTime, versions: 0, events: batch.length, bytes }, columns);
  let stored: number;
  if (db.dialect === 'postgres') {
    const [row] = await db.writeSteps([['get', insertEvents.postgres, params]]);
    stored = Number((row as { n: number | string }).n);
  } else {
    [stored] = (await db.writeSteps([
      ['run', insertEvents.sqlite, params],
      ['run', countInserted, params],
      ['run', eventsGridSql, params],
    ])) as [number];
  }
  if (stored === 0) throw await refusal(db, userId, limits, params);
  return batch.length;
}

/** The tables of versioned work: the id of a version's activity or question within a book, its counter, the rest. */
const versionedTables = [
  { table: 'programs', key: 'activity', counter: 'version', rest: 'code, language, page, saved_at, latest, state_bytes' },
  { table: 'answers', key: 'question', counter: 'attempt', rest: 'kind, answer, correct, score, page, saved_at, latest' },
];

/**
 * Moving one table's versions between students: copied with their numbers placed after the receiving student's own
 * (id order, so the numbering keeps its order), removed from the sender, and where both had a latest version the
 * moved one stays latest. Page entries are not copied (their numbers change) and those unmarked are cleared: the
 * page state builds the moved rows' entries from their columns.
 */
const moveVersionsSql = (from: string, into: string) =>
  versionedTables.map(({ table, key, counter, rest }) => {
    const [t, k, c] = [sql.raw(table), sql.raw(key), sql.raw(counter)];
    return {
      insert: sql`INSERT INTO ${t} (user_id, book_id, ${k}, ${c}, ${sql.raw(rest)})
     SELECT ${into}, w.book_id, w.${k},
            w.${c} + COALESCE((SELECT MAX(o.${c}) FROM ${t} o WHERE o.user_id = ${into} AND o.book_id = w.book_id AND o.${k} = w.${k}), 0),
            ${sql.raw(rest.split(', ').map((column) => `w.${column}`).join(', '))}
     FROM ${t} w WHERE w.user_id = ${from} ORDER BY w.id`,
      remove: sql`DELETE FROM ${t} WHERE user_id = ${from}`,
      unmark: sql`UPDATE ${t} SET latest = 0${sql.raw(table === 'answers' ? ', page_entry = NULL' : '')} WHERE user_id = ${into} AND latest = 1
     AND ${c} < (SELECT MAX(o.${c}) FROM ${t} o WHERE o.user_id = ${into} AND o.book_id = ${t}.book_id AND o.${k} = ${t}.${k})`,
    };
  });

/**
 * Moves all work of `from` to `into` (inside the caller's write). Versions and attempt numbers of `from` are
 * placed after those of `into`, so nothing collides and the moved work counts as the latest; a position keeps
 * the newer one; completed pages are united.
 */
export async function moveWork(tx: Queries, from: string, into: string): Promise<void> {
  // What `from` stored is now stored by `into` (their sum may pass a quota: nothing is lost, later writes are refused).
  await tx.run(
    sql`INSERT INTO user_usage (user_id, versions, events, bytes) SELECT ${into}, versions, events, bytes FROM user_usage WHERE user_id = ${from} AND true
     ON CONFLICT (user_id) DO UPDATE SET versions = user_usage.versions + excluded.versions, events = user_usage.events + excluded.events, bytes = user_usage.bytes + excluded.bytes`,
  );
  await tx.run(sql`DELETE FROM user_usage WHERE user_id = ${from}`);
  for (const move of moveVersionsSql(from, into)) {
    await tx.run(move.insert);
    await tx.run(move.remove);
    await tx.run(move.unmark);
  }
  await tx.run(sql`UPDATE events SET user_id = ${into} WHERE user_id = ${from}`);
  await tx.run(
    sql`INSERT INTO positions (user_id, book_id, page, scroll, updated_at)
     SELECT ${into}, book_id, page, scroll, updated_at FROM positions WHERE user_id = ${from} AND true
     ON CONFLICT (user_id, book_id) DO UPDATE SET page = excluded.page, scroll = excluded.scroll, updated_at = excluded.updated_at
     WHERE excluded.updated_at > positions.updated_at`,
  );
  await tx.run(sql`DELETE FROM positions WHERE user_id = ${from}`);
  await tx.run(
    sql`INSERT INTO page_completions (user_id, book_id, page, completed_at) SELECT ${into}, book_id, page, completed_at FROM page_completions WHERE user_id = ${from} AND true ON CONFLICT DO NOTHING`,
  );
  await tx.run(sql`DELETE FROM page_completions WHERE user_id = ${from}`);
  // The grid rows: `from` has no work left; `into`'s grades and time are recomputed at the next read.
  await tx.run(sql`DELETE FROM grid_summaries WHERE user_id = ${from}`);
  // Every book's, with a row made where `into` had none: a grid read that began before the move stores nothing.
  await tx.run(
    sql`INSERT INTO grid_summaries (user_id, book_id, gen) SELECT ${into}, id, 1 FROM books WHERE true
     ON CONFLICT (user_id, book_id) DO UPDATE SET gen = grid_summaries.gen + 1, last_at = NULL`,
  );
}
