import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import t from 'tap';
import { importToc } from '../db/books.js';
import { courseReportStatements } from '../db/course-reports.js';
import { enrol } from '../db/courses.js';
import { build, buildLogged, testDialect } from './helper.js';
import { courseOf, enrolled, expectStatus, loginAs, staffOf, student, twoChapterToc } from './staff.js';

/** The course reports under /api/courses/:course/…: enrolled students only, graded against the table of contents, within the course's dates. */

const T = Date.parse('2026-09-01T08:00:00.000Z');
const at = (ms: number) => new Date(T + ms).toISOString();

const toc = twoChapterToc;
const tocReply = (importedAt: string) => ({
  importedAt,
  pages: [
    { id: 'p1', title: 'Page 1', chapter: 'ch1', questions: 2, points: 5 },
    { id: 'p2', title: 'Page 2', chapter: 'ch1', questions: 0, points: 1 },
    { id: 'p3', title: 'Page 3', chapter: 'ch2', questions: 1, points: 4 },
  ],
  questions: 3,
  points: 10,
});

async function withToc(app: FastifyInstance) {
  await importToc(app.db, 'book', toc);
  await app.books.refresh();
  return app.books.toc('book')!.importedAt;
}

const post = (app: FastifyInstance, h: Record<string, string>, question: string, payload: Record<string, unknown>) =>
  expectStatus(app, 201, 'POST', `/api/books/book/answers/${question}`, h, payload);
const complete = (app: FastifyInstance, h: Record<string, string>, page: string) => expectStatus(app, 200, 'PUT', '/api/books/book/pages/complete', h, { page, complete: true });
const get = (app: FastifyInstance, url: string, h: Record<string, string>) => app.inject({ method: 'GET', url, headers: h });

/** Two courses on `book`, each with its instructor and students; every time fixed afterwards. */
async function twoCourses(app: FastifyInstance) {
  await courseOf(app, 'c1', 'book');
  await courseOf(app, 'c2', 'book');
  const ines = await staffOf(app, 'ines', 'c1', 'instructor');
  const otto = await staffOf(app, 'otto', 'c2', 'instructor');
  const ada = await enrolled(app, 'ada', 'c1', { researchConsent: true, name: 'Ada L.', email: 'ada@example.org' });
  const bob = await enrolled(app, 'bob', 'c2', { researchConsent: true });
  await post(app, ada.headers, 'q1', { kind: 'mchoice', answer: ['a'], correct: true, page: 'p1' });
  await post(app, bob.headers, 'q1', { kind: 'mchoice', answer: ['b'], correct: false, page: 'p1' });
  await expectStatus(app, 200, 'PUT', '/api/books/book/programs/ac1', bob.headers, { code: 'bob', page: 'p1' });
  return { ines, otto, ada, bob };
}

