import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import t from 'tap';
import { importToc } from '../db/books.js';
import { enrol } from '../db/courses.js';
import { courseStudentStatements } from '../db/course-reports.js';
import { build, buildLogged, testDialect } from './helper.js';
import { courseOf, enrolled, expectStatus, staffOf } from './staff.js';

/**
 * One enrolled student as the course's staff see them (routes/course-reports.ts): their row of the progress grid,
 * each program's versions and one version's code, each question's attempts in order; enrolled students only.
 */

const T = Date.parse('2026-09-01T08:00:00.000Z');
const at = (ms: number) => new Date(T + ms).toISOString();

/** ch1: p1 (q1 2 points, ac1), p2 (no question); ch2: p3 (q3 4 points). */
const toc = {
  chapters: [
    {
      id: 'ch1',
      title: 'One',
      pages: [
        { id: 'p1', title: 'Page 1', questions: [{ id: 'q1', kind: 'mchoice', points: 2 }], activities: [{ id: 'ac1' }] },
        { id: 'p2', title: 'Page 2', questions: [], activities: [] },
      ],
    },
    { id: 'ch2', title: 'Two', pages: [{ id: 'p3', title: 'Page 3', questions: [{ id: 'q3', kind: 'shortanswer', points: 4 }], activities: [] }] },
  ],
};

const get = (app: FastifyInstance, url: string, h: Record<string, string>) => app.inject({ method: 'GET', url, headers: h });
const save = (app: FastifyInstance, h: Record<string, string>, code: string) => expectStatus(app, 200, 'PUT', '/api/books/book/programs/ac1', h, { code, language: 'python', page: 'p1' });
const answer = (app: FastifyInstance, h: Record<string, string>, question: string, payload: Record<string, unknown>) =>
  expectStatus(app, 201, 'POST', `/api/books/book/answers/${question}`, h, payload);

/** Course c1 (instructor ines) with ada, who saved ac1 three times and answered q1 three times; c2 with its own instructor and bob. Times fixed. */
async function seeded(app: FastifyInstance) {
  await importToc(app.db, 'book', toc);
  await app.books.refresh();
  await courseOf(app, 'c1', 'book');
  await courseOf(app, 'c2', 'book');
  const ines = await staffOf(app, 'ines', 'c1', 'instructor');
  const otto = await staffOf(app, 'otto', 'c2', 'instructor');
  const ada = await enrolled(app, 'ada', 'c1', { name: 'Ada L.' });
  const bob = await enrolled(app, 'bob', 'c2');
  for (const code of ['print(1)\n', 'print(1)\nprint(2)\n', 'print(3)\nprint(2)\n']) await save(app, ada.headers, code);
  await answer(app, ada.headers, 'q1', { kind: 'mchoice', answer: ['a'], correct: false, page: 'p1' });
  await answer(app, ada.headers, 'q1', { kind: 'mchoice', answer: ['b'], correct: false, page: 'p1' });
  await answer(app, ada.headers, 'q1', { kind: 'mchoice', answer: ['c'], correct: true, page: 'p1' });
  await expectStatus(app, 200, 'PUT', '/api/books/book/pages/complete', ada.headers, { page: 'p2', complete: true });
  await expectStatus(app, 200, 'PUT', '/api/books/book/position', ada.headers, { page: 'p3' });
  await save(app, bob.headers, 'bob');
  await app.db.run(sql`UPDATE programs SET saved_at = CAST(${T} AS BIGINT) + 100 * version`);
  await app.db.run(sql`UPDATE answers SET saved_at = CAST(${T} AS BIGINT) + 1000 + 100 * attempt`);
  await app.db.run(sql`UPDATE page_completions SET completed_at = CAST(${T} AS BIGINT) + 2000`);
  await app.db.run(sql`UPDATE positions SET updated_at = CAST(${T} AS BIGINT) + 2500`);
  await app.db.run(sql`UPDATE events SET server_time = CAST(${T} AS BIGINT) + 50`);
  return { ines, otto, ada, bob };
}

t.test("a student's progress: their row of the grid (points by page, last activity) with the table of contents it is graded against", async (t) => {
  const app = await build(t);
  const { ines, ada } = await seeded(app);
  const res = await get(app, `/api/courses/c1/students/${ada.id}/progress`, ines.headers);
  t.equal(res.statusCode, 200);
  const body = res.json();
  t.same(body.toc.pages.map((p: { id: string; chapter: string; points: number }) => [p.id, p.chapter, p.points]), [
    ['p1', 'ch1', 2],
    ['p2', 'ch1', 1],
    ['p3', 'ch2', 4],
  ]);
  t.same(body.student, {
    user: { id: ada.id, username: 'ada', name: 'Ada L.', email: null, role: 'student', anonymous: false },
    pages: [
      { page: 'p1', completed: false, attempted: 1, correct: 1, questions: 1, earned: 2, possible: 2 },
      { page: 'p2', completed: true, attempted: 0, correct: 0, questions: 0, earned: 1, possible: 1 },
    ],
    totals: { pagesCompleted: 1, pages: 3, attempted: 1, correct: 1, questions: 2, earned: 3, possible: 7 },
    lastActivity: at(2500),
  });
  t.same([body.course, body.book, body.window], ['c1', 'book', { startsAt: null, endsAt: null }]);
  const grid = (await get(app, '/api/courses/c1/progress', ines.headers)).json();
  t.same(grid.students[0], body.student, 'the same row as the grid');
});

