import { sql, type SQL } from 'drizzle-orm';
import type { Static } from 'typebox';
import { commonAnswers, markChoices } from '../lib/answer-counts.js';
import type { RegisteredToc } from '../lib/book-registry.js';
import type { CourseProgressReply, CourseQuestionSummaryReply, CourseStudentProgress, CourseStudentWorkReply, CourseWindow, ReportToc } from '../schemas/reports.js';
import type { CourseRow } from './courses.js';
import type { Database, Dialect } from './index.js';
import { choiceDistribution, studentWork, type StudentIdentity, type StudentWork } from './reports.js';
import { findUserById } from './users.js';
import type { User } from './schema.js';
import { answerFromRow, iso, programFromRow, type Answer, type AnswerRow, type Program, type ProgramRow } from './work.js';
import { maxInt32 } from '../schemas/work.js';

/**
 * What a course's staff see of its enrolled students (routes/course-reports.ts): the progress grid against the book's
 * table of contents, how a question went, one student's work. A student's work belongs to (student, book): a course
 * reads it through its enrolments, limited to the course's dates when it has them (its window). Each query starts
 * from the course's enrolments (their primary key is (course_id, user_id): a course's students in user-id order, the
 * grid's cursor) and probes the work tables' per-user indexes: its cost grows with the course's students, not with
 * the book's other readers.
 */

export type CourseProgress = Static<typeof CourseProgressReply>;
export type CourseQuestionSummary = Static<typeof CourseQuestionSummaryReply>;
export type CourseStudentWork = Static<typeof CourseStudentWorkReply>;
type StudentProgress = Static<typeof CourseStudentProgress>;

/** The work a course's reports read: saved at or after `since` and before `until` (ms since the epoch). */
export interface Window {
  since: number;
  until: number;
}

/** No bound: every time Folio stores (ms since the epoch, which both databases hold as 64-bit integers). */
export const always: Window = { since: 0, until: Number.MAX_SAFE_INTEGER };

/** A course's window, or undefined when it has no dates (then nothing is left out). */
export function windowOf(course: Pick<CourseRow, 'startsAt' | 'endsAt'>): Window | undefined {
  if (course.startsAt === null && course.endsAt === null) return undefined;
  return { since: course.startsAt ?? always.since, until: course.endsAt ?? always.until };
}

/** The window as the replies show it. */
export const windowReply = (course: Pick<CourseRow, 'startsAt' | 'endsAt'>): Static<typeof CourseWindow> => ({
  startsAt: course.startsAt === null ? null : iso(course.startsAt),
  endsAt: course.endsAt === null ? null : iso(course.endsAt),
});

/** A table of contents as the reports grade with it: each page's place and worth, each question's page, points and kind. */
export interface TocIndex {
  toc: Static<typeof ReportToc>;
  pageAt: Map<string, number>;
  questions: Map<string, { page: number; points: number; kind: string }>;
  activities: Set<string>;
}

const noToc: TocIndex = { toc: { importedAt: null, pages: [], questions: 0, points: 0 }, pageAt: new Map(), questions: new Map(), activities: new Set() };
/** Built once per table of contents the book registry holds (a re-import is a new object). */
const indexes = new WeakMap<RegisteredToc, TocIndex>();

/** What the reports grade with: a page's worth is its questions' points, or 1 (its completion) when it lists none. */
export function tocIndex(registered: RegisteredToc | undefined): TocIndex {
  if (!registered) return noToc;
  let index = indexes.get(registered);
  if (index) return index;
  index = { toc: { importedAt: iso(registered.importedAt), pages: [], questions: 0, points: 0 }, pageAt: new Map(), questions: new Map(), activities: new Set() };
  for (const chapter of registered.chapters) {
    for (const page of chapter.pages) {
      const at = index.toc.pages.length;
      let points = 0;
      for (const q of page.questions) {
        index.questions.set(q.id, { page: at, points: q.points, kind: q.kind });
        points += q.points;
      }
      for (const a of page.activities) index.activities.add(a.id);
      const worth = page.questions.length > 0 ? points : 1;
      index.pageAt.set(page.id, at);
      index.toc.pages.push({ id: page.id, title: page.title, chapter: chapter.id, questions: page.questions.length, points: worth });
      index.toc.questions += page.questions.length;
      index.toc.points += worth;
    }
  }
  indexes.set(registered, index);
  return index;
}

