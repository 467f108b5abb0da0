/**
 * Accounts across sites in a real Chromium, with its own third-party cookie rules (not Playwright's): a book page
 * registers at Folio, reloads, is still logged in through the partitioned session cookie, and logs out; a page on
 * a site outside the allowlist cannot log in.
 */
import type { FastifyInstance } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Page } from 'playwright-core';
import t, { type Test } from 'tap';
import { createBook } from '../../db/books.js';
import { createAccount } from '../../db/users.js';
import { hashPassword } from '../../lib/passwords.js';
import { fetchFrom, launchBrowser, makeCertificate, openBookPage, startBookSite, startFolio } from './harness.js';
import { sql } from 'drizzle-orm';

const passwordCost = 10; // the lowest the config allows: the flow is under test, not scrypt
const DAY = 24 * 60 * 60 * 1000;

const certificate = await makeCertificate(t);

const site = await startBookSite({ ...certificate, files: { '/index.html': '<!doctype html><title>A book</title><p>A book page</p>' } });
t.teardown(() => site.close());
const evilOrigin = `https://evil.test:${site.port}`;

const folio = await startFolio(t, { ...certificate, configOverrides: { passwordCost } });
await createBook(folio.app.db, { id: 'book', title: 'A book', origins: [site.origin] });
await folio.app.books.refresh();

interface Exchange {
  method: string;
  url: string;
  origin: string | undefined;
  /** Whether the request carried a Cookie header. */
  cookie: boolean;
  status: number;
  setCookie: string[];
}

/** Every request that reaches the app's server from now on, with the status and Set-Cookie headers of its reply, as the server sent them. */
function recordExchanges(app: FastifyInstance): Exchange[] {
  const exchanges: Exchange[] = [];
  app.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    res.once('finish', () => {
      const setCookie = res.getHeader('set-cookie');
      exchanges.push({
        method: req.method ?? '',
        url: req.url ?? '',
        origin: req.headers.origin,
        cookie: req.headers.cookie !== undefined,
        status: res.statusCode,
        setCookie: setCookie === undefined ? [] : [setCookie].flat().map(String),
      });
    });
  });
  return exchanges;
}
const seen = recordExchanges(folio.app);

// Chromium's own third-party cookie behaviour, not Playwright's (which disables ThirdPartyStoragePartitioning).
const context = await launchBrowser(t, { stockCookies: true });

/** A fresh page showing the book site under `origin`, closed when the subtest ends. */
const openPage = (t: Test, origin: string): Promise<Page> => openBookPage(t, context, origin);

/** A POST with credentials, with a JSON body as the book's client sends it (or none). */
function post(body?: unknown, contentType = 'application/json'): RequestInit {
  return {
    method: 'POST',
    credentials: 'include',
    ...(body === undefined ? {} : { headers: { 'content-type': contentType }, body: JSON.stringify(body) }),
  };
}

/** A Set-Cookie header split into its name, value, Expires and the other attributes (sorted: their order means nothing). */
function parseSetCookie(header: string): { name: string; value: string; expires: number; attributes: string[] } {
  const [pair = '', ...parts] = header.split('; ');
  const expires = parts.find((p) => p.startsWith('Expires='));
  const eq = pair.indexOf('=');
  return {
    name: pair.slice(0, eq),
    value: pair.slice(eq + 1),
    expires: expires ? Date.parse(expires.slice('Expires='.length)) : NaN,
    attributes: parts.filter((p) => p !== expires).sort(),
  };
}

async function countSessions(userId?: string): Promise<number> {
  const { db } = folio.app;
  const row = userId === undefined ? await db.get(sql`SELECT count(*) AS n FROM sessions`) : await db.get(sql`SELECT count(*) AS n FROM sessions WHERE user_id = ${userId}`);
  return (row as { n: number }).n;
}

const api = `${folio.origin}/api/auth`;

t.beforeEach(() => {
  seen.length = 0;
});

