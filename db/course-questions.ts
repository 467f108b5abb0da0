import { sql, type SQL } from 'drizzle-orm';
import type { Static } from 'typebox';
import type { RegisteredToc } from '../lib/book-registry.js';
import type { CourseQuestionStats, CourseQuestionsReply } from '../schemas/course-questions.js';
import type { CourseRow } from './courses.js';
import { always, inWindow, joinOf, tocIndex, windowOf, windowReply } from './course-reports.js';
import type { Database, Dialect } from './index.js';

/**
 * How a course's enrolled students did on every question of its book (routes/course-questions.ts), within the course's
 * dates, One statement reads the course's attempts: from the course's
 * enrolments (outermost, as the other course reports) through each student's (user_id, book_id, …) index, grouped
 * first by student and question (attempts, first try correct, ever correct) and then by question and number of
 * attempts: a few rows a question (one per distinct count of attempts), from which the median is taken here.
 */

export type CourseQuestions = Static<typeof CourseQuestionsReply>;
type QuestionStats = Static<typeof CourseQuestionStats>;

const p = sql.placeholder;

/**
 * Per question and number of attempts n: the students who made n attempts, of them those right at once and right at
 * last. Nothing else (kind, page): every column more is carried through the sort of the outer GROUP BY, which is most
 * of the cost (SQLite sorts; half as fast again with the kind and page in).
 */
const statsSql = (d: Dialect): SQL => sql`SELECT s.question, s.n, COUNT(*) AS students, SUM(s.first_try) AS first_try, SUM(s.eventually) AS eventually
  FROM (SELECT a.question, COUNT(*) AS n,
      MAX(CASE WHEN a.attempt = 1 AND a.correct = 1 THEN 1 ELSE 0 END) AS first_try,
      MAX(CASE WHEN a.correct = 1 THEN 1 ELSE 0 END) AS eventually
    FROM enrolments e ${joinOf[d]} answers a ON a.user_id = e.user_id AND a.book_id = ${p('book')}
    WHERE e.course_id = ${p('course')} AND ${inWindow('a.saved_at')}
    GROUP BY e.user_id, a.question) s
  GROUP BY s.question, s.n`;
const questionStatsSql: Record<Dialect, SQL> = { sqlite: statsSql('sqlite'), postgres: statsSql('postgres') };
/** An unlisted question's kind and page: those of the newest attempt by an enrolled student in the window (probes each student's index until one answered). */
const unlistedOf = (d: Dialect): SQL => sql`SELECT a.kind, a.page FROM enrolments e ${joinOf[d]} answers a
    ON a.user_id = e.user_id AND a.book_id = ${p('book')} AND a.question = ${p('question')}
  WHERE e.course_id = ${p('course')} AND ${inWindow('a.saved_at')} ORDER BY a.saved_at DESC, a.id DESC LIMIT 1`;
const unlistedSql: Record<Dialect, SQL> = { sqlite: unlistedOf('sqlite'), postgres: unlistedOf('postgres') };
const enrolledSql = sql`SELECT COUNT(*) AS enrolled FROM enrolments WHERE course_id = ${p('course')}`;

/** The statements of this module in a dialect, by name (for EXPLAIN in the tests). */
export function courseQuestionStatements(dialect: Dialect): Record<string, SQL> {
  return { 'questions: stats': questionStatsSql[dialect], 'questions: unlisted': unlistedSql[dialect] };
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

/**
 * Every question of the course's book, in the table of contents' order by chapter and page (those nobody answered
 * with zeros), then the questions the students answered that it does not list (by id, marked unlisted): over the
 * course's enrolled students, within its dates.
 */
export async function courseQuestions(db: Database, course: CourseRow, registered: RegisteredToc | undefined): Promise<CourseQuestions> {
  const values = { course: course.id, book: course.bookId, ...(windowOf(course) ?? always) };
  const rows = await db.all<StatsRow>(questionStatsSql[db.dialect], values);
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
  for (const chapter of registered?.chapters ?? []) {
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
  const unlisted: QuestionStats[] = [];
  for (const [id, t] of [...tallies].filter(([id]) => !listed.has(id)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    // One after the other: PostgreSQL reads on one connection.
    const newest = await db.get<{ kind: string; page: string | null }>(unlistedSql[db.dialect], { ...values, question: id });
    unlisted.push({ id, unlisted: true, kind: newest?.kind ?? 'unknown', points: null, page: newest?.page ?? null, ...stats(t) });
  }
  return { course: course.id, book: course.bookId, window: windowReply(course), enrolled, chapters, unlisted };
}