/** What an answer earns of its points: its score (read as a fraction, 0 to 1) when it has one, else all when correct. */
const fraction = (correct: number | null, score: number | null): number => (score !== null ? Math.min(1, Math.max(0, score)) : correct === 1 ? 1 : 0);
/** Points summed from fractions, without the float noise (0.1 + 0.2). */
const rounded = (points: number): number => Math.round(points * 1e6) / 1e6;

/** A student's latest attempt at a question, as a page's grade reads it. */
export interface GradedAttempt {
  question: string;
  correct: 0 | 1 | null;
  score: number | null;
}

/** One page's grade for one student, by the rules of the progress grid (LTI score passback sends it: db/lti-scores.ts). */
export interface PageGrade {
  /** Whether the table of contents lists the page (else it is worth its completion). */
  listed: boolean;
  earned: number;
  possible: number;
  completed: boolean;
  /** The page's questions attempted, and of them those without a correctness or a score (for a person to grade). */
  attempted: number;
  ungraded: number;
}

/**
 * A page's grade from the student's latest attempts at its questions (`attempts`: the page's listed questions, or for
 * a page the table of contents does not list, the attempts saved with that page) and its completion: the progress
 * grid's rules (a listed question earns its points times its fraction; a page without questions, listed or not, is
 * worth its completion).
 */
export function pageGrade(index: TocIndex, page: string, attempts: readonly GradedAttempt[], completed: boolean): PageGrade {
  const at = index.pageAt.get(page);
  const listed = at !== undefined ? index.toc.pages[at]! : undefined;
  let earned = 0;
  let attempted = 0;
  let ungraded = 0;
  for (const a of attempts) {
    const question = index.questions.get(a.question);
    if (listed ? question?.page !== at : question !== undefined) continue;
    attempted++;
    // An attempt at an unlisted question (on a page graded by its completion) weighs nothing, so leaves no grading to do.
    if (question && a.correct === null && a.score === null) ungraded++;
    if (question) earned += question.points * fraction(a.correct, a.score);
  }
  const byQuestions = listed !== undefined && listed.questions > 0;
  return { listed: listed !== undefined, earned: byQuestions ? rounded(earned) : completed ? 1 : 0, possible: listed?.points ?? 1, completed, attempted, ungraded };
}

const p = sql.placeholder;
/** SQLite: CROSS JOIN keeps the enrolments outermost, so each student is one probe of the work table's per-user index. */
export const joinOf: Record<Dialect, SQL> = { sqlite: sql.raw('CROSS JOIN'), postgres: sql.raw('JOIN') };
/** The course's students of one page of the grid: user ids after the cursor, up to the page's last. */
const pageOfStudents = sql`e.course_id = ${p('course')} AND e.user_id > ${p('after')} AND e.user_id <= ${p('last')}`;
/**
 * A time within the window, as a filter on the rows a student's index found: the unary `+` keeps SQLite from reaching
 * for a table's (book_id, time) index instead, which without statistics (Folio runs no ANALYZE) it takes for the
 * better one and which reads every reader of the book in the window. `MAX(+time)` and `ORDER BY +time` likewise.
 * `indexed`: the index has the time after the student (events), use it.
 */
export const inWindow = (column: string, indexed = false) => {
  const value = sql.raw(indexed ? column : `+${column}`);
  return sql`${value} >= ${p('since')} AND ${value} < ${p('until')}`;
};

export type IdentityRow = Pick<User, 'id' | 'username' | 'name' | 'email' | 'role' | 'anonymous'>;
export const identity = (r: IdentityRow): StudentIdentity => ({ id: r.id, username: r.username, name: r.name, email: r.email, role: r.role, anonymous: r.anonymous === 1 });

const enrolledPageSql = sql`SELECT u.id, u.username, u.name, u.email, u.role, u.anonymous FROM enrolments e JOIN users u ON u.id = e.user_id
  WHERE e.course_id = ${p('course')} AND e.user_id > ${p('after')} ORDER BY e.user_id LIMIT ${p('limit')}`;

