/**
 * The browser client's accounts, in Node against the real app: it finds out by itself whether the browser keeps the
 * session cookie and falls back to a token, keeps writes through an ended session and sends them after the next
 * login, and never sends or shows one student's kept writes to another.
 */
import type { FastifyInstance } from 'fastify';
import t from 'tap';
import { createAccount } from '../db/users.js';
import { hashPassword } from '../lib/passwords.js';
import { FakeBrowser, password, server } from './client-fakes.js';
import { build } from './helper.js';
import { sql } from 'drizzle-orm';

async function account(app: FastifyInstance, username: string): Promise<string> {
  return (await createAccount(app.db, { username, passwordHash: await hashPassword(password, 10) })).id;
}

/** The code of every saved version, oldest first, by username (`(anonymous)` for anonymous users). */
async function savedCode(app: FastifyInstance): Promise<Record<string, string[]>> {
  const rows = (await app.db.all(sql`SELECT coalesce(u.username, \'(anonymous)\') AS who, p.code FROM programs p JOIN users u ON u.id = p.user_id ORDER BY p.id`)) as { who: string; code: string }[];
  const byUser: Record<string, string[]> = {};
  for (const { who, code } of rows) (byUser[who] ??= []).push(code);
  return byUser;
}

async function endSessions(app: FastifyInstance): Promise<void> {
  await app.db.run(sql`DELETE FROM sessions`);
}

const tokenKey = `folio|token|${server}`;

t.test('in auto mode, when the browser keeps the cookie, register checks it with me and stays in cookie mode', async (t) => {
  const app = await build(t);
  const browser = new FakeBrowser(app);
  const { folio, events } = browser.open(t);
  const user = await folio.register({ username: 'ada', password });
  t.match(user, { username: 'ada', anonymous: false });
  t.equal(folio.mode, 'cookie');
  t.strictSame(browser.network.lines, ['POST /api/auth/register', 'GET /api/auth/me']);
  t.equal(browser.sessionStorage.getItem(tokenKey), null, 'no token kept');
  t.strictSame(events.auth, [{ type: 'login', user, mode: 'cookie' }]);
  await folio.saveProgram('ac1', 'print(1)');
  t.match(browser.network.seen.at(-1), { method: 'PUT', auth: 'cookie', status: 200 });
});

t.test('in auto mode, when the browser refuses the cookie, login falls back to a token kept in sessionStorage', async (t) => {
  const app = await build(t);
  const id = await account(app, 'ada');
  const browser = new FakeBrowser(app);
  browser.network.refuseCookies = true;
  const { folio, events } = browser.open(t);
  const user = await folio.login({ username: 'ada', password });
  t.equal(user.id, id);
  t.equal(folio.mode, 'token');
  t.strictSame(
    browser.network.seen.map((r) => [r.method, r.path, r.status, r.body]),
    [
      ['POST', '/api/auth/login', 200, { username: 'ada', password }],
      ['GET', '/api/auth/me', 401, undefined],
      ['POST', '/api/auth/login', 200, { username: 'ada', password, mode: 'token' }],
    ],
  );
  const kept = JSON.parse(browser.sessionStorage.getItem(tokenKey) ?? '{}') as { token?: string; who?: string };
  t.match(kept, { token: /^[A-Za-z0-9_-]{20,}$/, who: id });
  t.strictSame(events.auth, [{ type: 'login', user, mode: 'token' }]);
  t.match(await folio.saveProgram('ac1', 'print(1)'), { status: 'saved' });
  t.match(browser.network.seen.at(-1), { method: 'PUT', auth: 'token', status: 200 });
  t.strictSame(await savedCode(app), { ada: ['print(1)'] });
});

t.test('the next page of the tab finds the token in sessionStorage and restores the work', async (t) => {
  const app = await build(t);
  await account(app, 'ada');
  const browser = new FakeBrowser(app);
  browser.network.refuseCookies = true;
  const first = browser.open(t);
  await first.folio.login({ username: 'ada', password });
  await first.folio.saveProgram('ac1', 'print(1)', { page: 'ch1' });
  first.folio.close();
  const { folio } = browser.open(t);
  t.match(await folio.me(), { username: 'ada' });
  t.match(await folio.pageState('ch1'), { programs: { ac1: { code: 'print(1)', version: 1 } }, answers: {} });
});

