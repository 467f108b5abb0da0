import t from 'tap';
import { sql } from 'drizzle-orm';
import { coursesOf, enrol, isEnrolled, staffRole } from '../db/courses.js';
import { normaliseJoinCode, newJoinCode } from '../lib/join-code.js';
import { build, cookieOf, fromBook, register } from './helper.js';
import { courseOf, staffOf } from './staff.js';

/** The courses model: join codes, membership, and what happens to an anonymous student's enrolments when they log in. */

t.test('a new course is open, with a join code of 10 characters none of which is easily misread (no I, L, O, U, 0, 1)', async (t) => {
  const app = await build(t);
  const course = await courseOf(app, 'c1', 'book');
  t.equal(course.open, true);
  t.match(course.joinCode, /^[A-HJKMNP-TV-Z2-9]{10}$/);
  const codes = new Set(Array.from({ length: 1000 }, () => newJoinCode()));
  t.equal(codes.size, 1000, 'a thousand new codes differ');
  const stored = await app.db.all(sql`SELECT id, book_id, title, term, join_code, open, starts_at, ends_at FROM courses`);
  t.same(stored, [{ id: 'c1', book_id: 'book', title: 'Course c1', term: null, join_code: course.joinCode, open: 1, starts_at: null, ends_at: null }]);
});

t.test('a join code is read as people type it: lower-case, with spaces or dashes', async (t) => {
  t.equal(normaliseJoinCode(' abcd-efgh 23 '), 'ABCDEFGH23');
  t.equal(normaliseJoinCode('ABCDEFGH23'), 'ABCDEFGH23');
});

t.test('an anonymous student who joined a course and then logs in stays enrolled, as the account, with how they joined', async (t) => {
  const app = await build(t);
  await courseOf(app, 'c1', 'book');
  const { res: registered } = await register(app, 'ada');
  const ada = registered.json().user.id as string;
  await app.inject({ method: 'POST', url: '/api/auth/logout', headers: { ...fromBook, cookie: cookieOf(registered) } });
  const first = await app.inject({ method: 'POST', url: '/api/books/book/events', headers: fromBook, payload: { events: [{ type: 'hello' }] } });
  const cookie = cookieOf(first);
  const anonymous = (await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie } })).json().user.id as string;
  await enrol(app.db, 'c1', [anonymous], 'code');

  const login = await app.inject({ method: 'POST', url: '/api/auth/login', headers: { ...fromBook, cookie }, payload: { username: 'ada', password: 'correct horse battery' } });
  t.equal(login.statusCode, 200);
  t.equal(await isEnrolled(app.db, 'c1', ada), true);
  t.same(await app.db.all(sql`SELECT course_id, user_id, via FROM enrolments`), [{ course_id: 'c1', user_id: ada, via: 'code' }]);
  t.same(await app.db.all(sql`SELECT id FROM users WHERE id = ${anonymous}`), [], 'the anonymous user is gone');
});

t.test('a course someone both studies and teaches is listed once for each role, ordered by course id', async (t) => {
  const app = await build(t);
  await courseOf(app, 'b-course', 'book');
  await courseOf(app, 'a-course', 'book');
  const { id } = await staffOf(app, 'tess', 'b-course', 'ta');
  await enrol(app.db, 'a-course', [id], 'staff');
  await enrol(app.db, 'b-course', [id], 'staff');
  t.same(
    (await coursesOf(app.db, id)).map((m) => [m.course.id, m.as]),
    [
      ['a-course', 'student'],
      ['b-course', 'student'],
      ['b-course', 'ta'],
    ],
  );
  t.equal(await staffRole(app.db, 'b-course', id), 'ta');
  t.equal(await staffRole(app.db, 'a-course', id), undefined);
});

t.test('deleting a course ends its staff and enrolments, and leaves the students\' work', async (t) => {
  const app = await build(t);
  await courseOf(app, 'c1', 'book');
  const { res, cookie } = await register(app, 'ada');
  const ada = res.json().user.id as string;
  await enrol(app.db, 'c1', [ada], 'staff');
  await app.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers: { ...fromBook, cookie }, payload: { code: 'x' } });
  await app.db.run(sql`DELETE FROM courses WHERE id = 'c1'`);
  t.same(await app.db.all(sql`SELECT * FROM enrolments`), []);
  t.same(await app.db.all(sql`SELECT activity FROM programs WHERE user_id = ${ada}`), [{ activity: 'ac1' }]);
});