interface GridAnswer {
  question: string;
  attempt: number;
  page: string | null;
  correct: 0 | 1 | null;
  score: number | null;
  savedAt: number;
}

/**
 * A page of the grid in one statement, one row a student: their latest attempt per question and their completions each
 * as one text (fields split by U+001F, records by U+001E, which no id holds), and the newest times of the rest of
 * their work. Text built by the database instead of a row an attempt: a page of 50 students of a 3,000-question book
 * is some 90,000 attempts, which as rows cost four times as much to read (bench/RESULTS.md, "Course reports").
 * Without a window the attempts are the rows marked latest (the partial index of page states); within one, the
 * newest attempt saved in it (SQLite: MAX's row of each group; PostgreSQL: DISTINCT ON).
 */
export function gridSql(dialect: Dialect, windowed: boolean, students: SQL = pageOfStudents): SQL {
  const text = (column: string) => (dialect === 'postgres' ? `${column}::text` : column);
  const [us, rs] = dialect === 'postgres' ? ['chr(31)', 'chr(30)'] : ['char(31)', 'char(30)'];
  const concat = (items: string) => (dialect === 'postgres' ? `string_agg(${items}, ${rs})` : `group_concat(${items}, ${rs})`);
  const record = (...columns: string[]) => columns.join(` || ${us} || `);
  const attempt = record('a.question', text('a.attempt'), `COALESCE(${text('a.correct')}, '')`, `COALESCE(${text('a.score')}, '')`, text('a.saved_at'), "COALESCE(a.page, '')");
  const mine = (alias: string) => sql`${sql.raw(alias)}.user_id = e.user_id AND ${sql.raw(alias)}.book_id = ${p('book')}`;
  const answers = !windowed
    ? sql`SELECT ${sql.raw(concat(attempt))} FROM answers a WHERE ${mine('a')} AND a.latest = 1`
    : dialect === 'sqlite'
      ? sql`SELECT ${sql.raw(concat('r'))} FROM (SELECT MAX(a.attempt), ${sql.raw(attempt)} AS r FROM answers a WHERE ${mine('a')} AND ${inWindow('a.saved_at')} GROUP BY a.question)`
      : sql`SELECT ${sql.raw(concat('r'))} FROM (SELECT DISTINCT ON (a.question) ${sql.raw(attempt)} AS r FROM answers a WHERE ${mine('a')} AND ${inWindow('a.saved_at')}
          ORDER BY a.question, a.attempt DESC) latest`;
  return sql`SELECT e.user_id, (${answers}) AS answers,
    (SELECT ${sql.raw(concat(record('c.page', text('c.completed_at'))))} FROM page_completions c WHERE ${mine('c')} AND ${inWindow('c.completed_at')}) AS completions,
    (SELECT MAX(+w.saved_at) FROM programs w WHERE ${mine('w')} AND ${inWindow('w.saved_at')}) AS programs,
    (SELECT MAX(v.server_time) FROM events v WHERE ${mine('v')} AND ${inWindow('v.server_time', true)}) AS events,
    (SELECT s.updated_at FROM positions s WHERE ${mine('s')} AND ${inWindow('s.updated_at')}) AS position
  FROM enrolments e WHERE ${students}`;
}
/** One student's row of the grid (GET /api/courses/:course/students/:user/progress). */
const oneStudent = sql`e.course_id = ${p('course')} AND e.user_id = ${p('user')}`;
const gridQueries = {
  all: { sqlite: gridSql('sqlite', false), postgres: gridSql('postgres', false) },
  window: { sqlite: gridSql('sqlite', true), postgres: gridSql('postgres', true) },
  studentAll: { sqlite: gridSql('sqlite', false, oneStudent), postgres: gridSql('postgres', false, oneStudent) },
  studentWindow: { sqlite: gridSql('sqlite', true, oneStudent), postgres: gridSql('postgres', true, oneStudent) },
};

export interface GridRow {
  user_id: string;
  answers: string | null;
  completions: string | null;
  programs: number | null;
  events: number | null;
  position: number | null;
}

