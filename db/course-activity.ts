import { sql, type SQL } from 'drizzle-orm';
import type { Static } from 'typebox';
import type { CourseActivityReply, CourseConsentReply } from '../schemas/reports.js';
import type { CourseRow } from './courses.js';
import type { Dialect, Queries } from './index.js';

/**
 * A course's activity over time (the dashboard's overview): answers, program saves and page views per UTC day of its
 * enrolled students, how many were active in the last 7 days, and how many consented to research. Work outside the
 * course's dates is left out, as in the other course reports (db/course-reports.ts).
 *
 * Unlike the other reports, which probe each enrolled student's rows, these read the book's rows of the days asked by
 * the work tables' (book_id, time) indexes and keep those of the course's students (one probe of the enrolments' key a
 * row): the cost grows with the book's work in those days, not with its students' whole history (answers and programs
 * have no per-student index by time). All of it is one statement, so both databases answer from one moment, on one
 * connection.
 */

export type CourseActivity = Static<typeof CourseActivityReply>;
export type CourseConsent = Static<typeof CourseConsentReply>;

export const dayMs = 86_400_000;
/** What a book page records as a page view (`<folio-book>` logs it once per page: `folio.log('page:view', { page })`). */
export const pageViewEvent = 'page:view';
/** "Active this week": any work in the last 7 days (7 × 24 h back from now). */
export const activeWindowMs = 7 * dayMs;

const p = sql.placeholder;
/** SQLite: CROSS JOIN keeps the book's rows by time outermost (the planner, without statistics, would start from the enrolments). */
const joinOf: Record<Dialect, SQL> = { sqlite: sql.raw('CROSS JOIN'), postgres: sql.raw('JOIN') };

/** The four kinds of work: table alias, table, time column, and what a row counts as (answers, saves, page views). */
const tables = [
  { alias: 'a', table: 'answers', time: 'saved_at', counts: ['COUNT(*)', '0', '0'] },
  { alias: 'w', table: 'programs', time: 'saved_at', counts: ['0', 'COUNT(*)', '0'] },
  { alias: 'v', table: 'events', time: 'server_time', counts: ['0', '0', `SUM(CASE WHEN v.type = '${pageViewEvent}' THEN 1 ELSE 0 END)`] },
  { alias: 'c', table: 'page_completions', time: 'completed_at', counts: ['0', '0', '0'] },
] as const;

/**
 * Each enrolled student's rows of the book between `since` and `until` (by the table's (book_id, time) index), all four
 * tables: `columns` what each gives, `tail` after each (a GROUP BY).
 */
function courseRows(d: Dialect, columns: (t: (typeof tables)[number]) => string, since: string, until: string, tail: (t: (typeof tables)[number]) => string = () => ''): SQL {
  const parts = tables.map((t) => {
    const time = `${t.alias}.${t.time}`;
    return sql`SELECT ${sql.raw(columns(t))} FROM ${sql.raw(t.table)} ${sql.raw(t.alias)} ${joinOf[d]} enrolments e ON e.course_id = ${p('course')} AND e.user_id = ${sql.raw(t.alias)}.user_id
      WHERE ${sql.raw(t.alias)}.book_id = ${p('book')} AND ${sql.raw(time)} >= ${p(since)} AND ${sql.raw(time)} < ${p(until)}${sql.raw(tail(t))}`;
  });
  return sql.join(parts, sql.raw(' UNION ALL '));
}

/**
 * One row per day with work (none: one row of NULLs), each with the course's enrolled count and active students:
 * the day is the time's whole days since the epoch (UTC), which both databases compute as an integer division. Each
 * table's rows are first counted per student and day (a hash of a few thousand groups), so that the distinct
 * students of a day are counted over those groups, not over every row. CAST: PostgreSQL sums BIGINTs as NUMERIC.
 */
