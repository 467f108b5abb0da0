import { and, asc, count, countDistinct, eq, sql } from 'drizzle-orm';
import type { Static } from 'typebox';
import type { ProgressReply, QuestionSummaryReply, Student, StudentWorkReply } from '../schemas/instructor.js';
import type { Database, Dialect } from './index.js';
import { rows, first, select } from './query.js';
import { answers, programs, users, type User } from './schema.js';
import { findUserById } from './users.js';
import { answerFromRow, completedPages, iso, position, programFromRow } from './work.js';

/** What instructors see of a book: per-student progress, one student's work, how a question went. Their types are the replies' (schemas/instructor.ts). */

/** Who a student is, as instructors see them (never in research exports without identify). */
export type StudentIdentity = Static<typeof Student>;
/** A student's progress in a book: pages completed, questions attempted and correct, where they left off, their last activity. */
export type StudentProgress = Static<typeof ProgressReply>['students'][number];

type IdentityRow = Pick<User, 'id' | 'username' | 'name' | 'email' | 'role' | 'anonymous'>;

interface ProgressRow extends IdentityRow {
  pages_completed: number;
  questions_attempted: number;
  questions_correct: number;
  activities_saved: number;
  last_page: string | null;
  last_activity: number;
}

const identity = (r: IdentityRow): StudentIdentity => ({ id: r.id, username: r.username, name: r.name, email: r.email, role: r.role, anonymous: r.anonymous === 1 });

/**
 * Per user, each an index probe on (user_id, book_id, …): the cost grows with students, not with the book's rows. A
 * newest time is `MAX(+column)`: as `MAX(column)`, SQLite without statistics (Folio runs no ANALYZE) reads the
 * book's (book_id, time) index backwards until it meets the user, every reader of the book in the worst case.
 */
const mine = (alias: string) => sql`${sql.raw(alias)}.user_id = u.id AND ${sql.raw(alias)}.book_id = ${sql.placeholder('book')}`;

/** The greatest of several values: SQLite's scalar max(), PostgreSQL's GREATEST. */
const greatest = { sqlite: sql.raw('MAX'), postgres: sql.raw('GREATEST') };

const progress = (dialect: Dialect) => sql`SELECT u.id, u.username, u.name, u.email, u.role, u.anonymous,
    (SELECT COUNT(*) FROM page_completions c WHERE ${mine('c')}) AS pages_completed,
    (SELECT COUNT(*) FROM answers a WHERE ${mine('a')} AND a.latest = 1) AS questions_attempted,
    (SELECT COUNT(DISTINCT a.question) FROM answers a WHERE ${mine('a')} AND a.correct = 1) AS questions_correct,
    (SELECT COUNT(*) FROM programs p WHERE ${mine('p')} AND p.latest = 1) AS activities_saved,
    (SELECT s.page FROM positions s WHERE ${mine('s')}) AS last_page,
    ${greatest[dialect]}(COALESCE((SELECT MAX(+p.saved_at) FROM programs p WHERE ${mine('p')}), 0),
        COALESCE((SELECT MAX(+a.saved_at) FROM answers a WHERE ${mine('a')}), 0),
        COALESCE((SELECT MAX(e.server_time) FROM events e WHERE ${mine('e')}), 0),
        COALESCE((SELECT MAX(+c.completed_at) FROM page_completions c WHERE ${mine('c')}), 0),
        COALESCE((SELECT s.updated_at FROM positions s WHERE ${mine('s')}), 0)) AS last_activity
  FROM users u
  WHERE u.id > ${sql.placeholder('after')} AND u.role = 'student' AND (
    EXISTS (SELECT 1 FROM programs p WHERE ${mine('p')}) OR EXISTS (SELECT 1 FROM answers a WHERE ${mine('a')})
    OR EXISTS (SELECT 1 FROM events e WHERE ${mine('e')}) OR EXISTS (SELECT 1 FROM page_completions c WHERE ${mine('c')})
    OR EXISTS (SELECT 1 FROM positions s WHERE ${mine('s')}))
  ORDER BY u.id LIMIT ${sql.placeholder('limit')}`;
const progressSql = { sqlite: progress('sqlite'), postgres: progress('postgres') };
/** The book-wide progress statement of a dialect (for EXPLAIN in the tests). */
export const bookProgressSql = (dialect: Dialect) => progressSql[dialect];

// The rows marked latest: the newest version / attempt of each (keyed as db/work.ts's ProgramRow and AnswerRow).
const latestPrograms = select({ activity: programs.activity, version: programs.version, code: programs.code, language: programs.language, page: programs.page, saved_at: programs.savedAt })
  .from(programs)
  .where(and(eq(programs.userId, sql.placeholder('user')), eq(programs.bookId, sql.placeholder('book')), eq(programs.latest, 1)))
  .orderBy(asc(programs.activity));
const latestAnswers = select({
  question: answers.question,
  attempt: answers.attempt,
  kind: answers.kind,
  answer: answers.answer,
  correct: answers.correct,
  score: answers.score,
  page: answers.page,
  saved_at: answers.savedAt,
})
  .from(answers)
  .where(and(eq(answers.userId, sql.placeholder('user')), eq(answers.bookId, sql.placeholder('book')), eq(answers.latest, 1)))
  .orderBy(asc(answers.question));