/** The attempts of a grid row's text. */
function attemptsOf(text: string | null): GridAnswer[] {
  if (!text) return [];
  return text.split('\x1e').map((item) => {
    const [question, attempt, correct, score, savedAt, page] = item.split('\x1f') as [string, string, string, string, string, string];
    return { question, attempt: Number(attempt), correct: correct === '' ? null : correct === '1' ? 1 : 0, score: score === '' ? null : Number(score), savedAt: Number(savedAt), page: page === '' ? null : page };
  });
}

/** The completions of a grid row's text. */
function completionsOf(text: string | null): { page: string; completedAt: number }[] {
  if (!text) return [];
  return text.split('\x1e').map((item) => {
    const [page, completedAt] = item.split('\x1f') as [string, string];
    return { page, completedAt: Number(completedAt) };
  });
}

interface PageTally {
  completed: boolean;
  attempted: number;
  correct: number;
  earned: number;
}
const tally = (): PageTally => ({ completed: false, attempted: 0, correct: 0, earned: 0 });

/**
 * One page of a course's progress grid: its enrolled students after the cursor `after` (a user id; '' for the first
 * page), at most `limit`, by user id, each against the table of contents. `next` is the last student's id when more
 * follow (the route encodes it).
 */
export async function courseProgress(
  db: Database,
  course: CourseRow,
  registered: RegisteredToc | undefined,
  page: { limit: number; after: string },
): Promise<{ toc: Static<typeof ReportToc>; students: StudentProgress[]; next: string | null }> {
  const index = tocIndex(registered);
  const enrolled = await db.all<IdentityRow>(enrolledPageSql, { course: course.id, after: page.after, limit: page.limit + 1 });
  const more = enrolled.length > page.limit;
  if (more) enrolled.pop();
  if (enrolled.length === 0) return { toc: index.toc, students: [], next: null };
  const window = windowOf(course);
  const values = { course: course.id, book: course.bookId, after: page.after, last: enrolled.at(-1)!.id, ...(window ?? always) };
  const rows = await db.all<GridRow>((window ? gridQueries.window : gridQueries.all)[db.dialect], values);
  return { toc: index.toc, students: gradeStudents(index, enrolled, rows), next: more ? enrolled.at(-1)!.id : null };
}