t.test("a program's versions: newest first, without code, a page at a time; one version's code", async (t) => {
  const app = await build(t);
  const { ines, ada } = await seeded(app);
  const base = `/api/courses/c1/students/${ada.id}/programs/ac1/versions`;
  const first = await get(app, `${base}?limit=2`, ines.headers);
  t.equal(first.statusCode, 200);
  const version = (n: number, size: number) => ({ version: n, savedAt: at(100 * n), language: 'python', page: 'p1', size });
  t.same(first.json(), { course: 'c1', activity: 'ac1', versions: [version(3, 18), version(2, 18)], next: first.json().next });
  t.type(first.json().next, 'string');
  const second = await get(app, `${base}?limit=2&after=${first.json().next}`, ines.headers);
  t.same(second.json(), { course: 'c1', activity: 'ac1', versions: [version(1, 9)], next: null });
  t.same((await get(app, base, ines.headers)).json().versions.map((v: { version: number }) => v.version), [3, 2, 1], '50 by default: all');
  t.same((await get(app, `/api/courses/c1/students/${ada.id}/programs/other/versions`, ines.headers)).json(), { course: 'c1', activity: 'other', versions: [], next: null });

  const one = await get(app, `${base}/2`, ines.headers);
  t.equal(one.statusCode, 200);
  t.same(one.json(), { course: 'c1', activity: 'ac1', version: 2, code: 'print(1)\nprint(2)\n', language: 'python', page: 'p1', savedAt: at(200) });
  const missing = await get(app, `${base}/4`, ines.headers);
  t.equal(missing.statusCode, 404);
  t.equal(missing.json().error, 'no_version');
  t.match(missing.json().message, `GET /api/courses/c1/students/${ada.id}/programs/ac1/versions`);
  const bad = await get(app, `${base}?after=nonsense!`, ines.headers);
  t.equal(bad.statusCode, 400);
  t.match(bad.json().message, /^querystring\/after /);
});

t.test("a question's attempts: in order, first attempt first, a page at a time", async (t) => {
  const app = await build(t);
  const { ines, ada } = await seeded(app);
  const base = `/api/courses/c1/students/${ada.id}/answers/q1/attempts`;
  const attempt = (n: number, choice: string, correct: boolean) => ({ question: 'q1', attempt: n, kind: 'mchoice', answer: [choice], correct, score: null, page: 'p1', savedAt: at(1000 + 100 * n) });
  const all = await get(app, base, ines.headers);
  t.equal(all.statusCode, 200);
  t.same(all.json(), { course: 'c1', question: 'q1', attempts: [attempt(1, 'a', false), attempt(2, 'b', false), attempt(3, 'c', true)], next: null });
  const first = (await get(app, `${base}?limit=2`, ines.headers)).json();
  t.same(first.attempts.map((a: { attempt: number }) => a.attempt), [1, 2]);
  const second = (await get(app, `${base}?limit=2&after=${first.next}`, ines.headers)).json();
  t.same(second, { course: 'c1', question: 'q1', attempts: [attempt(3, 'c', true)], next: null });
  t.same((await get(app, `/api/courses/c1/students/${ada.id}/answers/q3/attempts`, ines.headers)).json(), { course: 'c1', question: 'q3', attempts: [], next: null });
});

t.test('a page of attempts stops before the answers would pass FOLIO_HISTORY_PAGE_MAX_BYTES (always at least one)', async (t) => {
  const app = await build(t, { historyPageMaxBytes: 64 * 1024 });
  await courseOf(app, 'c1', 'book');
  const ines = await staffOf(app, 'ines', 'c1', 'instructor');
  const ada = await enrolled(app, 'ada', 'c1');
  for (let i = 0; i < 3; i++) await answer(app, ada.headers, 'q9', { kind: 'shortanswer', answer: String(i).repeat(40_000) });
  const seen: number[][] = [];
  let after: string | null = null;
  do {
    const page = (await get(app, `/api/courses/c1/students/${ada.id}/answers/q9/attempts${after === null ? '' : `?after=${after}`}`, ines.headers)).json() as {
      attempts: { attempt: number }[];
      next: string | null;
    };
    seen.push(page.attempts.map((a) => a.attempt));
    after = page.next;
  } while (after !== null);
  t.same(seen, [[1], [2], [3]], 'one 40 KB answer a page under a 64 KiB budget');
});

