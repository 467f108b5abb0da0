import { Signer } from '@fastify/cookie';
import BetterSqlite3 from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import t from 'tap';
import { findSessionWithUser, rememberedSessions, rememberedSessionsMax, sessionKey } from '../db/sessions.js';
import { bookOrigin, build, cookieOf, corsHeaders, fromBook, recordQueries, register, testDialect } from './helper.js';
import { sql } from 'drizzle-orm';

const password = 'correct horse battery';

/** The session id inside a signed cookie value (`name=id.signature`). */
const rawSessionId = (cookie: string) => decodeURIComponent(cookie.split('=')[1]!).split('.')[0]!;

t.test('register creates an account and a cookie session (plain HTTP: SameSite=Lax, no Secure)', async (t) => {
  const app = await build(t);
  const { res, cookie } = await register(app, 'Ada', { name: 'Ada L.', email: 'ada@example.org', researchConsent: true });
  t.equal(res.statusCode, 201);
  const { user } = res.json();
  t.same(user, { id: user.id, username: 'Ada', name: 'Ada L.', email: 'ada@example.org', role: 'student', researchConsent: true, anonymous: false });
  t.match(res.headers['set-cookie'], /^folio=[^;]+; Path=\/; Expires=[^;]+; HttpOnly; SameSite=Lax$/);
  t.same(corsHeaders(res.headers), {
    'access-control-allow-origin': bookOrigin,
    'access-control-allow-credentials': 'true',
    'access-control-expose-headers': 'retry-after, x-folio-token, x-folio-export-users, x-folio-excluded-users, x-folio-export-until',
  });
  const row = (await app.db.get(sql`SELECT username, username_key, role, password_hash, anonymous FROM users WHERE id = ${user.id}`)) as Record<string, unknown>;
  t.same({ ...row, password_hash: undefined }, { username: 'Ada', username_key: 'ada', role: 'student', password_hash: undefined, anonymous: 0 });
  t.match(row.password_hash, /^scrypt\$1024\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
  const me = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie } });
  t.equal(me.statusCode, 200);
  t.same(me.json(), { user });
});

t.test('over HTTPS the session cookie is __Host-, HttpOnly, Secure, SameSite=None and Partitioned', async (t) => {
  const app = await build(t, { trustProxy: 1 });
  const { res } = await register(app, 'ada', {}, { 'x-forwarded-proto': 'https' });
  t.equal(res.statusCode, 201);
  t.match(res.headers['set-cookie'], /^__Host-folio=[^;]+; Path=\/; Expires=[^;]+; HttpOnly; Secure; Partitioned; SameSite=None$/);
});

t.test('sessions are stored under the SHA-256 of the token, never the token itself', async (t) => {
  const app = await build(t);
  const { cookie } = await register(app);
  const id = rawSessionId(cookie);
  const rows = (await app.db.all(sql`SELECT id, kind, data FROM sessions`)) as { id: string; kind: string; data: string }[];
  t.equal(rows.length, 1);
  t.equal(rows[0]!.id, createHash('sha256').update(id).digest('base64url'));
  t.equal(rows[0]!.kind, 'cookie');
  t.notMatch(JSON.stringify(rows), id);
});

t.test('a session expires after FOLIO_SESSION_DAYS, and the stored expiry says so', async (t) => {
  const app = await build(t, { sessionDays: 7 });
  const { cookie } = await register(app);
  const row = (await app.db.get(sql`SELECT expires_at FROM sessions`)) as { expires_at: number };
  t.ok(Math.abs(row.expires_at - (Date.now() + 7 * 86400_000)) < 60_000);
  (await app.db.run(sql`UPDATE sessions SET expires_at = ${Date.now() - 1}`));
  const me = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie } });
  t.equal(me.statusCode, 401);
  t.same(me.json(), { statusCode: 401, error: 'session_expired', message: 'your session has ended: log in again (nothing from this request was saved)' });
});

