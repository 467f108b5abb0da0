/**
 * The browser client's hand-off: a page opened at `…#folio-handoff=CODE` (a login completed on Folio's own pages)
 * takes the code out of the address bar and exchanges it for a session, with the cookie or, when the browser refuses
 * it, a token, as login does; in Node against the real app.
 */
import type { FastifyInstance } from 'fastify';
import t from 'tap';
import { sql } from 'drizzle-orm';
import { createHandoff } from '../db/handoffs.js';
import { createAccount } from '../db/users.js';
import { FakeBrowser, server } from './client-fakes.js';
import { bookOrigin, build } from './helper.js';

const tokenKey = `folio|token|${server}`;

async function handedOff(app: FastifyInstance, username = 'ada', book = 'book') {
  const user = await createAccount(app.db, { username, passwordHash: null });
  return { id: user.id, code: await createHandoff(app.db, user.id, book) };
}

/** A browser whose page is about to open at `path` (of the book's origin). */
function at(app: FastifyInstance, path: string): FakeBrowser {
  const browser = new FakeBrowser(app);
  browser.address.href = `${bookOrigin}${path}`;
  return browser;
}

t.test('a page opened with #folio-handoff=CODE takes the fragment out of the address bar at once, keeping the rest of the address', async (t) => {
  const app = await build(t);
  const { code } = await handedOff(app);
  const browser = at(app, `/ch1.html?x=1#folio-handoff=${code}`);
  browser.open(t);
  t.strictSame(browser.address.replaced, [`${bookOrigin}/ch1.html?x=1`], 'before any request');
  t.equal(browser.network.seen.length, 0);
  await browser.idle();
});

t.test('other parts of the fragment stay', async (t) => {
  const app = await build(t);
  const { code } = await handedOff(app);
  const browser = at(app, `/ch1.html#top&folio-handoff=${code}`);
  const { folio } = browser.open(t);
  t.strictSame(browser.address.replaced, [`${bookOrigin}/ch1.html#top`]);
  t.match(await folio.handoff, { username: 'ada' });
});

t.test('in auto mode, when the browser keeps the cookie, the code is exchanged with the cookie and checked with me; a login event follows', async (t) => {
  const app = await build(t);
  const { id, code } = await handedOff(app);
  const browser = at(app, `/ch1.html#folio-handoff=${code}`);
  const { folio, events } = browser.open(t);
  const user = await folio.handoff;
  t.match(user, { id, username: 'ada', anonymous: false });
  t.equal(folio.mode, 'cookie');
  t.equal(folio.user?.id, id);
  t.strictSame(
    browser.network.seen.map((r) => [r.method, r.path, r.status, r.body]),
    [
      ['POST', '/api/auth/handoff', 200, { book: 'book', code }],
      ['GET', '/api/auth/me', 200, undefined],
    ],
  );
  t.strictSame(events.auth, [{ type: 'login', user, mode: 'cookie' }]);
  t.equal(browser.sessionStorage.getItem(tokenKey), null, 'no token kept');
  t.match(await folio.saveProgram('ac1', 'print(1)'), { status: 'saved' });
  t.match(browser.network.seen.at(-1), { method: 'PUT', auth: 'cookie', status: 200 });
});

t.test('in auto mode, when the browser refuses the cookie, the reply\'s fresh code is exchanged in token mode, kept in sessionStorage', async (t) => {
  const app = await build(t);
  const { id, code } = await handedOff(app);
  const browser = at(app, `/ch1.html#folio-handoff=${code}`);
  browser.network.refuseCookies = true;
  const { folio, events } = browser.open(t);
  const user = await folio.handoff;
  t.equal(user?.id, id);
  t.equal(folio.mode, 'token');
  const seen = browser.network.seen.map((r) => [r.method, r.path, r.status, r.body]);
  t.equal(seen.length, 3);
  t.strictSame(seen.slice(0, 2), [
    ['POST', '/api/auth/handoff', 200, { book: 'book', code }],
    ['GET', '/api/auth/me', 401, undefined],
  ]);
  t.match(seen[2], ['POST', '/api/auth/handoff', 200, { book: 'book', code: /^[A-Za-z0-9_-]{43}$/, mode: 'token' }]);
  t.not((seen[2]![3] as { code: string }).code, code);
  t.match(JSON.parse(browser.sessionStorage.getItem(tokenKey) ?? '{}'), { token: /^[A-Za-z0-9_-]{20,}$/, who: id });
  t.strictSame(events.auth, [{ type: 'login', user, mode: 'token' }]);
  t.match(await folio.saveProgram('ac1', 'print(1)'), { status: 'saved' });
  t.match(browser.network.seen.at(-1), { method: 'PUT', auth: 'token', status: 200 });
  t.same(await app.db.all(sql`SELECT COUNT(*) AS n FROM handoff_codes`), [{ n: 0 }], 'both codes used');
});

