/**
 * Joining a course with its code (POST /api/courses/join), the caller's courses (GET /api/courses/mine), and a
 * course's own settings for its staff (GET/PATCH /api/courses/:course, POST /api/courses/:course/code).
 */
import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import t, { type Test } from 'tap';
import { buildApp } from '../app.js';
import { createBook } from '../db/books.js';
import { enrol, findCourse, setCourseOpen } from '../db/courses.js';
import type { Config } from '../lib/config.js';
import { bookOrigin, build, cookieOf, fromBook, otherBookOrigin, register, testConfig } from './helper.js';
import { courseOf, enrolled, loginAs, staffOf, student } from './staff.js';

type Headers = Record<string, string>;

const join = (app: FastifyInstance, headers: Headers, code: string, extra: { remoteAddress?: string } = {}) =>
  app.inject({ method: 'POST', url: '/api/courses/join', headers, payload: { code }, ...extra });
const mine = (app: FastifyInstance, headers: Headers) => app.inject({ method: 'GET', url: '/api/courses/mine', headers });
const codeOf = async (app: FastifyInstance, id: string) => (await findCourse(app.db, id))!.joinCode;

/** The enrolments of a course as stored: who, and how they came in. */
const enrolmentsOf = async (app: FastifyInstance, courseId: string) =>
  app.db.all<{ user_id: string; via: string }>(sql`SELECT user_id, via FROM enrolments WHERE course_id = ${courseId} ORDER BY user_id`);

/** The app with a course c1 (title "Programming", term "Fall 2026") on book `book`. */
async function withCourse(t: Test, overrides: Partial<Config> = {}) {
  const app = await build(t, overrides);
  await courseOf(app, 'c1', 'book', { title: 'Programming' });
  await app.db.run(sql`UPDATE courses SET term = 'Fall 2026' WHERE id = 'c1'`);
  return app;
}

const c1 = { id: 'c1', title: 'Programming', term: 'Fall 2026', book: 'book' };

// ---- joining ------------------------------------------------------------------------------------------------------

t.test('a student joins with the right code: 200 with the course, enrolled, not already; the enrolment is stored via code', async (t) => {
  const app = await withCourse(t);
  const ada = await student(app, 'ada');
  const res = await join(app, ada.headers, await codeOf(app, 'c1'));
  t.equal(res.statusCode, 200);
  t.strictSame(res.json(), { course: c1, enrolled: true, already: false, as: 'student' });
  t.strictSame(await enrolmentsOf(app, 'c1'), [{ user_id: ada.id, via: 'code' }]);
});

t.test('a code typed in lower case, with dashes or spaces, joins as the stored code does', async (t) => {
  const app = await withCourse(t);
  const code = await codeOf(app, 'c1');
  const typed = [code.toLowerCase(), `${code.slice(0, 4)}-${code.slice(4, 8)}-${code.slice(8)}`, ` ${code.slice(0, 5).toLowerCase()} ${code.slice(5)} `];
  for (const [i, form] of typed.entries()) {
    const someone = await student(app, `student${i}`);
    const res = await join(app, someone.headers, form);
    t.equal(res.statusCode, 200, JSON.stringify(form));
    t.match(res.json(), { course: { id: 'c1' }, enrolled: true, already: false }, JSON.stringify(form));
  }
  t.equal((await enrolmentsOf(app, 'c1')).length, 3);
});

t.test('a wrong code is 404 unknown_code, the same reply whether no course ever had it or a course had it before a rotation', async (t) => {
  const app = await withCourse(t);
  const old = await codeOf(app, 'c1');
  const instructor = await staffOf(app, 'teach', 'c1', 'instructor');
  t.equal((await app.inject({ method: 'POST', url: '/api/courses/c1/code', headers: instructor.headers })).statusCode, 200);
  const ada = await student(app, 'ada');
  const never = await join(app, ada.headers, 'ZZZZ-ZZZZ-ZZ');
  const rotated = await join(app, ada.headers, old);
  for (const res of [never, rotated]) {
    t.equal(res.statusCode, 404);
    t.strictSame(res.json(), { statusCode: 404, error: 'unknown_code', message: 'no course has this join code: check it with your instructor' });
  }
  t.equal(never.body, rotated.body, 'the bodies are identical');
  const headers = (res: typeof never) => Object.keys(res.headers).sort();
  t.strictSame(headers(never), headers(rotated), 'and so are the header names');
  t.strictSame(await enrolmentsOf(app, 'c1'), []);
});

