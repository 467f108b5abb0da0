import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { createHash } from 'node:crypto';
import t from 'tap';
import { createHandoff, handoffLifetime, redeemHandoff } from '../db/handoffs.js';
import { createAccount } from '../db/users.js';
import { sweepSessions } from '../plugins/auth.js';
import { build, buildLogged, cookieOf, fromBook, otherBookOrigin, register } from './helper.js';

/** Hand-off codes: db/handoffs.ts and POST /api/auth/handoff (SPEC.md §9 "Hand-off"). */

const invalid = { statusCode: 400, error: 'invalid_handoff', message: 'this sign-in link is unknown, used or expired: start the login again (from your course or the sign-in page)' };

const redeem = (app: FastifyInstance, body: Record<string, unknown>, headers: Record<string, string> = fromBook) =>
  app.inject({ method: 'POST', url: '/api/auth/handoff', headers, payload: { book: 'book', ...body } });

/** An account, as an LTI launch or an identity provider makes it (no password), and a code for it on `book`. */
async function handedOff(app: FastifyInstance, username = 'ada', book = 'book') {
  const user = await createAccount(app.db, { username, passwordHash: null });
  return { user, code: await createHandoff(app.db, user.id, book) };
}

const codeCount = async (app: FastifyInstance) => Number((await app.db.get<{ n: number }>(sql`SELECT COUNT(*) AS n FROM handoff_codes`))!.n);

t.test('createHandoff stores the SHA-256 of a 32-byte base64url code, for its user and book, expiring 60 s later', async (t) => {
  const app = await build(t);
  const user = await createAccount(app.db, { username: 'ada', passwordHash: null });
  const now = 1_790_000_000_000;
  const code = await createHandoff(app.db, user.id, 'book', now);
  t.match(code, /^[A-Za-z0-9_-]{43}$/);
  const rows = await app.db.all<Record<string, unknown>>(sql`SELECT id, user_id, book_id, expires_at, created_at FROM handoff_codes`);
  t.equal(rows.length, 1);
  t.same(
    rows.map((r) => ({ ...r, expires_at: Number(r.expires_at), created_at: Number(r.created_at) })),
    [{ id: createHash('sha256').update(code).digest('hex'), user_id: user.id, book_id: 'book', expires_at: now + 60_000, created_at: now }],
  );
  t.equal(handoffLifetime, 60_000);
});

t.test('POST /api/auth/handoff logs the user in with a cookie (200 {user, fallbackCode}), and the cookie is a session of that user', async (t) => {
  const app = await build(t);
  const { user, code } = await handedOff(app);
  const res = await redeem(app, { code });
  t.equal(res.statusCode, 200, res.body);
  const { fallbackCode } = res.json() as { fallbackCode: string };
  t.match(fallbackCode, /^[A-Za-z0-9_-]{43}$/);
  t.not(fallbackCode, code);
  t.same(res.json(), { user: { id: user.id, username: 'ada', name: null, email: null, role: 'student', researchConsent: false, anonymous: false }, fallbackCode });
  t.equal(res.headers['cache-control'], 'no-store');
  const me = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie: cookieOf(res) } });
  t.equal(me.statusCode, 200);
  t.equal(me.json().user.id, user.id);
});

t.test("a cookie-mode reply's fallbackCode (for a browser that refused the cookie) logs the same user in, in token mode, once", async (t) => {
  const app = await build(t);
  const { user, code } = await handedOff(app);
  const { fallbackCode } = (await redeem(app, { code })).json() as { fallbackCode: string };
  const res = await redeem(app, { code: fallbackCode, mode: 'token' });
  t.equal(res.statusCode, 200, res.body);
  t.equal(res.json().user.id, user.id);
  t.match(res.json().token, /^[A-Za-z0-9_-]{20,200}$/);
  t.equal(res.json().fallbackCode, undefined, 'token mode gives none');
  t.equal(await codeCount(app), 0);
  t.same((await redeem(app, { code: fallbackCode, mode: 'token' })).json(), invalid);
});

t.test('in token mode the reply carries a bearer token ({user, token}) and no cookie', async (t) => {
  const app = await build(t);
  const { user, code } = await handedOff(app);
  const res = await redeem(app, { code, mode: 'token' });
  t.equal(res.statusCode, 200, res.body);
  const { token } = res.json() as { token: string };
  t.match(token, /^[A-Za-z0-9_-]{20,200}$/);
  t.equal(res.headers['x-folio-token'], token);
  t.equal(res.headers['set-cookie'], undefined);
  const me = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, authorization: `Bearer ${token}` } });
  t.equal(me.json().user.id, user.id);
});

t.test('a code works once: the second use is 400 invalid_handoff, and the code is gone from the table', async (t) => {
  const app = await build(t);
  const { code } = await handedOff(app);
  t.equal((await redeem(app, { code, mode: 'token' })).statusCode, 200);
  t.equal(await codeCount(app), 0);
  const again = await redeem(app, { code });
  t.equal(again.statusCode, 400);
  t.same(again.json(), invalid);
  t.equal(again.headers['set-cookie'], undefined);
});

