/**
 * Output and privacy (issue #18): the researcher role, students' rights (a download of everything Folio holds about
 * them, deleting their account), Cache-Control on authenticated replies, and security events in the log.
 */
import type { FastifyInstance } from 'fastify';
import t from 'tap';
import { build, buildLogged, cookieOf, fromBook, register, tableNames } from './helper.js';
import { expectStatus, loginAs, student } from './staff.js';
import { addStaff, createCourse, enrol } from '../db/courses.js';
import { sql } from 'drizzle-orm';

const password = 'correct horse battery';

/** One of each kind of work for a student, in `book`, and an answer in `other`. */
async function work(app: FastifyInstance, headers: Record<string, string>) {
  await expectStatus(app, 200, 'PUT', '/api/books/book/programs/ac1', headers, { code: 'print(1)', language: 'python', page: 'ch1' });
  await expectStatus(app, 200, 'PUT', '/api/books/book/programs/ac1', headers, { code: 'print(2)', language: 'python', page: 'ch1' });
  await expectStatus(app, 201, 'POST', '/api/books/book/answers/q1', headers, { kind: 'mchoice', answer: ['a'], correct: false, page: 'ch1' });
  await expectStatus(app, 201, 'POST', '/api/books/book/answers/q1', headers, { kind: 'mchoice', answer: ['b'], correct: true, score: 1, page: 'ch1' });
  await expectStatus(app, 202, 'POST', '/api/books/book/events', headers, { events: [{ type: 'run', target: 'ac1', page: 'ch1', data: { ms: 12 }, clientTime: Date.parse('2026-09-01T08:00:00Z') }] });
  await expectStatus(app, 200, 'PUT', '/api/books/book/position', headers, { page: 'ch1', scroll: 0.5 });
  await expectStatus(app, 200, 'PUT', '/api/books/book/pages/complete', headers, { page: 'ch1', complete: true });
  await expectStatus(app, 201, 'POST', '/api/books/other/answers/q9', { ...headers, origin: 'https://other.example' }, { kind: 'poll', answer: 'x' });
}

/** How many rows of every table with a user_id column (and users, sessions by id) belong to a user. */
async function rowsOf(app: FastifyInstance, userId: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of ['users', 'sessions', 'programs', 'answers', 'events', 'positions', 'page_completions']) {
    const column = table === 'users' ? 'id' : 'user_id';
    counts[table] = Number((await app.db.get<{ n: number }>(sql`SELECT COUNT(*) AS n FROM ${sql.raw(table)} WHERE ${sql.raw(column)} = ${userId}`))!.n);
  }
  return counts;
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 2));

// ---- the researcher role -------------------------------------------------------------------------------------------

t.test('a researcher may export pseudonymised research data of any kind and format, and the export is logged as an export event', async (t) => {
  const { app, events } = await buildLogged(t);
  const ada = await student(app, 'ada', { researchConsent: true, name: 'Ada Lovelace', email: 'ada@example.org' });
  await work(app, ada.headers);
  const rita = await loginAs(app, 'rita', 'researcher');
  for (const kind of ['events', 'answers', 'programs', 'completions']) {
    for (const format of ['jsonl', 'csv', 'xapi']) {
      await tick();
      const res = await app.inject({ method: 'GET', url: `/api/books/book/export?kind=${kind}&format=${format}`, headers: rita.headers });
      t.equal(res.statusCode, 200, `${kind} ${format}`);
      t.equal(res.headers['x-folio-export-users'], '1');
      // As whole words: 'ada' is made of hex digits, which ids and pseudonyms may have in a row.
      for (const identity of ['ada', 'Ada Lovelace', 'ada@example.org', ada.id]) t.notMatch(res.body, new RegExp(`\\b${identity.replace(/[.@]/g, '\\$&')}\\b`), `${kind} ${format} holds no ${identity}`);
    }
  }
  const logged = events('export');
  t.equal(logged.length, 12);
  t.match(logged[0], { level: 30, event: 'export', by: 'rita', userId: rita.id, role: 'researcher', book: 'book', kind: 'events', format: 'jsonl', identified: false });
  const root = await loginAs(app, 'root', 'admin');
  await tick();
  await expectStatus(app, 200, 'GET', '/api/books/book/export?kind=answers&format=csv&identify=true', root.headers);
  t.match(events('export').at(-1), { level: 40, event: 'export', by: 'root', userId: root.id, role: 'admin', book: 'book', kind: 'answers', format: 'csv', identified: true });
});