t.test('a browser known to refuse the cookie logs in with a token at once', async (t) => {
  const app = await build(t);
  await account(app, 'ada');
  const browser = new FakeBrowser(app);
  browser.network.refuseCookies = true;
  await browser.open(t).folio.login({ username: 'ada', password });
  browser.network.seen.length = 0;
  browser.sessionStorage = new (browser.sessionStorage.constructor as new () => typeof browser.sessionStorage)(); // a new tab
  const { folio } = browser.open(t);
  await folio.login({ username: 'ada', password });
  t.strictSame(browser.network.lines, ['POST /api/auth/login']);
  t.match(browser.network.seen[0]?.body, { mode: 'token' });
});

t.test('auth: "token" asks for a token without trying the cookie', async (t) => {
  const app = await build(t);
  await account(app, 'ada');
  const browser = new FakeBrowser(app);
  const { folio } = browser.open(t, { auth: 'token' });
  await folio.login({ username: 'ada', password });
  t.strictSame(browser.network.seen.map((r) => [r.method, r.path, r.body]), [['POST', '/api/auth/login', { username: 'ada', password, mode: 'token' }]]);
  t.equal(folio.mode, 'token');
  t.strictSame(browser.network.cookies.size, 0);
});

t.test('auth: "cookie" logs in with the cookie and does not check it', async (t) => {
  const app = await build(t);
  await account(app, 'ada');
  const browser = new FakeBrowser(app);
  const { folio } = browser.open(t, { auth: 'cookie' });
  await folio.login({ username: 'ada', password });
  t.strictSame(browser.network.lines, ['POST /api/auth/login']);
  t.equal(folio.mode, 'cookie');
});

t.test('a wrong password rejects with the server\'s error and changes nothing', async (t) => {
  const app = await build(t);
  await account(app, 'ada');
  const browser = new FakeBrowser(app);
  const { folio, events } = browser.open(t);
  await t.rejects(folio.login({ username: 'ada', password: 'not the password' }), { name: 'FolioError', statusCode: 401, error: 'invalid_credentials' });
  t.equal(folio.user, null);
  t.strictSame(events.auth, []);
});

t.test('work saved before logging in, in a browser refusing cookies, moves to a token session and then to the account', async (t) => {
  const app = await build(t);
  const browser = new FakeBrowser(app);
  browser.network.refuseCookies = true;
  const { folio } = browser.open(t);
  t.match(await folio.saveProgram('ac1', 'v1'), { status: 'saved', reply: { version: 1 } });
  t.strictSame(
    browser.network.seen.map((r) => `${r.method} ${r.path} ${r.status} ${r.mode ?? '-'}`),
    [
      'GET /api/auth/me 401 -',
      'PUT /api/books/book/programs/ac1 200 -', // started an anonymous cookie session …
      'GET /api/auth/me 401 -', // … the browser did not keep
      'PUT /api/books/book/programs/ac1 200 token', // so again, asking for a token
    ],
  );
  t.equal(folio.mode, 'token');
  await folio.saveProgram('ac1', 'v2');
  t.match(browser.network.seen.at(-1), { method: 'PUT', auth: 'token', status: 200 });
  const user = await folio.register({ username: 'ada', password });
  t.equal(user.username, 'ada');
  t.strictSame(await savedCode(app), { '(anonymous)': ['v1'], ada: ['v1', 'v2'] }, 'the first copy stays with an anonymous user nobody can reach');
  t.match(await folio.loadProgram('ac1'), { code: 'v2', version: 2 });
});

t.test('writes kept before logging in are sent to the account after login', async (t) => {
  const app = await build(t);
  await account(app, 'ada');
  const browser = new FakeBrowser(app);
  const { folio } = browser.open(t);
  browser.network.offline = true;
  await folio.saveProgram('ac1', 'print(1)');
  t.strictSame(browser.outboxKeys().map((k) => k.split('|')[4]), ['anon']);
  browser.network.offline = false;
  await folio.login({ username: 'ada', password });
  await folio.flush();
  t.strictSame(await savedCode(app), { ada: ['print(1)'] });
  t.strictSame(browser.outboxKeys(), []);
});

t.test('a save made as the student logs in is held until the login is done, then goes to the account', async (t) => {
  const app = await build(t);
  await account(app, 'ada');
  const browser = new FakeBrowser(app);
  const { folio } = browser.open(t);
  const saved = folio.saveProgram('ac1', 'print(1)');
  await folio.login({ username: 'ada', password });
  t.match(await saved, { status: 'saved' });
  t.strictSame(await savedCode(app), { ada: ['print(1)'] });
  t.strictSame(browser.network.lines, ['GET /api/auth/me', 'POST /api/auth/login', 'GET /api/auth/me', 'PUT /api/books/book/programs/ac1'], 'no anonymous session raced the login');
});

