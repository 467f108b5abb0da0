import { sql } from 'drizzle-orm';
import type { Database, Dialect } from './index.js';
import type { Role, User } from './schema.js';
import { findUserById } from './users.js';
import { answerFromRow, completedPages, iso, position, programFromRow, type Answer, type AnswerRow, type Program, type ProgramRow } from './work.js';

/** What instructors see of a book: per-student progress, one student's work, how a question went. */


/** Who a student is, as instructors see them (never in research exports without identify). */
export interface StudentIdentity {
  id: string;
  username: string | null;
  name: string | null;
  email: string | null;
  role: Role;
  anonymous: boolean;
}

export interface StudentProgress {
  user: StudentIdentity;
  pagesCompleted: number;
  questionsAttempted: number;
  /** Questions with at least one correct attempt. */
  questionsCorrect: number;
  /** Activities with at least one saved program. */
  activitiesSaved: number;
  /** Where the student left off. */
  lastPage: string | null;
  /** The latest save, answer, event, completion or position. */
  lastActivity: string | null;
}

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

/** Per user, each an index probe on (user_id, book_id, …): the cost grows with students, not with the book's rows. */
const mine = (alias: string) => sql`${sql.raw(alias)}.user_id = u.id AND ${sql.raw(alias)}.book_id = ${sql.placeholder('book')}`;

/** The greatest of several values: SQLite's scalar max(), PostgreSQL's GREATEST. */
const greatest = { sqlite: sql.raw('MAX'), postgres: sql.raw('GREATEST') };

const progress = (dialect: Dialect) => sql`SELECT u.id, u.username, u.name, u.email, u.role, u.anonymous,
    (SELECT COUNT(*) FROM page_completions c WHERE ${mine('c')}) AS pages_completed,
    (SELECT COUNT(*) FROM answers a WHERE ${mine('a')} AND a.latest = 1) AS questions_attempted,
    (SELECT COUNT(DISTINCT a.question) FROM answers a WHERE ${mine('a')} AND a.correct = 1) AS questions_correct,
    (SELECT COUNT(*) FROM programs p WHERE ${mine('p')} AND p.latest = 1) AS activities_saved,
    (SELECT s.page FROM positions s WHERE ${mine('s')}) AS last_page,
    ${greatest[dialect]}(COALESCE((SELECT MAX(p.saved_at) FROM programs p WHERE ${mine('p')}), 0),
        COALESCE((SELECT MAX(a.saved_at) FROM answers a WHERE ${mine('a')}), 0),
        COALESCE((SELECT MAX(e.server_time) FROM events e WHERE ${mine('e')}), 0),
        COALESCE((SELECT MAX(c.completed_at) FROM page_completions c WHERE ${mine('c')}), 0),
        COALESCE((SELECT s.updated_at FROM positions s WHERE ${mine('s')}), 0)) AS last_activity
  FROM users u
  WHERE u.role = 'student' AND (
    EXISTS (SELECT 1 FROM programs p WHERE ${mine('p')}) OR EXISTS (SELECT 1 FROM answers a WHERE ${mine('a')})
    OR EXISTS (SELECT 1 FROM events e WHERE ${mine('e')}) OR EXISTS (SELECT 1 FROM page_completions c WHERE ${mine('c')})
    OR EXISTS (SELECT 1 FROM positions s WHERE ${mine('s')}))
  ORDER BY u.anonymous, u.username_key, u.id`;
const progressSql = { sqlite: progress('sqlite'), postgres: progress('postgres') };

// The rows marked latest: the newest version / attempt of each.
const latestPrograms = sql`SELECT activity, version, code, language, page, saved_at FROM programs WHERE user_id = ${sql.placeholder('user')} AND book_id = ${sql.placeholder('book')} AND latest = 1 ORDER BY activity`;
const latestAnswers = sql`SELECT question, attempt, kind, answer, correct, score, page, saved_at FROM answers WHERE user_id = ${sql.placeholder('user')} AND book_id = ${sql.placeholder('book')} AND latest = 1 ORDER BY question`;
const questionTotals = sql`SELECT COUNT(*) AS attempts, COUNT(a.correct) AS graded, COUNT(*) FILTER (WHERE a.correct = 1) AS correct,
    COUNT(DISTINCT a.user_id) AS students, COUNT(DISTINCT CASE WHEN a.correct = 1 THEN a.user_id END) AS students_correct
  FROM users u JOIN answers a ON ${mine('a')} AND a.question = ${sql.placeholder('question')} WHERE u.role = 'student'`;