t.test('a code the schema refuses (too short, too long, other characters) is a 400 naming the field', async (t) => {
  const app = await withCourse(t);
  const ada = await student(app, 'ada');
  for (const code of ['ABC', 'A'.repeat(65), 'ABCD;EFGH']) {
    const res = await join(app, ada.headers, code);
    t.equal(res.statusCode, 400, code);
    t.match(res.json(), { error: 'invalid_request', message: /body\/code/ }, code);
  }
  const res = await app.inject({ method: 'POST', url: '/api/courses/join', headers: ada.headers, payload: {} });
  t.equal(res.statusCode, 400);
  t.match(res.json().message, /code/);
});

t.test('past FOLIO_JOIN_RATE_PER_USER attempts a minute a user gets 429 with Retry-After, even with the right code, which is not looked up', async (t) => {
  const app = await withCourse(t, { joinRatePerUser: 3 });
  const ada = await student(app, 'ada');
  for (let i = 0; i < 3; i++) t.equal((await join(app, ada.headers, `WRONG${i}CODE`)).statusCode, 404);
  const limited = await join(app, ada.headers, await codeOf(app, 'c1'));
  t.equal(limited.statusCode, 429);
  t.strictSame(limited.json(), { statusCode: 429, error: 'rate_limited', message: limited.json().message });
  t.match(limited.json().message, /^too many attempts at joining a course: try again in \d+ s$/);
  t.match(limited.headers['retry-after'], /^\d+$/);
  t.ok(Number(limited.headers['retry-after']) <= 60);
  t.strictSame(await enrolmentsOf(app, 'c1'), [], 'not enrolled');
  // Another student from the same address is not held up by ada's attempts.
  const bob = await student(app, 'bob');
  t.equal((await join(app, bob.headers, await codeOf(app, 'c1'))).statusCode, 200);
  t.strictSame(await app.db.all(sql`SELECT key, count FROM rate_limits WHERE key LIKE 'join-%' ORDER BY count DESC`), [
    { key: 'join-ip:127.0.0.1', count: 5 },
    { key: `join-user:${ada.id}`, count: 4 },
    { key: `join-user:${bob.id}`, count: 1 },
  ]);
});

t.test('past FOLIO_JOIN_RATE_PER_IP attempts a minute from one address, every user there gets 429; another address is not limited', async (t) => {
  const app = await withCourse(t, { joinRatePerIp: 2 });
  const code = await codeOf(app, 'c1');
  const [ada, bob, cy] = [await student(app, 'ada'), await student(app, 'bob'), await student(app, 'cyd')];
  t.equal((await join(app, ada.headers, 'WRONGCODE')).statusCode, 404);
  t.equal((await join(app, bob.headers, 'WRONGCODE')).statusCode, 404);
  const limited = await join(app, cy.headers, code);
  t.equal(limited.statusCode, 429);
  t.match(limited.headers['retry-after'], /^\d+$/);
  t.equal((await join(app, cy.headers, code, { remoteAddress: '192.0.2.7' })).statusCode, 200);
});

t.test('the join limits count per window: once it ends, joining works again', async (t) => {
  const app = await withCourse(t, { joinRatePerUser: 1 });
  const ada = await student(app, 'ada');
  t.equal((await join(app, ada.headers, 'WRONGCODE')).statusCode, 404);
  t.equal((await join(app, ada.headers, await codeOf(app, 'c1'))).statusCode, 429);
  await app.db.run(sql`UPDATE rate_limits SET reset_at = reset_at - 60000 WHERE key LIKE 'join-%'`);
  t.equal((await join(app, ada.headers, await codeOf(app, 'c1'))).statusCode, 200);
});

t.test('the right code of a closed course is 403 course_closed and enrols nobody', async (t) => {
  const app = await withCourse(t);
  await setCourseOpen(app.db, 'c1', false);
  const ada = await student(app, 'ada');
  const res = await join(app, ada.headers, await codeOf(app, 'c1'));
  t.equal(res.statusCode, 403);
  t.strictSame(res.json(), { statusCode: 403, error: 'course_closed', message: 'course "Programming" is closed to joining: ask your instructor to open it' });
  t.strictSame(await enrolmentsOf(app, 'c1'), []);
});

