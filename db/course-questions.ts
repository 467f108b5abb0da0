import { sql, type SQL } from 'drizzle-orm';
import type { Static } from 'typebox';
import type { RegisteredToc } from '../lib/book-registry.js';
import type { CourseQuestionStats, CourseQuestionsReply } from '../schemas/course-questions.js';
import type { CourseRow } from './courses.js';
import { always, inWindow, joinOf, tocIndex, windowOf, windowReply } from './course-reports.js';
import type { Database, Dialect } from './index.js';

/**
 * How a course's enrolled students did on every question of its book (routes/course-questions.ts), within the course's
 * dates. One statement reads the course's attempts: from the course's enrolments (outermost, as the other course
 * reports) through each student's (user_id, book_id, …) index, grouped first by student and question (attempts,
 * first try correct, ever correct) and then by question and number of attempts: a few rows a question (one per
 * distinct count of attempts), from which the median is taken here. Its cost grows with the course's attempts (every
 * one is read): on the bench's 1,000-student course with 2.6 million attempts, seconds (README, "Course reports").
 */

export type CourseQuestions = Static<typeof CourseQuestionsReply>;
type QuestionStats = Static<typeof CourseQuestionStats>;

const p = sql.placeholder;

/**
 * Per question and number of attempts n: the students who made n attempts, of them those right at once and right at
 * last. Nothing else (kind, page): every column more is carried through the outer GROUP BY's sort of a row per
 * student and question (SQLite sorts to group), which measured some 1.5 times slower with the kind and page in.
 */
const statsSql = (d: Dialect, only: SQL = sql``): SQL => sql`SELECT s.question, s.n, COUNT(*) AS students, SUM(s.first_try) AS first_try, SUM(s.eventually) AS eventually
  FROM (SELECT a.question, COUNT(*) AS n,
      MAX(CASE WHEN a.attempt = 1 AND a.correct = 1 THEN 1 ELSE 0 END) AS first_try,
      MAX(CASE WHEN a.correct = 1 THEN 1 ELSE 0 END) AS eventually
    FROM enrolments e ${joinOf[d]} answers a ON a.user_id = e.user_id AND a.book_id = ${p('book')}${only}
    WHERE e.course_id = ${p('course')} AND ${inWindow('a.saved_at')}
    GROUP BY e.user_id, a.question) s
  GROUP BY s.question, s.n`;
const questionStatsSql: Record<Dialect, SQL> = { sqlite: statsSql('sqlite'), postgres: statsSql('postgres') };
/**
 * The same over a chapter's questions (`questions`: their ids, SQLite a JSON array, PostgreSQL an array): each
 * student's index is probed once a question (user_id, book_id, question), so the cost is that of the chapter's
 * attempts alone. On PostgreSQL a LATERAL subquery a student (grouped by question there, a few dozen rows each)
 * keeps the plan on that index whatever the statistics, and the window's terms keep their `+`: written plainly, the
 * generic plan of the prepared statement (PostgreSQL's after five runs) takes a range on parameters for very
 * selective and reads the book's attempts by the (book_id, saved_at) index instead, 5-8 s a chapter on the bench's
 * course (bench/RESULTS.md).
 */
const chapterStatsSql: Record<Dialect, SQL> = {
  sqlite: statsSql('sqlite', sql` AND a.question IN (SELECT value FROM json_each(${p('questions')}))`),
  postgres: sql`SELECT s.question, s.n, COUNT(*) AS students, SUM(s.first_try) AS first_try, SUM(s.eventually) AS eventually
  FROM enrolments e CROSS JOIN LATERAL (SELECT a.question, COUNT(*) AS n,
      MAX(CASE WHEN a.attempt = 1 AND a.correct = 1 THEN 1 ELSE 0 END) AS first_try,
      MAX(CASE WHEN a.correct = 1 THEN 1 ELSE 0 END) AS eventually
    FROM answers a WHERE a.user_id = e.user_id AND a.book_id = ${p('book')} AND a.question = ANY(CAST(${p('questions')} AS text[])) AND ${inWindow('a.saved_at')}
    GROUP BY a.question) s
  WHERE e.course_id = ${p('course')}
  GROUP BY s.question, s.n`,
};
/**
 * The same over the questions the table of contents does not list (`listed`: its ids, as `questions` above): every
 * attempt is still read, but only the unlisted ones are grouped.
 */