t.test('a session slides: used after a renewal period its expiry is pushed forward, written once', async (t) => {
  const app = await build(t, { sessionDays: 30 });
  const { cookie } = await register(app);
  const tenDays = Date.now() + 10 * 86400_000;
  (await app.db.run(sql`UPDATE sessions SET expires_at = ${tenDays}`));
  const first = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie } });
  t.equal(first.statusCode, 200);
  t.match(first.headers['set-cookie'], /^folio=/, 'the cookie is renewed');
  const row = (await app.db.get(sql`SELECT expires_at FROM sessions`)) as { expires_at: number };
  t.ok(row.expires_at > Date.now() + 29 * 86400_000, 'stored expiry moved to 30 days from now');
  const second = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie } });
  t.equal(second.statusCode, 200);
  t.equal(second.headers['set-cookie'], undefined, 'no write on an ordinary request');
});

t.test('expired sessions are swept from the table', async (t) => {
  const app = await build(t);
  await register(app, 'ada');
  await register(app, 'bob');
  (await app.db.run(sql`UPDATE sessions SET expires_at = 1 WHERE user_id = (SELECT id FROM users WHERE username = 'ada')`));
  const { deleteExpiredSessions } = await import('../db/sessions.js');
  t.equal(await deleteExpiredSessions(app.db), 1);
  t.same((await app.db.get(sql`SELECT count(*) AS n FROM sessions`)), { n: 1 });
});

t.test('usernames are unique regardless of case', async (t) => {
  const app = await build(t);
  await register(app, 'ada');
  const { res } = await register(app, 'ADA');
  t.equal(res.statusCode, 409);
  t.same(res.json(), { statusCode: 409, error: 'username_taken', message: 'the username "ADA" is taken: choose another, or log in' });
  t.same((await app.db.get(sql`SELECT count(*) AS n FROM users`)), { n: 1 });
});

t.test('register refuses bad usernames and passwords with a 400 naming the field', async (t) => {
  const app = await build(t);
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ username: 'ab', password }, /body\/username must NOT have fewer than 3 characters/],
    [{ username: 'a'.repeat(65), password }, /body\/username must NOT have more than 64 characters/],
    [{ username: 'a b c', password }, /body\/username must match pattern/],
    [{ username: 'ada', password: 'short' }, /body\/password must NOT have fewer than 10 characters/],
    [{ username: 'ada', password: 'x'.repeat(1025) }, /body\/password must NOT have more than 1024 characters/],
    [{ username: 'ada' }, /body must have required property 'password'/],
    [{ username: 'ada', password, role: 'admin' }, /body must NOT have additional properties/],
    [{ username: 'ada', password, email: 'not-an-email' }, /body\/email must match format "email"/],
    [{ username: 'ada', password, mode: 'magic' }, /body\/mode/],
  ];
  for (const [payload, message] of cases) {
    const res = await app.inject({ method: 'POST', url: '/api/auth/register', headers: fromBook, payload });
    t.equal(res.statusCode, 400, JSON.stringify(payload).slice(0, 60));
    t.equal(res.json().error, 'invalid_request');
    t.match(res.json().message, message);
  }
  t.same((await app.db.get(sql`SELECT count(*) AS n FROM users`)), { n: 0 });
});

t.test('login starts a new session and the previous session id stops working', async (t) => {
  const app = await build(t);
  const { cookie: registered } = await register(app);
  const login = await app.inject({ method: 'POST', url: '/api/auth/login', headers: { ...fromBook, cookie: registered }, payload: { username: 'ADA', password } });
  t.equal(login.statusCode, 200);
  t.equal(login.json().user.username, 'ada');
  const fresh = cookieOf(login);
  t.not(rawSessionId(fresh), rawSessionId(registered));
  t.equal((await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie: registered } })).statusCode, 401);
  t.equal((await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie: fresh } })).statusCode, 200);
  t.same((await app.db.all(sql`SELECT id FROM sessions`)), [{ id: sessionKey(rawSessionId(fresh)) }]);
});