t.test('two courses on one book: each instructor sees only their own students, in progress, work, question summaries and exports', async (t) => {
  const app = await build(t);
  await withToc(app);
  const { ines, otto, ada, bob } = await twoCourses(app);
  const cleo = await enrolled(app, 'cleo', 'c1');
  await post(app, cleo.headers, 'q1', { kind: 'mchoice', answer: ['c'], correct: true, page: 'p1' });

  const progress1 = (await get(app, '/api/courses/c1/progress', ines.headers)).json();
  t.same(progress1.students.map((s: { user: { username: string } }) => s.user.username).sort(), ['ada', 'cleo']);
  const progress2 = (await get(app, '/api/courses/c2/progress', otto.headers)).json();
  t.same(progress2.students.map((s: { user: { username: string } }) => s.user.username), ['bob']);

  t.equal((await get(app, `/api/courses/c1/students/${ada.id}/work`, ines.headers)).statusCode, 200);
  const foreign = await get(app, `/api/courses/c1/students/${bob.id}/work`, ines.headers);
  t.equal(foreign.statusCode, 404);
  t.same(foreign.json(), { statusCode: 404, error: 'not_enrolled', message: `user "${bob.id}" is not a student of course "c1" (its students are in GET /api/courses/c1/progress)` });
  t.equal((await get(app, `/api/courses/c2/students/${ada.id}/work`, ines.headers)).statusCode, 403, 'another course: not its staff');

  const summary1 = (await get(app, '/api/courses/c1/questions/q1/summary', ines.headers)).json();
  t.match(summary1, { enrolled: 2, students: 2, attempts: 2, eventuallyCorrect: 2, distribution: [{ choice: 'a', count: 1 }, { choice: 'c', count: 1 }] });
  const summary2 = (await get(app, '/api/courses/c2/questions/q1/summary', otto.headers)).json();
  t.match(summary2, { enrolled: 1, students: 1, attempts: 1, eventuallyCorrect: 0, distribution: [{ choice: 'b', count: 1 }] });

  const export1 = await get(app, '/api/courses/c1/export?kind=answers', ines.headers);
  t.equal(export1.statusCode, 200);
  t.equal(export1.headers['x-folio-export-users'], '1');
  t.equal(export1.headers['x-folio-excluded-users'], '1', 'cleo did not consent');
  const lines = export1.body.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.match(lines[0], { meta: { book: 'book', course: 'c1', kind: 'answers', users: 1 } });
  t.same(lines.slice(1).map((l) => l.answer), [['a']], "only ada's answer");
  t.match(export1.headers['content-disposition'], /^attachment; filename="c1-answers-\d{8}T\d{6}Z\.jsonl"$/);
  const programs2 = await get(app, '/api/courses/c2/export?kind=programs&format=csv', otto.headers);
  t.equal(programs2.headers['x-folio-export-users'], '1');
  t.equal(programs2.headers['x-folio-excluded-users'], '0');
  t.equal(programs2.body.trim().split('\r\n').length, 2, "a header and bob's program");
  t.equal((await get(app, '/api/courses/c1/export', otto.headers)).statusCode, 403);
});

t.test('the progress grid grades each enrolled student against the table of contents: points by score or correctness, a page without questions by its completion', async (t) => {
  const app = await build(t);
  const importedAt = await withToc(app);
  await courseOf(app, 'c1', 'book');
  const ines = await staffOf(app, 'ines', 'c1', 'instructor');
  const ada = await enrolled(app, 'ada', 'c1', { name: 'Ada L.', email: 'ada@example.org' });
  const cleo = await enrolled(app, 'cleo', 'c1');
  await post(app, ada.headers, 'q1', { kind: 'mchoice', answer: ['a'], correct: false, page: 'p1' });
  await post(app, ada.headers, 'q1', { kind: 'mchoice', answer: ['b'], correct: true, page: 'p1' });
  await post(app, ada.headers, 'q2', { kind: 'fitb', answer: ['x'], correct: false, score: 0.5, page: 'p1' });
  await post(app, ada.headers, 'q3', { kind: 'shortanswer', answer: 'because', page: 'p3' });
  await complete(app, ada.headers, 'p2');
  await app.db.run(sql`UPDATE answers SET saved_at = CAST(${T} AS BIGINT) + id`);
  await app.db.run(sql`UPDATE page_completions SET completed_at = CAST(${T} AS BIGINT) + 100`);

  const res = await get(app, '/api/courses/c1/progress', ines.headers);
  t.equal(res.statusCode, 200);
  const body = res.json();
  const students = [
    {
      user: { id: ada.id, username: 'ada', name: 'Ada L.', email: 'ada@example.org', role: 'student', anonymous: false },
      pages: [
        { page: 'p1', completed: false, attempted: 2, correct: 1, questions: 2, earned: 3.5, possible: 5 },
        { page: 'p2', completed: true, attempted: 0, correct: 0, questions: 0, earned: 1, possible: 1 },
        { page: 'p3', completed: false, attempted: 1, correct: 0, questions: 1, earned: 0, possible: 4 },
      ],
      totals: { pagesCompleted: 1, pages: 3, attempted: 3, correct: 1, questions: 3, earned: 4.5, possible: 10 },
      lastActivity: at(100),
    },
    {
      user: { id: cleo.id, username: 'cleo', name: null, email: null, role: 'student', anonymous: false },
      pages: [],
      totals: { pagesCompleted: 0, pages: 3, attempted: 0, correct: 0, questions: 3, earned: 0, possible: 10 },
      lastActivity: null,
    },
  ].sort((a, b) => (a.user.id < b.user.id ? -1 : 1));
  t.same(body, { course: 'c1', book: 'book', window: { startsAt: null, endsAt: null }, toc: tocReply(new Date(importedAt).toISOString()), students, next: null });
});