const unlistedStatsSql: Record<Dialect, SQL> = {
  sqlite: statsSql('sqlite', sql` AND a.question NOT IN (SELECT value FROM json_each(${p('listed')}))`),
  postgres: statsSql('postgres', sql` AND NOT (a.question = ANY(CAST(${p('listed')} AS text[])))`),
};
/** An unlisted question's kind and page: those of the newest attempt by an enrolled student in the window (a probe of each student's index). */
const unlistedOf = (d: Dialect): SQL => sql`SELECT a.kind, a.page FROM enrolments e ${joinOf[d]} answers a
    ON a.user_id = e.user_id AND a.book_id = ${p('book')} AND a.question = ${p('question')}
  WHERE e.course_id = ${p('course')} AND ${inWindow('a.saved_at')} ORDER BY a.saved_at DESC, a.id DESC LIMIT 1`;
const unlistedSql: Record<Dialect, SQL> = { sqlite: unlistedOf('sqlite'), postgres: unlistedOf('postgres') };
/**
 * Every question's kind and page, those of its newest attempt in the window, in one pass over the course's attempts
 * (SQLite: MAX's row of each group; PostgreSQL: DISTINCT ON): for many unlisted questions (a book without a table of
 * contents), where a probe each would cost more.
 */
const allNewestSql: Record<Dialect, SQL> = {
  sqlite: sql`SELECT a.question, a.kind, a.page, MAX(a.saved_at) AS saved_at FROM enrolments e CROSS JOIN answers a ON a.user_id = e.user_id AND a.book_id = ${p('book')}
    WHERE e.course_id = ${p('course')} AND ${inWindow('a.saved_at')} GROUP BY a.question`,
  postgres: sql`SELECT DISTINCT ON (a.question) a.question, a.kind, a.page FROM enrolments e JOIN answers a ON a.user_id = e.user_id AND a.book_id = ${p('book')}
    WHERE e.course_id = ${p('course')} AND ${inWindow('a.saved_at')} ORDER BY a.question, a.saved_at DESC, a.id DESC`,
};
/** Up to this many unlisted questions, a probe each; past it, one pass over the course's attempts. */
const probesAtMost = 20;
const enrolledSql = sql`SELECT COUNT(*) AS enrolled FROM enrolments WHERE course_id = ${p('course')}`;

/** The statements of this module in a dialect, by name (for EXPLAIN in the tests). */
export function courseQuestionStatements(dialect: Dialect): Record<string, SQL> {
  return {
    'questions: stats': questionStatsSql[dialect],
    'questions: stats, a chapter': chapterStatsSql[dialect],
    'questions: stats, unlisted': unlistedStatsSql[dialect],
    'questions: unlisted': unlistedSql[dialect],
    'questions: unlisted, all': allNewestSql[dialect],
  };
}

interface StatsRow {
  question: string;
  n: number;
  students: number;
  first_try: number;
  eventually: number;
}

interface Tally {
  attempts: number;
  students: number;
  firstTry: number;
  eventually: number;
  /** Students by their number of attempts. */
  counts: [n: number, students: number][];
}

/** The median of the numbers of attempts (the mean of the two middle ones for an even count of students); null for none. */
export function medianOf(counts: readonly [n: number, students: number][]): number | null {
  const total = counts.reduce((sum, [, students]) => sum + students, 0);
  if (total === 0) return null;
  const sorted = [...counts].sort(([a], [b]) => a - b);
  const nth = (k: number) => {
    let seen = 0;
    for (const [n, students] of sorted) {
      seen += students;
      if (seen > k) return n;
    }
    return sorted.at(-1)![0];
  };
  return total % 2 === 1 ? nth((total - 1) / 2) : (nth(total / 2 - 1) + nth(total / 2)) / 2;
}

/** What of the report to compute: the whole book, one chapter of the table of contents (by id), or the unlisted questions. */
export type QuestionsPart = { chapter: string } | { unlisted: true } | undefined;