/** The grid's rows graded against the table of contents, one a student of `enrolled` (in its order). */
export function gradeStudents(index: TocIndex, enrolled: IdentityRow[], rows: GridRow[]): StudentProgress[] {
  interface Work {
    pages: Map<number, PageTally>;
    unlistedPages: Map<string, PageTally>;
    unlistedQuestions: GridAnswer[];
    last: number;
  }
  const work = new Map<string, Work>(enrolled.map((u) => [u.id, { pages: new Map(), unlistedPages: new Map(), unlistedQuestions: [], last: 0 }]));
  const of = <K>(map: Map<K, PageTally>, key: K) => {
    let found = map.get(key);
    if (!found) map.set(key, (found = tally()));
    return found;
  };
  for (const row of rows) {
    const w = work.get(row.user_id);
    if (!w) continue; // enrolled since the page's first query
    w.last = Math.max(row.programs ?? 0, row.events ?? 0, row.position ?? 0);
    for (const a of attemptsOf(row.answers)) {
      if (a.savedAt > w.last) w.last = a.savedAt;
      const listed = index.questions.get(a.question);
      let page: PageTally;
      if (listed) {
        page = of(w.pages, listed.page);
        page.earned += listed.points * fraction(a.correct, a.score);
      } else {
        w.unlistedQuestions.push(a);
        // An unlisted question on a listed page is listed with the student's unlisted questions and counts in neither the page's tally nor its points.
        if (a.page === null || index.pageAt.has(a.page)) continue;
        page = of(w.unlistedPages, a.page);
      }
      page.attempted++;
      if (a.correct === 1) page.correct++;
    }
    for (const c of completionsOf(row.completions)) {
      if (c.completedAt > w.last) w.last = c.completedAt;
      const at = index.pageAt.get(c.page);
      (at === undefined ? of(w.unlistedPages, c.page) : of(w.pages, at)).completed = true;
    }
  }

  return enrolled.map((user): StudentProgress => {
    const w = work.get(user.id)!;
    const totals = { pagesCompleted: 0, pages: index.toc.pages.length, attempted: 0, correct: 0, questions: index.toc.questions, earned: 0, possible: index.toc.points };
    const pages = [...w.pages]
      .sort(([a], [b]) => a - b)
      .map(([at, t]) => {
        const listed = index.toc.pages[at]!;
        const earned = rounded(listed.questions > 0 ? t.earned : t.completed ? 1 : 0);
        totals.pagesCompleted += t.completed ? 1 : 0;
        totals.attempted += t.attempted;
        totals.correct += t.correct;
        totals.earned += earned;
        return { page: listed.id, completed: t.completed, attempted: t.attempted, correct: t.correct, questions: listed.questions, earned, possible: listed.points };
      });
    const student: StudentProgress = { user: identity(user), pages, totals, lastActivity: w.last > 0 ? iso(w.last) : null };
    if (w.unlistedPages.size > 0 || w.unlistedQuestions.length > 0) {
      const unlistedPages = [...w.unlistedPages]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([page, t]) => {
          totals.pages++;
          totals.possible++;
          if (t.completed) [totals.pagesCompleted, totals.earned] = [totals.pagesCompleted + 1, totals.earned + 1];
          return { page, unlisted: true as const, completed: t.completed, attempted: t.attempted, correct: t.correct, earned: t.completed ? 1 : 0, possible: 1 as const };
        });
      const questions = w.unlistedQuestions
        .sort((a, b) => (a.question < b.question ? -1 : a.question > b.question ? 1 : 0))
        .map((a) => ({ question: a.question, unlisted: true as const, page: a.page, attempt: a.attempt, correct: a.correct === null ? null : a.correct === 1, score: a.score }));
      student.unlisted = { pages: unlistedPages, questions };
    }
    totals.earned = rounded(totals.earned);
    totals.possible = rounded(totals.possible);
    return student;
  });
}

const enrolledStudentSql = sql`SELECT u.id, u.username, u.name, u.email, u.role, u.anonymous FROM enrolments e JOIN users u ON u.id = e.user_id
  WHERE e.course_id = ${p('course')} AND e.user_id = ${p('user')}`;

/**
 * One enrolled student's row of the progress grid (the same grading and last activity), with the table of contents it
 * is graded against; undefined when the user is not a student of the course.
 */
export async function courseStudentProgress(
  db: Database,
  course: CourseRow,
  registered: RegisteredToc | undefined,
  userId: string,
): Promise<{ toc: Static<typeof ReportToc>; student: StudentProgress } | undefined> {
  const index = tocIndex(registered);
  const user = await db.get<IdentityRow>(enrolledStudentSql, { course: course.id, user: userId });
  if (!user) return undefined;
  const window = windowOf(course);
  const values = { course: course.id, book: course.bookId, user: userId, ...(window ?? always) };
  const rows = await db.all<GridRow>((window ? gridQueries.studentWindow : gridQueries.studentAll)[db.dialect], values);
  return { toc: index.toc, student: gradeStudents(index, [user], rows)[0]! };
}

/** A version of a program as its history lists it: no code, its size. */
export interface VersionSummary {
  version: number;
  savedAt: string;
  language: string | null;
  page: string | null;
  size: number;
}

/** A student's versions of a program within the window, newest first, before a version: no code is read, only its length. */
const versionsSql = sql`SELECT version, language, page, saved_at, octet_length(code) AS size FROM programs
  WHERE user_id = ${p('user')} AND book_id = ${p('book')} AND activity = ${p('activity')} AND version < ${p('before')} AND ${inWindow('saved_at')}
  ORDER BY version DESC LIMIT ${p('limit')}`;

/**
 * A page of an enrolled student's versions of a program, newest first, saved within the course's window: at most
 * `limit` versions older than `before` (undefined: from the newest). `next` is the last version listed when older
 * ones follow (the route encodes it).
 */