t.test('a student enrolled in two courses of the same book shows the same work in both', async (t) => {
  const app = await build(t);
  await withToc(app);
  await courseOf(app, 'c1', 'book');
  await courseOf(app, 'c2', 'book');
  const ines = await staffOf(app, 'ines', 'c1', 'instructor');
  const otto = await staffOf(app, 'otto', 'c2', 'instructor');
  const ada = await enrolled(app, 'ada', 'c1');
  await enrol(app.db, 'c2', [ada.id], 'staff');
  await post(app, ada.headers, 'q1', { kind: 'mchoice', answer: ['a'], correct: true, page: 'p1' });
  await complete(app, ada.headers, 'p1');
  const [one, two] = await Promise.all([get(app, '/api/courses/c1/progress', ines.headers), get(app, '/api/courses/c2/progress', otto.headers)]);
  t.same(one.json().students, two.json().students);
  t.equal(one.json().students[0].totals.earned, 2);
  const [work1, work2] = await Promise.all([get(app, `/api/courses/c1/students/${ada.id}/work`, ines.headers), get(app, `/api/courses/c2/students/${ada.id}/work`, otto.headers)]);
  const { course: course1, ...rest1 } = work1.json();
  const { course: course2, ...rest2 } = work2.json();
  t.same([course1, course2], ['c1', 'c2']);
  t.same(rest1, rest2);
});

t.test('a course with dates counts only work saved within them: the latest attempt in the window, completions in it', async (t) => {
  const app = await build(t);
  await withToc(app);
  await courseOf(app, 'c1', 'book', { startsAt: T + 1000, endsAt: T + 2000 });
  const ines = await staffOf(app, 'ines', 'c1', 'instructor');
  const ada = await enrolled(app, 'ada', 'c1', { researchConsent: true });
  await post(app, ada.headers, 'q1', { kind: 'mchoice', answer: ['a'], correct: false, page: 'p1' }); // before
  await post(app, ada.headers, 'q1', { kind: 'mchoice', answer: ['b'], correct: true, page: 'p1' }); // within
  await post(app, ada.headers, 'q1', { kind: 'mchoice', answer: ['c'], correct: false, page: 'p1' }); // after
  await post(app, ada.headers, 'q3', { kind: 'shortanswer', answer: 'late', correct: true, page: 'p3' }); // after
  await complete(app, ada.headers, 'p2'); // before
  await expectStatus(app, 200, 'PUT', '/api/books/book/programs/ac1', ada.headers, { code: 'within', page: 'p1' });
  await app.db.run(sql`UPDATE answers SET saved_at = CAST(${T} AS BIGINT) + CASE attempt WHEN 1 THEN 500 WHEN 2 THEN 1500 ELSE 2500 END WHERE question = 'q1'`);
  await app.db.run(sql`UPDATE answers SET saved_at = CAST(${T} AS BIGINT) + 2000 WHERE question = 'q3'`);
  await app.db.run(sql`UPDATE page_completions SET completed_at = CAST(${T} AS BIGINT) + 999`);
  await app.db.run(sql`UPDATE programs SET saved_at = CAST(${T} AS BIGINT) + 1600`);

  const progress = (await get(app, '/api/courses/c1/progress', ines.headers)).json();
  t.same(progress.window, { startsAt: at(1000), endsAt: at(2000) });
  t.same(progress.students[0].pages, [{ page: 'p1', completed: false, attempted: 1, correct: 1, questions: 2, earned: 2, possible: 5 }]);
  t.equal(progress.students[0].lastActivity, at(1600));

  const summary = (await get(app, '/api/courses/c1/questions/q1/summary', ines.headers)).json();
  t.match(summary, { attempts: 1, students: 1, correctFirstTry: 0, eventuallyCorrect: 1, distribution: [{ choice: 'b', count: 1 }] });

  const work = (await get(app, `/api/courses/c1/students/${ada.id}/work`, ines.headers)).json();
  t.same(work.answers.map((a: { latest: { answer: unknown }; attempts: number }) => [a.latest.answer, a.attempts]), [[['b'], 2]]);
  t.same(work.completed, []);
  t.same(work.programs.map((p: { code: string }) => p.code), ['within']);
  t.equal(work.position, null);

  const exported = await get(app, '/api/courses/c1/export?kind=answers', ines.headers);
  const rows = exported.body.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.same(rows.slice(1).map((r) => r.answer), [['b']], 'the export keeps to the dates too');
  t.match(rows[0], { meta: { since: at(1000), until: at(2000) } });
});