t.test('logging in with a dead cookie sets just the new session cookie, not the clearing of the old one', async (t) => {
  const app = await build(t);
  const { cookie } = await register(app);
  (await app.db.run(sql`DELETE FROM sessions`));
  const login = await app.inject({ method: 'POST', url: '/api/auth/login', headers: { ...fromBook, cookie }, payload: { username: 'ada', password } });
  t.equal(login.statusCode, 200);
  t.match(login.headers['set-cookie'], /^folio=[^;]+; Path=\/; Expires=[^;]+; HttpOnly; SameSite=Lax$/);
  t.equal((await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie: cookieOf(login) } })).statusCode, 200);
});

t.test('an unknown user and a wrong password get the same reply', async (t) => {
  const app = await build(t);
  await register(app);
  const wrong = await app.inject({ method: 'POST', url: '/api/auth/login', headers: fromBook, payload: { username: 'ada', password: 'wrong password!' } });
  const unknown = await app.inject({ method: 'POST', url: '/api/auth/login', headers: fromBook, payload: { username: 'nobody', password: 'wrong password!' } });
  for (const res of [wrong, unknown]) {
    t.equal(res.statusCode, 401);
    t.same(res.json(), { statusCode: 401, error: 'invalid_credentials', message: 'the username or the password is wrong' });
    t.equal(res.headers['set-cookie'], undefined);
  }
});

t.test('an unknown user costs a password verification like a wrong password does', async (t) => {
  const app = await build(t, { passwordCost: 15 });
  await register(app);
  const time = async (username: string) => {
    const start = process.hrtime.bigint();
    await app.inject({ method: 'POST', url: '/api/auth/login', headers: fromBook, payload: { username, password: 'wrong password!' } });
    return Number(process.hrtime.bigint() - start) / 1e6;
  };
  await time('nobody'); // the dummy hash is made on first use
  const wrong = [await time('ada'), await time('ada'), await time('ada')].sort((a, b) => a - b)[1]!;
  const unknown = [await time('nobody'), await time('nobody'), await time('nobody')].sort((a, b) => a - b)[1]!;
  t.ok(unknown > wrong / 2 && unknown < wrong * 2, `unknown user ${unknown.toFixed(1)} ms vs wrong password ${wrong.toFixed(1)} ms`);
});

t.test('a password hashed with weaker parameters is rehashed at login', async (t) => {
  const app = await build(t, { passwordCost: 10 });
  await register(app);
  (app.config as { passwordCost: number }).passwordCost = 11;
  const login = await app.inject({ method: 'POST', url: '/api/auth/login', headers: fromBook, payload: { username: 'ada', password } });
  t.equal(login.statusCode, 200);
  const { password_hash: stored } = (await app.db.get(sql`SELECT password_hash FROM users`)) as { password_hash: string };
  t.match(stored, /^scrypt\$2048\$8\$1\$/);
  const again = await app.inject({ method: 'POST', url: '/api/auth/login', headers: fromBook, payload: { username: 'ada', password } });
  t.equal(again.statusCode, 200);
});

t.test('me without a session is 401 unauthenticated', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'GET', url: '/api/auth/me', headers: fromBook });
  t.equal(res.statusCode, 401);
  t.same(res.json(), { statusCode: 401, error: 'unauthenticated', message: 'log in first (POST /api/auth/login), or send Authorization: Bearer <token>' });
  t.equal(res.headers['access-control-allow-origin'], bookOrigin);
});

