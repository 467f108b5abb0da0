import { sql, type SQL } from 'drizzle-orm';
import type { Static } from 'typebox';
import type { RegisteredToc } from '../lib/book-registry.js';
import type { CourseGridReply, ReportToc } from '../schemas/reports.js';
import type { CourseRow } from './courses.js';
import { always, gradeStudents, gridSql, identity, tocIndex, windowOf, type GridRow, type IdentityRow, type TocIndex } from './course-reports.js';
import type { Database, Dialect } from './index.js';
import { iso } from './work.js';

/**
 * The dashboard's progress grid (GET /api/courses/:course/grid): each enrolled student's points, pages completed and
 * pages touched by chapter, or by page of one chapter, graded as the progress report grades them
 * (db/course-reports.ts, gradeStudents). A course without dates reads each student's grades from their grid row
 * (grid_summaries: one row a student and book, kept by the writes, db/work.ts), recomputing from the raw rows only the
 * rows that a write made stale since, or graded against another table of contents, and storing them again; a course
 * with dates grades the raw rows within its dates.
 */

type GridReply = Static<typeof CourseGridReply>;

/** A student's grades in a book: their table-of-contents pages with work, their unlisted pages, their newest work's time. */
export interface Grades {
  /** [the page's place in toc.pages, points earned, completed (0/1), questions attempted, correct]. */
  pages: [at: number, earned: number, completed: 0 | 1, attempted: number, correct: number][];
  /** [page id, completed (0/1), questions attempted, correct]: pages the table of contents does not list, by id. */
  unlisted: [page: string, completed: 0 | 1, attempted: number, correct: number][];
  last: number | null;
}

/** The grades of a graded student (gradeStudents) as the grid row stores them. */
function gradesOf(index: TocIndex, student: ReturnType<typeof gradeStudents>[number]): Grades {
  return {
    pages: student.pages.map((p) => [index.pageAt.get(p.page)!, p.earned, p.completed ? 1 : 0, p.attempted, p.correct]),
    unlisted: (student.unlisted?.pages ?? []).map((p) => [p.page, p.completed ? 1 : 0, p.attempted, p.correct]),
    last: student.lastActivity === null ? null : Date.parse(student.lastActivity),
  };
}

/** A course's students of one page of the grid: user ids after the cursor, up to `limit`, each with their grid row in the book. */
const enrolledSql = sql`SELECT u.id, u.username, u.name, u.email, u.role, u.anonymous, g.gen, g.built_gen, g.toc_at, g.last_at, g.grades
  FROM enrolments e JOIN users u ON u.id = e.user_id LEFT JOIN grid_summaries g ON g.user_id = e.user_id AND g.book_id = ${sql.placeholder('book')}
  WHERE e.course_id = ${sql.placeholder('course')} AND e.user_id > ${sql.placeholder('after')} ORDER BY e.user_id LIMIT ${sql.placeholder('limit')}`;

interface EnrolledRow extends IdentityRow {
  gen: number | null;
  built_gen: number | null;
  toc_at: number | null;
  last_at: number | null;
  grades: string | null;
}

/** Some enrolled students (`ids`) by the progress report's statement, each with their grid row's generation read in the same statement. */
const someStudents: Record<Dialect, SQL> = {
  sqlite: sql`e.course_id = ${sql.placeholder('course')} AND e.user_id IN (SELECT value FROM json_each(${sql.placeholder('ids')}))`,
  postgres: sql`e.course_id = ${sql.placeholder('course')} AND e.user_id = ANY(CAST(${sql.placeholder('ids')} AS text[]))`,
};
const withGen = (d: Dialect, windowed: boolean) =>
  sql`SELECT r.*, (SELECT s.gen FROM grid_summaries s WHERE s.user_id = r.user_id AND s.book_id = ${sql.placeholder('book')}) AS gen FROM (${gridSql(d, windowed, someStudents[d])}) r`;
const gradeSql = { all: { sqlite: withGen('sqlite', false), postgres: withGen('postgres', false) }, window: { sqlite: withGen('sqlite', true), postgres: withGen('postgres', true) } };

/**
 * Stores recomputed grid rows, each only if its generation is still the one read with the raw rows (`gen`; 0 when
 * there was no row, which a write since would have made): a write in between leaves the row stale, for the next read;
 * a row is made only for a user and book still there (work moved to another account leaves none).
 * The time is raised, never lowered: a program or event saved since raised it already.
 */
