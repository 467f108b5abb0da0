import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { Script } from 'node:vm';
import t from 'tap';
import { createPasswordLink, newPasswordLink } from '../db/password-links.js';
import { createAccount } from '../db/users.js';
import { build, fromBook } from './helper.js';
import { student } from './staff.js';

/** Set-password links: the page, its script, POST /api/auth/password-link, and accounts without a password. */

const password = 'a brand new password';

/** An account as a roster import makes it: no password. */
const rostered = (app: FastifyInstance, username: string) => createAccount(app.db, { username, passwordHash: null });

const useLink = (app: FastifyInstance, token: string, body: Record<string, unknown> = { password }) =>
  app.inject({ method: 'POST', url: '/api/auth/password-link', payload: { token, ...body } });

const login = (app: FastifyInstance, username: string, pw = password) => app.inject({ method: 'POST', url: '/api/auth/login', headers: fromBook, payload: { username, password: pw } });

const linkCount = async (app: FastifyInstance) => Number((await app.db.get<{ n: number }>(sql`SELECT COUNT(*) AS n FROM password_links`))!.n);

t.test('an account without a password (made from a roster) cannot log in: 401 invalid_credentials, as a wrong password', async (t) => {
  const app = await build(t);
  await rostered(app, 'bob');
  const res = await login(app, 'bob', 'any password at all');
  t.equal(res.statusCode, 401);
  t.same(res.json(), { statusCode: 401, error: 'invalid_credentials', message: 'the username or the password is wrong' });
});

t.test('POST /api/auth/password-link sets the password (204); the account then logs in with it', async (t) => {
  const app = await build(t);
  const bob = await rostered(app, 'bob');
  const token = await newPasswordLink(app.db, bob.id, 14);
  const res = await useLink(app, token);
  t.equal(res.statusCode, 204, res.body);
  t.equal(res.body, '');
  const stored = await app.db.get<{ password_hash: string }>(sql`SELECT password_hash FROM users WHERE id = ${bob.id}`);
  t.match(stored!.password_hash, /^scrypt\$/);
  const loggedIn = await login(app, 'bob');
  t.equal(loggedIn.statusCode, 200, loggedIn.body);
  t.equal(loggedIn.json().user.username, 'bob');
});

t.test('a link works once: it and every other link of the account are deleted; other accounts\' links stay', async (t) => {
  const app = await build(t);
  const bob = await rostered(app, 'bob');
  const cleo = await rostered(app, 'cleo');
  const [first, second] = [await newPasswordLink(app.db, bob.id, 14), await newPasswordLink(app.db, bob.id, 14)];
  await newPasswordLink(app.db, cleo.id, 14);
  t.equal((await useLink(app, first)).statusCode, 204);
  t.same(await app.db.all(sql`SELECT user_id FROM password_links`), [{ user_id: cleo.id }]);
  for (const token of [first, second]) {
    const again = await useLink(app, token, { password: 'yet another password' });
    t.equal(again.statusCode, 400);
    t.same(again.json(), { statusCode: 400, error: 'invalid_link', message: 'this set-password link is unknown, used or expired: ask your course staff for a new link' });
  }
  t.equal((await login(app, 'bob')).statusCode, 200, 'the password set by the first use stands');
});

t.test('an expired or unknown link is 400 invalid_link and changes nothing', async (t) => {
  const app = await build(t);
  const bob = await rostered(app, 'bob');
  const expired = await app.db.write((tx) => createPasswordLink(tx, bob.id, 1, Date.now() - 86_400_000 - 1000));
  for (const token of [expired, 'A'.repeat(43), 'x']) {
    const res = await useLink(app, token);
    t.equal(res.statusCode, 400, token);
    t.equal(res.json().error, 'invalid_link', token);
  }
  t.same(await app.db.get(sql`SELECT password_hash FROM users WHERE id = ${bob.id}`), { password_hash: null });
  t.equal(await linkCount(app), 1, 'the expired link is not deleted by a try');
});

t.test('the new password follows register\'s rules: a short one is a 400 naming the field, and the link still works', async (t) => {
  const app = await build(t);
  const bob = await rostered(app, 'bob');
  const token = await newPasswordLink(app.db, bob.id, 14);
  const short = await useLink(app, token, { password: 'short' });
  t.equal(short.statusCode, 400);
  t.match(short.json(), { error: 'invalid_request', message: /password/ });
  const extra = await useLink(app, token, { password, username: 'bob' });
  t.equal(extra.statusCode, 400);
  t.equal(await linkCount(app), 1);
  t.equal((await useLink(app, token)).statusCode, 204);
});

t.test('using a link ends no session: a student who had a password keeps their sessions', async (t) => {
  const app = await build(t);
  const ada = await student(app, 'ada');
  const token = await newPasswordLink(app.db, ada.id, 14);
  t.equal((await useLink(app, token)).statusCode, 204);
  const me = await app.inject({ method: 'GET', url: '/api/auth/me', headers: ada.headers });
  t.equal(me.statusCode, 200);
  t.equal((await login(app, 'ada')).statusCode, 200, 'the new password works');
  t.equal((await login(app, 'ada', 'correct horse battery')).statusCode, 401, 'the old one no longer does');
});

t.test('password-link attempts are rate limited like logins: past the limit a 429 with Retry-After', async (t) => {
  const app = await build(t, { loginRatePerIp: 3 });
  const bob = await rostered(app, 'bob');
  const token = await newPasswordLink(app.db, bob.id, 14);
  for (let i = 0; i < 3; i++) t.equal((await useLink(app, `wrong${i}`)).statusCode, 400);
  const limited = await useLink(app, token);
  t.equal(limited.statusCode, 429);
  t.ok(Number(limited.headers['retry-after']) > 0);
  t.equal(await linkCount(app), 1, 'the link is not used by a refused attempt');
});

t.test('GET /account/set-password is a page of Folio\'s own with a form and a script from Folio, no inline script', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'GET', url: '/account/set-password' });
  t.equal(res.statusCode, 200);
  t.equal(res.headers['content-type'], 'text/html; charset=utf-8');
  t.equal(res.headers['cache-control'], 'no-store');
  t.match(res.headers['content-security-policy'], /script-src 'self'/);
  t.match(res.body, '<script src="set-password.js" defer></script>');
  t.equal(res.body.match(/<script/g)!.length, 1, 'one script element, with a src');
  t.notMatch(res.body, /\son[a-z]+=/, 'no inline event handlers');
  t.match(res.body, 'id="password"');
  t.match(res.body, 'id="again"');
  const script = await app.inject({ method: 'GET', url: '/account/set-password.js' });
  t.equal(script.statusCode, 200);
  t.equal(script.headers['content-type'], 'text/javascript; charset=utf-8');
  t.doesNotThrow(() => new Script(script.body), 'the script parses');
  t.match(script.body, "fetch('../api/auth/password-link'");
  t.match(script.body, 'Password set: log in from your book.');
  t.match(script.body, 'ask your course staff for a new one');
});