t.test('a session cookie whose id or signature was altered is no session, even just after the real one was used', async (t) => {
  const app = await build(t);
  const { cookie } = await register(app);
  t.equal((await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie } })).statusCode, 200);
  const [name, value] = cookie.split('=') as [string, string];
  const [id, signature] = decodeURIComponent(value).split('.') as [string, string];
  const flip = (s: string) => s.slice(0, -1) + (s.endsWith('A') ? 'B' : 'A');
  for (const forged of [`${id}.${flip(signature)}`, `${flip(id)}.${signature}`, id]) {
    const me = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie: `${name}=${encodeURIComponent(forged)}` } });
    t.equal(me.statusCode, 401, forged);
    t.equal(me.json().error, 'session_expired', 'a cookie that matches no live session');
  }
  t.equal((await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie } })).statusCode, 200, 'the real one still works');
});

t.test('a cookie session stored by earlier versions (through @fastify/session) still logs its user in', async (t) => {
  const app = await build(t);
  const { res } = await register(app);
  const userId = res.json().user.id as string;
  const id = 'Tq3b9y0Xh2QeWmZs8KpLrVn4CfJdUaGo';
  const expires = Date.now() + 30 * 86400_000 - 3600_000;
  const data = { cookie: { originalMaxAge: 30 * 86400_000, expires: new Date(expires).toISOString(), secure: false, httpOnly: true, path: '/', sameSite: 'lax' }, userId };
  await app.db.run(sql`INSERT INTO sessions (id, user_id, kind, expires_at, data, created_at) VALUES (${sessionKey(id)}, ${userId}, ${'cookie'}, ${expires}, ${JSON.stringify(data)}, ${Date.now()})`);
  const cookie = `folio=${encodeURIComponent(new Signer(app.secret, 'sha256').sign(id))}`;
  const me = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie } });
  t.equal(me.statusCode, 200);
  t.equal(me.json().user.id, userId);
  t.equal(me.headers['set-cookie'], undefined, 'nothing to renew yet');
});

t.test('logout deletes the session, clears the cookie, and the cookie stops working', async (t) => {
  const app = await build(t);
  const { cookie } = await register(app);
  const out = await app.inject({ method: 'POST', url: '/api/auth/logout', headers: { ...fromBook, cookie } });
  t.equal(out.statusCode, 204);
  t.equal(out.body, '');
  t.match(out.headers['set-cookie'], /^folio=; Max-Age=0; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax$/);
  t.same((await app.db.get(sql`SELECT count(*) AS n FROM sessions`)), { n: 0 });
  const me = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie } });
  t.equal(me.statusCode, 401);
  t.equal(me.json().error, 'session_expired');
});

t.test('token mode returns a token, sets no cookie, and the bearer token works like the cookie', async (t) => {
  const app = await build(t);
  const reg = await app.inject({ method: 'POST', url: '/api/auth/register', headers: fromBook, payload: { username: 'ada', password, mode: 'token' } });
  t.equal(reg.statusCode, 201);
  t.equal(reg.headers['set-cookie'], undefined);
  const { user, token } = reg.json();
  t.match(token, /^[\w-]{43}$/);
  const stored = (await app.db.all(sql`SELECT id, kind FROM sessions`));
  t.same(stored, [{ id: sessionKey(token), kind: 'token' }]);
  const me = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, authorization: `Bearer ${token}` } });
  t.equal(me.statusCode, 200);
  t.same(me.json(), { user });
  const login = await app.inject({ method: 'POST', url: '/api/auth/login', headers: fromBook, payload: { username: 'ada', password, mode: 'token' } });
  t.equal(login.statusCode, 200);
  t.equal(login.headers['set-cookie'], undefined);
  t.not(login.json().token, token);
});

t.test('logout with a bearer token revokes it', async (t) => {
  const app = await build(t);
  const { token } = (await app.inject({ method: 'POST', url: '/api/auth/register', headers: fromBook, payload: { username: 'ada', password, mode: 'token' } })).json();
  const auth = { ...fromBook, authorization: `Bearer ${token}` };
  t.equal((await app.inject({ method: 'POST', url: '/api/auth/logout', headers: auth })).statusCode, 204);
  const me = await app.inject({ method: 'GET', url: '/api/auth/me', headers: auth });
  t.equal(me.statusCode, 401);
  t.equal(me.json().error, 'session_expired');
});