t.test('a researcher gets 403 for identities, progress, a student\'s work and a question summary, and nothing is logged as read', async (t) => {
  const { app, events } = await buildLogged(t);
  const ada = await student(app, 'ada', { researchConsent: true });
  await work(app, ada.headers);
  const rita = await loginAs(app, 'rita', 'researcher');
  const identify = await app.inject({ method: 'GET', url: '/api/books/book/export?kind=answers&identify=true', headers: rita.headers });
  t.equal(identify.statusCode, 403);
  t.same(identify.json(), { statusCode: 403, error: 'forbidden', message: 'identify=true needs the admin role: researchers get pseudonymised exports' });
  for (const url of ['/api/books/book/progress', `/api/books/book/students/${ada.id}/work`, '/api/books/book/questions/q1/summary']) {
    const res = await app.inject({ method: 'GET', url, headers: rita.headers });
    t.equal(res.statusCode, 403, url);
    t.same(res.json(), { statusCode: 403, error: 'forbidden', message: 'this needs the admin role' }, url);
    t.notOk(res.body.includes('ada'), `${url}: no username`);
  }
  t.same(events('export'), [], 'a refused export is not an export');
  t.same(events('student_work_read'), []);
});

t.test('a researcher is added and changed with the CLI\'s roles, and appears as such in /api/auth/me', async (t) => {
  const app = await build(t);
  const rita = await loginAs(app, 'rita', 'researcher');
  const me = await app.inject({ method: 'GET', url: '/api/auth/me', headers: rita.headers });
  t.equal(me.statusCode, 200);
  t.equal(me.json().user.role, 'researcher');
});

t.test('an admin reading a student\'s work book-wide is logged: who read whose work in which book', async (t) => {
  const { app, events } = await buildLogged(t);
  const ada = await student(app, 'ada');
  await work(app, ada.headers);
  const root = await loginAs(app, 'root', 'admin');
  await expectStatus(app, 200, 'GET', `/api/books/book/students/${ada.id}/work`, root.headers);
  t.same(
    events('student_work_read').map(({ level, event, by, userId, role, book, student }) => ({ level, event, by, userId, role, book, student })),
    [{ level: 30, event: 'student_work_read', by: 'root', userId: root.id, role: 'admin', book: 'book', student: ada.id }],
  );
  await expectStatus(app, 404, 'GET', '/api/books/book/students/nobody/work', root.headers);
  t.equal(events('student_work_read').length, 1, 'an unknown student is no read');
});

// ---- students' rights: the export ----------------------------------------------------------------------------------

