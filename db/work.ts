import { perDatabase, type Database } from './index.js';

/** Times leave the database as ISO strings. */
export const iso = (ms: number) => new Date(ms).toISOString();
/** The same, computed by SQLite from a column of milliseconds (integer arithmetic: no float rounding). */
const isoSql = (column: string) => `strftime('%Y-%m-%dT%H:%M:%S', ${column} / 1000, 'unixepoch') || printf('.%03dZ', ${column} % 1000)`;

export interface Program {
  activity: string;
  version: number;
  code: string;
  language: string | null;
  page: string | null;
  savedAt: string;
}

export interface Answer {
  question: string;
  attempt: number;
  kind: string;
  answer: unknown;
  correct: boolean | null;
  score: number | null;
  page: string | null;
  savedAt: string;
}

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

/** Statements prepared once per database: the hot paths of the API. */
const statements = perDatabase(({ sqlite }) => {
  const programColumns = 'activity, version, code, language, page, saved_at';
  const answerColumns = 'question, attempt, kind, answer, correct, score, page, saved_at';
  return {
    insertProgram: sqlite.prepare<[string, string, string, string, string | null, string | null, number, string, string, string], { version: number }>(
      `INSERT INTO programs (user_id, book_id, activity, version, code, language, page, saved_at, latest)
       SELECT ?, ?, ?, COALESCE(MAX(version), 0) + 1, ?, ?, ?, ?, 1 FROM programs WHERE user_id = ? AND book_id = ? AND activity = ?
       RETURNING version`,
    ),
    // Through the newest version's row id (one probe of the version index), not a scan of the whole history.
    unmarkLatestProgram: sqlite.prepare<[string, string, string]>(
      'UPDATE programs SET latest = 0 WHERE id = (SELECT id FROM programs WHERE user_id = ? AND book_id = ? AND activity = ? ORDER BY version DESC LIMIT 1)',
    ),
    latestProgram: sqlite.prepare<[string, string, string], ProgramRow>(
      `SELECT ${programColumns} FROM programs WHERE user_id = ? AND book_id = ? AND activity = ? ORDER BY version DESC LIMIT 1`,
    ),
    programHistory: sqlite.prepare<[string, string, string, number, number], ProgramRow>(
      `SELECT ${programColumns} FROM programs WHERE user_id = ? AND book_id = ? AND activity = ? AND version < ? ORDER BY version DESC LIMIT ?`,
    ),
    insertAnswer: sqlite.prepare<[string, string, string, string, string, number | null, number | null, string | null, number, string, string, string], { attempt: number }>(
      `INSERT INTO answers (user_id, book_id, question, attempt, kind, answer, correct, score, page, saved_at, latest)
       SELECT ?, ?, ?, COALESCE(MAX(attempt), 0) + 1, ?, ?, ?, ?, ?, ?, 1 FROM answers WHERE user_id = ? AND book_id = ? AND question = ?
       RETURNING attempt`,
    ),
    unmarkLatestAnswer: sqlite.prepare<[string, string, string]>(
      'UPDATE answers SET latest = 0 WHERE id = (SELECT id FROM answers WHERE user_id = ? AND book_id = ? AND question = ? ORDER BY attempt DESC LIMIT 1)',
    ),
    latestAnswer: sqlite.prepare<[string, string, string], AnswerRow>(
      `SELECT ${answerColumns} FROM answers WHERE user_id = ? AND book_id = ? AND question = ? ORDER BY attempt DESC LIMIT 1`,
    ),
    // The page state is built as JSON by SQLite in one statement per table, from the rows marked latest: one range
    // scan of a partial index, as long as a page has activities and questions, however long their histories.
    programsOnPage: sqlite
      .prepare<[string, string, string], string>(
        `SELECT json_group_object(activity, json_object('activity', activity, 'version', version, 'code', code, 'language', language,
                'page', page, 'savedAt', ${isoSql('saved_at')}))
         FROM programs WHERE user_id = ? AND book_id = ? AND page = ? AND latest = 1`,
      )
      .pluck(),
    answersOnPage: sqlite
      .prepare<[string, string, string], string>(
        `SELECT json_group_object(question, json_object('latest', json_object('question', question, 'attempt', attempt, 'kind', kind,
                'answer', json(answer), 'correct', CASE correct WHEN 1 THEN json('true') WHEN 0 THEN json('false') END, 'score', score,
                'page', page, 'savedAt', ${isoSql('saved_at')}), 'attempts', attempt))
         FROM answers WHERE user_id = ? AND book_id = ? AND page = ? AND latest = 1`,
      )
      .pluck(),
    upsertPosition: sqlite.prepare<[string, string, string, number | null, number]>(
      `INSERT INTO positions (user_id, book_id, page, scroll, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (user_id, book_id) DO UPDATE SET page = excluded.page, scroll = excluded.scroll, updated_at = excluded.updated_at`,
    ),
    position: sqlite.prepare<[string, string], { page: string; scroll: number | null; updated_at: number }>(
      'SELECT page, scroll, updated_at FROM positions WHERE user_id = ? AND book_id = ?',
    ),
    markComplete: sqlite.prepare<[string, string, string, number]>(
      'INSERT INTO page_completions (user_id, book_id, page, completed_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
    ),
    unmarkComplete: sqlite.prepare<[string, string, string]>('DELETE FROM page_completions WHERE user_id = ? AND book_id = ? AND page = ?'),
    completedPages: sqlite.prepare<[string, string], { page: string; completed_at: number }>(
      'SELECT page, completed_at FROM page_completions WHERE user_id = ? AND book_id = ? ORDER BY completed_at, page',
    ),
    insertEvent: sqlite.prepare<[string, string, string, string | null, string | null, string | null, number | null, number]>(
      'INSERT INTO events (user_id, book_id, type, target, page, data, client_time, server_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ),
  };
});

export interface Owner {
  userId: string;
  bookId: string;
}

/** Saves a new version of a program; returns its number and time. */
export async function saveProgram(db: Database, { userId, bookId }: Owner, activity: string, p: { code: string; language?: string | undefined; page?: string | undefined }) {
  const savedAt = Date.now();
  const s = statements(db);
  const { version } = await db.write(() => {
    s.unmarkLatestProgram.run(userId, bookId, activity);
    return s.insertProgram.get(userId, bookId, activity, p.code, p.language ?? null, p.page ?? null, savedAt, userId, bookId, activity)!;
  });
  return { version, savedAt: iso(savedAt) };
}

export async function latestProgram(db: Database, { userId, bookId }: Owner, activity: string): Promise<Program | undefined> {
  const row = statements(db).latestProgram.get(userId, bookId, activity);
  return row && programFromRow(row);
}

/** Versions older than `before` (all when undefined), newest first. */
export async function programHistory(db: Database, { userId, bookId }: Owner, activity: string, limit: number, before?: number): Promise<Program[]> {
  return statements(db).programHistory.all(userId, bookId, activity, before ?? Number.MAX_SAFE_INTEGER, limit).map(programFromRow);
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
  const correct = a.correct === undefined ? null : a.correct ? 1 : 0;
  const s = statements(db);
  const json = JSON.stringify(a.answer);
  const { attempt } = await db.write(() => {
    s.unmarkLatestAnswer.run(userId, bookId, question);
    return s.insertAnswer.get(userId, bookId, question, a.kind, json, correct, a.score ?? null, a.page ?? null, savedAt, userId, bookId, question)!;
  });
  return { attempt, savedAt: iso(savedAt) };
}

/** The latest attempt at a question (its number is the count of attempts). */
export async function latestAnswer(db: Database, { userId, bookId }: Owner, question: string): Promise<Answer | undefined> {
  const row = statements(db).latestAnswer.get(userId, bookId, question);
  return row && answerFromRow(row);
}

/**
 * Everything a student has on one page, as the JSON text of `{programs: {activity: latest}, answers: {question:
 * {latest, attempts}}}`: made by SQLite, it needs no row objects, parsing or serialising here (the hot read).
 */
export async function pageStateJson(db: Database, { userId, bookId }: Owner, page: string): Promise<string> {
  const s = statements(db);
  return `{"programs":${s.programsOnPage.get(userId, bookId, page)},"answers":${s.answersOnPage.get(userId, bookId, page)}}`;
}

export async function setPosition(db: Database, { userId, bookId }: Owner, page: string, scroll: number | undefined) {
  const updatedAt = Date.now();
  const upsert = statements(db).upsertPosition;
  await db.write(() => upsert.run(userId, bookId, page, scroll ?? null, updatedAt));
  return { page, scroll: scroll ?? null, updatedAt: iso(updatedAt) };
}

export async function position(db: Database, { userId, bookId }: Owner) {
  const row = statements(db).position.get(userId, bookId);
  return row && { page: row.page, scroll: row.scroll, updatedAt: iso(row.updated_at) };
}

export async function setPageComplete(db: Database, { userId, bookId }: Owner, page: string, complete: boolean): Promise<void> {
  const s = statements(db);
  const now = Date.now();
  await db.write(() => (complete ? s.markComplete.run(userId, bookId, page, now) : s.unmarkComplete.run(userId, bookId, page)));
}

export async function completedPages(db: Database, { userId, bookId }: Owner) {
  return statements(db).completedPages.all(userId, bookId).map((r) => ({ page: r.page, completedAt: iso(r.completed_at) }));
}

export interface NewEvent {
  type: string;
  target?: string | undefined;
  page?: string | undefined;
  data?: unknown;
  clientTime?: number | undefined;
}

/** Stores a batch of events, all or none, stamped with the server's time. */
export async function saveEvents(db: Database, { userId, bookId }: Owner, batch: NewEvent[]): Promise<number> {
  const insert = statements(db).insertEvent;
  const serverTime = Date.now();
  const rows = batch.map((e) => [userId, bookId, e.type, e.target ?? null, e.page ?? null, e.data === undefined ? null : JSON.stringify(e.data), e.clientTime ?? null, serverTime] as const);
  await db.write(() => {
    for (const row of rows) insert.run(...row);
  });
  return batch.length;
}

/**
 * Moves all work of `from` to `into` (inside the caller's transaction). Versions and attempt numbers of
 * `from` are placed after those of `into`, so nothing collides and the moved work counts as the latest;
 * a position keeps the newer one; completed pages are united.
 */
export function moveWork(db: Database, from: string, into: string): void {
  const { sqlite } = db;
  sqlite
    .prepare(
      `INSERT INTO programs (user_id, book_id, activity, version, code, language, page, saved_at, latest)
       SELECT @into, p.book_id, p.activity,
              p.version + COALESCE((SELECT MAX(q.version) FROM programs q WHERE q.user_id = @into AND q.book_id = p.book_id AND q.activity = p.activity), 0),
              p.code, p.language, p.page, p.saved_at, p.latest
       FROM programs p WHERE p.user_id = @from ORDER BY p.id`,
    )
    .run({ from, into });
  sqlite.prepare('DELETE FROM programs WHERE user_id = ?').run(from);
  // The moved versions come after the account's own: where both had a latest one, the moved one stays latest.
  sqlite
    .prepare(
      `UPDATE programs SET latest = 0 WHERE user_id = @into AND latest = 1
       AND version < (SELECT MAX(q.version) FROM programs q WHERE q.user_id = @into AND q.book_id = programs.book_id AND q.activity = programs.activity)`,
    )
    .run({ into });
  sqlite
    .prepare(
      `INSERT INTO answers (user_id, book_id, question, attempt, kind, answer, correct, score, page, saved_at, latest)
       SELECT @into, a.book_id, a.question,
              a.attempt + COALESCE((SELECT MAX(b.attempt) FROM answers b WHERE b.user_id = @into AND b.book_id = a.book_id AND b.question = a.question), 0),
              a.kind, a.answer, a.correct, a.score, a.page, a.saved_at, a.latest
       FROM answers a WHERE a.user_id = @from ORDER BY a.id`,
    )
    .run({ from, into });
  sqlite.prepare('DELETE FROM answers WHERE user_id = ?').run(from);
  sqlite
    .prepare(
      `UPDATE answers SET latest = 0 WHERE user_id = @into AND latest = 1
       AND attempt < (SELECT MAX(b.attempt) FROM answers b WHERE b.user_id = @into AND b.book_id = answers.book_id AND b.question = answers.question)`,
    )
    .run({ into });
  sqlite.prepare('UPDATE events SET user_id = ? WHERE user_id = ?').run(into, from);
  sqlite
    .prepare(
      `INSERT INTO positions (user_id, book_id, page, scroll, updated_at)
       SELECT ?, book_id, page, scroll, updated_at FROM positions WHERE user_id = ? AND true
       ON CONFLICT (user_id, book_id) DO UPDATE SET page = excluded.page, scroll = excluded.scroll, updated_at = excluded.updated_at
       WHERE excluded.updated_at > positions.updated_at`,
    )
    .run(into, from);
  sqlite.prepare('DELETE FROM positions WHERE user_id = ?').run(from);
  sqlite
    .prepare('INSERT INTO page_completions (user_id, book_id, page, completed_at) SELECT ?, book_id, page, completed_at FROM page_completions WHERE user_id = ? AND true ON CONFLICT DO NOTHING')
    .run(into, from);
  sqlite.prepare('DELETE FROM page_completions WHERE user_id = ?').run(from);
}