t.test('an ended session keeps the write, emits auth "required" once, and sends it after the next login', async (t) => {
  const app = await build(t);
  const browser = new FakeBrowser(app);
  const { folio, events } = browser.open(t);
  await folio.register({ username: 'ada', password });
  await endSessions(app);
  t.strictSame(await folio.saveProgram('ac1', 'v1'), { status: 'pending', reason: 'login_required' });
  t.strictSame(events.auth.at(-1), { type: 'required', reason: 'session_expired', pending: 1 });
  t.strictSame(events.sync.at(-1), { type: 'paused', pending: 1, reason: 'login_required' });
  const requests = browser.network.seen.length;
  t.strictSame(await folio.saveProgram('ac1', 'v2'), { status: 'pending', reason: 'login_required' });
  t.equal(browser.network.seen.length, requests, 'nothing is sent while the session is ended');
  t.equal(events.auth.filter((e) => e.type === 'required').length, 1);
  t.equal(folio.pendingWrites, 2);
  await folio.login({ username: 'ada', password });
  await folio.flush();
  t.strictSame(await savedCode(app), { ada: ['v1', 'v2'] });
  t.equal(folio.pendingWrites, 0);
  t.strictSame(events.sync.at(-1), { type: 'saved', pending: 0 });
});

t.test('a page opened after the session ended says so and keeps its writes for the same student', async (t) => {
  const app = await build(t);
  const browser = new FakeBrowser(app);
  await browser.open(t).folio.register({ username: 'ada', password });
  await endSessions(app);
  const { folio, events } = browser.open(t);
  t.equal(await folio.me(), null);
  t.strictSame(events.auth, [{ type: 'required', reason: 'session_expired', pending: 0 }]);
  await t.rejects(folio.pageState('ch1'), { name: 'FolioError', statusCode: 401, error: 'session_expired' });
  t.strictSame(await folio.saveProgram('ac1', 'v1'), { status: 'pending', reason: 'login_required' });
  await folio.login({ username: 'ada', password });
  await folio.flush();
  t.strictSame(await savedCode(app), { ada: ['v1'] });
});

t.test('another student logging in on the same browser never sends nor shows the first one\'s kept writes', async (t) => {
  const app = await build(t);
  await account(app, 'bob');
  const browser = new FakeBrowser(app);
  const { folio } = browser.open(t);
  await folio.register({ username: 'ada', password });
  await endSessions(app);
  await folio.saveProgram('ac1', 'ada code', { page: 'ch1' });
  await folio.submitAnswer('q1', { kind: 'mchoice', answer: ['a'], page: 'ch1' });
  t.equal(folio.pendingWrites, 2);

  await folio.login({ username: 'bob', password });
  await folio.flush();
  t.equal(folio.pendingWrites, 0, 'bob has no kept writes');
  t.strictSame(await folio.pageState('ch1'), { programs: {}, answers: {}, completedAt: null });
  t.equal(await folio.loadProgram('ac1'), null);
  t.equal(await folio.latestAnswer('q1'), null);
  t.strictSame(await savedCode(app), {}, 'nothing of ada\'s was sent');
  t.equal(browser.outboxKeys().length, 2, 'ada\'s writes are still kept');

  await folio.logout();
  await folio.login({ username: 'ada', password });
  await folio.flush();
  t.strictSame(await savedCode(app), { ada: ['ada code'] });
  t.match(await folio.latestAnswer('q1'), { latest: { answer: ['a'] }, attempts: 1 });
});

t.test('logout hides the student\'s kept writes; logout({forget: true}) removes them', async (t) => {
  const app = await build(t);
  const browser = new FakeBrowser(app);
  const { folio, events } = browser.open(t);
  await folio.register({ username: 'ada', password });
  await endSessions(app);
  await folio.saveProgram('ac1', 'v1', { page: 'ch1' });
  await folio.logout();
  t.strictSame(events.auth.at(-1), { type: 'logout' });
  t.equal(folio.user, null);
  t.equal(folio.pendingWrites, 0);
  t.strictSame(await folio.pageState('ch1'), { programs: {}, answers: {}, completedAt: null });
  t.equal(browser.outboxKeys().length, 1);

  const again = browser.open(t).folio;
  await again.login({ username: 'ada', password });
  await again.flush();
  t.strictSame(await savedCode(app), { ada: ['v1'] }, 'sent when she logged in again');
  browser.network.offline = true;
  await again.saveProgram('ac1', 'v2');
  browser.network.offline = false;
  t.equal(again.pendingWrites, 1);
  await again.logout({ forget: true });
  t.strictSame(browser.outboxKeys(), []);
});