const stillThere = (user: SQL, gen: SQL) =>
  sql`((${gen} = 0 AND EXISTS (SELECT 1 FROM users WHERE id = ${user}) AND EXISTS (SELECT 1 FROM books WHERE id = ${sql.placeholder('book')}))
    OR EXISTS (SELECT 1 FROM grid_summaries s WHERE s.user_id = ${user} AND s.book_id = ${sql.placeholder('book')} AND s.gen = ${gen}))`;
const storeSql: Record<Dialect, SQL> = {
  sqlite: sql`INSERT INTO grid_summaries (user_id, book_id, gen, built_gen, toc_at, last_at, grades)
    SELECT r.value ->> 0, ${sql.placeholder('book')}, r.value ->> 1, r.value ->> 1, ${sql.placeholder('tocAt')}, r.value ->> 2, r.value ->> 3 FROM json_each(${sql.placeholder('rows')}) r
    WHERE ${stillThere(sql`r.value ->> 0`, sql`r.value ->> 1`)}
    ON CONFLICT (user_id, book_id) DO UPDATE SET built_gen = excluded.built_gen, toc_at = excluded.toc_at, grades = excluded.grades,
      last_at = CASE WHEN grid_summaries.last_at IS NULL OR grid_summaries.last_at < excluded.last_at THEN excluded.last_at ELSE grid_summaries.last_at END
    WHERE grid_summaries.gen = excluded.gen AND excluded.gen > 0`,
  postgres: sql`INSERT INTO grid_summaries (user_id, book_id, gen, built_gen, toc_at, last_at, grades)
    SELECT r.u, ${sql.placeholder('book')}, r.g, r.g, CAST(${sql.placeholder('tocAt')} AS BIGINT), r.l, r.t FROM jsonb_to_recordset(CAST(${sql.placeholder('rows')} AS jsonb)) AS r(u text, g integer, l bigint, t text)
    WHERE ${stillThere(sql`r.u`, sql`r.g`)}
    ON CONFLICT (user_id, book_id) DO UPDATE SET built_gen = excluded.built_gen, toc_at = excluded.toc_at, grades = excluded.grades,
      last_at = CASE WHEN grid_summaries.last_at IS NULL OR grid_summaries.last_at < excluded.last_at THEN excluded.last_at ELSE grid_summaries.last_at END
    WHERE grid_summaries.gen = excluded.gen AND excluded.gen > 0`,
};

/** The table of contents' stamp a grid row is graded against: its import time, 0 for none. */
const stampOf = (registered: RegisteredToc | undefined) => registered?.importedAt ?? 0;

/** Grades the raw rows of `students` (all of a page of the grid, or the stale ones), within the course's dates if it has them. */
async function gradeRaw(db: Database, course: CourseRow, index: TocIndex, students: IdentityRow[]): Promise<{ grades: Grades[]; gens: (number | null)[] }> {
  if (students.length === 0) return { grades: [], gens: [] };
  const window = windowOf(course);
  const ids = students.map((s) => s.id);
  const values = { course: course.id, book: course.bookId, ids: db.dialect === 'sqlite' ? JSON.stringify(ids) : ids, ...(window ?? always) };
  const rows = await db.all<GridRow & { gen: number | null }>((window ? gradeSql.window : gradeSql.all)[db.dialect], values);
  const gen = new Map(rows.map((r) => [r.user_id, r.gen === null ? 0 : Number(r.gen)]));
  return { grades: gradeStudents(index, students, rows).map((s) => gradesOf(index, s)), gens: ids.map((id) => gen.get(id) ?? null) };
}

/** Each student's grades of a page of the grid, from their grid rows where good, else recomputed (and stored, without dates). */
async function gradesOfPage(db: Database, course: CourseRow, registered: RegisteredToc | undefined, enrolled: EnrolledRow[]): Promise<Grades[]> {
  const index = tocIndex(registered);
  if (windowOf(course)) return (await gradeRaw(db, course, index, enrolled)).grades;
  const stamp = stampOf(registered);
  const good = (r: EnrolledRow) => r.gen !== null && r.grades !== null && Number(r.built_gen) === Number(r.gen) && Number(r.toc_at) === stamp;
  const stale = enrolled.filter((r) => !good(r));
  const fresh = await gradeRaw(db, course, index, stale);
  const recomputed = new Map(stale.map((r, i) => [r.id, fresh.grades[i]!]));
  const store = stale.flatMap((r, i) => {
    const gen = fresh.gens[i];
    if (gen === null || gen === undefined) return []; // no longer enrolled
    const { last, ...rest } = fresh.grades[i]!;
    return [[r.id, gen, last, JSON.stringify(rest)] as const];
  });
  if (store.length > 0) {
    const rows = db.dialect === 'sqlite' ? JSON.stringify(store) : JSON.stringify(store.map(([u, g, l, t]) => ({ u, g, l, t })));
    await db.write((tx) => tx.run(storeSql[db.dialect], { book: course.bookId, tocAt: stamp, rows }));
  }
  return enrolled.map((r) => {
    const again = recomputed.get(r.id);
    if (again) return again;
    const { pages, unlisted } = JSON.parse(r.grades!) as Omit<Grades, 'last'>;
    return { pages, unlisted, last: r.last_at === null ? null : Number(r.last_at) };
  });
}