t.test('a malformed Authorization header is a 401 that says what is expected', async (t) => {
  const app = await build(t);
  for (const authorization of ['Basic YWRhOnB3', 'Bearer', 'Bearer short', `Bearer ${'x'.repeat(43)} extra`]) {
    const res = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, authorization } });
    t.equal(res.statusCode, 401, authorization);
    t.equal(res.json().error, 'invalid_authorization');
  }
});

t.test('a cookie-authenticated change from a disallowed origin is refused; a bearer one is exempt', async (t) => {
  const app = await build(t);
  const { cookie } = await register(app);
  const evil = await app.inject({ method: 'POST', url: '/api/auth/logout', headers: { origin: 'https://evil.example', cookie } });
  t.equal(evil.statusCode, 403);
  t.equal(evil.json().error, 'origin_not_allowed');
  t.same((await app.db.get(sql`SELECT count(*) AS n FROM sessions`)), { n: 1 }, 'the session survived');
  const { token } = (await app.inject({ method: 'POST', url: '/api/auth/login', headers: fromBook, payload: { username: 'ada', password, mode: 'token' } })).json();
  const bearer = await app.inject({ method: 'PATCH', url: '/api/auth/me', headers: { cookie, authorization: `Bearer ${token}` }, payload: { name: 'Ada' } });
  t.equal(bearer.statusCode, 200);
});

t.test('a non-JSON body is refused with 415, readable by the page', async (t) => {
  const app = await build(t);
  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
    const res = await app.inject({ method: 'POST', url: '/api/auth/register', headers: { ...fromBook, 'content-type': type }, payload: 'username=ada&password=correct+horse' });
    t.equal(res.statusCode, 415, type);
    t.equal(res.json().error, 'unsupported_media_type');
    t.equal(res.headers['access-control-allow-origin'], bookOrigin);
  }
  t.same((await app.db.get(sql`SELECT count(*) AS n FROM users`)), { n: 0 });
});

t.test('a body over 1 MiB is refused with 413, readable by the page', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'POST', url: '/api/auth/register', headers: { ...fromBook, 'content-type': 'application/json' }, payload: JSON.stringify({ username: 'ada', password: 'x'.repeat(1024 * 1024) }) });
  t.equal(res.statusCode, 413);
  t.equal(res.json().error, 'body_too_large');
  t.equal(res.headers['access-control-allow-origin'], bookOrigin);
});

t.test('invalid JSON is a 400 invalid_json', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'POST', url: '/api/auth/login', headers: { ...fromBook, 'content-type': 'application/json' }, payload: '{"username":' });
  t.equal(res.statusCode, 400);
  t.equal(res.json().error, 'invalid_json');
});

t.test('login attempts are limited per username with 429 and Retry-After, exposed to the page', async (t) => {
  const app = await build(t, { loginRatePerUser: 3 });
  await register(app, 'ada');
  const attempt = () => app.inject({ method: 'POST', url: '/api/auth/login', headers: fromBook, payload: { username: 'ada', password: 'wrong password!' } });
  // register counted once for "ada"
  t.equal((await attempt()).statusCode, 401);
  t.equal((await attempt()).statusCode, 401);
  const limited = await attempt();
  t.equal(limited.statusCode, 429);
  t.same(limited.json(), { statusCode: 429, error: 'rate_limited', message: limited.json().message });
  t.match(limited.json().message, /^too many attempts: try again in \d+ s$/);
  t.match(limited.headers['retry-after'], /^\d+$/);
  t.equal(limited.headers['access-control-allow-origin'], bookOrigin);
  t.match(limited.headers['access-control-expose-headers'], /retry-after/);
  const other = await app.inject({ method: 'POST', url: '/api/auth/login', headers: fromBook, payload: { username: 'bob', password: 'wrong password!' } });
  t.equal(other.statusCode, 401, 'another username is not limited');
});

