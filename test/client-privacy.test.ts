/**
 * The browser client and students' rights, in Node against the real app: exportMyData() gives what the server holds
 * about the student, deleteAccount() deletes it and leaves nothing of the student in the browser either.
 */
import type { FastifyInstance } from 'fastify';
import t from 'tap';
import { FolioError } from '../client/errors.js';
import { createAccount } from '../db/users.js';
import { hashPassword } from '../lib/passwords.js';
import { FakeBrowser, password, server } from './client-fakes.js';
import { build } from './helper.js';
import { sql } from 'drizzle-orm';

const tokenKey = `folio|token|${server}`;

async function rowsOf(app: FastifyInstance, userId: string): Promise<number> {
  let n = 0;
  for (const table of ['sessions', 'programs', 'answers', 'events', 'positions', 'page_completions']) {
    n += Number((await app.db.get<{ n: number }>(sql`SELECT COUNT(*) AS n FROM ${sql.raw(table)} WHERE user_id = ${userId}`))!.n);
  }
  return n + Number((await app.db.get<{ n: number }>(sql`SELECT COUNT(*) AS n FROM users WHERE id = ${userId}`))!.n);
}

t.test('exportMyData() gives everything the server holds about the student, in cookie and in token mode', async (t) => {
  const app = await build(t);
  for (const refuseCookies of [false, true]) {
    const browser = new FakeBrowser(app);
    browser.network.refuseCookies = refuseCookies;
    const { folio } = browser.open(t);
    const username = refuseCookies ? 'tess' : 'ada';
    const user = await folio.register({ username, password, researchConsent: true });
    t.equal(folio.mode, refuseCookies ? 'token' : 'cookie');
    await folio.saveProgram('ac1', 'v1', { page: 'ch1' });
    await folio.saveProgram('ac1', 'v2', { page: 'ch1' });
    await folio.submitAnswer('q1', { kind: 'poll', answer: 'a', page: 'ch1' });
    folio.log('run', { target: 'ac1', data: { ms: 1 } });
    await folio.flush();
    const data = await folio.exportMyData();
    t.match(data, { account: { id: user.id, username, researchConsent: true, anonymous: false }, answers: [{ book: 'book', question: 'q1', answer: 'a' }], events: [{ type: 'run', data: { ms: 1 } }] });
    t.same(data?.programs.map((p) => p.code), ['v1', 'v2']);
    t.match(browser.network.seen.at(-1), { method: 'GET', path: '/api/auth/me/export', auth: refuseCookies ? 'token' : 'cookie', status: 200 });
  }
});

t.test('exportMyData() without any session is null; after the session ended it throws session_expired and asks for a login', async (t) => {
  const app = await build(t);
  const browser = new FakeBrowser(app);
  const { folio, events } = browser.open(t);
  t.equal(await folio.exportMyData(), null);
  await folio.register({ username: 'ada', password });
  await app.db.run(sql`DELETE FROM sessions`);
  const err = await folio.exportMyData().catch((e: unknown) => e);
  t.ok(err instanceof FolioError);
  t.match(err, { statusCode: 401, error: 'session_expired' });
  t.match(events.auth.at(-1), { type: 'required', reason: 'session_expired' });
});

t.test('deleteAccount(password) deletes the account on the server and, in the browser, the session, the token and this student\'s kept writes', async (t) => {
  const app = await build(t);
  const other = await createAccount(app.db, { username: 'bob', passwordHash: await hashPassword(password, 10) });
  const browser = new FakeBrowser(app);
  browser.network.refuseCookies = true;

  // Bob keeps a write in this browser, then Ada logs in on it and keeps one too.
  const bob = browser.open(t).folio;
  await bob.login({ username: 'bob', password });
  browser.network.offline = true;
  await bob.saveProgram('ac1', 'bob kept');
  browser.network.offline = false;
  await bob.logout();

  const { folio, events } = browser.open(t);
  const ada = await folio.register({ username: 'ada', password });
  await folio.saveProgram('ac1', 'saved');
  browser.network.faults.push({ status: 503 });
  await folio.saveProgram('ac2', 'kept');
  t.equal(folio.pendingWrites, 1, 'a write waits for its retry');
  t.equal(browser.outboxKeys().length, 2);
  t.not(browser.sessionStorage.getItem(tokenKey), null);

  await folio.deleteAccount(password);
  t.match(browser.network.seen.at(-1), { method: 'DELETE', path: '/api/auth/me', auth: 'token', body: { currentPassword: password }, status: 204 });
  t.equal(await rowsOf(app, ada.id), 0, 'nothing of hers is left on the server');
  t.ok((await rowsOf(app, other.id)) > 0, 'bob keeps his account');
  t.equal(folio.user, null);
  t.equal(folio.pendingWrites, 0);
  t.equal(browser.outboxKeys().length, 1, 'only bob\'s kept write is left');
  t.ok(browser.outboxKeys()[0]!.includes(other.id));
  t.equal(browser.sessionStorage.getItem(tokenKey), null, 'the token is gone');
  t.strictSame(events.auth.at(-1), { type: 'deleted' });
  t.equal(await folio.me(), null, 'no session');
  await browser.clock.advance(120_000);
  t.notOk(browser.network.seen.some((r) => r.path.endsWith('/programs/ac2') && r.status === 200), 'her kept write is never sent');
});

t.test('deleteAccount() with a wrong password rejects with wrong_password and changes nothing in the browser', async (t) => {
  const app = await build(t);
  const browser = new FakeBrowser(app);
  const { folio, events } = browser.open(t);
  const ada = await folio.register({ username: 'ada', password });
  browser.network.faults.push({ status: 503 });
  await folio.saveProgram('ac1', 'kept');
  const err = await folio.deleteAccount('not the password').catch((e: unknown) => e);
  t.ok(err instanceof FolioError);
  t.match(err, { statusCode: 403, error: 'wrong_password' });
  t.equal(folio.user?.id, ada.id);
  t.equal(folio.pendingWrites, 1, 'the kept write is still kept');
  t.notOk(events.auth.some((e) => e.type === 'deleted'));
  t.match(await folio.me(), { id: ada.id });
  t.ok((await rowsOf(app, ada.id)) > 0);
});

t.test('an anonymous student deletes their work with deleteAccount() and no password, cookie and kept writes included', async (t) => {
  const app = await build(t);
  const browser = new FakeBrowser(app);
  const { folio, events } = browser.open(t);
  await folio.saveProgram('ac1', 'anonymous work');
  const me = await folio.me();
  t.match(me, { anonymous: true });
  t.equal(browser.network.cookies.size, 1);
  await folio.deleteAccount();
  t.match(browser.network.seen.at(-1), { method: 'DELETE', path: '/api/auth/me', auth: 'cookie', body: {}, status: 204 });
  t.equal(browser.network.cookies.size, 0, 'the server cleared the cookie');
  t.equal(await rowsOf(app, me!.id), 0);
  t.strictSame(events.auth.at(-1), { type: 'deleted' });
  t.equal(await folio.exportMyData(), null);
});
