import { sql } from 'drizzle-orm';
import t from 'tap';
import { courseCounts, findCourse } from '../db/courses.js';
import { findUserByUsername } from '../db/users.js';
import { demoCourse, demoStaff, demoStudents } from '../scripts/demo-class.js';
import { ensureDemoBook, ensureDemoClass } from '../scripts/demo.js';
import { build, cookieOf, fromBook } from './helper.js';

/** `npm run demo` seeds a class for the dashboard (scripts/demo-class.ts), once. */

const tables = ['users', 'enrolments', 'course_staff', 'answers', 'programs', 'page_completions', 'positions', 'events'] as const;

t.test('the demo seeds its course once: staff who log in, 28 students with three weeks of past work; a second start changes nothing', async (t) => {
  const app = await build(t, { demo: true });
  await ensureDemoBook(app, ['http://localhost:8080']);
  const before = Date.now();
  const lines = await ensureDemoClass(app, 'http://localhost:3000');
  t.match(lines[0], /^ {2}Dashboard: http:\/\/localhost:3000\/dashboard\/ — log in as instructor \/ demo-instructor \(instructor\) or assistant \/ demo-assistant \(teaching assistant\)$/);
  t.match(lines[1], /seeded the course demo-101 "Demo course: programming basics": 28 students, \d+ answers, \d+ program versions, \d+ completed pages/);

  t.match(await findCourse(app.db, 'demo-101'), { id: 'demo-101', bookId: 'demo', title: demoCourse.title, term: 'Autumn 2026', open: true });
  t.same(await courseCounts(app.db, 'demo-101'), { students: demoStudents, instructors: 1, tas: 1 });
  const count = async (table: string) => Number((await app.db.get<{ n: number }>(sql.raw(`SELECT COUNT(*) AS n FROM ${table}`)))!.n);
  const counted = async () => Object.fromEntries(await Promise.all(tables.map(async (table) => [table, await count(table)] as const)));
  const first = await counted();
  t.equal(first.users, demoStudents + demoStaff.length);
  for (const table of ['answers', 'programs', 'page_completions', 'positions', 'events']) t.ok(first[table]! > 0, `${table} has rows`);
  t.ok(first.programs! > first.positions!, 'programs have several versions');
  const wrong = await count('answers WHERE correct = 0');
  t.ok(wrong > 0 && wrong < first.answers!, 'some answers are wrong, most right');

  // All of it in the past three weeks.
  const span = await app.db.get<{ lo: number; hi: number }>(sql`SELECT MIN(saved_at) AS lo, MAX(saved_at) AS hi FROM answers`);
  t.ok(Number(span!.hi) < before && Number(span!.lo) > before - 22 * 86_400_000, 'answers of the past 3 weeks');
  const events = await app.db.get<{ hi: number; lo: number }>(sql`SELECT MIN(server_time) AS lo, MAX(server_time) AS hi FROM events`);
  t.ok(Number(events!.hi) < before && Number(events!.lo) > before - 22 * 86_400_000, 'events of the past 3 weeks');
  const consenting = await count('users WHERE research_consent = 1');
  t.ok(consenting > 0 && consenting < demoStudents, 'a research consent mix');

  // The instructor logs in with the printed password and sees every student; some did nothing, some completed the book.
  const login = await app.inject({ method: 'POST', url: '/api/auth/login', headers: fromBook, payload: { username: 'instructor', password: 'demo-instructor' } });
  t.equal(login.statusCode, 200);
  const progress = await app.inject({ method: 'GET', url: '/api/courses/demo-101/progress?limit=100', headers: { ...fromBook, cookie: cookieOf(login) } });
  t.equal(progress.statusCode, 200);
  const students = (progress.json() as { students: { totals: { pagesCompleted: number; pages: number }; lastActivity: string | null }[] }).students;
  t.equal(students.length, demoStudents);
  t.ok(students.some((s) => s.totals.pagesCompleted === s.totals.pages), 'some completed the book');
  t.ok(students.some((s) => s.lastActivity === null), 'a few never active');
  t.ok(students.filter((s) => s.lastActivity !== null).length >= demoStudents - 4, 'most active');
  t.equal((await findUserByUsername(app.db, 'assistant'))?.name, 'Tomás Berger');

  const again = await ensureDemoClass(app, 'http://localhost:3000');
  t.match(again[1], /the course demo-101 "Demo course: programming basics" was seeded on an earlier start/);
  t.same(await counted(), first, 'no row added or removed');
});