/** A SQL list of ids as the dialect's statements take it (SQLite a JSON array, PostgreSQL an array). */
const idList = (dialect: Dialect, ids: string[]) => (dialect === 'sqlite' ? JSON.stringify(ids) : ids);

/**
 * Every question of the course's book, in the table of contents' order by chapter and page (those nobody answered
 * with zeros), then the questions the students answered that it does not list (by id, marked unlisted): over the
 * course's enrolled students, within its dates. `part` narrows it to one chapter (no unlisted questions; undefined
 * when the table of contents has no such chapter) or to the unlisted questions (no chapters), each computed over those
 * questions' attempts alone.
 */
export async function courseQuestions(db: Database, course: CourseRow, registered: RegisteredToc | undefined, part?: QuestionsPart): Promise<CourseQuestions | undefined> {
  const values: Record<string, unknown> = { course: course.id, book: course.bookId, ...(windowOf(course) ?? always) };
  const tocChapters = registered?.chapters ?? [];
  let chosen = tocChapters;
  let query = questionStatsSql[db.dialect];
  if (part && 'chapter' in part) {
    const chapter = tocChapters.find((c) => c.id === part.chapter);
    if (!chapter) return undefined;
    chosen = [chapter];
    query = chapterStatsSql[db.dialect];
    values.questions = idList(db.dialect, chapter.pages.flatMap((page) => page.questions.map((q) => q.id)));
  } else if (part) {
    chosen = [];
    query = unlistedStatsSql[db.dialect];
    values.listed = idList(db.dialect, [...tocIndex(registered).questions.keys()]);
  }
  const rows = await db.all<StatsRow>(query, values);
  const { enrolled } = (await db.get<{ enrolled: number }>(enrolledSql, values))!;
  const tallies = new Map<string, Tally>();
  for (const r of rows) {
    let t = tallies.get(r.question);
    if (!t) tallies.set(r.question, (t = { attempts: 0, students: 0, firstTry: 0, eventually: 0, counts: [] }));
    t.attempts += r.n * r.students;
    t.students += r.students;
    t.firstTry += r.first_try;
    t.eventually += r.eventually;
    t.counts.push([r.n, r.students]);
  }
  const stats = (t: Tally | undefined) => ({
    attempts: t?.attempts ?? 0,
    students: t?.students ?? 0,
    correctFirstTry: t?.firstTry ?? 0,
    eventuallyCorrect: t?.eventually ?? 0,
    medianAttempts: t ? medianOf(t.counts) : null,
  });

  const chapters: CourseQuestions['chapters'] = [];
  for (const chapter of chosen) {
    const pages = chapter.pages
      .filter((page) => page.questions.length > 0)
      .map((page) => ({
        id: page.id,
        title: page.title,
        questions: page.questions.map((q): QuestionStats => ({ id: q.id, kind: q.kind, points: q.points, page: page.id, ...stats(tallies.get(q.id)) })),
      }));
    if (pages.length > 0) chapters.push({ id: chapter.id, title: chapter.title, pages });
  }
  const listed = tocIndex(registered).questions;
  const ids = (part && 'chapter' in part ? [] : [...tallies.keys()]).filter((id) => !listed.has(id)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const newest = new Map<string, { kind: string; page: string | null }>();
  if (ids.length > probesAtMost) {
    for (const r of await db.all<{ question: string; kind: string; page: string | null }>(allNewestSql[db.dialect], values)) newest.set(r.question, r);
  } else {
    // One after the other: PostgreSQL reads on one connection.
    for (const id of ids) {
      const row = await db.get<{ kind: string; page: string | null }>(unlistedSql[db.dialect], { ...values, question: id });
      if (row) newest.set(id, row);
    }
  }
  const unlisted = ids.map((id): QuestionStats => {
    const row = newest.get(id);
    return { id, unlisted: true, kind: row?.kind ?? 'unknown', points: null, page: row?.page ?? null, ...stats(tallies.get(id)) };
  });
  return { course: course.id, book: course.bookId, window: windowReply(course), enrolled, chapters, unlisted };
}
