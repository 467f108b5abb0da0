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

/** A student's cells by chapter and totals, as the grid shows them first (the grid row's `chapters`). */
export interface ChapterCells {
  /** [points earned, pages completed, pages with work] of each chapter of the table of contents, in its order, one after another. */
  cells: number[];
  /** [pages completed, questions attempted, correct, points earned] of the table of contents' pages. */
  totals: [number, number, number, number];
  /** [page id, completed (0/1)] of the unlisted pages. */
  unlisted: [page: string, completed: 0 | 1][];
}

/** The cells by chapter of a student's grades (`chapterOf`: each page's chapter, by its place in toc.pages). */
function chapterCellsOf(grades: Grades, chapterOf: Int32Array, chapters: number): ChapterCells {
  const cells = new Array<number>(chapters * 3).fill(0);
  const totals: ChapterCells['totals'] = [0, 0, 0, 0];
  for (const [at, earned, completed, attempted, correct] of grades.pages) {
    const c = chapterOf[at]! * 3;
    cells[c] = rounded(cells[c]! + earned);
    cells[c + 1]! += completed;
    cells[c + 2]! += 1;
    totals[0] += completed;
    totals[1] += attempted;
    totals[2] += correct;
    totals[3] = rounded(totals[3] + earned);
  }
  return { cells, totals, unlisted: grades.unlisted.map(([page, completed]) => [page, completed]) };
}

const rounded = (points: number) => Math.round(points * 1e6) / 1e6;

/** The grades of a graded student (gradeStudents) as the grid row stores them. */
function gradesOf(index: TocIndex, student: ReturnType<typeof gradeStudents>[number]): Grades {
  return {
    pages: student.pages.map((p) => [index.pageAt.get(p.page)!, p.earned, p.completed ? 1 : 0, p.attempted, p.correct]),
    unlisted: (student.unlisted?.pages ?? []).map((p) => [p.page, p.completed ? 1 : 0, p.attempted, p.correct]),
    last: student.lastActivity === null ? null : Date.parse(student.lastActivity),
  };
}

/**
 * A course's students of one page of the grid: user ids after the cursor, up to `limit`, each with their grid row in
 * the book: its cells by chapter (`chapters`), or its pages (`grades`) for a chapter's.
 */
const enrolledSql = (column: 'chapters' | 'grades') => sql`SELECT u.id, u.username, u.name, u.email, u.role, u.anonymous, g.gen, g.built_gen, g.toc_at, g.last_at, g.${sql.raw(column)} AS kept
  FROM enrolments e JOIN users u ON u.id = e.user_id LEFT JOIN grid_summaries g ON g.user_id = e.user_id AND g.book_id = ${sql.placeholder('book')}
  WHERE e.course_id = ${sql.placeholder('course')} AND e.user_id > ${sql.placeholder('after')} ORDER BY e.user_id LIMIT ${sql.placeholder('limit')}`;
const enrolledWith = { chapters: enrolledSql('chapters'), grades: enrolledSql('grades') };

