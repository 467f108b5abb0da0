import { and, asc, count, eq, sql } from 'drizzle-orm';
import { newJoinCode } from '../lib/join-code.js';
import type { Database, Queries } from './index.js';
import { conflictOn, first, qb, rows, select } from './query.js';
import { courses, courseStaff, enrolments, users, type Course, type EnrolmentSource, type StaffRole } from './schema.js';

/** A course as the code sees it: its row, `open` as a boolean. */
export type CourseRow = Omit<Course, 'open'> & { open: boolean };

export interface NewCourse {
  id: string;
  bookId: string;
  title: string;
  term?: string | null;
  startsAt?: number | null;
  endsAt?: number | null;
}

export class CourseExistsError extends Error {
  override name = 'CourseExistsError';
}

const p = sql.placeholder;
const courseColumns = {
  id: courses.id,
  bookId: courses.bookId,
  title: courses.title,
  term: courses.term,
  joinCode: courses.joinCode,
  open: courses.open,
  startsAt: courses.startsAt,
  endsAt: courses.endsAt,
  createdAt: courses.createdAt,
};
const toCourse = (row: Course): CourseRow => ({ ...row, open: row.open === 1 });

// Read by every request to a course's routes (plugins/access.ts): built once, the values placeholders.
const courseById = select(courseColumns).from(courses).where(eq(courses.id, p('id')));
const courseByCode = select(courseColumns).from(courses).where(eq(courses.joinCode, p('code')));
const staffRoleQuery = select({ role: courseStaff.role })
  .from(courseStaff)
  .where(and(eq(courseStaff.courseId, p('courseId')), eq(courseStaff.userId, p('userId'))));
const enrolledQuery = select({ one: sql<number>`1` })
  .from(enrolments)
  .where(and(eq(enrolments.courseId, p('courseId')), eq(enrolments.userId, p('userId'))));
const staffCountQuery = select({ n: count() }).from(courseStaff).where(eq(courseStaff.userId, p('userId')));

/** A join code no course has: a new random one (a clash, some 2^-49 likely, draws again). */
async function unusedJoinCode(tx: Queries): Promise<string> {
  for (;;) {
    const code = newJoinCode();
    if (!(await first(tx, courseByCode, { code }))) return code;
  }
}

/** Creates a course with a new join code, open. Throws CourseExistsError if the id is taken (the book must exist: the caller checks). */
export async function createCourse(db: Database, course: NewCourse): Promise<CourseRow> {
  return db.write(async (tx) => {
    const row = { ...course, term: course.term ?? null, startsAt: course.startsAt ?? null, endsAt: course.endsAt ?? null, joinCode: await unusedJoinCode(tx), open: 1 as const, createdAt: Date.now() };
    const created = await tx.run(qb.insert(courses).values(row).onConflictDoNothing({ target: conflictOn(courses.id) }));
    if (created === 0) throw new CourseExistsError(`course "${course.id}" already exists`);
    return toCourse(row);
  });
}

export async function findCourse(db: Queries, id: string): Promise<CourseRow | undefined> {
  const row = await first(db, courseById, { id });
  return row && toCourse(row);
}

/** The course a join code (already normalised: lib/join-code.ts) belongs to, or undefined. */
export async function findCourseByCode(db: Queries, code: string): Promise<CourseRow | undefined> {
  const row = await first(db, courseByCode, { code });
  return row && toCourse(row);
}

/** Every course, or a book's, ordered by id. */
export async function listCourses(db: Queries, bookId?: string): Promise<CourseRow[]> {
  const query = select(courseColumns).from(courses).where(bookId === undefined ? undefined : eq(courses.bookId, bookId)).orderBy(asc(courses.id));
  return (await rows(db, query)).map(toCourse);
}

/** Opens or closes a course to joining with its code; false when there is no such course. */
export async function setCourseOpen(db: Database, id: string, open: boolean): Promise<boolean> {
  return (await db.run(qb.update(courses).set({ open: open ? 1 : 0 }).where(eq(courses.id, id)))) > 0;
}