t.test('a book page registers, stays logged in across a reload, and logs out', async (t) => {
  const page = await openPage(t, site.origin);
  const username = 'ada';
  const password = 'correct horse battery staple';

  const registeredAt = Date.now();
  const registered = await fetchFrom(page, `${api}/register`, post({ username, password }));
  const user = (registered.body as { user?: { id?: unknown } } | undefined)?.user;
  t.match(user, { id: /^[0-9a-f-]{36}$/ });
  t.strictSame(registered, {
    status: 201,
    body: { user: { id: user?.id, username, name: null, email: null, role: 'student', researchConsent: false, anonymous: false } },
  });
  const userId = String(user?.id);
  t.equal(await countSessions(userId), 1, 'one session stored for the new account');

  // The cookie as the server sent it: preflight (JSON body), then the POST with no cookie yet.
  t.match(seen, [
    { method: 'OPTIONS', url: '/api/auth/register', origin: site.origin, cookie: false, status: 204, setCookie: [] },
    { method: 'POST', url: '/api/auth/register', origin: site.origin, cookie: false, status: 201 },
  ]);
  t.equal(seen.length, 2);
  t.equal(seen[1]?.setCookie.length, 1, 'one Set-Cookie');
  const sent = parseSetCookie(seen[1]?.setCookie[0] ?? '');
  t.equal(sent.name, '__Host-folio');
  t.match(sent.value, /^[A-Za-z0-9_-]{43}\.[A-Za-z0-9+/]{43}$/, 'a signed session id');
  t.strictSame(sent.attributes, ['HttpOnly', 'Partitioned', 'Path=/', 'SameSite=None', 'Secure']);
  t.ok(Math.abs(sent.expires - (registeredAt + 30 * DAY)) < 60_000, 'expires in 30 days (sessionDays)');

  // A real reload of the book page; the browser must still hold and send the cross-site cookie.
  seen.length = 0;
  await page.reload();
  t.equal(new URL(page.url()).origin, site.origin);
  const me = await fetchFrom(page, `${api}/me`, { credentials: 'include' });
  t.strictSame(me, { status: 200, body: registered.body });
  t.strictSame(seen, [{ method: 'GET', url: '/api/auth/me', origin: site.origin, cookie: true, status: 200, setCookie: [] }]);

  // What Chromium stored: the same cookie, partitioned under the book's site (sites have no port).
  const cookies = await context.cookies(folio.origin);
  t.equal(cookies.length, 1);
  t.match(cookies[0], {
    name: '__Host-folio',
    value: sent.value,
    domain: 'api.test',
    path: '/',
    httpOnly: true,
    secure: true,
    sameSite: 'None',
    partitionKey: 'https://book.test',
  });
  // Chromium corrects Expires by the reply's Date header (both whole seconds), so allow a little.
  t.ok(Math.abs((cookies[0]?.expires ?? 0) * 1000 - sent.expires) < 5000, 'stored with the Expires the server sent');

  // Logout ends the stored session and clears the cookie in the same partition (hence Partitioned on the clearing header too).
  seen.length = 0;
  const out = await fetchFrom(page, `${api}/logout`, post());
  t.strictSame(out, { status: 204, body: null });
  t.equal(await countSessions(userId), 0, 'the session is gone from the database');
  t.equal(seen.length, 1, 'a POST without a body is not preflighted');
  t.match(seen[0], { method: 'POST', url: '/api/auth/logout', origin: site.origin, cookie: true, status: 204 });
  const cleared = parseSetCookie(seen[0]?.setCookie[0] ?? '');
  t.strictSame({ name: cleared.name, value: cleared.value, expires: cleared.expires }, { name: '__Host-folio', value: '', expires: 0 });
  t.strictSame(cleared.attributes, ['HttpOnly', 'Max-Age=0', 'Partitioned', 'Path=/', 'SameSite=None', 'Secure']);
  t.strictSame(await context.cookies(folio.origin), [], 'the browser dropped the cookie');

  // So the browser sends no cookie any more, and the server sees an unauthenticated request (not an ended session).
  seen.length = 0;
  const after = await fetchFrom(page, `${api}/me`, { credentials: 'include' });
  t.match(after, { status: 401, body: { statusCode: 401, error: 'unauthenticated' } });
  t.strictSame(seen, [{ method: 'GET', url: '/api/auth/me', origin: site.origin, cookie: false, status: 401, setCookie: [] }]);
});

t.test('a page on a site outside the allowlist cannot log in', async (t) => {
  const username = 'grace';
  const password = 'another long password';
  await createAccount(folio.app.db, { username, passwordHash: await hashPassword(password, passwordCost) });
  const before = await countSessions();
  const page = await openPage(t, evilOrigin);

  // A JSON login is preflighted; the preflight gets no CORS grant, so the browser never sends the POST.
  const json = await fetchFrom(page, `${api}/login`, post({ username, password }));
  t.strictSame(json, { error: { name: 'TypeError', message: 'Failed to fetch' } });
  t.match(seen, [{ method: 'OPTIONS', url: '/api/auth/login', origin: evilOrigin, cookie: false, setCookie: [] }]);
  t.equal(seen.length, 1, 'only the preflight reached the server');
  t.notOk(seen.some((e) => e.method === 'POST'), 'no POST reached the server');

  // A no-preflight POST (text/plain, as a form could send) does reach the server, which refuses the body type.
  seen.length = 0;
  const simple = await fetchFrom(page, `${api}/login`, post({ username, password }, 'text/plain'));
  t.strictSame(simple, { error: { name: 'TypeError', message: 'Failed to fetch' } });
  t.strictSame(seen, [{ method: 'POST', url: '/api/auth/login', origin: evilOrigin, cookie: false, status: 415, setCookie: [] }]);

  t.equal(await countSessions(), before, 'no session was created');
  t.strictSame(
    (await context.cookies(folio.origin)).filter((c) => c.partitionKey === 'https://evil.test'),
    [],
    'no cookie for Folio under the other site',
  );
});
