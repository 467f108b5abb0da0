import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import t, { type Test } from 'tap';
import { enrol } from '../db/courses.js';
import { saveAnswer } from '../db/work.js';
import type { Config } from '../lib/config.js';
import { build, fromBook } from './helper.js';
import { courseOf, enrolled, loginAs, staffOf, student } from './staff.js';

/** A course's roster over the API: GET, POST (usernames or CSV), DELETE /api/courses/:course/roster… */

async function setUp(t: Test, overrides: Partial<Config> = {}) {
  const app = await build(t, overrides);
  await courseOf(app, 'c1', 'book');
  await courseOf(app, 'c2', 'book');
  const instructor = await staffOf(app, 'prof', 'c1', 'instructor');
  const ta = await staffOf(app, 'tess', 'c1', 'ta');
  return { app, instructor, ta };
}

const get = (app: FastifyInstance, url: string, headers: Record<string, string>) => app.inject({ method: 'GET', url, headers });
const post = (app: FastifyInstance, headers: Record<string, string>, payload: object, course = 'c1') =>
  app.inject({ method: 'POST', url: `/api/courses/${course}/roster`, headers, payload });

const enrolledNames = async (app: FastifyInstance, course = 'c1') =>
  (await app.db.all<{ username: string }>(sql`SELECT u.username FROM enrolments e JOIN users u ON u.id = e.user_id WHERE e.course_id = ${course} ORDER BY u.username_key`)).map((r) => r.username);

t.test('GET roster lists the course\'s enrolled students (not its staff, not another course\'s) with how and when they joined', async (t) => {
  const { app, ta } = await setUp(t);
  const before = Date.now();
  const ada = await enrolled(app, 'ada', 'c1', { name: 'Ada L.', email: 'ada@example.edu' });
  await enrolled(app, 'bob', 'c2');
  const res = await get(app, '/api/courses/c1/roster', ta.headers);
  t.equal(res.statusCode, 200, res.body);
  const body = res.json();
  t.equal(body.course, 'c1');
  t.equal(body.next, null);
  t.same(body.students.map((s: Record<string, unknown>) => ({ ...s, enrolledAt: undefined })), [
    { id: ada.id, username: 'ada', name: 'Ada L.', email: 'ada@example.edu', via: 'staff', enrolledAt: undefined },
  ]);
  const at = Date.parse(body.students[0].enrolledAt);
  t.ok(at >= before - 1000 && at <= Date.now(), 'enrolledAt is the time of enrolment, ISO 8601');
});

t.test('GET roster pages with ?limit= and an opaque ?after= cursor until next is null; every student once', async (t) => {
  const { app, instructor } = await setUp(t);
  const ids: string[] = [];
  for (const name of ['stu1', 'stu2', 'stu3', 'stu4', 'stu5']) ids.push((await student(app, name)).id);
  await enrol(app.db, 'c1', ids, 'staff');
  const seen: string[] = [];
  let url = '/api/courses/c1/roster?limit=2';
  const sizes: number[] = [];
  for (;;) {
    const res = await get(app, url, instructor.headers);
    t.equal(res.statusCode, 200, res.body);
    const { students, next } = res.json() as { students: { id: string }[]; next: string | null };
    sizes.push(students.length);
    seen.push(...students.map((s) => s.id));
    if (next === null) break;
    t.match(next, /^[A-Za-z0-9_-]+$/, 'the cursor is URL-safe');
    url = `/api/courses/c1/roster?limit=2&after=${next}`;
  }
  t.same(sizes, [2, 2, 1]);
  t.same(seen, [...ids].sort());
  const all = await get(app, '/api/courses/c1/roster', instructor.headers);
  t.equal(all.json().students.length, 5, 'the default limit (100) takes them all');
});

t.test('GET roster refuses a limit out of 1-500 and a cursor it did not give, naming the field (400)', async (t) => {
  const { app, instructor } = await setUp(t);
  for (const query of ['limit=0', 'limit=501', 'limit=x']) {
    const res = await get(app, `/api/courses/c1/roster?${query}`, instructor.headers);
    t.equal(res.statusCode, 400, query);
    t.match(res.json().message, /limit/, query);
  }
  for (const after of ['!!', 'bm90IGEgY3Vyc29y=', 'x'.repeat(701)]) {
    const res = await get(app, `/api/courses/c1/roster?after=${after}`, instructor.headers);
    t.equal(res.statusCode, 400, after);
    t.match(res.json().message, /after/, after);
  }
});

