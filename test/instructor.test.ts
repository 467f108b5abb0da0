import type { FastifyInstance } from 'fastify';
import t from 'tap';
import { build, fromBook, otherBookOrigin, testDialect } from './helper.js';
import { expectStatus, loginAs, student } from './staff.js';
import { sql } from 'drizzle-orm';
import { bookProgressSql } from '../db/reports.js';

const T = Date.parse('2026-09-01T08:00:00.000Z');
const at = (ms: number) => new Date(T + ms).toISOString();

/** ada does a bit of everything in `book`, bob answers once, cara works in `other` only; every time is then fixed. */
async function classroom(app: FastifyInstance) {
  const ada = await student(app, 'ada', { name: 'Ada L.', email: 'ada@example.org' });
  const bob = await student(app, 'bob');
  const cara = await student(app, 'cara');
  const put = (h: Record<string, string>, url: string, payload: unknown) => expectStatus(app, 200, 'PUT', url, h, payload);
  const post = (h: Record<string, string>, url: string, payload: unknown, status = 201) => expectStatus(app, status, 'POST', url, h, payload);
  await put(ada.headers, '/api/books/book/programs/ac1', { code: 'v1', page: 'p1' });
  await put(ada.headers, '/api/books/book/programs/ac1', { code: 'v2', language: 'python', page: 'p1' });
  await put(ada.headers, '/api/books/book/programs/ac2', { code: 'other', page: 'p2' });
  await post(ada.headers, '/api/books/book/answers/q1', { kind: 'mchoice', answer: ['a'], correct: false, page: 'p1' });
  await post(ada.headers, '/api/books/book/answers/q1', { kind: 'mchoice', answer: ['b'], correct: true, score: 1, page: 'p1' });
  await post(ada.headers, '/api/books/book/answers/q2', { kind: 'fitb', answer: ['x'], correct: false, page: 'p2' });
  await post(ada.headers, '/api/books/book/answers/q3', { kind: 'shortanswer', answer: 'because', page: 'p2' });
  await put(ada.headers, '/api/books/book/pages/complete', { page: 'p1', complete: true });
  await put(ada.headers, '/api/books/book/pages/complete', { page: 'p2', complete: true });
  await put(ada.headers, '/api/books/book/position', { page: 'p2', scroll: 120 });
  await post(ada.headers, '/api/books/book/events', { events: [{ type: 'run', target: 'ac1', page: 'p1' }] }, 202);
  await post(bob.headers, '/api/books/book/answers/q1', { kind: 'mchoice', answer: ['b', 'c'], correct: true, page: 'p1' });
  await post({ origin: otherBookOrigin, cookie: cara.headers.cookie }, '/api/books/other/answers/q1', { kind: 'mchoice', answer: ['a'], correct: false });
  await app.db.run(sql`UPDATE programs SET saved_at = CAST(${T} AS BIGINT) + id`);
  await app.db.run(sql`UPDATE answers SET saved_at = CAST(${T} AS BIGINT) + 10 + id`);
  await app.db.run(sql`UPDATE page_completions SET completed_at = CAST(${T} AS BIGINT) + 30`);
  await app.db.run(sql`UPDATE positions SET updated_at = CAST(${T} AS BIGINT) + 40`);
  await app.db.run(sql`UPDATE events SET server_time = CAST(${T} AS BIGINT) + 50`);
  return { ada, bob, cara };
}

t.test('progress lists each student of the book by user id (admins): pages completed, questions attempted and correct, activities, last page and activity', async (t) => {
  const app = await build(t);
  const { ada, bob } = await classroom(app);
  const admin = await loginAs(app, 'root', 'admin');
  const res = await app.inject({ method: 'GET', url: '/api/books/book/progress', headers: admin.headers });
  t.equal(res.statusCode, 200);
  const { students, ...rest } = res.json();
  t.same(rest, { book: 'book', next: null });
  t.same(students, [
      {
        user: { id: ada.id, username: 'ada', name: 'Ada L.', email: 'ada@example.org', role: 'student', anonymous: false },
        pagesCompleted: 2,
        questionsAttempted: 3,
        questionsCorrect: 1,
        activitiesSaved: 2,
        lastPage: 'p2',
        lastActivity: at(50),
      },
      {
        user: { id: bob.id, username: 'bob', name: null, email: null, role: 'student', anonymous: false },
        pagesCompleted: 0,
        questionsAttempted: 1,
        questionsCorrect: 1,
        activitiesSaved: 0,
        lastPage: null,
        lastActivity: at(15),
      },
    ].sort((a, b) => (a.user.id < b.user.id ? -1 : 1)));
});