/** The table of contents' chapters in order, each with its pages' places in toc.pages. */
function chaptersOf(toc: Static<typeof ReportToc>): { id: string; pages: number[] }[] {
  const chapters: { id: string; pages: number[] }[] = [];
  toc.pages.forEach((page, at) => {
    const last = chapters.at(-1);
    if (last?.id === page.chapter) last.pages.push(at);
    else chapters.push({ id: page.chapter, pages: [at] });
  });
  return chapters;
}

/**
 * A page of the course's grid: its enrolled students after the cursor `after` (a user id; '' for the first page), at
 * most `limit`, by user id, each with a cell a chapter of the table of contents (`chapter` undefined) or a page of
 * that chapter; undefined when the table of contents has no such chapter.
 */
export async function courseGrid(
  db: Database,
  course: CourseRow,
  registered: RegisteredToc | undefined,
  page: { limit: number; after: string; chapter?: string | undefined },
): Promise<Omit<GridReply, 'course' | 'book' | 'window' | 'next'> & { next: string | null } | undefined> {
  const index = tocIndex(registered);
  const chapters = chaptersOf(index.toc);
  const chapter = page.chapter === undefined ? undefined : chapters.find((c) => c.id === page.chapter);
  if (page.chapter !== undefined && !chapter) return undefined;
  // Each column's pages (places in toc.pages): a chapter's, or one page.
  const columns = chapter ? chapter.pages.map((at) => ({ id: index.toc.pages[at]!.id, pages: [at] })) : chapters;
  const columnOf = new Int32Array(index.toc.pages.length);
  columns.forEach((c, i) => c.pages.forEach((at) => (columnOf[at] = i)));

  const enrolled = await db.all<EnrolledRow>(enrolledSql, { course: course.id, book: course.bookId, after: page.after, limit: page.limit + 1 });
  const more = enrolled.length > page.limit;
  if (more) enrolled.pop();
  const grades = await gradesOfPage(db, course, registered, enrolled);
  const rounded = (points: number) => Math.round(points * 1e6) / 1e6;
  const students = enrolled.map((user, i) => {
    const g = grades[i]!;
    const cells = columns.map((): [number, number, number] => [0, 0, 0]);
    const totals = { pagesCompleted: 0, pages: index.toc.pages.length, attempted: 0, correct: 0, questions: index.toc.questions, earned: 0, possible: index.toc.points };
    for (const [at, earned, completed, attempted, correct] of g.pages) {
      totals.pagesCompleted += completed;
      totals.attempted += attempted;
      totals.correct += correct;
      totals.earned += earned;
      if (chapter && !chapter.pages.includes(at)) continue;
      const cell = cells[columnOf[at]!]!;
      cell[0] += earned;
      cell[1] += completed;
      cell[2] += 1;
    }
    for (const [, completed] of g.unlisted) {
      totals.pages++;
      totals.possible++;
      totals.pagesCompleted += completed;
      totals.earned += completed;
    }
    totals.earned = rounded(totals.earned);
    totals.possible = rounded(totals.possible);
    return {
      user: identity(user),
      totals,
      lastActivity: g.last === null ? null : iso(g.last),
      cells: cells.map(([earned, completed, touched]): [number, number, number] => [rounded(earned), completed, touched]),
      ...(g.unlisted.length > 0 ? { unlisted: g.unlisted.map(([id, completed]) => ({ page: id, completed: completed === 1 })) } : {}),
    };
  });
  return { toc: index.toc, chapter: chapter?.id ?? null, columns: columns.map((c) => c.id), students, next: more ? enrolled.at(-1)!.id : null };
}

/** The statements of the grid in a dialect, by name (for EXPLAIN in the tests). */
export function gridStatements(dialect: Dialect): Record<string, SQL> {
  return { 'grid: students and rows': enrolledSql, 'grid: stale rows': gradeSql.all[dialect], 'grid: stale rows, with dates': gradeSql.window[dialect], 'grid: store': storeSql[dialect] };
}