t.test('login and register attempts are limited per IP', async (t) => {
  const app = await build(t, { loginRatePerIp: 2 });
  const attempt = (username: string) => app.inject({ method: 'POST', url: '/api/auth/login', headers: fromBook, payload: { username, password: 'wrong password!' } });
  t.equal((await attempt('a1')).statusCode, 401);
  t.equal((await attempt('a2')).statusCode, 401);
  t.equal((await attempt('a3')).statusCode, 429);
  const { res } = await register(app, 'newbie');
  t.equal(res.statusCode, 429);
});

t.test('PATCH me changes name, email and research consent', async (t) => {
  const app = await build(t);
  const { cookie } = await register(app);
  const res = await app.inject({ method: 'PATCH', url: '/api/auth/me', headers: { ...fromBook, cookie }, payload: { name: 'Ada', email: 'ada@example.org', researchConsent: true } });
  t.equal(res.statusCode, 200);
  t.match(res.json().user, { name: 'Ada', email: 'ada@example.org', researchConsent: true });
  t.same((await app.db.get(sql`SELECT name, email, research_consent FROM users`)), { name: 'Ada', email: 'ada@example.org', research_consent: 1 });
  const cleared = await app.inject({ method: 'PATCH', url: '/api/auth/me', headers: { ...fromBook, cookie }, payload: { email: null } });
  t.equal(cleared.json().user.email, null);
  const empty = await app.inject({ method: 'PATCH', url: '/api/auth/me', headers: { ...fromBook, cookie }, payload: {} });
  t.equal(empty.statusCode, 400);
});

t.test('a password change needs the current password and ends the other sessions', async (t) => {
  const app = await build(t);
  const { cookie } = await register(app);
  const other = cookieOf(await app.inject({ method: 'POST', url: '/api/auth/login', headers: fromBook, payload: { username: 'ada', password } }));
  const wrong = await app.inject({ method: 'PATCH', url: '/api/auth/me', headers: { ...fromBook, cookie: other }, payload: { currentPassword: 'not it at all', newPassword: 'a new long password' } });
  t.equal(wrong.statusCode, 403);
  t.equal(wrong.json().error, 'wrong_password');
  const ok = await app.inject({ method: 'PATCH', url: '/api/auth/me', headers: { ...fromBook, cookie: other }, payload: { currentPassword: password, newPassword: 'a new long password' } });
  t.equal(ok.statusCode, 200);
  t.equal((await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie: other } })).statusCode, 200, 'this session stays');
  t.equal((await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie } })).statusCode, 401, 'the other session ended');
  const login = await app.inject({ method: 'POST', url: '/api/auth/login', headers: fromBook, payload: { username: 'ada', password: 'a new long password' } });
  t.equal(login.statusCode, 200);
});

t.test('the default password hash is scrypt with N=2^17, r=8, p=1', async (t) => {
  const { hashPassword, verifyPassword, needsRehash } = await import('../lib/passwords.js');
  const { loadConfig } = await import('../lib/config.js');
  const cost = loadConfig({}).passwordCost;
  t.equal(cost, 17);
  const hash = await hashPassword(password, cost);
  t.match(hash, /^scrypt\$131072\$8\$1\$/);
  t.equal(await verifyPassword(password, hash), true);
  t.equal(await verifyPassword('another password', hash), false);
  t.equal(needsRehash(hash, 17), false);
  t.equal(needsRehash(hash, 18), true);
});