/** What PATCH /api/courses/:course may change (undefined: unchanged; null clears the term or a date). */
export interface CourseChanges {
  title?: string | undefined;
  term?: string | null | undefined;
  open?: boolean | undefined;
  startsAt?: number | null | undefined;
  endsAt?: number | null | undefined;
}

/** Changes what `changes` names; the course as it is now, or undefined when there is no such course. */
export async function updateCourse(db: Database, id: string, changes: CourseChanges): Promise<CourseRow | undefined> {
  const { title, term, open, startsAt, endsAt } = changes;
  // Drizzle leaves out of the SET the columns whose value is undefined.
  const set = { title, term, open: open === undefined ? undefined : open ? (1 as const) : (0 as const), startsAt, endsAt };
  return db.write(async (tx) => {
    if (Object.values(set).some((v) => v !== undefined)) await tx.run(qb.update(courses).set(set).where(eq(courses.id, id)));
    return findCourse(tx, id);
  });
}

/** How many students are enrolled in a course, and how many instructors and teaching assistants it has. */
export async function courseCounts(db: Queries, id: string): Promise<{ students: number; instructors: number; tas: number }> {
  const students = select({ n: count() }).from(enrolments).where(eq(enrolments.courseId, id));
  const staff = select({ role: courseStaff.role, n: count() }).from(courseStaff).where(eq(courseStaff.courseId, id)).groupBy(courseStaff.role);
  const [[enrolled], roles] = await Promise.all([rows(db, students), rows(db, staff)]);
  const of = (role: StaffRole) => roles.find((r) => r.role === role)?.n ?? 0;
  return { students: enrolled?.n ?? 0, instructors: of('instructor'), tas: of('ta') };
}

/** Gives a course a new join code (the old one stops working); the new code, or undefined when there is no such course. */
export async function rotateJoinCode(db: Database, id: string): Promise<string | undefined> {
  return db.write(async (tx) => {
    const code = await unusedJoinCode(tx);
    return (await tx.run(qb.update(courses).set({ joinCode: code }).where(eq(courses.id, id)))) > 0 ? code : undefined;
  });
}

/** Makes a user staff of a course, or changes their staff role. */
export async function addStaff(db: Database, courseId: string, userId: string, role: StaffRole): Promise<void> {
  await db.run(
    qb
      .insert(courseStaff)
      .values({ courseId, userId, role, addedAt: Date.now() })
      .onConflictDoUpdate({ target: [conflictOn(courseStaff.courseId), conflictOn(courseStaff.userId)], set: { role: sql`excluded.role` } }),
  );
}

/** Ends a user's place on a course's staff; false when they had none. */
export async function removeStaff(db: Database, courseId: string, userId: string): Promise<boolean> {
  return (await db.run(qb.delete(courseStaff).where(and(eq(courseStaff.courseId, courseId), eq(courseStaff.userId, userId))))) > 0;
}

/** A user's role on a course's staff, or undefined. */
export async function staffRole(db: Queries, courseId: string, userId: string): Promise<StaffRole | undefined> {
  return (await first(db, staffRoleQuery, { courseId, userId }))?.role;
}

/** Whether a user teaches any course (staff of one, in either role). */
export async function teachesAnyCourse(db: Queries, userId: string): Promise<boolean> {
  return (await first(db, staffCountQuery, { userId }))!.n > 0;
}

export async function isEnrolled(db: Queries, courseId: string, userId: string): Promise<boolean> {
  return (await first(db, enrolledQuery, { courseId, userId })) !== undefined;
}

/** Enrols users in a course (those already enrolled stay as they were); how many were enrolled now. */
export async function enrol(db: Database, courseId: string, userIds: readonly string[], via: EnrolmentSource, now = Date.now()): Promise<number> {
  if (userIds.length === 0) return 0;
  return db.run(
    qb
      .insert(enrolments)
      .values([...new Set(userIds)].map((userId) => ({ courseId, userId, via, enrolledAt: now })))
      .onConflictDoNothing({ target: [conflictOn(enrolments.courseId), conflictOn(enrolments.userId)] }),
  );
}