t.test('the question summary counts the students whose first attempt is correct, and those correct at last, over enrolled students only', async (t) => {
  const app = await build(t);
  await withToc(app);
  await courseOf(app, 'c1', 'book');
  const ines = await staffOf(app, 'ines', 'c1', 'instructor');
  const ada = await enrolled(app, 'ada', 'c1');
  const bob = await enrolled(app, 'bob', 'c1');
  await enrolled(app, 'cleo', 'c1');
  const outsider = await student(app, 'dan');
  await post(app, ada.headers, 'q1', { kind: 'mchoice', answer: ['a'], correct: true, page: 'p1' });
  await post(app, bob.headers, 'q1', { kind: 'mchoice', answer: ['b'], correct: false, page: 'p1' });
  await post(app, bob.headers, 'q1', { kind: 'mchoice', answer: ['a', 'c'], correct: true, page: 'p1' });
  await post(app, outsider.headers, 'q1', { kind: 'mchoice', answer: ['d'], correct: true, page: 'p1' });
  const res = await get(app, '/api/courses/c1/questions/q1/summary', ines.headers);
  t.equal(res.statusCode, 200);
  t.same(res.json(), {
    course: 'c1',
    question: 'q1',
    unlisted: false,
    page: 'p1',
    kind: 'mchoice',
    points: 2,
    enrolled: 3,
    students: 2,
    attempts: 3,
    correctFirstTry: 1,
    eventuallyCorrect: 2,
    correctRate: 2 / 3,
    distribution: [
      { choice: 'a', count: 2, correct: true },
      { choice: 'c', count: 1, correct: true },
    ],
    commonAnswers: null,
    distinctAnswers: null,
  });
});

t.test('work on ids the table of contents does not list is shown, marked unlisted: in the grid, the student\'s work and the summary', async (t) => {
  const app = await build(t);
  await withToc(app);
  await courseOf(app, 'c1', 'book');
  const ines = await staffOf(app, 'ines', 'c1', 'instructor');
  const ada = await enrolled(app, 'ada', 'c1');
  await post(app, ada.headers, 'old-q', { kind: 'poll', answer: 'x', correct: true, page: 'old-page' });
  await post(app, ada.headers, 'q9', { kind: 'poll', answer: 'y', page: 'p1' });
  await complete(app, ada.headers, 'old-page');
  await expectStatus(app, 200, 'PUT', '/api/books/book/programs/old-ac', ada.headers, { code: 'x', page: 'old-page' });
  await expectStatus(app, 200, 'PUT', '/api/books/book/programs/ac1', ada.headers, { code: 'x', page: 'p1' });

  const grid = (await get(app, '/api/courses/c1/progress', ines.headers)).json().students[0];
  t.same(grid.pages, []);
  t.same(grid.unlisted, {
    pages: [{ page: 'old-page', unlisted: true, completed: true, attempted: 1, correct: 1, earned: 1, possible: 1 }],
    questions: [
      { question: 'old-q', unlisted: true, page: 'old-page', attempt: 1, correct: true, score: null },
      { question: 'q9', unlisted: true, page: 'p1', attempt: 1, correct: null, score: null },
    ],
  });
  t.same(grid.totals, { pagesCompleted: 1, pages: 4, attempted: 0, correct: 0, questions: 3, earned: 1, possible: 11 });

  const work = (await get(app, `/api/courses/c1/students/${ada.id}/work`, ines.headers)).json();
  t.same(work.programs.map((p: { activity: string; unlisted?: boolean }) => [p.activity, p.unlisted]), [['ac1', undefined], ['old-ac', true]]);
  t.same(work.answers.map((a: { latest: { question: string }; unlisted?: boolean }) => [a.latest.question, a.unlisted]), [['old-q', true], ['q9', true]]);
  t.same(work.completed.map((c: { page: string; unlisted?: boolean }) => [c.page, c.unlisted]), [['old-page', true]]);

  const summary = (await get(app, '/api/courses/c1/questions/old-q/summary', ines.headers)).json();
  t.match(summary, { unlisted: true, page: null, kind: 'poll', points: null, students: 1, distribution: [{ choice: 'x', count: 1 }] });
});