t.test('pageState shows the page\'s kept writes over the server\'s state, marked pending', async (t) => {
  const app = await build(t);
  const browser = new FakeBrowser(app);
  const { folio } = browser.open(t);
  await folio.register({ username: 'ada', password });
  await folio.saveProgram('ac1', 'v1', { page: 'ch1', language: 'python' });
  await folio.submitAnswer('q1', { kind: 'mchoice', answer: ['a'], correct: false, page: 'ch1' });
  browser.network.offline = true;
  await folio.saveProgram('ac1', 'v2', { page: 'ch1' });
  await folio.submitAnswer('q1', { kind: 'mchoice', answer: ['b'], correct: true, page: 'ch1' });
  await folio.saveProgram('ac2', 'elsewhere', { page: 'ch2' });
  browser.network.offline = false; // no 'online' event: the kept writes wait for their retry
  const state = await folio.pageState('ch1');
  const keptAt = new Date(browser.clock.now()).toISOString();
  t.strictSame(state.programs, { ac1: { activity: 'ac1', version: 1, code: 'v2', language: 'python', page: 'ch1', savedAt: keptAt, pending: true } });
  t.strictSame(state.answers.q1, {
    latest: { question: 'q1', attempt: 2, kind: 'mchoice', answer: ['b'], correct: true, score: null, page: 'ch1', savedAt: keptAt, pending: true },
    attempts: 2,
  });
});

t.test("pageState shows a completion mark kept in this browser over the server's, the last mark winning", async (t) => {
  const app = await build(t);
  const browser = new FakeBrowser(app);
  const { folio } = browser.open(t);
  await folio.register({ username: 'ada', password });
  await folio.markComplete('ch1');
  const saved = (await folio.pageState('ch1')).completedAt;
  t.match(saved, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'marked on the server');
  browser.network.offline = true;
  await folio.markComplete('ch2');
  await folio.markComplete('ch1', false);
  browser.network.offline = false; // no 'online' event: the kept writes wait for their retry
  const keptAt = new Date(browser.clock.now()).toISOString();
  t.equal((await folio.pageState('ch1')).completedAt, null, 'unmarked in this browser');
  t.equal((await folio.pageState('ch2')).completedAt, keptAt, 'marked in this browser, at the time of the mark');
  t.equal((await folio.pageState('ch3')).completedAt, null);
  browser.network.offline = true;
  await folio.markComplete('ch1');
  browser.network.offline = false;
  t.equal((await folio.pageState('ch1')).completedAt, saved, "marked again before it was sent: the mark replaces the kept unmark, and the server's time stands");
});

t.test('without any session, reads answer empty instead of failing', async (t) => {
  const app = await build(t);
  const { folio, events } = new FakeBrowser(app).open(t);
  t.equal(await folio.me(), null);
  t.strictSame(await folio.pageState('ch1'), { programs: {}, answers: {}, completedAt: null });
  t.equal(await folio.loadProgram('ac1'), null);
  t.equal(await folio.position(), null);
  t.strictSame(await folio.progress(), { completed: [] });
  t.strictSame(events.auth, []);
});

t.test('ids the server would refuse are refused before anything is kept', async (t) => {
  const app = await build(t);
  const browser = new FakeBrowser(app);
  const { folio } = browser.open(t);
  await t.rejects(folio.saveProgram('has space', 'x'), { name: 'FolioError', statusCode: 400, error: 'invalid_request', message: /activity must be 1-128 characters/ });
  await t.rejects(folio.submitAnswer('q1', { kind: 'mchoice', answer: [], page: '' }), { name: 'FolioError', error: 'invalid_request', message: /page must be/ });
  t.strictSame(browser.outboxKeys(), []);
  t.throws(() => browser.open(t, { book: 'Not A Slug' }), { name: 'TypeError', message: /book must be a book id/ });
  t.throws(() => browser.open(t, { server: 'folio.example.edu' }), { name: 'TypeError', message: /server must be a URL/ });
});