interface EnrolledRow extends IdentityRow {
  gen: number | null;
  built_gen: number | null;
  toc_at: number | null;
  last_at: number | null;
  kept: string | null;
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
  sqlite: sql`INSERT INTO grid_summaries (user_id, book_id, gen, built_gen, toc_at, last_at, chapters, grades)
    SELECT r.value ->> 0, ${sql.placeholder('book')}, r.value ->> 1, r.value ->> 1, ${sql.placeholder('tocAt')}, r.value ->> 2, r.value ->> 3, r.value ->> 4 FROM json_each(${sql.placeholder('rows')}) r
    WHERE ${stillThere(sql`r.value ->> 0`, sql`r.value ->> 1`)}
    ON CONFLICT (user_id, book_id) DO UPDATE SET built_gen = excluded.built_gen, toc_at = excluded.toc_at, chapters = excluded.chapters, grades = excluded.grades,
      last_at = CASE WHEN grid_summaries.last_at IS NULL OR grid_summaries.last_at < excluded.last_at THEN excluded.last_at ELSE grid_summaries.last_at END
    WHERE grid_summaries.gen = excluded.gen AND excluded.gen > 0`,
  postgres: sql`INSERT INTO grid_summaries (user_id, book_id, gen, built_gen, toc_at, last_at, chapters, grades)
    SELECT r.u, ${sql.placeholder('book')}, r.g, r.g, CAST(${sql.placeholder('tocAt')} AS BIGINT), r.l, r.c, r.t FROM jsonb_to_recordset(CAST(${sql.placeholder('rows')} AS jsonb)) AS r(u text, g integer, l bigint, c text, t text)
    WHERE ${stillThere(sql`r.u`, sql`r.g`)}
    ON CONFLICT (user_id, book_id) DO UPDATE SET built_gen = excluded.built_gen, toc_at = excluded.toc_at, chapters = excluded.chapters, grades = excluded.grades,
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

/** Each student of a page of the grid: their cells by chapter, or their grades for a chapter's pages, and their newest work's time. */
type Kept<C extends 'chapters' | 'grades'> = (C extends 'chapters' ? ChapterCells : Omit<Grades, 'last'>) & { last: number | null };

/**
 * Each student's `column` of a page of the grid, from their grid rows where good, else recomputed from the raw rows
 * (and stored, for a course without dates).
 */
async function keptOfPage<C extends 'chapters' | 'grades'>(
  db: Database,
  course: CourseRow,
  registered: RegisteredToc | undefined,
  enrolled: EnrolledRow[],
  column: C,
  chapterOf: Int32Array,
  chapters: number,
): Promise<Kept<C>[]> {
  const index = tocIndex(registered);
  const shape = (g: Grades): Kept<C> => (column === 'grades' ? g : { ...chapterCellsOf(g, chapterOf, chapters), last: g.last }) as unknown as Kept<C>;
  if (windowOf(course)) return (await gradeRaw(db, course, index, enrolled)).grades.map(shape);
  const stamp = stampOf(registered);
  const good = (r: EnrolledRow) => r.gen !== null && r.kept !== null && Number(r.built_gen) === Number(r.gen) && Number(r.toc_at) === stamp;
  const stale = enrolled.filter((r) => !good(r));
  const fresh = await gradeRaw(db, course, index, stale);
  const recomputed = new Map(stale.map((r, i) => [r.id, fresh.grades[i]!]));
  const store = stale.flatMap((r, i) => {
    const gen = fresh.gens[i];
    if (gen === null || gen === undefined) return []; // no longer enrolled
    const { last, pages, unlisted } = fresh.grades[i]!;
    return [[r.id, gen, last, JSON.stringify(chapterCellsOf(fresh.grades[i]!, chapterOf, chapters)), JSON.stringify({ pages, unlisted })] as const];
  });
  if (store.length > 0) {
    const rows = db.dialect === 'sqlite' ? JSON.stringify(store) : JSON.stringify(store.map(([u, g, l, c, t]) => ({ u, g, l, c, t })));
    await db.write((tx) => tx.run(storeSql[db.dialect], { book: course.bookId, tocAt: stamp, rows }));
  }
  return enrolled.map((r) => {
    const again = recomputed.get(r.id);
    if (again) return shape(again);
    return { ...(JSON.parse(r.kept!) as object), last: r.last_at === null ? null : Number(r.last_at) } as Kept<C>;
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
  const chapterOf = new Int32Array(index.toc.pages.length);
  chapters.forEach((c, i) => c.pages.forEach((at) => (chapterOf[at] = i)));

  const enrolled = await db.all<EnrolledRow>(enrolledWith[chapter ? 'grades' : 'chapters'], { course: course.id, book: course.bookId, after: page.after, limit: page.limit + 1 });
  const more = enrolled.length > page.limit;
  if (more) enrolled.pop();
  const toc = index.toc;
  const reply = (user: IdentityRow, cells: [number, number, number][], sums: ChapterCells['totals'], unlisted: ChapterCells['unlisted'], last: number | null) => ({
    user: identity(user),
    totals: {
      pagesCompleted: sums[0] + unlisted.reduce((n, [, completed]) => n + completed, 0),
      pages: toc.pages.length + unlisted.length,
      attempted: sums[1],
      correct: sums[2],
      questions: toc.questions,
      earned: rounded(sums[3] + unlisted.reduce((n, [, completed]) => n + completed, 0)),
      possible: rounded(toc.points + unlisted.length),
    },
    lastActivity: last === null ? null : iso(last),
    cells,
    ...(unlisted.length > 0 ? { unlisted: unlisted.map(([id, completed]) => ({ page: id, completed: completed === 1 })) } : {}),
  });
  let students;
  if (!chapter) {
    const kept = await keptOfPage(db, course, registered, enrolled, 'chapters', chapterOf, chapters.length);
    students = enrolled.map((user, i) => {
      const k = kept[i]!;
      const cells = chapters.map((_, c): [number, number, number] => [k.cells[3 * c]!, k.cells[3 * c + 1]!, k.cells[3 * c + 2]!]);
      return reply(user, cells, k.totals, k.unlisted, k.last);
    });
  } else {
    const kept = await keptOfPage(db, course, registered, enrolled, 'grades', chapterOf, chapters.length);
    const columnOf = new Map(chapter.pages.map((at, i) => [at, i]));
    students = enrolled.map((user, i) => {
      const k = kept[i]!;
      const cells = columns.map((): [number, number, number] => [0, 0, 0]);
      for (const [at, earned, completed] of k.pages) {
        const c = columnOf.get(at);
        if (c !== undefined) cells[c] = [earned, completed, 1];
      }
      const { totals, unlisted } = chapterCellsOf(k, chapterOf, chapters.length);
      return reply(user, cells, totals, unlisted, k.last);
    });
  }
  const titles = new Map(registered?.chapters.map((c) => [c.id, c.title]));
  return {
    toc,
    chapters: chapters.map((c) => ({ id: c.id, title: titles.get(c.id) ?? c.id })),
    chapter: chapter?.id ?? null,
    columns: columns.map((c) => c.id),
    students,
    next: more ? enrolled.at(-1)!.id : null,
  };
}

/** The statements of the grid in a dialect, by name (for EXPLAIN in the tests). */
export function gridStatements(dialect: Dialect): Record<string, SQL> {
  return { 'grid: students and cells': enrolledWith.chapters, 'grid: students and pages': enrolledWith.grades, 'grid: stale rows': gradeSql.all[dialect], 'grid: stale rows, with dates': gradeSql.window[dialect], 'grid: store': storeSql[dialect] };
}