t.test('POST roster with usernames enrols existing accounts (via staff); again, they count as already enrolled', async (t) => {
  const { app, instructor } = await setUp(t);
  await student(app, 'ada');
  await student(app, 'bob');
  const res = await post(app, instructor.headers, { usernames: ['ada', 'BOB'] });
  t.equal(res.statusCode, 200, res.body);
  t.same(res.json(), { enrolled: 2, alreadyEnrolled: 0, created: [] });
  t.same(await enrolledNames(app), ['ada', 'bob']);
  t.same((await post(app, instructor.headers, { usernames: ['ada'] })).json(), { enrolled: 0, alreadyEnrolled: 1, created: [] });
});

t.test('POST roster with unknown usernames is 400 naming each, and enrols nobody', async (t) => {
  const { app, instructor } = await setUp(t);
  await student(app, 'ada');
  const res = await post(app, instructor.headers, { usernames: ['ada', 'zed', 'yves'] });
  t.equal(res.statusCode, 400);
  t.same(res.json(), {
    statusCode: 400,
    error: 'unknown_users',
    message: 'no account has the username(s) zed, yves: nobody was enrolled (a roster CSV makes accounts for new usernames)',
  });
  t.same(await enrolledNames(app), []);
});

t.test('POST roster with a CSV makes accounts for new usernames and replies with their set-password links; existing accounts stay as they are', async (t) => {
  const { app, instructor } = await setUp(t, { publicOrigin: 'https://folio.example.edu' });
  await student(app, 'ada', { name: 'Ada' });
  const res = await post(app, instructor.headers, { csv: 'username,name,email\nada,Changed Name,\ncleo,Cleo P.,cleo@example.edu\n' });
  t.equal(res.statusCode, 200, res.body);
  const body = res.json();
  t.match(body, { enrolled: 2, alreadyEnrolled: 0, created: [{ username: 'cleo', link: /^https:\/\/folio\.example\.edu\/account\/set-password#token=[A-Za-z0-9_-]{43}$/ }] });
  t.equal(body.created.length, 1);
  t.same(await app.db.all(sql`SELECT username, name, email, password_hash FROM users WHERE username IN ('ada', 'cleo') ORDER BY username`), [
    { username: 'ada', name: 'Ada', email: null, password_hash: (await app.db.get<{ h: string }>(sql`SELECT password_hash AS h FROM users WHERE username = 'ada'`))!.h },
    { username: 'cleo', name: 'Cleo P.', email: 'cleo@example.edu', password_hash: null },
  ]);
  const via = await app.db.all(sql`SELECT u.username, e.via FROM enrolments e JOIN users u ON u.id = e.user_id ORDER BY u.username`);
  t.same(via, [
    { username: 'ada', via: 'roster' },
    { username: 'cleo', via: 'roster' },
  ]);

  // The student claims the account with the link, then logs in from the book.
  const token = body.created[0].link.split('#token=')[1];
  const set = await app.inject({ method: 'POST', url: '/api/auth/password-link', payload: { token, password: 'cleo\'s own password' } });
  t.equal(set.statusCode, 204, set.body);
  const login = await app.inject({ method: 'POST', url: '/api/auth/login', headers: fromBook, payload: { username: 'cleo', password: 'cleo\'s own password' } });
  t.equal(login.statusCode, 200, login.body);
});

t.test('POST roster\'s links name the request\'s origin when FOLIO_PUBLIC_ORIGIN is unset', async (t) => {
  const { app, instructor } = await setUp(t);
  const res = await post(app, { ...instructor.headers, host: 'folio.school.example' }, { csv: 'username\ndan\n' });
  t.equal(res.statusCode, 200, res.body);
  t.match(res.json().created[0].link, /^http:\/\/folio\.school\.example\/account\/set-password#token=/);
});

t.test('POST roster with a CSV with mistakes is 400 invalid_roster listing every bad line, and changes nothing', async (t) => {
  const { app, instructor } = await setUp(t);
  const users = async () => Number((await app.db.get<{ n: number }>(sql`SELECT COUNT(*) AS n FROM users`))!.n);
  const before = await users();
  const res = await post(app, instructor.headers, { csv: 'username,email\nnew1,new1@example.edu\nno,\nnew2,nope\nNEW1,\n' });
  t.equal(res.statusCode, 400);
  t.same(res.json(), {
    statusCode: 400,
    error: 'invalid_roster',
    message:
      'the roster cannot be imported (nothing was changed): line 3: username "no" is not a username (3-64 characters: letters, digits and . _ @ + -); ' +
      'line 4: email "nope" is not an email address; line 5: username NEW1 is on line 2 already (usernames are the same regardless of case)',
  });
  t.equal(await users(), before);
  t.same(await enrolledNames(app), []);
  t.same(await app.db.all(sql`SELECT * FROM password_links`), []);
});

t.test('POST roster refuses a body with both, neither or other fields (400)', async (t) => {
  const { app, instructor } = await setUp(t);
  for (const payload of [{}, { usernames: [] }, { usernames: ['ada'], csv: 'username\nada\n' }, { csv: '' }, { usernames: ['bad name'] }]) {
    const res = await post(app, instructor.headers, payload);
    t.equal(res.statusCode, 400, JSON.stringify(payload));
  }
});

t.test('TAs read the roster but may not change it; instructors of another course may do neither (403)', async (t) => {
  const { app, ta } = await setUp(t);
  const ada = await enrolled(app, 'ada', 'c1');
  const other = await staffOf(app, 'olga', 'c2', 'instructor');
  t.equal((await get(app, '/api/courses/c1/roster', ta.headers)).statusCode, 200);
  t.equal((await post(app, ta.headers, { usernames: ['ada'] })).statusCode, 403);
  t.equal((await app.inject({ method: 'DELETE', url: `/api/courses/c1/roster/${ada.id}`, headers: ta.headers })).statusCode, 403);
  t.equal((await get(app, '/api/courses/c1/roster', other.headers)).statusCode, 403);
  t.equal((await post(app, other.headers, { usernames: ['ada'] })).statusCode, 403);
  t.same(await enrolledNames(app), ['ada']);
});

t.test('an admin, not staff of the course, changes its roster', async (t) => {
  const { app } = await setUp(t);
  const admin = await loginAs(app, 'root', 'admin');
  await student(app, 'ada');
  t.equal((await post(app, admin.headers, { usernames: ['ada'] })).statusCode, 200);
  t.same(await enrolledNames(app), ['ada']);
});

t.test('DELETE roster/:user takes the student out of the course (204), keeping their work; one not enrolled is 404 not_enrolled', async (t) => {
  const { app, instructor } = await setUp(t);
  const ada = await enrolled(app, 'ada', 'c1');
  await enrol(app.db, 'c2', [ada.id], 'staff');
  await saveAnswer(app.db, { userId: ada.id, bookId: 'book' }, 'q1', { kind: 'poll', answer: 'a' });
  const res = await app.inject({ method: 'DELETE', url: `/api/courses/c1/roster/${ada.id}`, headers: instructor.headers });
  t.equal(res.statusCode, 204, res.body);
  t.same(await enrolledNames(app, 'c1'), []);
  t.same(await enrolledNames(app, 'c2'), ['ada'], 'other courses keep the student');
  t.same(await app.db.all(sql`SELECT question FROM answers WHERE user_id = ${ada.id}`), [{ question: 'q1' }]);
  const again = await app.inject({ method: 'DELETE', url: `/api/courses/c1/roster/${ada.id}`, headers: instructor.headers });
  t.equal(again.statusCode, 404);
  t.same(again.json(), { statusCode: 404, error: 'not_enrolled', message: `user ${ada.id} is not enrolled in c1 (see GET /api/courses/c1/roster)` });
});

t.test('roster routes of an unknown course are 404 unknown_course', async (t) => {
  const { app, instructor } = await setUp(t);
  const res = await get(app, '/api/courses/nope/roster', instructor.headers);
  t.equal(res.statusCode, 404);
  t.equal(res.json().error, 'unknown_course');
});