/** Students' attempts at a question of a book (not instructors' or admins'). */
const studentsAnswering = and(eq(answers.userId, users.id), eq(answers.bookId, sql.placeholder('book')), eq(answers.question, sql.placeholder('question')));
const correct = eq(answers.correct, 1);
const questionTotals = select({
  attempts: count(),
  graded: count(answers.correct),
  correct: sql<number>`COUNT(*) FILTER (WHERE ${correct})`,
  students: countDistinct(answers.userId),
  studentsCorrect: sql<number>`COUNT(DISTINCT CASE WHEN ${correct} THEN ${answers.userId} END)`,
})
  .from(users)
  .innerJoin(answers, studentsAnswering)
  .where(eq(users.role, 'student'));
const latestAttempts = select({ kind: answers.kind, answer: answers.answer, savedAt: answers.savedAt })
  .from(users)
  .innerJoin(answers, and(studentsAnswering, eq(answers.latest, 1)))
  .where(eq(users.role, 'student'));

/**
 * A page of the students (role student, anonymous ones included) with any work in the book: at most `limit`, by user id,
 * after the user id `after` ('' for the first page). `next` is the last one's id when more follow.
 */
export async function bookProgress(db: Database, book: string, page: { limit: number; after: string }): Promise<{ students: StudentProgress[]; next: string | null }> {
  const rows = await db.all<ProgressRow>(progressSql[db.dialect], { book, after: page.after, limit: page.limit + 1 });
  const more = rows.length > page.limit;
  if (more) rows.pop();
  const students = rows.map((r) => ({
      user: identity(r),
      pagesCompleted: r.pages_completed,
      questionsAttempted: r.questions_attempted,
      questionsCorrect: r.questions_correct,
      activitiesSaved: r.activities_saved,
      lastPage: r.last_page,
      lastActivity: r.last_activity > 0 ? iso(r.last_activity) : null,
    }));
  return { students, next: more ? rows.at(-1)!.id : null };
}

/** One student's work in a book, as instructors see it. */
export type StudentWork = Static<typeof StudentWorkReply>;

/** One user's work in a book: the latest program per activity, the latest answer per question, completed pages and position; undefined for an unknown user. */
export async function studentWork(db: Database, book: string, userId: string): Promise<StudentWork | undefined> {
  const user = await findUserById(db, userId);
  if (!user) return undefined;
  const owner = { userId, bookId: book };
  return {
    user: { id: user.id, username: user.username, name: user.name, email: user.email, role: user.role, anonymous: user.anonymous },
    programs: (await rows(db, latestPrograms, { user: userId, book })).map(programFromRow),
    answers: (await rows(db, latestAnswers, { user: userId, book })).map((r) => ({ latest: answerFromRow(r), attempts: r.attempt })),
    completed: await completedPages(db, owner),
    position: (await position(db, owner)) ?? null,
  };
}

/**
 * How students did on a question: `kind` is the most recent attempt's (null before any); `correctRate` counts correct
 * attempts among those marked correct or not (null when none was marked); `distribution`, for choice kinds (mchoice,
 * poll, clickablearea), how often each choice is in the students' latest answers, most chosen first.
 */
export type QuestionSummary = Static<typeof QuestionSummaryReply>;

const choiceKinds = new Set(['mchoice', 'poll', 'clickablearea']);

/** A latest answer, as the distribution of choices reads it. */
export interface LatestChoice {
  kind: string;
  /** The kind's answer as stored (JSON). */
  answer: string;
  savedAt: number;
}

/**
 * The question's kind (`kind` when known, else the newest answer's) and, for choice kinds (mchoice, poll,
 * clickablearea), how often each choice is in the students' latest answers, most chosen first; null for other kinds.
 */
export function choiceDistribution(latest: readonly LatestChoice[], known: string | null = null): { kind: string | null; distribution: { choice: string; count: number }[] | null } {
  let kind = known;
  let newest = -Infinity;
  const counts = new Map<string, number>();
  for (const row of latest) {
    if (known === null && row.savedAt > newest) [newest, kind] = [row.savedAt, row.kind];
    if (!choiceKinds.has(row.kind)) continue;
    const answer = JSON.parse(row.answer) as unknown;
    for (const choice of Array.isArray(answer) ? answer : [answer]) counts.set(String(choice), (counts.get(String(choice)) ?? 0) + 1);
  }
  const distribution =
    kind !== null && choiceKinds.has(kind)
      ? [...counts].map(([choice, count]) => ({ choice, count })).sort((a, b) => b.count - a.count || (a.choice < b.choice ? -1 : a.choice > b.choice ? 1 : 0))
      : null;
  return { kind, distribution };
}

/** How students (not instructors or admins) did on a question of a book. */
export async function questionSummary(db: Database, book: string, question: string): Promise<QuestionSummary> {
  const totals = (await first(db, questionTotals, { book, question }))!;
  const { kind, distribution } = choiceDistribution(await rows(db, latestAttempts, { book, question }));
  return {
    question,
    kind,
    attempts: totals.attempts,
    students: totals.students,
    studentsCorrect: totals.studentsCorrect,
    correctRate: totals.graded > 0 ? totals.correct / totals.graded : null,
    distribution,
  };
}