export async function courseProgramVersions(
  db: Database,
  course: CourseRow,
  userId: string,
  activity: string,
  page: { limit: number; before: number | undefined },
): Promise<{ versions: VersionSummary[]; next: number | null }> {
  const values = { user: userId, book: course.bookId, activity, before: page.before ?? maxInt32, limit: page.limit + 1, ...(windowOf(course) ?? always) };
  const rows = await db.all<{ version: number; language: string | null; page: string | null; saved_at: number; size: number }>(versionsSql, values);
  const more = rows.length > page.limit;
  if (more) rows.pop();
  return {
    versions: rows.map((r) => ({ version: r.version, savedAt: iso(r.saved_at), language: r.language, page: r.page, size: Number(r.size) })),
    next: more ? rows.at(-1)!.version : null,
  };
}

const versionSql = sql`SELECT activity, version, code, language, page, saved_at FROM programs
  WHERE user_id = ${p('user')} AND book_id = ${p('book')} AND activity = ${p('activity')} AND version = ${p('version')} AND ${inWindow('saved_at')}`;

/** One version of an enrolled student's program, with its code, when it was saved within the course's window. */
export async function courseProgramVersion(db: Database, course: CourseRow, userId: string, activity: string, version: number): Promise<Program | undefined> {
  const row = await db.get<ProgramRow>(versionSql, { user: userId, book: course.bookId, activity, version, ...(windowOf(course) ?? always) });
  return row && programFromRow(row);
}

/**
 * A student's attempts at a question within the window, in order, after an attempt: at most `limit`, and no more than
 * fit in `maxBytes` of answers (at least one). The sizes are summed first from the rows' lengths, as a program's
 * history does (db/work.ts), so a page never holds more answers in memory than its budget.
 */
const attemptsSql = sql`WITH following AS (
     SELECT attempt, octet_length(answer) AS size FROM answers
     WHERE user_id = ${p('user')} AND book_id = ${p('book')} AND question = ${p('question')} AND attempt > ${p('after')} AND ${inWindow('saved_at')}
     ORDER BY attempt LIMIT ${p('limit')}),
   sized AS (SELECT attempt, SUM(size) OVER (ORDER BY attempt) AS running, ROW_NUMBER() OVER (ORDER BY attempt) AS n FROM following),
   page AS (SELECT attempt FROM sized WHERE (running <= ${p('maxBytes')} OR n = 1) AND n < ${p('limit')})
   SELECT question, attempt, kind, answer, correct, score, page, saved_at, (SELECT COUNT(*) FROM following) - (SELECT COUNT(*) FROM page) AS more FROM answers
   WHERE user_id = ${p('user')} AND book_id = ${p('book')} AND question = ${p('question')} AND attempt IN (SELECT attempt FROM page) ORDER BY attempt`;

/**
 * A page of an enrolled student's attempts at a question, oldest first, saved within the course's window: at most
 * `limit` after attempt `after` (0: from the first), within `maxBytes` of answers. `next` is the last attempt listed
 * when more follow.
 */
export async function courseAttempts(
  db: Database,
  course: CourseRow,
  userId: string,
  question: string,
  page: { limit: number; after: number; maxBytes: number },
): Promise<{ attempts: Answer[]; next: number | null }> {
  const values = { user: userId, book: course.bookId, question, after: page.after, limit: page.limit + 1, maxBytes: page.maxBytes, ...(windowOf(course) ?? always) };
  const rows = await db.all<AnswerRow & { more: number }>(attemptsSql, values);
  const last = rows.at(-1);
  return { attempts: rows.map(answerFromRow), next: last !== undefined && Number(last.more) > 0 ? last.attempt : null };
}

const bothDialects = (build: (d: Dialect) => SQL) => ({ sqlite: build('sqlite'), postgres: build('postgres') }) as Record<Dialect, SQL>;
/** A course's students' attempts at a question of its book, within the window. */
const questionAttempts = (d: Dialect) => sql`FROM enrolments e ${joinOf[d]} answers a ON a.user_id = e.user_id AND a.book_id = ${p('book')} AND a.question = ${p('question')}
  WHERE e.course_id = ${p('course')} AND ${inWindow('a.saved_at')}`;