t.test('a student already enrolled gets 200 with already: true, and their enrolment stays as it was (even once the course is closed)', async (t) => {
  const app = await withCourse(t);
  const ada = await enrolled(app, 'ada', 'c1');
  const code = await codeOf(app, 'c1');
  t.strictSame((await join(app, ada.headers, code)).json(), { course: c1, enrolled: true, already: true, as: 'student' });
  await setCourseOpen(app.db, 'c1', false);
  const closed = await join(app, ada.headers, code);
  t.equal(closed.statusCode, 200);
  t.strictSame(closed.json(), { course: c1, enrolled: true, already: true, as: 'student' });
  t.strictSame(await enrolmentsOf(app, 'c1'), [{ user_id: ada.id, via: 'staff' }]);
});

t.test('joining twice with the code: the second is already: true', async (t) => {
  const app = await withCourse(t);
  const ada = await student(app, 'ada');
  const code = await codeOf(app, 'c1');
  t.match((await join(app, ada.headers, code)).json(), { already: false });
  t.match((await join(app, ada.headers, code)).json(), { already: true, enrolled: true });
  t.equal((await enrolmentsOf(app, 'c1')).length, 1);
});

t.test("the course's staff joining with its code get 200 as what they are, and are not enrolled (they stay out of its reports)", async (t) => {
  const app = await withCourse(t);
  const code = await codeOf(app, 'c1');
  for (const role of ['instructor', 'ta'] as const) {
    const staff = await staffOf(app, `staff-${role}`, 'c1', role);
    const res = await join(app, staff.headers, code);
    t.equal(res.statusCode, 200, role);
    t.strictSame(res.json(), { course: c1, enrolled: false, already: true, as: role }, role);
  }
  t.strictSame(await enrolmentsOf(app, 'c1'), []);
});

t.test('joining needs a session: 401 without one, and an anonymous student may join', async (t) => {
  const app = await withCourse(t);
  const code = await codeOf(app, 'c1');
  const none = await join(app, fromBook, code);
  t.equal(none.statusCode, 401);
  t.equal(none.json().error, 'unauthenticated');
  const first = await app.inject({ method: 'PUT', url: '/api/books/book/position', headers: fromBook, payload: { page: 'p1' } });
  const anonymous = { ...fromBook, cookie: cookieOf(first) };
  t.match((await join(app, anonymous, code)).json(), { enrolled: true, already: false });
  t.equal((await enrolmentsOf(app, 'c1')).length, 1);
});

// Passes once merged with main: mergeUsers moving enrolments is main's dd2b8da, not this branch's.
t.test('a course joined anonymously stays joined when the student registers, and moves to the account they log in to', async (t) => {
  const app = await withCourse(t);
  await courseOf(app, 'c2', 'book');
  const code1 = await codeOf(app, 'c1');
  const anonymously = async () => {
    const first = await app.inject({ method: 'PUT', url: '/api/books/book/position', headers: fromBook, payload: { page: 'p1' } });
    const headers = { ...fromBook, cookie: cookieOf(first) };
    t.equal((await join(app, headers, code1)).statusCode, 200);
    return headers;
  };
  // Registering claims the anonymous user in place.
  const registering = await anonymously();
  const { res } = await register(app, 'ada', {}, { cookie: registering.cookie });
  const adaId = res.json().user.id as string;
  // Logging in merges the anonymous user into the account: bob was in c2 already, and joins c1 anonymously.
  const bob = await enrolled(app, 'bob', 'c2');
  const loggingIn = await anonymously();
  const login = await app.inject({ method: 'POST', url: '/api/auth/login', headers: loggingIn, payload: { username: 'bob', password: 'correct horse battery' } });
  t.equal(login.statusCode, 200);
  t.strictSame(
    (await enrolmentsOf(app, 'c1')).map((r) => r.user_id).sort(),
    [adaId, bob.id].sort(),
  );
  t.strictSame(await app.db.all(sql`SELECT course_id, via FROM enrolments WHERE user_id = ${bob.id} ORDER BY course_id`), [
    { course_id: 'c1', via: 'code' },
    { course_id: 'c2', via: 'staff' },
  ]);
  t.equal((await app.db.get<{ n: number }>(sql`SELECT count(*) AS n FROM enrolments`))!.n, 3, 'no enrolment of the merged anonymous user is left');
});