t.test('GET /api/auth/me/export is a JSON download of everything about the student: account, courses, LMS accounts, every version, attempt and event, positions, completions', async (t) => {
  const { app, events } = await buildLogged(t);
  const ada = await student(app, 'ada', { researchConsent: true, name: 'Ada Lovelace', email: 'ada@example.org' });
  await work(app, ada.headers);
  const bob = await student(app, 'bob');
  await work(app, bob.headers);
  await createCourse(app.db, { id: 'c1', bookId: 'book', title: 'Course one', term: 'Autumn' });
  await createCourse(app.db, { id: 'c2', bookId: 'book', title: 'Course two' });
  await enrol(app.db, 'c1', [ada.id, bob.id], 'code');
  await addStaff(app.db, 'c2', ada.id, 'ta');
  await app.db.run(sql`INSERT INTO lti_users (issuer, sub, user_id, created_at) VALUES ('https://lms.example.edu', 'sub-ada', ${ada.id}, 1790000000000)`);
  await app.db.run(sql`INSERT INTO oidc_identities (issuer, sub, user_id, provider_id, email, email_verified, linked_at) VALUES ('https://idp.example.edu', 'sub-ada', ${ada.id}, 'uni', 'ada@uni.edu', 1, 1790000000000)`);

  const res = await app.inject({ method: 'GET', url: '/api/auth/me/export', headers: ada.headers });
  t.equal(res.statusCode, 200);
  t.equal(res.headers['content-type'], 'application/json; charset=utf-8');
  t.match(res.headers['content-disposition'], /^attachment; filename="folio-ada-\d{8}T\d{6}Z\.json"$/);
  t.equal(res.headers['cache-control'], 'no-store');
  const data = res.json();
  t.same(Object.keys(data), ['exportedAt', 'account', 'sessions', 'courses', 'lmsAccounts', 'identityProviders', 'experiments', 'programs', 'answers', 'events', 'positions', 'completions']);
  t.match(data.courses, [
    { course: 'c1', book: 'book', title: 'Course one', term: 'Autumn', as: 'student', since: /Z$/ },
    { course: 'c2', book: 'book', title: 'Course two', term: null, as: 'ta', since: /Z$/ },
  ]);
  t.equal(data.courses.length, 2);
  t.same(data.lmsAccounts, [{ issuer: 'https://lms.example.edu', subject: 'sub-ada', linkedAt: '2026-09-21T14:13:20.000Z' }]);
  t.same(data.identityProviders, [{ provider: 'uni', issuer: 'https://idp.example.edu', subject: 'sub-ada', email: 'ada@uni.edu', emailVerified: true, linkedAt: '2026-09-21T14:13:20.000Z' }]);
  t.match(data.account, { id: ada.id, username: 'ada', name: 'Ada Lovelace', email: 'ada@example.org', role: 'student', researchConsent: true, anonymous: false, createdAt: /Z$/ });
  t.notOk(res.body.includes('scrypt'), 'no password hash');
  t.notOk('passwordHash' in data.account);
  t.notOk(res.body.includes(bob.id), 'nothing of another student');
  t.match(data.sessions, [{ kind: 'cookie', createdAt: /Z$/, expiresAt: /Z$/ }]);
  t.match(data.programs, [
    { book: 'book', activity: 'ac1', version: 1, language: 'python', page: 'ch1', code: 'print(1)' },
    { book: 'book', activity: 'ac1', version: 2, code: 'print(2)' },
  ]);
  t.equal(data.programs.length, 2);
  t.match(data.answers, [
    { book: 'book', question: 'q1', attempt: 1, kind: 'mchoice', answer: ['a'], correct: false, score: null, page: 'ch1' },
    { book: 'book', question: 'q1', attempt: 2, answer: ['b'], correct: true, score: 1 },
    { book: 'other', question: 'q9', attempt: 1, kind: 'poll', answer: 'x', correct: null },
  ]);
  t.equal(data.answers.length, 3);
  t.match(data.events, [{ book: 'book', type: 'run', target: 'ac1', page: 'ch1', data: { ms: 12 }, clientTime: '2026-09-01T08:00:00.000Z', serverTime: /Z$/ }]);
  t.match(data.positions, [{ book: 'book', page: 'ch1', scroll: 0.5, updatedAt: /Z$/ }]);
  t.match(data.completions, [{ book: 'book', page: 'ch1', completedAt: /Z$/ }]);
  t.match(events('personal_export'), [{ event: 'personal_export', by: 'ada', userId: ada.id }]);
});

t.test('an anonymous student downloads their work too, and a request without a session is a 401', async (t) => {
  const app = await build(t);
  const first = await app.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers: fromBook, payload: { code: 'x = 1' } });
  const headers = { ...fromBook, cookie: cookieOf(first) };
  const res = await app.inject({ method: 'GET', url: '/api/auth/me/export', headers });
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-disposition'], /filename="folio-anonymous-/);
  t.match(res.json(), { account: { username: null, anonymous: true }, courses: [], lmsAccounts: [], identityProviders: [], experiments: [], programs: [{ code: 'x = 1' }], answers: [], events: [], positions: [], completions: [] });
  const none = await app.inject({ method: 'GET', url: '/api/auth/me/export', headers: fromBook });
  t.equal(none.statusCode, 401);
  t.equal(none.json().error, 'unauthenticated');
});