/** Enrols `into` in every course `from` is enrolled in (as it was: source and time), then ends `from`'s enrolments (login after an anonymous join). */
export async function moveEnrolments(tx: Queries, from: string, into: string): Promise<void> {
  const moved = select({ courseId: enrolments.courseId, userId: sql<string>`${into}`, via: enrolments.via, enrolledAt: enrolments.enrolledAt })
    .from(enrolments)
    .where(eq(enrolments.userId, from));
  await tx.run(qb.insert(enrolments).select(moved).onConflictDoNothing({ target: [conflictOn(enrolments.courseId), conflictOn(enrolments.userId)] }));
  await tx.run(qb.delete(enrolments).where(eq(enrolments.userId, from)));
}

/** Takes a student out of a course (their work stays: it is theirs and the book's); false when they were not enrolled. */
export async function unenrol(db: Database, courseId: string, userId: string): Promise<boolean> {
  return (await db.run(qb.delete(enrolments).where(and(eq(enrolments.courseId, courseId), eq(enrolments.userId, userId))))) > 0;
}

/** A course someone studies or teaches, as `GET /api/courses/mine` lists it. */
export interface MyCourse {
  course: CourseRow;
  /** `student`, or their staff role. */
  as: 'student' | StaffRole;
}

/** The courses a user is enrolled in or teaches, ordered by id (a course they both study and teach appears once per role). */
export async function coursesOf(db: Queries, userId: string): Promise<MyCourse[]> {
  const studying = select(courseColumns).from(enrolments).innerJoin(courses, eq(courses.id, enrolments.courseId)).where(eq(enrolments.userId, userId));
  const teaching = select({ ...courseColumns, role: courseStaff.role })
    .from(courseStaff)
    .innerJoin(courses, eq(courses.id, courseStaff.courseId))
    .where(eq(courseStaff.userId, userId));
  const [studied, taught] = await Promise.all([rows(db, studying), rows(db, teaching)]);
  const mine: MyCourse[] = [
    ...studied.map((row) => ({ course: toCourse(row), as: 'student' as const })),
    ...taught.map(({ role, ...row }) => ({ course: toCourse(row), as: role })),
  ];
  return mine.sort((a, b) => (a.course.id < b.course.id ? -1 : a.course.id > b.course.id ? 1 : 0));
}

/** What migration 0010 did when it retired the server-wide instructor role: each default course with its staff and students. */
export interface RetiredRoleCourse {
  id: string;
  bookId: string;
  joinCode: string;
  staff: string[];
  students: number;
}

/**
 * The courses with what migration 0010 put in them (staff, students enrolled `via` migration): printed by `folio migrate`
 * and logged by `folio serve --migrate` right after it applied 0010, when every course is one the migration made.
 */
export async function migratedCourses(db: Queries): Promise<RetiredRoleCourse[]> {
  const made = select({ id: courses.id, bookId: courses.bookId, joinCode: courses.joinCode, students: count(enrolments.userId) })
    .from(courses)
    .leftJoin(enrolments, and(eq(enrolments.courseId, courses.id), eq(enrolments.via, 'migration')))
    .groupBy(courses.id, courses.bookId, courses.joinCode)
    .orderBy(asc(courses.id));
  const staff = select({ courseId: courseStaff.courseId, username: sql<string>`COALESCE(${users.username}, ${users.id})` })
    .from(courseStaff)
    .innerJoin(users, eq(users.id, courseStaff.userId))
    .orderBy(asc(users.username));
  const [found, staffRows] = await Promise.all([rows(db, made), rows(db, staff)]);
  return found.map((c) => ({ ...c, staff: staffRows.filter((s) => s.courseId === c.id).map((s) => s.username) }));
}