t.test('the grid pages through every enrolled student exactly once, by user id, with the cursor it gives', async (t) => {
  const app = await build(t);
  await courseOf(app, 'c1', 'book');
  const ines = await staffOf(app, 'ines', 'c1', 'instructor');
  const ids: string[] = [];
  for (let i = 0; i < 7; i++) ids.push((await enrolled(app, `stu${i}`, 'c1')).id);
  await student(app, 'not-enrolled');
  const seen: string[] = [];
  const pages: number[] = [];
  let after: string | null = null;
  do {
    const res = await get(app, `/api/courses/c1/progress?limit=3${after === null ? '' : `&after=${after}`}`, ines.headers);
    t.equal(res.statusCode, 200);
    const body = res.json() as { students: { user: { id: string } }[]; next: string | null };
    pages.push(body.students.length);
    seen.push(...body.students.map((s) => s.user.id));
    after = body.next;
  } while (after !== null);
  t.same(pages, [3, 3, 1]);
  t.same(seen, [...ids].sort());
});

t.test('a bad cursor or limit is a 400 naming the parameter', async (t) => {
  const app = await build(t);
  await courseOf(app, 'c1', 'book');
  const ines = await staffOf(app, 'ines', 'c1', 'instructor');
  for (const after of ['nonsense!', 'AAAA', Buffer.from('x y').toString('base64url')]) {
    const res = await get(app, `/api/courses/c1/progress?after=${encodeURIComponent(after)}`, ines.headers);
    t.equal(res.statusCode, 400, after);
    t.equal(res.json().error, 'invalid_request');
    t.match(res.json().message, /^querystring\/after /, after);
  }
  const tooMany = await get(app, '/api/courses/c1/progress?limit=201', ines.headers);
  t.equal(tooMany.statusCode, 400);
  t.match(tooMany.json().message, /querystring\/limit/);
  const book = await get(app, '/api/books/book/progress?after=AAAA', (await loginAs(app, 'root', 'admin')).headers);
  t.equal(book.statusCode, 400);
  t.match(book.json().message, /^querystring\/after /);
});

t.test('a teaching assistant reads the course\'s reports; identify=true in a course export is for admins only', async (t) => {
  const app = await build(t);
  await withToc(app);
  const { ada } = await twoCourses(app);
  const ta = await staffOf(app, 'tia', 'c1', 'ta');
  for (const url of ['/api/courses/c1/progress', `/api/courses/c1/students/${ada.id}/work`, '/api/courses/c1/questions/q1/summary', '/api/courses/c1/export']) {
    t.equal((await get(app, url, ta.headers)).statusCode, 200, url);
  }
  const identified = await get(app, '/api/courses/c1/export?identify=true', ta.headers);
  t.equal(identified.statusCode, 403);
  t.same(identified.json(), { statusCode: 403, error: 'forbidden', message: 'identify=true needs the admin role: course staff get pseudonymised exports' });
  const admin = await loginAs(app, 'root', 'admin');
  const byAdmin = await get(app, '/api/courses/c1/export?kind=answers&identify=true', admin.headers);
  t.equal(byAdmin.statusCode, 200);
  t.match(byAdmin.body.trim().split('\n')[1], /"username":"ada"/);
});