function activitySql(d: Dialect): SQL {
  const day = (t: (typeof tables)[number]) => `${t.alias}.${t.time} / ${dayMs}`;
  const perStudentDay = courseRows(
    d,
    (t) => `${t.alias}.user_id AS user_id, ${day(t)} AS day, ${t.counts[0]} AS answers, ${t.counts[1]} AS saves, ${t.counts[2]} AS page_views`,
    'since',
    'until',
    (t) => ` GROUP BY ${t.alias}.user_id, ${day(t)}`,
  );
  const recent = courseRows(d, (t) => `DISTINCT ${t.alias}.user_id AS user_id`, 'recent', 'recentUntil');
  return sql`SELECT k.enrolled, k.active, d.day, d.answers, d.saves, d.page_views, d.students FROM
    (SELECT (SELECT COUNT(*) FROM enrolments n WHERE n.course_id = ${p('course')}) AS enrolled,
      (SELECT COUNT(DISTINCT r.user_id) FROM (${recent}) r) AS active) k
    LEFT JOIN (SELECT x.day, CAST(SUM(x.answers) AS BIGINT) AS answers, CAST(SUM(x.saves) AS BIGINT) AS saves, CAST(SUM(x.page_views) AS BIGINT) AS page_views,
      COUNT(DISTINCT x.user_id) AS students
      FROM (${perStudentDay}) x GROUP BY x.day) d ON 1 = 1
    ORDER BY d.day`;
}
const activityQueries: Record<Dialect, SQL> = { sqlite: activitySql('sqlite'), postgres: activitySql('postgres') };

interface ActivityRow {
  enrolled: number;
  active: number;
  day: number | null;
  answers: number | null;
  saves: number | null;
  page_views: number | null;
  students: number | null;
}

/** A day (whole days since the epoch) as YYYY-MM-DD. */
export const dayText = (day: number) => new Date(day * dayMs).toISOString().slice(0, 10);

/**
 * The course's activity on each of the `days` UTC days that end today (or on the course's last day, when it ended
 * before today): every day of the range, with zeros where nothing happened. `now` is ms since the epoch.
 */
export async function courseActivity(db: Queries, course: CourseRow, days: number, now: number): Promise<CourseActivity> {
  const lastDay = Math.floor((course.endsAt !== null && course.endsAt <= now ? course.endsAt - 1 : now) / dayMs);
  const firstDay = lastDay - days + 1;
  const starts = course.startsAt ?? 0;
  const ends = course.endsAt ?? Number.MAX_SAFE_INTEGER;
  const values = {
    course: course.id,
    book: course.bookId,
    since: Math.max(firstDay * dayMs, starts),
    until: Math.min((lastDay + 1) * dayMs, ends),
    recent: Math.max(now - activeWindowMs, starts),
    recentUntil: ends,
  };
  const rows = await db.all<ActivityRow>(activityQueries[db.dialect], values);
  const byDay = new Map(rows.filter((r) => r.day !== null).map((r) => [Number(r.day), r]));
  const first = rows[0];
  return {
    course: course.id,
    enrolled: first?.enrolled ?? 0,
    activeThisWeek: first?.active ?? 0,
    days: Array.from({ length: days }, (_, i) => {
      const day = firstDay + i;
      const r = byDay.get(day);
      return { day: dayText(day), answers: r?.answers ?? 0, saves: r?.saves ?? 0, pageViews: r?.page_views ?? 0, students: r?.students ?? 0 };
    }),
  };
}

const consentSql = sql`SELECT COUNT(*) AS enrolled, COALESCE(SUM(CASE WHEN u.research_consent = 1 THEN 1 ELSE 0 END), 0) AS consented
  FROM enrolments e JOIN users u ON u.id = e.user_id WHERE e.course_id = ${p('course')}`;

/** How many of the course's enrolled students consented to research (only they are in its exports) and how many did not. */
export async function courseConsent(db: Queries, courseId: string): Promise<CourseConsent> {
  const row = await db.get<{ enrolled: number; consented: number }>(consentSql, { course: courseId });
  const enrolled = row?.enrolled ?? 0;
  const consented = row?.consented ?? 0;
  return { course: courseId, enrolled, consented, notConsented: enrolled - consented };
}

/** The statements, by name (for EXPLAIN in the tests). */
export function courseActivityStatements(dialect: Dialect): Record<string, SQL> {
  return { activity: activityQueries[dialect], consent: consentSql };
}