t.test('progress includes anonymous students and leaves out admins\' own work', async (t) => {
  const app = await build(t);
  const bob = await student(app, 'bob');
  await expectStatus(app, 200, 'PUT', '/api/books/book/programs/ac1', bob.headers, { code: 'x' });
  const anonymous = await expectStatus(app, 200, 'PUT', '/api/books/book/programs/ac1', fromBook, { code: 'before logging in' });
  const admin = await loginAs(app, 'root', 'admin');
  await expectStatus(app, 200, 'PUT', '/api/books/book/programs/ac1', admin.headers, { code: 'trying the book' });
  const res = await app.inject({ method: 'GET', url: '/api/books/book/progress', headers: admin.headers });
  const students = res.json().students as { user: { id: string; username: string | null; anonymous: boolean } }[];
  t.same(students.map((s) => s.user.id), students.map((s) => s.user.id).sort(), 'by user id');
  t.same(students.map((s) => [s.user.username, s.user.anonymous]).sort(), [
    ['bob', false],
    [null, true],
  ].sort());
  t.ok(anonymous.headers['set-cookie']);
});

t.test('progress of a book nobody worked in is an empty list; an unknown book is a 404', async (t) => {
  const app = await build(t);
  await classroom(app);
  const admin = await loginAs(app, 'root', 'admin');
  const other = await app.inject({ method: 'GET', url: '/api/books/other/progress', headers: admin.headers });
  t.same(other.json().students.map((s: { user: { username: string } }) => s.user.username), ['cara']);
  (await app.db.run(sql`DELETE FROM answers WHERE book_id = 'other'`));
  t.same((await app.inject({ method: 'GET', url: '/api/books/other/progress', headers: admin.headers })).json(), { book: 'other', students: [], next: null });
  const unknown = await app.inject({ method: 'GET', url: '/api/books/nope/progress', headers: admin.headers });
  t.equal(unknown.statusCode, 404);
  t.same(unknown.json(), { statusCode: 404, error: 'unknown_book', message: 'there is no book "nope"' });
});

t.test('a student\'s work: the latest program per activity, the latest answer per question, completed pages and position', async (t) => {
  const app = await build(t);
  const { ada } = await classroom(app);
  const admin = await loginAs(app, 'root', 'admin');
  const res = await app.inject({ method: 'GET', url: `/api/books/book/students/${ada.id}/work`, headers: admin.headers });
  t.equal(res.statusCode, 200);
  t.same(res.json(), {
    user: { id: ada.id, username: 'ada', name: 'Ada L.', email: 'ada@example.org', role: 'student', anonymous: false },
    programs: [
      { activity: 'ac1', version: 2, code: 'v2', language: 'python', page: 'p1', savedAt: at(2) },
      { activity: 'ac2', version: 1, code: 'other', language: null, page: 'p2', savedAt: at(3) },
    ],
    answers: [
      { latest: { question: 'q1', attempt: 2, kind: 'mchoice', answer: ['b'], correct: true, score: 1, page: 'p1', savedAt: at(12) }, attempts: 2 },
      { latest: { question: 'q2', attempt: 1, kind: 'fitb', answer: ['x'], correct: false, score: null, page: 'p2', savedAt: at(13) }, attempts: 1 },
      { latest: { question: 'q3', attempt: 1, kind: 'shortanswer', answer: 'because', correct: null, score: null, page: 'p2', savedAt: at(14) }, attempts: 1 },
    ],
    completed: [
      { page: 'p1', completedAt: at(30) },
      { page: 'p2', completedAt: at(30) },
    ],
    position: { page: 'p2', scroll: 120, updatedAt: at(40) },
  });
});

t.test('a student\'s work in a book they never opened is empty; an unknown user is a 404, a malformed id a 400', async (t) => {
  const app = await build(t);
  const { bob } = await classroom(app);
  const admin = await loginAs(app, 'root', 'admin');
  const other = await app.inject({ method: 'GET', url: `/api/books/other/students/${bob.id}/work`, headers: admin.headers });
  t.equal(other.statusCode, 200);
  t.same({ ...other.json(), user: undefined }, { user: undefined, programs: [], answers: [], completed: [], position: null });
  const unknown = await app.inject({ method: 'GET', url: '/api/books/book/students/00000000-0000-4000-8000-000000000000/work', headers: admin.headers });
  t.equal(unknown.statusCode, 404);
  t.equal(unknown.json().error, 'unknown_user');
  const malformed = await app.inject({ method: 'GET', url: '/api/books/book/students/bob%20smith/work', headers: admin.headers });
  t.equal(malformed.statusCode, 400);
  t.match(malformed.json().message, /^params\/user must match pattern/);
});