t.test('a join is logged as course_joined (info), with the course and the user; the code is never logged', async (t) => {
  const lines: string[] = [];
  const app = await buildApp({ config: testConfig(t), migrate: true, logger: { level: 'info', stream: { write: (line: string) => void lines.push(line) } } });
  t.teardown(() => app.close());
  await createBook(app.db, { id: 'book', title: 'A book', origins: [bookOrigin] });
  await app.books.refresh();
  await courseOf(app, 'c1', 'book');
  const code = await codeOf(app, 'c1');
  const ada = await student(app, 'ada');
  await join(app, ada.headers, 'WRONGCODE');
  await join(app, ada.headers, code);
  const events = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => typeof line.event === 'string' && /join/.test(line.event as string));
  t.match(events, [
    { level: 30, event: 'join_refused', reason: 'unknown_code', userId: ada.id },
    { level: 30, event: 'course_joined', course: 'c1', book: 'book', userId: ada.id, username: 'ada', via: 'code' },
  ]);
  t.equal(events.length, 2);
  t.notOk(lines.some((line) => line.includes(code) || line.includes('WRONGCODE')), 'no code in the log');
});

t.test('a join with the session cookie from an origin no book allows is refused by the CSRF check (403), one from any book\'s origin is not', async (t) => {
  const app = await withCourse(t);
  const code = await codeOf(app, 'c1');
  const ada = await student(app, 'ada');
  const foreign = await join(app, { ...ada.headers, origin: 'https://evil.example' }, code);
  t.equal(foreign.statusCode, 403);
  t.equal(foreign.json().error, 'origin_not_allowed');
  const { origin: _origin, ...noOrigin } = ada.headers;
  const bare = await join(app, noOrigin, code);
  t.equal(bare.statusCode, 403);
  t.equal(bare.json().error, 'origin_required');
  t.strictSame(await enrolmentsOf(app, 'c1'), [], 'nothing joined');
  t.strictSame(await app.db.all(sql`SELECT key FROM rate_limits WHERE key LIKE 'join-%'`), [], 'refused before counting an attempt');
  // Course routes are not under a book: every book's origin may call them (as for /api/auth).
  const other = await join(app, { ...ada.headers, origin: otherBookOrigin }, code);
  t.equal(other.statusCode, 200);
});

// ---- my courses ---------------------------------------------------------------------------------------------------

t.test('GET /api/courses/mine lists a student\'s courses without their join codes', async (t) => {
  const app = await withCourse(t);
  await courseOf(app, 'c2', 'other', { title: 'Other' });
  await courseOf(app, 'c3', 'book', { title: 'Not mine' });
  const ada = await enrolled(app, 'ada', 'c2');
  await join(app, ada.headers, await codeOf(app, 'c1'));
  await setCourseOpen(app.db, 'c2', false);
  const res = await mine(app, ada.headers);
  t.equal(res.statusCode, 200);
  t.strictSame(res.json(), {
    courses: [
      { ...c1, as: 'student', open: true },
      { id: 'c2', title: 'Other', term: null, book: 'other', as: 'student', open: false },
    ],
  });
});

t.test('GET /api/courses/mine lists the courses an instructor or a ta teaches with their join codes', async (t) => {
  const app = await withCourse(t);
  await courseOf(app, 'c2', 'book', { title: 'Second' });
  const teach = await staffOf(app, 'teach', 'c1', 'instructor');
  await app.db.run(sql`INSERT INTO course_staff (course_id, user_id, role, added_at) VALUES ('c2', ${teach.id}, 'ta', 0)`);
  t.strictSame((await mine(app, teach.headers)).json(), {
    courses: [
      { ...c1, as: 'instructor', open: true, joinCode: await codeOf(app, 'c1') },
      { id: 'c2', title: 'Second', term: null, book: 'book', as: 'ta', open: true, joinCode: await codeOf(app, 'c2') },
    ],
  });
  const ta = await staffOf(app, 'assistant', 'c2', 'ta');
  t.strictSame((await mine(app, ta.headers)).json(), { courses: [{ id: 'c2', title: 'Second', term: null, book: 'book', as: 'ta', open: true, joinCode: await codeOf(app, 'c2') }] });
});