t.test('of concurrent uses of one code exactly one logs in', async (t) => {
  const app = await build(t);
  const { user, code } = await handedOff(app);
  const results = await Promise.all(Array.from({ length: 8 }, () => redeemHandoff(app.db, code, 'book')));
  t.same(results.filter((r) => r !== undefined), [user.id]);
  const codes = await Promise.all(['bob', 'cleo', 'dan', 'eve'].map(async (name) => (await handedOff(app, name)).code));
  const replies = await Promise.all(codes.map(async (code) => (await redeem(app, { code })).statusCode));
  t.same(replies, [200, 200, 200, 200], 'distinct codes do not block each other');
});

t.test('a code expires 60 s after it was made: at 59.999 s it works, at 60 s it is refused', async (t) => {
  const app = await build(t);
  const user = await createAccount(app.db, { username: 'ada', passwordHash: null });
  const now = Date.now();
  const late = await createHandoff(app.db, user.id, 'book', now - 60_000);
  const res = await redeem(app, { code: late });
  t.equal(res.statusCode, 400);
  t.same(res.json(), invalid);
  const made = 1_790_000_000_000;
  const code = await createHandoff(app.db, user.id, 'book', made);
  t.equal(await redeemHandoff(app.db, code, 'book', made + 60_000), undefined, 'expired at 60 s');
  t.equal(await redeemHandoff(app.db, code, 'book', made + 59_999), user.id, 'live until then');
});

t.test('a code that expired in the table (expires_at moved to now) is refused by the route', async (t) => {
  const app = await build(t);
  const { code } = await handedOff(app);
  await app.db.run(sql`UPDATE handoff_codes SET expires_at = ${Date.now()}`);
  const res = await redeem(app, { code });
  t.equal(res.statusCode, 400);
  t.same(res.json(), invalid);
});

t.test('a code of another book is refused (400, the same message) from that book\'s page, and stays usable on its own book', async (t) => {
  const app = await build(t);
  const { user, code } = await handedOff(app);
  const res = await redeem(app, { book: 'other', code }, { origin: otherBookOrigin });
  t.equal(res.statusCode, 400);
  t.same(res.json(), invalid);
  const own = await redeem(app, { code });
  t.equal(own.statusCode, 200);
  t.equal(own.json().user.id, user.id);
});

t.test("a request whose Origin is not one of the book's origins is 403 origin_not_allowed, and the code is not used", async (t) => {
  const app = await build(t);
  const { code } = await handedOff(app);
  // Another book's origin passes the CSRF check (it is an allowed origin of the API) but is not this book's.
  const other = await redeem(app, { code }, { origin: otherBookOrigin });
  t.equal(other.statusCode, 403);
  t.same(other.json(), {
    statusCode: 403,
    error: 'origin_not_allowed',
    message: 'a hand-off code of book "book" is redeemed by a page of that book only: origin https://other.example is not one of its origins',
  });
  const none = await redeem(app, { code }, {});
  t.equal(none.statusCode, 403);
  t.equal(none.json().error, 'origin_not_allowed');
  t.equal(await codeCount(app), 1);
  t.equal((await redeem(app, { code })).statusCode, 200);
});

t.test('a cookie-carrying request from an origin of no book is refused by the CSRF check first', async (t) => {
  const app = await build(t);
  const { code } = await handedOff(app);
  const res = await redeem(app, { code }, { origin: 'https://evil.example', cookie: 'folio=whatever' });
  t.equal(res.statusCode, 403);
  t.equal(res.json().error, 'origin_not_allowed');
  t.equal(await codeCount(app), 1);
});

t.test('bad input is a 400 naming the field', async (t) => {
  const app = await build(t);
  const missing = await app.inject({ method: 'POST', url: '/api/auth/handoff', headers: fromBook, payload: { book: 'book' } });
  t.equal(missing.statusCode, 400);
  t.match(missing.json().message, /code/);
  const bad = await redeem(app, { code: 'not a code!' });
  t.equal(bad.statusCode, 400);
  t.match(bad.json().message, /code/);
});

t.test('an anonymous session\'s work (cookie) moves into the account; the anonymous user is gone', async (t) => {
  const app = await build(t);
  const first = await app.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers: fromBook, payload: { code: 'print(1)' } });
  t.equal(first.statusCode, 200, first.body);
  const anon = { ...fromBook, cookie: cookieOf(first) };
  const anonId = (await app.inject({ method: 'GET', url: '/api/auth/me', headers: anon })).json().user.id as string;
  const { user, code } = await handedOff(app);
  const res = await redeem(app, { code }, anon);
  t.equal(res.statusCode, 200, res.body);
  t.same(await app.db.all(sql`SELECT user_id, code FROM programs`), [{ user_id: user.id, code: 'print(1)' }]);
  t.same(await app.db.all(sql`SELECT id FROM users WHERE id = ${anonId}`), []);
  const old = await app.inject({ method: 'GET', url: '/api/auth/me', headers: anon });
  t.equal(old.statusCode, 401, 'the anonymous cookie session ended');
});