const questionTotalsSql = bothDialects(
  (d) => sql`SELECT COUNT(*) AS attempts, COUNT(DISTINCT a.user_id) AS students, COUNT(a.correct) AS graded,
    COALESCE(SUM(CASE WHEN a.correct = 1 THEN 1 ELSE 0 END), 0) AS correct,
    COUNT(DISTINCT CASE WHEN a.attempt = 1 AND a.correct = 1 THEN a.user_id END) AS first_try,
    COUNT(DISTINCT CASE WHEN a.correct = 1 THEN a.user_id END) AS eventually,
    (SELECT COUNT(*) FROM enrolments n WHERE n.course_id = ${p('course')}) AS enrolled
  ${questionAttempts(d)}`,
);
/** Each student's newest attempt within the window (SQLite: MAX's row of each group; PostgreSQL: DISTINCT ON). */
const questionLatestSql = {
  sqlite: sql`SELECT a.kind, a.answer, a.correct, a.saved_at, MAX(a.attempt) AS attempt ${questionAttempts('sqlite')} GROUP BY a.user_id`,
  postgres: sql`SELECT DISTINCT ON (a.user_id) a.kind, a.answer, a.correct, a.saved_at, a.attempt ${questionAttempts('postgres')} ORDER BY a.user_id, a.attempt DESC`,
};


/**
 * How a course's enrolled students did on a question, within its window: attempts, students, those whose first attempt
 * is correct and those correct at some attempt, for choice kinds how often each choice is in their latest answers
 * (marked correct when the attempts tell), for text kinds their most common latest answers (lib/answer-counts.ts).
 */
export async function courseQuestionSummary(db: Database, course: CourseRow, registered: RegisteredToc | undefined, question: string): Promise<CourseQuestionSummary> {
  const index = tocIndex(registered);
  const values = { course: course.id, book: course.bookId, question, ...(windowOf(course) ?? always) };
  const [totals, latest] = await Promise.all([
    db.get<{ attempts: number; students: number; graded: number; correct: number; first_try: number; eventually: number; enrolled: number }>(questionTotalsSql[db.dialect], values),
    db.all<{ kind: string; answer: string; correct: 0 | 1 | null; saved_at: number }>(questionLatestSql[db.dialect], values),
  ]);
  const listed = index.questions.get(question);
  const { kind, distribution } = choiceDistribution(
    latest.map((row) => ({ kind: row.kind, answer: row.answer, savedAt: row.saved_at })),
    listed?.kind ?? null,
  );
  const t = totals!;
  return {
    course: course.id,
    question,
    unlisted: !listed,
    page: listed ? index.toc.pages[listed.page]!.id : null,
    kind,
    points: listed?.points ?? null,
    enrolled: t.enrolled,
    students: t.students,
    attempts: t.attempts,
    correctFirstTry: t.first_try,
    eventuallyCorrect: t.eventually,
    correctRate: t.graded > 0 ? t.correct / t.graded : null,
    distribution: markChoices(distribution, latest),
    ...commonOrNull(commonAnswers(kind, latest)),
  };
}

const commonOrNull = (common: ReturnType<typeof commonAnswers>) => ({ commonAnswers: common?.answers ?? null, distinctAnswers: common?.distinct ?? null });

/** One student's newest version per key (activity or question) within the window, as db/work.ts's rows. */
const latestInWindow = (table: 'programs' | 'answers', key: string, counter: string, columns: string[]) => {
  const rest = columns.filter((c) => c !== counter).join(', ');
  const where = sql`WHERE user_id = ${p('user')} AND book_id = ${p('book')} AND ${inWindow('saved_at')}`;
  return {
    sqlite: sql`SELECT ${sql.raw(rest)}, MAX(${sql.raw(counter)}) AS ${sql.raw(counter)} FROM ${sql.raw(table)} ${where} GROUP BY ${sql.raw(key)} ORDER BY ${sql.raw(key)}`,
    postgres: sql`SELECT DISTINCT ON (${sql.raw(key)}) ${sql.raw(columns.join(', '))} FROM ${sql.raw(table)} ${where} ORDER BY ${sql.raw(key)}, ${sql.raw(counter)} DESC`,
  } as Record<Dialect, SQL>;
};
const windowProgramsSql = latestInWindow('programs', 'activity', 'version', ['activity', 'version', 'code', 'language', 'page', 'saved_at']);
const windowAnswersSql = latestInWindow('answers', 'question', 'attempt', ['question', 'attempt', 'kind', 'answer', 'correct', 'score', 'page', 'saved_at']);
const windowCompletedSql = sql`SELECT page, completed_at FROM page_completions WHERE user_id = ${p('user')} AND book_id = ${p('book')} AND ${inWindow('completed_at')}
  ORDER BY +completed_at, page`;