t.test('reading an enrolled student\'s work is logged: who, in which role, whose work, in which course', async (t) => {
  const { app, events } = await buildLogged(t);
  await courseOf(app, 'c1', 'book');
  const ta = await staffOf(app, 'tia', 'c1', 'ta');
  const ada = await enrolled(app, 'ada', 'c1');
  await expectStatus(app, 200, 'GET', `/api/courses/c1/students/${ada.id}/work`, ta.headers);
  t.same(
    events('student_work_read').map(({ level, by, userId, courseRole, course, book, student }) => ({ level, by, userId, courseRole, course, book, student })),
    [{ level: 30, by: 'tia', userId: ta.id, courseRole: 'ta', course: 'c1', book: 'book', student: ada.id }],
  );
  await expectStatus(app, 404, 'GET', '/api/courses/c1/students/nobody/work', ta.headers);
  t.equal(events('student_work_read').length, 1, 'a student not enrolled is no read');
});

t.test('every course report reads each student\'s work by index, with or without dates: no scan of the work tables, never the book\'s rows by time', { skip: testDialect !== 'sqlite' && 'SQLite query plans' }, async (t) => {
  const app = await build(t);
  const values = { course: 'c1', book: 'book', after: '', last: 'z', since: 0, until: 1, question: 'q1', user: 'u' };
  for (const [name, query] of Object.entries(courseReportStatements('sqlite'))) {
    const plan = (await app.db.all<{ detail: string }>(sql`EXPLAIN QUERY PLAN ${query}`, values)).map((p) => p.detail);
    t.notOk(plan.some((d) => /^SCAN (a|c|w|v|s|e|answers|programs|page_completions|positions|events)\b/.test(d) || /_book_time_idx/.test(d)), `${name}:\n${plan.join('\n')}`);
    if (name.startsWith('grid') || name.startsWith('summary')) t.ok(plan.some((d) => d.startsWith('SEARCH e USING COVERING INDEX sqlite_autoindex_enrolments_1 (course_id=?')), `${name}: by the course's enrolments`);
  }
});

t.test('a book without a table of contents is graded by completions: every page with work is unlisted and worth 1', async (t) => {
  const app = await build(t);
  await courseOf(app, 'c1', 'book');
  const ines = await staffOf(app, 'ines', 'c1', 'instructor');
  const ada = await enrolled(app, 'ada', 'c1');
  await post(app, ada.headers, 'q1', { kind: 'mchoice', answer: ['a'], correct: true, page: 'p1' });
  await complete(app, ada.headers, 'p2');
  const body = (await get(app, '/api/courses/c1/progress', ines.headers)).json();
  t.same(body.toc, { importedAt: null, pages: [], questions: 0, points: 0 });
  const [row] = body.students;
  t.same(row.pages, []);
  t.same(row.unlisted.pages, [
    { page: 'p1', unlisted: true, completed: false, attempted: 1, correct: 1, earned: 0, possible: 1 },
    { page: 'p2', unlisted: true, completed: true, attempted: 0, correct: 0, earned: 1, possible: 1 },
  ]);
  t.same(row.totals, { pagesCompleted: 1, pages: 2, attempted: 0, correct: 0, questions: 0, earned: 1, possible: 2 });
  const summary = (await get(app, '/api/courses/c1/questions/q1/summary', ines.headers)).json();
  t.match(summary, { unlisted: true, kind: 'mchoice', points: null, students: 1, correctFirstTry: 1 });
});

t.test('an unknown course is a 404, a course of which the caller is not staff a 403, no session a 401', async (t) => {
  const app = await build(t);
  await courseOf(app, 'c1', 'book');
  const ada = await enrolled(app, 'ada', 'c1');
  const admin = await loginAs(app, 'root', 'admin');
  const unknown = await get(app, '/api/courses/nope/progress', admin.headers);
  t.equal(unknown.statusCode, 404);
  t.equal(unknown.json().error, 'unknown_course');
  const student = await get(app, '/api/courses/c1/progress', ada.headers);
  t.same(student.json(), { statusCode: 403, error: 'forbidden', message: 'only the staff of course "c1" may see this' });
  t.equal((await get(app, '/api/courses/c1/progress', { origin: 'https://book.example' })).statusCode, 401);
  t.equal((await get(app, '/api/courses/c1/progress', admin.headers)).statusCode, 200, 'an admin reads any course');
});