t.test('the personal export is read a chunk at a time: thousands of events arrive whole and in order', async (t) => {
  const app = await build(t);
  const ada = await student(app, 'ada');
  for (let batch = 0; batch < 6; batch++) {
    const events = Array.from({ length: 500 }, (_, i) => ({ type: 'tick', data: { n: batch * 500 + i } }));
    await expectStatus(app, 202, 'POST', '/api/books/book/events', ada.headers, { events });
  }
  const res = await app.inject({ method: 'GET', url: '/api/auth/me/export', headers: ada.headers });
  const { events } = res.json() as { events: { data: { n: number } }[] };
  t.equal(events.length, 3000);
  t.same(events.map((e) => e.data.n), Array.from({ length: 3000 }, (_, i) => i));
});

t.test('HEAD /api/auth/me/export answers with the headers alone and holds no connection: more HEADs than the pool, then a GET', async (t) => {
  const app = await build(t, { databasePoolSize: 2 });
  const ada = await student(app, 'ada');
  await work(app, ada.headers);
  for (let i = 0; i < 6; i++) {
    const head = await app.inject({ method: 'HEAD', url: '/api/auth/me/export', headers: ada.headers });
    t.equal(head.statusCode, 200);
    t.equal(head.body, '');
    t.match(head.headers['content-disposition'], /^attachment; filename="folio-ada-/);
  }
  const res = await app.inject({ method: 'GET', url: '/api/auth/me/export', headers: ada.headers });
  t.equal(res.json().programs.length, 2);
});

// ---- students' rights: deleting the account ------------------------------------------------------------------------

t.test('DELETE /api/auth/me with the password deletes the account and every row of it, ends the session and clears the cookie', async (t) => {
  const { app, events } = await buildLogged(t, { secret: 'a-test-secret-of-at-least-32-characters' });
  const ada = await student(app, 'ada', { researchConsent: true });
  await work(app, ada.headers);
  const bob = await student(app, 'bob', { researchConsent: true });
  await work(app, bob.headers);
  const root = await loginAs(app, 'root', 'admin');
  await tick();
  const before = await app.inject({ method: 'GET', url: '/api/books/book/export?kind=answers', headers: root.headers });
  t.equal(before.headers['x-folio-export-users'], '2');
  t.not(Object.values(await rowsOf(app, ada.id)).reduce((a, b) => a + b), 0);

  const res = await app.inject({ method: 'DELETE', url: '/api/auth/me', headers: ada.headers, payload: { currentPassword: password } });
  t.equal(res.statusCode, 204);
  t.equal(res.body, '');
  t.match(res.headers['set-cookie'], /^folio=;.*Expires=Thu, 01 Jan 1970/);
  t.equal(res.headers['cache-control'], 'no-store');
  t.same(await rowsOf(app, ada.id), { users: 0, sessions: 0, programs: 0, answers: 0, events: 0, positions: 0, page_completions: 0 });
  t.same(await rowsOf(app, bob.id), { users: 1, sessions: 1, programs: 2, answers: 3, events: 1, positions: 1, page_completions: 1 }, 'another student keeps everything');

  const me = await app.inject({ method: 'GET', url: '/api/auth/me', headers: ada.headers });
  t.equal(me.statusCode, 401);
  t.equal(me.json().error, 'session_expired');
  const login = await app.inject({ method: 'POST', url: '/api/auth/login', headers: fromBook, payload: { username: 'ada', password } });
  t.equal(login.statusCode, 401, 'the account is gone');
  for (const kind of ['events', 'answers', 'programs', 'completions']) {
    await tick();
    const after = await app.inject({ method: 'GET', url: `/api/books/book/export?kind=${kind}`, headers: root.headers });
    t.equal(after.headers['x-folio-export-users'], '1', `${kind}: bob only`);
    t.equal(after.headers['x-folio-excluded-users'], '0');
  }
  const progress = await app.inject({ method: 'GET', url: '/api/books/book/progress', headers: root.headers });
  t.same(progress.json().students.map((s: { user: { username: string } }) => s.user.username), ['bob']);
  t.match(events('account_deleted'), [{ level: 30, event: 'account_deleted', by: 'self', userId: ada.id, anonymous: false }]);
  const again = await register(app, 'ada');
  t.equal(again.res.statusCode, 201, 'the username is free again');
});

t.test('DELETE /api/auth/me with a wrong or missing password is a 403 wrong_password and deletes nothing', async (t) => {
  const { app, events } = await buildLogged(t);
  const ada = await student(app, 'ada');
  await work(app, ada.headers);
  const rows = await rowsOf(app, ada.id);
  for (const payload of [{ currentPassword: 'not the password' }, {}]) {
    const res = await app.inject({ method: 'DELETE', url: '/api/auth/me', headers: ada.headers, payload });
    t.equal(res.statusCode, 403);
    t.same(res.json(), { statusCode: 403, error: 'wrong_password', message: 'currentPassword is missing or wrong: the account deletion was refused' });
  }
  t.same(await rowsOf(app, ada.id), rows);
  t.same(events('account_deleted'), []);
  const bad = await app.inject({ method: 'DELETE', url: '/api/auth/me', headers: ada.headers, payload: { currentPassword: password, extra: 1 } });
  t.equal(bad.statusCode, 400);
  const none = await app.inject({ method: 'DELETE', url: '/api/auth/me', headers: fromBook, payload: { currentPassword: password } });
  t.equal(none.statusCode, 401);
  t.equal(none.json().error, 'unauthenticated');
});

t.test('wrong passwords for DELETE /api/auth/me count against the login limits: 429 with Retry-After', async (t) => {
  // Registering was the username's first attempt from this client: three more are allowed.
  const app = await build(t, { loginRatePerUser: 4 });
  const ada = await student(app, 'ada');
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) {
    const res = await app.inject({ method: 'DELETE', url: '/api/auth/me', headers: ada.headers, payload: { currentPassword: `guess ${i}` } });
    statuses.push(res.statusCode);
    if (res.statusCode === 429) {
      t.equal(res.json().error, 'rate_limited');
      t.match(res.headers['retry-after'], /^\d+$/);
    }
  }
  t.same(statuses, [403, 403, 403, 429]);
  t.equal((await rowsOf(app, ada.id)).users, 1);
});