t.test('a browser known to need a token exchanges the code in token mode straight away', async (t) => {
  const app = await build(t);
  const { id, code } = await handedOff(app);
  const browser = at(app, `/ch1.html#folio-handoff=${code}`);
  const { folio } = browser.open(t, { auth: 'token' });
  t.equal((await folio.handoff)?.id, id);
  t.strictSame(
    browser.network.seen.map((r) => [r.method, r.path, r.body]),
    [['POST', '/api/auth/handoff', { book: 'book', code, mode: 'token' }]],
  );
  t.equal(folio.mode, 'token');
});

t.test("an anonymous student's kept writes and saved work become the account's", async (t) => {
  const app = await build(t);
  const browser = new FakeBrowser(app);
  const first = browser.open(t);
  t.match(await first.folio.saveProgram('ac1', 'anonymous work'), { status: 'saved' });
  browser.network.offline = true;
  t.match(await first.folio.saveProgram('ac2', 'kept in the browser'), { status: 'pending' });
  first.folio.close();
  browser.network.offline = false;
  const { id, code } = await handedOff(app);
  browser.address.href = `${bookOrigin}/ch1.html#folio-handoff=${code}`;
  const { folio } = browser.open(t);
  t.equal((await folio.handoff)?.id, id);
  await folio.flush();
  await browser.idle();
  t.same(await app.db.all(sql`SELECT p.code, u.username FROM programs p JOIN users u ON u.id = p.user_id ORDER BY p.id`), [
    { code: 'anonymous work', username: 'ada' },
    { code: 'kept in the browser', username: 'ada' },
  ]);
  t.equal(folio.pendingWrites, 0);
});

t.test('a used code: the handoff settles null with a handoff_failed event saying to start the login again; the page is logged out, me() is null', async (t) => {
  const app = await build(t);
  const { code } = await handedOff(app);
  const used = await app.inject({ method: 'POST', url: '/api/auth/handoff', headers: { origin: bookOrigin }, payload: { book: 'book', code, mode: 'token' } });
  t.equal(used.statusCode, 200);
  const browser = at(app, `/ch1.html#folio-handoff=${code}`);
  const { folio, events } = browser.open(t);
  t.equal(await folio.handoff, null);
  t.strictSame(events.auth, [
    {
      type: 'handoff_failed',
      error: { statusCode: 400, error: 'invalid_handoff', message: 'this sign-in link is unknown, used or expired: start the login again (from your course or the sign-in page)' },
    },
  ]);
  t.equal(await folio.me(), null);
  t.equal(folio.user, null);
  t.match(await folio.saveProgram('ac1', 'still works'), { status: 'saved' }, 'the page goes on anonymously');
});

t.test('a code that is not one (bad characters) is taken out of the address and never sent', async (t) => {
  const app = await build(t);
  const browser = at(app, '/ch1.html#folio-handoff=%3Cscript%3E');
  const { folio, events } = browser.open(t);
  t.strictSame(browser.address.replaced, [`${bookOrigin}/ch1.html`]);
  t.equal(await folio.handoff, null);
  t.strictSame(events.auth, []);
  t.equal(browser.network.seen.length, 0);
});

t.test('a page without a hand-off code makes no exchange and rewrites no address; handoff is null', async (t) => {
  const app = await build(t);
  const browser = at(app, '/ch1.html#top');
  const { folio } = browser.open(t);
  t.equal(await folio.handoff, null);
  t.strictSame(browser.address.replaced, []);
  t.equal(browser.network.seen.length, 0);
});

t.test('me() waits for the exchange: it answers with the handed-off user', async (t) => {
  const app = await build(t);
  const { id, code } = await handedOff(app);
  const browser = at(app, `/ch1.html#folio-handoff=${code}`);
  const { folio } = browser.open(t);
  t.equal((await folio.me())?.id, id);
});