t.test('an anonymous session\'s work (bearer token) moves into the account, in token mode too', async (t) => {
  const app = await build(t);
  const first = await app.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers: { ...fromBook, 'x-folio-mode': 'token' }, payload: { code: 'print(2)' } });
  const anonToken = String(first.headers['x-folio-token']);
  const { user, code } = await handedOff(app);
  const res = await redeem(app, { code, mode: 'token' }, { ...fromBook, authorization: `Bearer ${anonToken}` });
  t.equal(res.statusCode, 200, res.body);
  t.not(res.json().token, anonToken);
  t.same(await app.db.all(sql`SELECT user_id, code FROM programs`), [{ user_id: user.id, code: 'print(2)' }]);
  const old = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, authorization: `Bearer ${anonToken}` } });
  t.equal(old.statusCode, 401, 'the anonymous token was revoked');
});

t.test("a logged-in account's work is not merged: the session just becomes the code's user's", async (t) => {
  const app = await build(t);
  const { cookie } = await register(app, 'bob');
  await app.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers: { ...fromBook, cookie }, payload: { code: 'bob' } });
  const { user, code } = await handedOff(app);
  const res = await redeem(app, { code }, { ...fromBook, cookie });
  t.equal(res.statusCode, 200);
  t.equal(res.json().user.id, user.id);
  t.same(await app.db.all(sql`SELECT code FROM programs WHERE user_id = ${user.id}`), []);
});

t.test('redemptions are limited per client IP (FOLIO_LOGIN_RATE_PER_IP a minute): past it 429 with Retry-After, logged', async (t) => {
  const { app, events } = await buildLogged(t, { loginRatePerIp: 3 });
  for (let i = 0; i < 3; i++) t.equal((await redeem(app, { code: `guess${i}` })).statusCode, 400);
  const { code } = await handedOff(app);
  const res = await redeem(app, { code });
  t.equal(res.statusCode, 429);
  t.equal(res.json().error, 'rate_limited');
  t.match(res.headers['retry-after'], /^\d+$/);
  t.equal(events('handoff_throttled').length, 1);
  t.equal(await codeCount(app), 1, 'the code was not looked at');
  const elsewhere = await app.inject({ method: 'POST', url: '/api/auth/handoff', headers: fromBook, remoteAddress: '10.9.8.7', payload: { book: 'book', code } });
  t.equal(elsewhere.statusCode, 200, 'another client is not limited');
});

t.test('redemptions and refusals are logged as security events, without the code', async (t) => {
  const { app, events, logs } = await buildLogged(t);
  const { user, code } = await handedOff(app);
  await redeem(app, { code, mode: 'token' });
  await redeem(app, { code });
  await redeem(app, { code: 'x' }, { origin: otherBookOrigin });
  t.match(events('handoff_redeemed'), [{ userId: user.id, username: 'ada', book: 'book', mode: 'token', merged: false, client: '127.0.0.1' }]);
  t.match(events('handoff_refused'), [
    { reason: 'code', book: 'book', client: '127.0.0.1' },
    { reason: 'origin', book: 'book', origin: otherBookOrigin },
  ]);
  t.notOk(JSON.stringify(logs()).includes(code), 'the code is never logged');
});

t.test('the periodic sweep and each new code delete expired codes; live ones stay', async (t) => {
  const app = await build(t);
  const user = await createAccount(app.db, { username: 'ada', passwordHash: null });
  const now = Date.now();
  await createHandoff(app.db, user.id, 'book', now - 120_000);
  await createHandoff(app.db, user.id, 'book', now);
  t.equal(await codeCount(app), 1, 'the new code swept the expired one');
  await createHandoff(app.db, user.id, 'other', now);
  await app.db.run(sql`UPDATE handoff_codes SET expires_at = ${now} WHERE book_id = 'book'`);
  t.equal(await codeCount(app), 2);
  await sweepSessions(app, now);
  t.same(await app.db.all(sql`SELECT book_id FROM handoff_codes`), [{ book_id: 'other' }], 'the sweep removed the one expired at its time');
});

t.test("a user's codes go with the user, a book's with the book", async (t) => {
  const app = await build(t);
  const { user } = await handedOff(app);
  await createHandoff(app.db, user.id, 'other');
  await app.db.run(sql`DELETE FROM books WHERE id = 'other'`);
  t.equal(await codeCount(app), 1);
  await app.db.run(sql`DELETE FROM users WHERE id = ${user.id}`);
  t.equal(await codeCount(app), 0);
});
