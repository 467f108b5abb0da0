import type { CourseRow, RetiredRoleCourse } from '../db/courses.js';
import type { RosterSummary } from '../lib/lti-roster.js';

/** `folio courses …`: what the commands print. */

/** A course as `folio courses list --json` gives it. */
export interface ListedCourse {
  id: string;
  book: string;
  title: string;
  term: string | null;
  open: boolean;
  joinCode: string;
  startsAt: string | null;
  endsAt: string | null;
  staff: number;
  students: number;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function listedCourse(course: CourseRow, counts: { staff: number; students: number } | undefined): ListedCourse {
  return {
    id: course.id,
    book: course.bookId,
    title: course.title,
    term: course.term,
    open: course.open,
    joinCode: course.joinCode,
    startsAt: iso(course.startsAt),
    endsAt: iso(course.endsAt),
    staff: counts?.staff ?? 0,
    students: counts?.students ?? 0,
  };
}

/** Rows of text as a table: columns padded to their widest cell, two spaces apart, the last one not padded. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n');
}

/** The table `folio courses list` prints. */
export function courseTable(courses: readonly ListedCourse[]): string {
  return table([
    ['ID', 'BOOK', 'TITLE', 'TERM', 'JOINING', 'JOIN CODE', 'STAFF', 'STUDENTS'],
    ...courses.map((c) => [c.id, c.book, c.title, c.term ?? '-', c.open ? 'open' : 'closed', c.joinCode, String(c.staff), String(c.students)]),
  ]);
}

/** What `folio courses add` prints about the course it made. */
export function describeCourse(course: CourseRow): string {
  const dates = course.startsAt !== null || course.endsAt !== null ? `, from ${iso(course.startsAt)?.slice(0, 10) ?? 'the start'} to ${iso(course.endsAt)?.slice(0, 10) ?? 'open end'}` : '';
  return (
    `added course ${course.id} "${course.title}"${course.term ? ` (${course.term})` : ''} on book ${course.bookId}${dates}\n` +
    `join code: ${course.joinCode} (students join with it; "folio courses code ${course.id} --rotate" replaces it)\n` +
    `next: "folio courses staff add ${course.id} USER --role instructor"`
  );
}

/** The lines `folio migrate` prints about the default courses migration 0010 made when it retired the instructor role. */
export function describeRetiredRole(migration: string, courses: readonly RetiredRoleCourse[]): string {
  const head = `migration ${migration} retired the server-wide instructor role (instructors are staff of courses now):`;
  if (courses.length === 0) return `${head}\n  no book had work, so no default course was made; former instructors are students now`;
  return [
    `${head} a default course per book with work`,
    ...courses.map(
      (c) => `  course ${c.id} (book ${c.bookId}): join code ${c.joinCode}; staff: ${c.staff.length > 0 ? c.staff.join(', ') : 'none'}; ${c.students} student(s) enrolled`,
    ),
    '  (see "folio courses list"; add staff with "folio courses staff add COURSE USER --role instructor|ta")',
  ].join('\n');
}

/** What `folio courses sync-roster` prints when the sync is done. */
export function describeRosterSync(courseId: string, s: RosterSummary): string {
  const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
  return (
    `${courseId}: enrolled ${s.enrolled} student(s) from the LMS; ${s.alreadyEnrolled} already enrolled, ${s.unenrolled} unenrolled, ` +
    `${s.skipped} member(s) left as they were (${plural(s.contexts, 'context', 'contexts')}, ${plural(s.pages, 'page', 'pages')})`
  );
}