t.test('an anonymous student deletes their work without a password; a bearer token works as a cookie does', async (t) => {
  const app = await build(t);
  const first = await app.inject({ method: 'POST', url: '/api/books/book/events', headers: fromBook, payload: { events: [{ type: 'hello' }] } });
  const headers = { ...fromBook, cookie: cookieOf(first) };
  const id = (await app.inject({ method: 'GET', url: '/api/auth/me', headers })).json().user.id as string;
  const res = await app.inject({ method: 'DELETE', url: '/api/auth/me', headers, payload: {} });
  t.equal(res.statusCode, 204);
  t.same(await rowsOf(app, id), { users: 0, sessions: 0, programs: 0, answers: 0, events: 0, positions: 0, page_completions: 0 });

  const login = await app.inject({ method: 'POST', url: '/api/auth/register', headers: fromBook, payload: { username: 'tess', password, mode: 'token' } });
  const bearer = { ...fromBook, authorization: `Bearer ${login.json().token as string}` };
  const gone = await app.inject({ method: 'DELETE', url: '/api/auth/me', headers: bearer, payload: { currentPassword: password } });
  t.equal(gone.statusCode, 204);
  t.equal(gone.headers['set-cookie'], undefined, 'no cookie to clear');
  t.equal((await app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer })).statusCode, 401);
});