t.test('an authenticated request reads its session and its user in one query, by cookie or by token', async (t) => {
  const app = await build(t);
  const { cookie } = await register(app);
  const login = await app.inject({ method: 'POST', url: '/api/auth/login', headers: fromBook, payload: { username: 'ada', password, mode: 'token' } });
  const queries = recordQueries(t, app);
  for (const headers of [{ ...fromBook, cookie }, { ...fromBook, authorization: `Bearer ${login.json().token}` }]) {
    queries.length = 0;
    const me = await app.inject({ method: 'GET', url: '/api/auth/me', headers });
    t.equal(me.statusCode, 200);
    t.equal(me.json().user.username, 'ada');
    t.equal(queries.length, 1, queries.join('\n'));
    t.match(queries[0], /FROM sessions s JOIN users u/);
  }
});

const sqliteOnly = { skip: testDialect !== 'sqlite' && 'SQLite only (PostgreSQL looks every session up)' };
const sessionLookup = /FROM sessions s JOIN users u/;

t.test('on SQLite a session look-up is remembered: the next requests of the session make no query for it; on PostgreSQL each does', async (t) => {
  const app = await build(t);
  const { cookie } = await register(app);
  const queries = recordQueries(t, app);
  for (let i = 0; i < 3; i++) {
    const me = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie } });
    t.equal(me.statusCode, 200);
    t.equal(me.json().user.username, 'ada');
    await nextTurn();
  }
  t.equal(queries.filter((q) => sessionLookup.test(q)).length, app.db.dialect === 'sqlite' ? 1 : 3, queries.join('\n'));
});

t.test('a session deleted by another process stops working from the next turn of the event loop', sqliteOnly, async (t) => {
  const app = await build(t);
  const { cookie } = await register(app);
  t.equal((await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie } })).statusCode, 200);
  // Another connection to the file: a `folio` command or a sqlite3 shell.
  const other = new BetterSqlite3(app.db.location);
  t.teardown(() => other.close());
  t.equal(other.prepare('DELETE FROM sessions').run().changes, 1);
  await nextTurn();
  const me = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie } });
  t.equal(me.statusCode, 401);
  t.equal(me.json().error, 'session_expired');
});

t.test('a user changed by another process is seen on the next request from the next turn on', sqliteOnly, async (t) => {
  const app = await build(t);
  const { cookie } = await register(app);
  t.equal((await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie } })).json().user.role, 'student');
  const other = new BetterSqlite3(app.db.location);
  t.teardown(() => other.close());
  other.prepare("UPDATE users SET role = 'researcher'").run();
  await nextTurn();
  t.equal((await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie } })).json().user.role, 'researcher');
});

t.test('a remembered session is refused once its expiry has passed: the expiry is checked on every use', async (t) => {
  const app = await build(t, { sessionDays: 7 });
  const { cookie } = await register(app);
  t.equal((await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie } })).statusCode, 200);
  await nextTurn();
  const queries = recordQueries(t, app);
  const now = Date.now();
  t.intercept(Date, 'now', { value: () => now + 8 * 86400_000 });
  const me = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie } });
  t.equal(me.statusCode, 401);
  t.equal(me.json().error, 'session_expired');
  t.equal(queries.filter((q) => sessionLookup.test(q)).length, app.db.dialect === 'sqlite' ? 0 : 1, 'SQLite answered from memory');
});

t.test('the auth change count moves with every new, changed or deleted session or user row, from any connection', sqliteOnly, async (t) => {
  const app = await build(t);
  const count = () => app.db.authChanges();
  const before = count()!;
  await register(app);
  t.ok(count()! > before, 'registering (a new user and a new session) counts');
  const other = new BetterSqlite3(app.db.location);
  t.teardown(() => other.close());
  for (const sql of ["UPDATE users SET name = 'Ada'", 'UPDATE sessions SET expires_at = expires_at + 1', 'DELETE FROM sessions']) {
    const at = count()!;
    other.prepare(sql).run();
    await nextTurn();
    t.equal(count(), at + 1, sql);
  }
});

t.test('the auth change count is not read inside a write, which would see that write before it commits', sqliteOnly, async (t) => {
  const app = await build(t);
  t.type(app.db.authChanges(), 'number');
  const inside = await app.db.write(async () => app.db.authChanges());
  t.equal(inside, undefined);
});