t.test('a question\'s summary: attempts, students, correct rate, and the choices in students\' latest answers, most chosen first', async (t) => {
  const app = await build(t);
  await classroom(app);
  const dan = await student(app, 'dan');
  await expectStatus(app, 201, 'POST', '/api/books/book/answers/q1', dan.headers, { kind: 'mchoice', answer: ['a'], correct: false });
  const admin = await loginAs(app, 'root', 'admin');
  await expectStatus(app, 201, 'POST', '/api/books/book/answers/q1', admin.headers, { kind: 'mchoice', answer: ['z'], correct: false });
  const res = await app.inject({ method: 'GET', url: '/api/books/book/questions/q1/summary', headers: admin.headers });
  t.equal(res.statusCode, 200);
  // ada: a (wrong) then b (right); bob: b and c (right); dan: a (wrong); the admin's own attempt does not count.
  t.same(res.json(), {
    question: 'q1',
    kind: 'mchoice',
    attempts: 4,
    students: 3,
    studentsCorrect: 2,
    correctRate: 0.5,
    distribution: [
      { choice: 'b', count: 2 },
      { choice: 'a', count: 1 },
      { choice: 'c', count: 1 },
    ],
  });
});

t.test('a summary has no distribution for kinds without choices, no correct rate when nothing was marked, and zeros before any attempt', async (t) => {
  const app = await build(t);
  await classroom(app);
  const admin = await loginAs(app, 'root', 'admin');
  const get = async (q: string) => (await app.inject({ method: 'GET', url: `/api/books/book/questions/${q}/summary`, headers: admin.headers })).json();
  t.same(await get('q2'), { question: 'q2', kind: 'fitb', attempts: 1, students: 1, studentsCorrect: 0, correctRate: 0, distribution: null });
  t.same(await get('q3'), { question: 'q3', kind: 'shortanswer', attempts: 1, students: 1, studentsCorrect: 0, correctRate: null, distribution: null });
  t.same(await get('q9'), { question: 'q9', kind: null, attempts: 0, students: 0, studentsCorrect: 0, correctRate: null, distribution: null });
});

t.test('students get 403 forbidden and requests without a session 401 on every book-wide view', async (t) => {
  const app = await build(t);
  const { ada } = await classroom(app);
  for (const url of ['/api/books/book/progress', `/api/books/book/students/${ada.id}/work`, '/api/books/book/questions/q1/summary', '/api/books/book/export']) {
    const forbidden = await app.inject({ method: 'GET', url, headers: ada.headers });
    t.equal(forbidden.statusCode, 403, url);
    const roles = url.endsWith('/export') ? 'admin or researcher' : 'admin';
    t.same(forbidden.json(), { statusCode: 403, error: 'forbidden', message: `this needs the ${roles} role` }, url);
    const anonymous = await app.inject({ method: 'GET', url, headers: fromBook });
    t.equal(anonymous.statusCode, 401, url);
    t.equal(anonymous.json().error, 'unauthenticated', url);
  }
});

t.test('the book-wide progress pages through every student with work exactly once, by user id, with the cursor it gives', async (t) => {
  const app = await build(t);
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    const s = await student(app, `stu${i}`);
    await expectStatus(app, 201, 'POST', '/api/books/book/answers/q1', s.headers, { kind: 'poll', answer: 'a' });
    ids.push(s.id);
  }
  await student(app, 'idle');
  const admin = await loginAs(app, 'root', 'admin');
  const seen: string[] = [];
  const sizes: number[] = [];
  let after: string | null = null;
  do {
    const res = await app.inject({ method: 'GET', url: `/api/books/book/progress?limit=2${after === null ? '' : `&after=${after}`}`, headers: admin.headers });
    t.equal(res.statusCode, 200);
    const body = res.json() as { students: { user: { id: string } }[]; next: string | null };
    sizes.push(body.students.length);
    seen.push(...body.students.map((s) => s.user.id));
    after = body.next;
  } while (after !== null);
  t.same(sizes, [2, 2, 1]);
  t.same(seen, [...ids].sort());
});

t.test('the progress view probes per student by index: no scan of the work tables', { skip: testDialect !== 'sqlite' && 'SQLite query plans' }, async (t) => {
  const app = await build(t);
  const plan = (await app.db.all(
      sql`EXPLAIN QUERY PLAN SELECT (SELECT COUNT(DISTINCT a.question) FROM answers a WHERE a.user_id = u.id AND a.book_id = 'b'),
         (SELECT MAX(e.server_time) FROM events e WHERE e.user_id = u.id AND e.book_id = 'b') FROM users u WHERE u.role = 'student'`)) as { detail: string }[];
  const details = plan.map((p) => p.detail);
  t.notOk(details.some((d) => /^SCAN (a|e)\b/.test(d)), details.join('\n'));
  t.ok(details.some((d) => d.includes('events_user_time_idx')), details.join('\n'));
});

t.test('the book-wide progress reads each student by index, never the book\'s rows by time (SQLite has no statistics to tell)', { skip: testDialect !== 'sqlite' && 'SQLite query plans' }, async (t) => {
  const app = await build(t);
  const plan = (await app.db.all<{ detail: string }>(sql`EXPLAIN QUERY PLAN ${bookProgressSql('sqlite')}`, { book: 'book', after: '', limit: 51 })).map((p) => p.detail);
  t.notOk(plan.some((d) => /^SCAN (a|c|p|e|s)\b/.test(d) || /_book_time_idx/.test(d)), plan.join('\n'));
});