const windowPositionSql = sql`SELECT page, scroll, updated_at FROM positions WHERE user_id = ${p('user')} AND book_id = ${p('book')} AND ${inWindow('updated_at')}`;

/** One user's work in a book as studentWork (db/reports.ts) gives it, saved within a window; undefined for an unknown user. */
async function workInWindow(db: Database, book: string, userId: string, window: Window): Promise<StudentWork | undefined> {
  const user = await findUserById(db, userId);
  if (!user) return undefined;
  const values = { user: userId, book, ...window };
  const [programs, answers, completed, position] = await Promise.all([
    db.all<ProgramRow>(windowProgramsSql[db.dialect], values),
    db.all<AnswerRow>(windowAnswersSql[db.dialect], values),
    db.all<{ page: string; completed_at: number }>(windowCompletedSql, values),
    db.get<{ page: string; scroll: number | null; updated_at: number }>(windowPositionSql, values),
  ]);
  return {
    user: { id: user.id, username: user.username, name: user.name, email: user.email, role: user.role, anonymous: user.anonymous },
    programs: programs.map(programFromRow),
    answers: answers.map((r) => ({ latest: answerFromRow(r), attempts: r.attempt })),
    completed: completed.map((r) => ({ page: r.page, completedAt: iso(r.completed_at) })),
    position: position ? { page: position.page, scroll: position.scroll, updatedAt: iso(position.updated_at) } : null,
  };
}

/**
 * One enrolled student's work in the course's book, within its window, each id the table of contents does not list
 * marked `unlisted`; undefined for an unknown user (the caller checks the enrolment).
 */
export async function courseStudentWork(db: Database, course: CourseRow, registered: RegisteredToc | undefined, userId: string): Promise<CourseStudentWork | undefined> {
  const window = windowOf(course);
  const work = window ? await workInWindow(db, course.bookId, userId, window) : await studentWork(db, course.bookId, userId);
  if (!work) return undefined;
  const index = tocIndex(registered);
  const mark = <T extends object>(item: T, listed: boolean): T & { unlisted?: true } => (listed ? item : { ...item, unlisted: true });
  return {
    course: course.id,
    window: windowReply(course),
    user: work.user,
    programs: work.programs.map((w) => mark(w, index.activities.has(w.activity))),
    answers: work.answers.map((a) => mark(a, index.questions.has(a.latest.question))),
    completed: work.completed.map((c) => mark(c, index.pageAt.has(c.page))),
    position: work.position,
  };
}

/** Every statement of the course reports in a dialect, by name (for EXPLAIN in the tests). */
export function courseReportStatements(dialect: Dialect): Record<string, SQL> {
  return {
    grid: gridQueries.all[dialect],
    'grid, with dates': gridQueries.window[dialect],
    'summary: totals': questionTotalsSql[dialect],
    'summary: latest answers': questionLatestSql[dialect],
    'work: programs': windowProgramsSql[dialect],
    'work: answers': windowAnswersSql[dialect],
    'work: completed': windowCompletedSql,
    'work: position': windowPositionSql,
  };
}

/** The statements of one student's reports (their grid row, versions, attempts) in a dialect, by name (for EXPLAIN in the tests). */
export function courseStudentStatements(dialect: Dialect): Record<string, SQL> {
  return {
    'grid row': gridQueries.studentAll[dialect],
    'grid row, with dates': gridQueries.studentWindow[dialect],
    versions: versionsSql,
    'one version': versionSql,
    attempts: attemptsSql,
  };
}