t.test('GET /api/courses lists every course by id for an admin, with the fields a student sees and whether it is open; staff and students get 403', async (t) => {
  const app = await withCourse(t);
  await courseOf(app, 'a0', 'other', { title: 'First by id' });
  await setCourseOpen(app.db, 'a0', false);
  const admin = await loginAs(app, 'root', 'admin');
  const res = await app.inject({ method: 'GET', url: '/api/courses', headers: admin.headers });
  t.equal(res.statusCode, 200);
  t.strictSame(res.json(), { courses: [{ id: 'a0', title: 'First by id', term: null, book: 'other', open: false }, { ...c1, open: true }] });
  const teach = await staffOf(app, 'teach', 'c1', 'instructor');
  for (const caller of [teach, await student(app, 'ada')]) {
    const refused = await app.inject({ method: 'GET', url: '/api/courses', headers: caller.headers });
    t.strictSame([refused.statusCode, refused.json().error], [403, 'forbidden']);
  }
});

t.test('GET /api/courses/mine: someone both studying and teaching a course has it once per role; nobody\'s courses is an empty list; no session is 401', async (t) => {
  const app = await withCourse(t);
  const teach = await staffOf(app, 'teach', 'c1', 'ta');
  await enrol(app.db, 'c1', [teach.id], 'staff');
  t.strictSame((await mine(app, teach.headers)).json().courses.map((c: { as: string }) => c.as), ['student', 'ta']);
  const ada = await student(app, 'ada');
  t.strictSame((await mine(app, ada.headers)).json(), { courses: [] });
  t.equal((await mine(app, fromBook)).statusCode, 401);
});

// ---- a course for its staff ---------------------------------------------------------------------------------------

t.test('GET /api/courses/:course gives its staff the course with its join code, dates and how many students and staff it has', async (t) => {
  const app = await withCourse(t);
  const ta = await staffOf(app, 'assistant', 'c1', 'ta');
  await staffOf(app, 'teach', 'c1', 'instructor');
  await enrolled(app, 'ada', 'c1');
  await enrolled(app, 'bob', 'c1');
  const { createdAt } = (await findCourse(app.db, 'c1'))!;
  const res = await app.inject({ method: 'GET', url: '/api/courses/c1', headers: ta.headers });
  t.equal(res.statusCode, 200);
  t.strictSame(res.json(), {
    ...c1,
    open: true,
    joinCode: await codeOf(app, 'c1'),
    startsAt: null,
    endsAt: null,
    createdAt: new Date(createdAt).toISOString(),
    students: 2,
    instructors: 1,
    tas: 1,
  });
});

t.test('GET /api/courses/:course: an unknown course is 404 unknown_course, another course\'s instructor and its students 403', async (t) => {
  const app = await withCourse(t);
  await courseOf(app, 'c2', 'book');
  const other = await staffOf(app, 'other', 'c2', 'instructor');
  const ada = await enrolled(app, 'ada', 'c1');
  t.equal((await app.inject({ method: 'GET', url: '/api/courses/nope', headers: other.headers })).json().error, 'unknown_course');
  for (const headers of [other.headers, ada.headers]) {
    const res = await app.inject({ method: 'GET', url: '/api/courses/c1', headers });
    t.equal(res.statusCode, 403);
    t.equal(res.json().error, 'forbidden');
  }
});

t.test('PATCH /api/courses/:course: an instructor changes the title, term, dates and openness; the reply and the stored row show them', async (t) => {
  const app = await withCourse(t);
  const teach = await staffOf(app, 'teach', 'c1', 'instructor');
  const res = await app.inject({
    method: 'PATCH',
    url: '/api/courses/c1',
    headers: teach.headers,
    payload: { title: 'Programming I', term: null, open: false, startsAt: '2026-09-01', endsAt: '2026-12-20T17:00:00+01:00' },
  });
  t.equal(res.statusCode, 200);
  t.match(res.json(), { id: 'c1', title: 'Programming I', term: null, open: false, startsAt: '2026-09-01T00:00:00.000Z', endsAt: '2026-12-20T16:00:00.000Z', instructors: 1 });
  t.strictSame(await app.db.get(sql`SELECT title, term, open, starts_at, ends_at FROM courses WHERE id = 'c1'`), {
    title: 'Programming I',
    term: null,
    open: 0,
    starts_at: Date.UTC(2026, 8, 1),
    ends_at: Date.UTC(2026, 11, 20, 16),
  });
  // Closed: the code is refused now; opened again, it joins.
  const ada = await student(app, 'ada');
  t.equal((await join(app, ada.headers, await codeOf(app, 'c1'))).json().error, 'course_closed');
  const opened = await app.inject({ method: 'PATCH', url: '/api/courses/c1', headers: teach.headers, payload: { open: true, endsAt: null } });
  t.match(opened.json(), { open: true, startsAt: '2026-09-01T00:00:00.000Z', endsAt: null, title: 'Programming I' });
  t.equal((await join(app, ada.headers, await codeOf(app, 'c1'))).statusCode, 200);
});