const latestAttempts = sql`SELECT a.kind, a.answer, a.saved_at FROM users u JOIN answers a ON ${mine('a')} AND a.question = ${sql.placeholder('question')} AND a.latest = 1 WHERE u.role = 'student'`;

/** Every student (role student, anonymous ones included) with any work in the book, registered ones first by username. */
export async function bookProgress(db: Database, book: string): Promise<StudentProgress[]> {
  const rows = await db.all<ProgressRow>(progressSql[db.dialect], { book });
  return rows.map((r) => ({
      user: identity(r),
      pagesCompleted: r.pages_completed,
      questionsAttempted: r.questions_attempted,
      questionsCorrect: r.questions_correct,
      activitiesSaved: r.activities_saved,
      lastPage: r.last_page,
      lastActivity: r.last_activity > 0 ? iso(r.last_activity) : null,
    }));
}

export interface StudentWork {
  user: StudentIdentity;
  programs: Program[];
  answers: { latest: Answer; attempts: number }[];
  completed: { page: string; completedAt: string }[];
  position: { page: string; scroll: number | null; updatedAt: string } | null;
}

/** One user's work in a book: the latest program per activity, the latest answer per question, completed pages and position; undefined for an unknown user. */
export async function studentWork(db: Database, book: string, userId: string): Promise<StudentWork | undefined> {
  const user = await findUserById(db, userId);
  if (!user) return undefined;
  const owner = { userId, bookId: book };
  return {
    user: { id: user.id, username: user.username, name: user.name, email: user.email, role: user.role, anonymous: user.anonymous },
    programs: (await db.all<ProgramRow>(latestPrograms, { user: userId, book })).map(programFromRow),
    answers: (await db.all<AnswerRow>(latestAnswers, { user: userId, book })).map((r) => ({ latest: answerFromRow(r), attempts: r.attempt })),
    completed: await completedPages(db, owner),
    position: (await position(db, owner)) ?? null,
  };
}

export interface QuestionSummary {
  question: string;
  /** The kind of the most recent attempt; null before any. */
  kind: string | null;
  attempts: number;
  students: number;
  /** Students with at least one correct attempt. */
  studentsCorrect: number;
  /** Correct attempts among those marked correct or not; null when none was marked. */
  correctRate: number | null;
  /** For choice kinds (mchoice, poll, clickablearea): how often each choice is in the students' latest answers, most chosen first. */
  distribution: { choice: string; count: number }[] | null;
}

const choiceKinds = new Set(['mchoice', 'poll', 'clickablearea']);

/** How students (not instructors or admins) did on a question of a book. */
export async function questionSummary(db: Database, book: string, question: string): Promise<QuestionSummary> {
  const totals = (await db.get<{ attempts: number; graded: number; correct: number; students: number; students_correct: number }>(questionTotals, { book, question }))!;
  let kind: string | null = null;
  let newest = -Infinity;
  const counts = new Map<string, number>();
  for (const row of await db.all<{ kind: string; answer: string; saved_at: number }>(latestAttempts, { book, question })) {
    if (row.saved_at > newest) [newest, kind] = [row.saved_at, row.kind];
    if (!choiceKinds.has(row.kind)) continue;
    const answer = JSON.parse(row.answer) as unknown;
    for (const choice of Array.isArray(answer) ? answer : [answer]) counts.set(String(choice), (counts.get(String(choice)) ?? 0) + 1);
  }
  const distribution =
    kind !== null && choiceKinds.has(kind)
      ? [...counts].map(([choice, count]) => ({ choice, count })).sort((a, b) => b.count - a.count || (a.choice < b.choice ? -1 : a.choice > b.choice ? 1 : 0))
      : null;
  return {
    question,
    kind,
    attempts: totals.attempts,
    students: totals.students,
    studentsCorrect: totals.students_correct,
    correctRate: totals.graded > 0 ? totals.correct / totals.graded : null,
    distribution,
  };
}