t.test('a deleted student\'s login counter goes with them; no table is left holding their id', async (t) => {
  const app = await build(t);
  const ada = await student(app, 'ada');
  await work(app, ada.headers);
  await app.inject({ method: 'POST', url: '/api/auth/login', headers: fromBook, payload: { username: 'ada', password: 'wrong password' } });
  const counted = async () => Number((await app.db.get<{ n: number }>(sql`SELECT COUNT(*) AS n FROM rate_limits WHERE key IN ('auth-account:ada', 'auth-user:ada@127.0.0.1')`))!.n);
  t.equal(await counted(), 2, 'a login attempt was counted for the username, from everywhere and from its client');
  await expectStatus(app, 204, 'DELETE' as 'POST', '/api/auth/me', ada.headers, { currentPassword: password });
  t.equal(await counted(), 0);
  for (const table of await tableNames(app.db)) {
    if (['__drizzle_migrations', 'books', 'book_origins', 'change_counters', 'rate_limits'].includes(table) || table.startsWith('_')) continue;
    const columns = ['users'].includes(table) ? ['id'] : ['user_id'];
    for (const column of columns) {
      const n = await app.db.get<{ n: number }>(sql`SELECT COUNT(*) AS n FROM ${sql.raw(table)} WHERE ${sql.raw(column)} = ${ada.id}`).catch(() => undefined);
      if (n) t.equal(Number(n.n), 0, `${table}.${column}`);
    }
  }
});

// ---- Cache-Control ---------------------------------------------------------------------------------------------------

t.test('every reply to a request with a session, and every reply that starts or ends one, is Cache-Control: no-store', async (t) => {
  const app = await build(t);
  const reg = await app.inject({ method: 'POST', url: '/api/auth/register', headers: fromBook, payload: { username: 'ada', password } });
  t.equal(reg.headers['cache-control'], 'no-store', 'register sets a cookie');
  const headers = { ...fromBook, cookie: cookieOf(reg) };
  const token = await app.inject({ method: 'POST', url: '/api/auth/login', headers: fromBook, payload: { username: 'ada', password, mode: 'token' } });
  t.equal(token.headers['cache-control'], 'no-store', 'login returns a token');
  const bearer = { ...fromBook, authorization: `Bearer ${token.json().token as string}` };
  const calls: [string, 'GET' | 'PUT' | 'POST', string, Record<string, string>, unknown?][] = [
    ['me', 'GET', '/api/auth/me', headers],
    ['a write', 'PUT', '/api/books/book/programs/ac1', headers, { code: 'x' }],
    ['a read', 'GET', '/api/books/book/programs/ac1', headers],
    ['the page state', 'GET', '/api/books/book/state?page=p', headers],
    ['a book, read with a session', 'GET', '/api/books/book', headers],
    ['a 404', 'GET', '/api/books/book/programs/none', headers],
    ['a 403', 'GET', '/api/books/book/progress', headers],
    ['a bearer read', 'GET', '/api/auth/me', bearer],
  ];
  for (const [what, method, url, h, payload] of calls) {
    const res = await app.inject({ method, url, headers: h, ...(payload === undefined ? {} : { payload: payload as object }) });
    t.equal(res.headers['cache-control'], 'no-store', `${what}: ${res.statusCode}`);
  }
  const anonymous = await app.inject({ method: 'PUT', url: '/api/books/book/position', headers: fromBook, payload: { page: 'p' } });
  t.equal(anonymous.headers['cache-control'], 'no-store', 'a first write that starts an anonymous session');
  const logout = await app.inject({ method: 'POST', url: '/api/auth/logout', headers });
  t.equal(logout.headers['cache-control'], 'no-store', 'logout clears the cookie');
  const stale = await app.inject({ method: 'GET', url: '/api/auth/me', headers });
  t.equal(stale.statusCode, 401);
  t.equal(stale.headers['cache-control'], 'no-store', 'an ended session');

  const publicBook = await app.inject({ method: 'GET', url: '/api/books/book', headers: fromBook });
  t.equal(publicBook.headers['cache-control'], undefined, 'a public reply without a session is left alone');
  const client = await app.inject({ method: 'GET', url: '/client/folio.js' });
  t.equal(client.headers['cache-control'], 'public, max-age=300', 'the browser client keeps its caching');
});