t.test('a course with dates lists only the versions and attempts saved within them', async (t) => {
  const app = await build(t);
  const { ada } = await seeded(app);
  await courseOf(app, 'c3', 'book', { startsAt: T + 150, endsAt: T + 1250 });
  const tia = await staffOf(app, 'tia', 'c3', 'ta');
  await enrol(app.db, 'c3', [ada.id], 'staff');
  const versions = (await get(app, `/api/courses/c3/students/${ada.id}/programs/ac1/versions`, tia.headers)).json();
  t.same(versions.versions.map((v: { version: number }) => v.version), [3, 2]);
  t.equal((await get(app, `/api/courses/c3/students/${ada.id}/programs/ac1/versions/1`, tia.headers)).statusCode, 404, 'saved before the start');
  const attempts = (await get(app, `/api/courses/c3/students/${ada.id}/answers/q1/attempts`, tia.headers)).json();
  t.same(attempts.attempts.map((a: { attempt: number }) => a.attempt), [1, 2]);
  const progress = (await get(app, `/api/courses/c3/students/${ada.id}/progress`, tia.headers)).json();
  t.same(progress.window, { startsAt: at(150), endsAt: at(1250) });
  t.equal(progress.student.lastActivity, at(1200));
});

t.test("a student of another course is a 404 not_enrolled; another course's instructor a 403; a TA of the course may read", async (t) => {
  const app = await build(t);
  const { ines, otto, ada, bob } = await seeded(app);
  const ta = await staffOf(app, 'tia', 'c1', 'ta');
  const urls = (user: string) => [
    `/api/courses/c1/students/${user}/progress`,
    `/api/courses/c1/students/${user}/programs/ac1/versions`,
    `/api/courses/c1/students/${user}/programs/ac1/versions/1`,
    `/api/courses/c1/students/${user}/answers/q1/attempts`,
  ];
  for (const url of urls(bob.id)) {
    const res = await get(app, url, ines.headers);
    t.equal(res.statusCode, 404, url);
    t.same(res.json(), { statusCode: 404, error: 'not_enrolled', message: `user "${bob.id}" is not a student of course "c1" (its students are in GET /api/courses/c1/progress)` });
  }
  for (const url of urls(ada.id)) {
    t.equal((await get(app, url, otto.headers)).statusCode, 403, `${url}: not staff of c1`);
    t.equal((await get(app, url, ta.headers)).statusCode, 200, `${url}: a TA`);
  }
});

t.test("reading a student's versions, a version and attempts is logged as student_work_read, saying what was read", async (t) => {
  const { app, events } = await buildLogged(t);
  await courseOf(app, 'c1', 'book');
  const ta = await staffOf(app, 'tia', 'c1', 'ta');
  const ada = await enrolled(app, 'ada', 'c1');
  await save(app, ada.headers, 'x');
  await expectStatus(app, 200, 'GET', `/api/courses/c1/students/${ada.id}/programs/ac1/versions`, ta.headers);
  await expectStatus(app, 200, 'GET', `/api/courses/c1/students/${ada.id}/programs/ac1/versions/1`, ta.headers);
  await expectStatus(app, 200, 'GET', `/api/courses/c1/students/${ada.id}/answers/q1/attempts`, ta.headers);
  const base = { level: 30, by: 'tia', userId: ta.id, courseRole: 'ta', course: 'c1', book: 'book', student: ada.id };
  t.same(
    events('student_work_read').map(({ level, by, userId, courseRole, course, book, student, what, activity, version, question }) => ({
      level,
      by,
      userId,
      courseRole,
      course,
      book,
      student,
      what,
      ...(activity === undefined ? {} : { activity }),
      ...(version === undefined ? {} : { version }),
      ...(question === undefined ? {} : { question }),
    })),
    [
      { ...base, what: 'versions', activity: 'ac1' },
      { ...base, what: 'version', activity: 'ac1', version: 1 },
      { ...base, what: 'attempts', question: 'q1' },
    ],
  );
  await expectStatus(app, 404, 'GET', '/api/courses/c1/students/nobody/programs/ac1/versions', ta.headers);
  t.equal(events('student_work_read').length, 3, 'a student not enrolled is no read');
});

t.test("one student's reports read their work by index: no scan of the work tables, never the book's rows by time", { skip: testDialect !== 'sqlite' && 'SQLite query plans' }, async (t) => {
  const app = await build(t);
  const values = { course: 'c1', book: 'book', user: 'u', since: 0, until: 1, activity: 'ac1', before: 10, version: 1, question: 'q1', after: 0, limit: 5, maxBytes: 1000 };
  for (const [name, query] of Object.entries(courseStudentStatements('sqlite'))) {
    const plan = (await app.db.all<{ detail: string }>(sql`EXPLAIN QUERY PLAN ${query}`, values)).map((p) => p.detail);
    t.notOk(plan.some((d) => /^SCAN (a|c|w|v|s|e|answers|programs|page_completions|positions|events)\b/.test(d) || /_book_time_idx/.test(d)), `${name}:\n${plan.join('\n')}`);
  }
  const versions = (await app.db.all<{ detail: string }>(sql`EXPLAIN QUERY PLAN ${courseStudentStatements('sqlite').versions}`, values)).map((p) => p.detail);
  t.ok(versions.some((d) => d.includes('programs_version_idx (user_id=? AND book_id=? AND activity=? AND version<?)')), `versions by the version index:\n${versions.join('\n')}`);
});