t.test('PATCH /api/courses/:course refuses bad input with a 400 naming the field, and changes nothing', async (t) => {
  const app = await withCourse(t);
  const teach = await staffOf(app, 'teach', 'c1', 'instructor');
  await app.inject({ method: 'PATCH', url: '/api/courses/c1', headers: teach.headers, payload: { endsAt: '2026-12-20' } });
  const cases: [unknown, RegExp][] = [
    [{}, /body/],
    [{ title: '' }, /body\/title/],
    [{ open: 'yes' }, /body\/open/],
    [{ startsAt: 'tomorrow' }, /body\/startsAt/],
    [{ startsAt: '2026-02-30' }, /body\/startsAt is no real date/],
    [{ startsAt: '2027-01-01' }, /body\/startsAt \(2027-01-01T00:00:00.000Z\) must not be after body\/endsAt/],
    [{ joinCode: 'MINE' }, /additional properties/],
  ];
  for (const [payload, message] of cases) {
    const res = await app.inject({ method: 'PATCH', url: '/api/courses/c1', headers: teach.headers, payload: payload as object });
    t.equal(res.statusCode, 400, JSON.stringify(payload));
    t.match(res.json(), { error: 'invalid_request', message }, JSON.stringify(payload));
  }
  t.strictSame(await app.db.get(sql`SELECT title, starts_at, ends_at FROM courses WHERE id = 'c1'`), { title: 'Programming', starts_at: null, ends_at: Date.UTC(2026, 11, 20) });
});

t.test('a ta may read the course but not change it or its code: 403, nothing changed', async (t) => {
  const app = await withCourse(t);
  const ta = await staffOf(app, 'assistant', 'c1', 'ta');
  const code = await codeOf(app, 'c1');
  const patch = await app.inject({ method: 'PATCH', url: '/api/courses/c1', headers: ta.headers, payload: { open: false } });
  const rotate = await app.inject({ method: 'POST', url: '/api/courses/c1/code', headers: ta.headers });
  for (const res of [patch, rotate]) {
    t.equal(res.statusCode, 403);
    t.strictSame(res.json(), { statusCode: 403, error: 'forbidden', message: 'only the instructors of course "c1" may do this' });
  }
  t.match(await findCourse(app.db, 'c1'), { open: true, joinCode: code });
});

t.test('POST /api/courses/:course/code: an instructor gets a new code, the old one stops joining, the new one joins, enrolled students stay', async (t) => {
  const app = await withCourse(t);
  const teach = await staffOf(app, 'teach', 'c1', 'instructor');
  const ada = await enrolled(app, 'ada', 'c1');
  const old = await codeOf(app, 'c1');
  const res = await app.inject({ method: 'POST', url: '/api/courses/c1/code', headers: teach.headers });
  t.equal(res.statusCode, 200);
  const { joinCode } = res.json() as { joinCode: string };
  t.match(joinCode, /^[A-HJKMNP-TV-Z2-9]{10}$/);
  t.not(joinCode, old);
  t.equal(await codeOf(app, 'c1'), joinCode);
  const bob = await student(app, 'bob');
  t.equal((await join(app, bob.headers, old)).statusCode, 404);
  t.equal((await join(app, bob.headers, joinCode.toLowerCase())).statusCode, 200);
  t.strictSame((await enrolmentsOf(app, 'c1')).map((r) => r.user_id).sort(), [ada.id, bob.id].sort());
});

t.test('an admin who is not its staff may read and change a course and rotate its code', async (t) => {
  const app = await withCourse(t);
  const admin = await loginAs(app, 'root', 'admin');
  t.equal((await app.inject({ method: 'GET', url: '/api/courses/c1', headers: admin.headers })).statusCode, 200);
  t.equal((await app.inject({ method: 'PATCH', url: '/api/courses/c1', headers: admin.headers, payload: { term: 'Spring 2027' } })).json().term, 'Spring 2027');
  t.equal((await app.inject({ method: 'POST', url: '/api/courses/c1/code', headers: admin.headers })).statusCode, 200);
});