t.test('a commit forgets the count read in the same turn: a logout is seen by the very next request', sqliteOnly, async (t) => {
  const app = await build(t);
  const { cookie } = await register(app);
  await nextTurn();
  const at = app.db.authChanges()!;
  const out = await app.inject({ method: 'POST', url: '/api/auth/logout', headers: { ...fromBook, cookie } });
  t.equal(out.statusCode, 204);
  t.equal(app.db.authChanges(), at + 1);
});

t.test('a session found again from memory has the stored key of its token, as the first look-up had', async (t) => {
  const app = await build(t);
  const { res } = await register(app, 'ada', { mode: 'token' });
  const token = res.json<{ token: string }>().token;
  await nextTurn();
  const queries = recordQueries(t, app);
  const first = await findSessionWithUser(app.db, token);
  const again = await findSessionWithUser(app.db, token);
  t.equal(first?.session.id, sessionKey(token));
  t.equal(again?.session.id, sessionKey(token));
  t.equal(again?.user.username, 'ada');
  t.equal(queries.filter((q) => sessionLookup.test(q)).length, app.db.dialect === 'sqlite' ? 1 : 2, 'SQLite looked it up once');
  t.equal(await findSessionWithUser(app.db, sessionKey(token)), undefined, 'the stored key is no token');
});

t.test(`at most ${rememberedSessionsMax} session look-ups are remembered; the oldest go first`, sqliteOnly, async (t) => {
  const app = await build(t);
  const { cookie } = await register(app);
  t.equal((await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie } })).statusCode, 200);
  const remembered = rememberedSessions(app.db);
  const changes = app.db.authChanges()!;
  const [first, row] = [...remembered.at(changes)][0]!;
  for (let i = 0; i < rememberedSessionsMax; i++) remembered.keep(changes, `key${i}`, row!);
  t.equal(remembered.rows.size, rememberedSessionsMax);
  t.notOk(remembered.rows.has(first!), 'the first look-up was forgotten');
  t.ok(remembered.rows.has(`key${rememberedSessionsMax - 1}`));
});

t.test('the session cookie is the API\'s: another path neither looks it up nor clears a dead one', async (t) => {
  const app = await build(t);
  const { cookie } = await register(app);
  const queries = recordQueries(t, app);
  const live = await app.inject({ method: 'GET', url: '/healthz', headers: { cookie } });
  t.equal(live.statusCode, 200);
  (await app.db.run(sql`DELETE FROM sessions`));
  const dead = await app.inject({ method: 'GET', url: '/healthz', headers: { cookie } });
  t.equal(dead.statusCode, 200);
  t.equal(dead.headers['set-cookie'], undefined);
  t.equal(queries.filter((q) => sessionLookup.test(q)).length, 0);
});

t.test('a cookie-mode login replaces the cookie\'s session even when a bearer token authenticated the request', async (t) => {
  const app = await build(t);
  const { cookie } = await register(app, 'ada');
  const { token } = (await app.inject({ method: 'POST', url: '/api/auth/register', headers: fromBook, payload: { username: 'bob', password, mode: 'token' } })).json();
  const login = await app.inject({ method: 'POST', url: '/api/auth/login', headers: { ...fromBook, cookie, authorization: `Bearer ${token}` }, payload: { username: 'bob', password } });
  t.equal(login.statusCode, 200);
  t.not(rawSessionId(cookieOf(login)), rawSessionId(cookie));
  t.equal((await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie } })).statusCode, 401, 'the old cookie stopped working');
  const me = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie: cookieOf(login) } });
  t.equal(me.json().user.username, 'bob');
  t.same(await app.db.all(sql`SELECT kind FROM sessions`), [{ kind: 'cookie' }], 'the bearer token was ended, the new cookie session stored');
});
