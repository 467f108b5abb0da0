import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { addStaff, removeStaff } from '../db/courses.js';
import { addPlatform } from '../db/lti.js';
import { addProvider, linkIdentity, type OidcProvider } from '../db/oidc.js';
import { discoverProvider, sealClientSecret } from '../lib/oidc.js';
import { startIdentityProvider, type IdentityProvider } from '../scripts/oidc-provider.js';
import { bookOrigin, build, fromBook } from './helper.js';
import { courseOf, loginAs } from './staff.js';

/**
 * Logging in on the dashboard (Folio's own page, its first-party cookie session) without a password: an identity
 * provider's sign-in started there (start without a book), and an LTI launch of the dashboard by course staff.
 */

const folioOrigin = 'https://folio.example';
const dashboard = `${folioOrigin}/dashboard/`;
const fromDashboard = { origin: folioOrigin };
const navigation = { 'sec-fetch-mode': 'navigate', 'sec-fetch-site': 'cross-site', 'sec-fetch-dest': 'document' };
const count = async (app: FastifyInstance, table: string) => Number((await app.db.get<{ n: number }>(sql`SELECT COUNT(*) AS n FROM ${sql.identifier(table)}`))!.n);

/** The `name=value` of the reply's Set-Cookie for `name` (undefined when it sets none), and the whole header. */
function setCookie(res: { headers: Record<string, unknown> }, name: string): { pair: string; header: string } | undefined {
  const raw = res.headers['set-cookie'];
  const all = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]) as string[];
  const header = all.find((c) => c.startsWith(`${name}=`));
  return header === undefined ? undefined : { pair: header.split(';')[0]!, header };
}

const mine = async (app: FastifyInstance, cookie: string) => (await app.inject({ method: 'GET', url: '/api/courses/mine', headers: { cookie } })).json().courses as { id: string; as: string }[];

// ---------------------------------------------------------------------------------------------------------------
// The identity provider's sign-in, started on the dashboard.

interface Oidc {
  app: FastifyInstance;
  idp: IdentityProvider;
}

async function oidcSetup(t: Test, provider: Partial<OidcProvider> = {}): Promise<Oidc> {
  const app = await build(t, { publicOrigin: folioOrigin });
  const idp = await startIdentityProvider({ clients: [{ clientId: 'folio', clientSecret: 'folio-client-secret', redirectUris: [`${folioOrigin}/api/auth/oidc/uni/callback`] }] });
  t.teardown(idp.close);
  const metadata = await discoverProvider(idp.issuer, 'folio');
  await addProvider(app.db, { id: 'uni', issuer: metadata.issuer, clientId: 'folio', clientSecret: sealClientSecret(app.secret, 'uni', 'folio-client-secret'), title: 'University login', metadata, allowedDomains: [], createAccounts: true, ...provider });
  return { app, idp };
}

const startUrl = (returnTo: string) => `/api/auth/oidc/uni/start?return=${encodeURIComponent(returnTo)}`;

/** Starts on the dashboard (a same-origin navigation), signs in at the provider as `login`: the callback URL and the binding cookie. */
async function throughProvider(s: Oidc, login: string, returnTo = `${dashboard}#/courses/cs101`) {
  const start = await s.app.inject({ method: 'GET', url: startUrl(returnTo), headers: { ...navigation, 'sec-fetch-site': 'same-origin' } });
  if (start.statusCode !== 302) throw new Error(`start answered ${start.statusCode}: ${start.body}`);
  const back = new URL(await s.idp.signIn(String(start.headers.location), login));
  return { start, back, binding: setCookie(start, 'folio-signin')!.pair };
}

const callback = (s: Oidc, back: URL, headers: Record<string, string>) => s.app.inject({ method: 'GET', url: `${back.pathname}${back.search}`, headers: { ...navigation, ...headers } });

t.test('start without a book signs in for the dashboard: the state is kept with no book (mode dashboard), a folio-signin cookie binds it to this browser', async (t) => {
  const s = await oidcSetup(t);
  const res = await s.app.inject({ method: 'GET', url: startUrl(`${dashboard}#/courses/cs101`), headers: { ...navigation, 'sec-fetch-site': 'same-origin' } });
  t.equal(res.statusCode, 302, res.body);
  t.equal(res.headers['cache-control'], 'no-store');
  const state = new URL(String(res.headers.location)).searchParams.get('state')!;
  t.same(await s.app.db.all(sql`SELECT provider_id, book_id, return_url, mode, user_id FROM oidc_states`), [{ provider_id: 'uni', book_id: null, return_url: `${dashboard}#/courses/cs101`, mode: 'dashboard', user_id: null }]);
  t.equal(setCookie(res, 'folio-signin')!.header, `folio-signin=${state}; Max-Age=600; Path=/api/auth/oidc/; HttpOnly; SameSite=Lax`);
  // A fragment that is not one of the dashboard's addresses is dropped.
  await s.app.inject({ method: 'GET', url: startUrl(`${dashboard}#"><script>`), headers: navigation });
  t.equal((await s.app.db.get<{ return_url: string }>(sql`SELECT return_url FROM oidc_states WHERE return_url NOT LIKE '%cs101'`))!.return_url, dashboard);
});

t.test('start without a book refuses every return page but the dashboard on Folio\'s own origin (never an open redirect): 400, no state, no cookie', async (t) => {
  const s = await oidcSetup(t);
  for (const returnTo of [
    'https://evil.example/dashboard/',
    'http://folio.example/dashboard/',
    'https://folio.example.evil.example/dashboard/',
    'https://folio.example/api/auth/me',
    'https://folio.example/dashboard/../api/auth/me',
    'https://folio.example/dashboard/?next=https://evil.example',
    'https://user@folio.example/dashboard/',
    `${bookOrigin}/ch1/intro.html`,
    '//evil.example/dashboard/',
    'javascript:alert(1)',
  ]) {
    const res = await s.app.inject({ method: 'GET', url: startUrl(returnTo), headers: { ...navigation, accept: 'application/json' } });
    t.equal(res.statusCode, 400, returnTo);
    t.equal(res.json().error, 'oidc_return', returnTo);
    t.equal(res.headers.location, undefined);
    t.equal(res.headers['set-cookie'], undefined);
  }
  const page = await s.app.inject({ method: 'GET', url: startUrl('https://evil.example/dashboard/'), headers: navigation });
  t.match(page.body, /must be this Folio&#39;s dashboard \(https:\/\/folio.example\/dashboard\/\)/);
  t.match(page.body, '<a href="https://folio.example/dashboard/">Back to the dashboard</a>');
  t.equal(await count(s.app, 'oidc_states'), 0);
});

t.test("a staff account's first sign-in with its linked identity: the callback starts the dashboard's cookie session and returns to the screen asked for", async (t) => {
  const s = await oidcSetup(t, { createAccounts: false });
  await courseOf(s.app, 'cs101', 'book');
  const ada = await loginAs(s.app, 'ada', 'student');
  await addStaff(s.app.db, 'cs101', ada.id, 'instructor');
  await linkIdentity(s.app.db, { issuer: s.idp.issuer, sub: 'ada-at-uni', providerId: 'uni', name: undefined, email: undefined, emailVerified: false }, ada.id);
  const { back, binding } = await throughProvider(s, 'ada-at-uni');
  const res = await callback(s, back, { cookie: binding });
  t.equal(res.statusCode, 302, res.body);
  t.equal(res.headers.location, `${dashboard}#/courses/cs101`);
  t.equal(res.headers['cache-control'], 'no-store');
  t.match(setCookie(res, 'folio-signin')!.header, /^folio-signin=; Max-Age=0; Path=\/api\/auth\/oidc\/; .*HttpOnly; SameSite=Lax/, 'the binding cookie is cleared');
  const session = setCookie(res, 'folio')!;
  t.match(session.header, /; Path=\/; .*HttpOnly; SameSite=Lax/);
  t.same(await s.app.db.all(sql`SELECT user_id, kind FROM sessions WHERE user_id = ${ada.id} ORDER BY created_at DESC LIMIT 1`), [{ user_id: ada.id, kind: 'cookie' }]);
  t.same((await mine(s.app, session.pair)).map(({ id, as }) => ({ id, as })), [{ id: 'cs101', as: 'instructor' }]);
  t.equal(await count(s.app, 'handoff_codes'), 0, 'no hand-off code: the session is the dashboard\'s own');
});

t.test('a tampered state is refused with a page linking back to the dashboard, and nobody is signed in', async (t) => {
  const s = await oidcSetup(t);
  const { back, binding } = await throughProvider(s, 'ada');
  back.searchParams.set('state', `${back.searchParams.get('state')!.slice(0, -2)}xx`);
  const res = await callback(s, back, { cookie: binding });
  t.equal(res.statusCode, 400);
  t.match(res.body, /unknown, used or expired/);
  t.equal(setCookie(res, 'folio'), undefined);
  t.equal(await count(s.app, 'oidc_identities'), 0);
  t.equal(await count(s.app, 'sessions'), 0);
});

t.test("a callback opened in another browser (no folio-signin cookie, or another sign-in's) signs nobody in: 400 oidc_browser (login CSRF)", async (t) => {
  const s = await oidcSetup(t);
  const mallory = await throughProvider(s, 'mallory');
  const other = await throughProvider(s, 'victim');
  for (const headers of [{}, { cookie: other.binding }] as Record<string, string>[]) {
    const res = await callback(s, (await throughProvider(s, 'mallory')).back, { ...headers, accept: 'application/json' });
    t.equal(res.statusCode, 400, res.body);
    t.equal(res.json().error, 'oidc_browser');
    t.equal(setCookie(res, 'folio'), undefined);
  }
  t.equal((await callback(s, mallory.back, { cookie: mallory.binding })).statusCode, 302, 'in the browser that started it, it signs in');
  t.equal(await count(s.app, 'sessions'), 1);
});

t.test('--link-only applies on the dashboard: an unlinked identity makes no account and no session; the page links back to the dashboard', async (t) => {
  const s = await oidcSetup(t, { createAccounts: false });
  const { back, binding } = await throughProvider(s, 'stranger');
  const res = await callback(s, back, { cookie: binding });
  t.equal(res.statusCode, 400);
  t.match(res.body, /only works for accounts that linked it/);
  t.match(res.body, `<a href="${dashboard}#/courses/cs101">Back to the dashboard</a>`);
  t.equal(await count(s.app, 'users'), 0);
  t.equal(await count(s.app, 'sessions'), 0);
});

t.test('an account that teaches nothing signs in too (the dashboard then shows its page for students): its courses are none', async (t) => {
  const s = await oidcSetup(t);
  const { back, binding } = await throughProvider(s, 'sam', dashboard);
  const res = await callback(s, back, { cookie: binding });
  t.equal(res.statusCode, 302, res.body);
  t.equal(res.headers.location, dashboard);
  t.same(await mine(s.app, setCookie(res, 'folio')!.pair), []);
});

// ---------------------------------------------------------------------------------------------------------------
// An LTI launch of the dashboard.

const clientId = 'folio-client';
const lis = 'http://purl.imsglobal.org/vocab/lis/v2/membership#';
const claim = (name: string) => `https://purl.imsglobal.org/spec/lti/claim/${name}`;

async function ltiSetup(t: Test) {
  const app = await build(t, { publicOrigin: folioOrigin });
  const key = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(key.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const server = createServer((req, res) => (req.url === '/jwks' ? res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })) : res.writeHead(404).end()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await addPlatform(app.db, { issuer, clientId, authUrl: `${issuer}/auth`, tokenUrl: `${issuer}/token`, jwksUrl: `${issuer}/jwks`, deployments: ['d1'] });
  /** A whole launch (login, then the signed form_post) of `target` by `sub` with `roles`; `dest`: Sec-Fetch-Dest. */
  const launch = async (opts: { sub: string; roles: string[]; target?: string; dest?: string; context?: string; custom?: Record<string, string> }) => {
    const target = opts.target ?? dashboard;
    const login = await app.inject({ method: 'GET', url: `/lti/login?${new URLSearchParams({ iss: issuer, login_hint: 'h', target_link_uri: target, client_id: clientId })}` });
    const location = new URL(String(login.headers.location));
    const now = Math.floor(Date.now() / 1000);
    const payload: JWTPayload = {
      iss: issuer,
      aud: clientId,
      sub: opts.sub,
      iat: now,
      exp: now + 300,
      nonce: location.searchParams.get('nonce')!,
      name: opts.sub,
      [claim('message_type')]: 'LtiResourceLinkRequest',
      [claim('version')]: '1.3.0',
      [claim('deployment_id')]: 'd1',
      [claim('target_link_uri')]: target,
      [claim('resource_link')]: { id: 'rl-dashboard' },
      [claim('roles')]: opts.roles,
      [claim('context')]: { id: opts.context ?? 'ctx-1', label: 'CS 101', title: 'Introduction to Programming' },
      [claim('custom')]: opts.custom ?? { book: 'book' },
    };
    const idToken = await new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'JWT' }).sign(key.privateKey);
    return app.inject({
      method: 'POST',
      url: '/lti/launch',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://lms.example.edu', 'sec-fetch-mode': 'navigate', 'sec-fetch-site': 'cross-site', 'sec-fetch-dest': opts.dest ?? 'document' },
      payload: new URLSearchParams({ id_token: idToken, state: location.searchParams.get('state')! }).toString(),
    });
  };
  return { app, launch };
}

const dashboardCode = (res: { headers: Record<string, unknown> }) => new RegExp(`^${dashboard.replace(/[./]/g, '\\$&')}#folio-handoff=([A-Za-z0-9_-]{43})$`).exec(String(res.headers.location))?.[1];
const redeem = (app: FastifyInstance, code: string, headers: Record<string, string> = fromDashboard) => app.inject({ method: 'POST', url: '/api/auth/handoff/dashboard', headers, payload: { code } });
const ltiCourseId = async (app: FastifyInstance) => (await app.db.get<{ course_id: string }>(sql`SELECT course_id FROM lti_contexts`))!.course_id;

t.test("an instructor's launch of the dashboard in a whole window goes to the dashboard with a code that logs in there (cookie session), at the course, once", async (t) => {
  const { app, launch } = await ltiSetup(t);
  const res = await launch({ sub: 'prof', roles: [`${lis}Instructor`] });
  t.equal(res.statusCode, 302, res.body);
  t.equal(res.headers['cache-control'], 'no-store');
  const code = dashboardCode(res);
  t.ok(code, String(res.headers.location));
  const course = await ltiCourseId(app);
  const stored = await app.db.all<{ course_id: string; book_id: string; life: number }>(sql`SELECT course_id, book_id, expires_at - created_at AS life FROM handoff_codes`);
  t.same(stored.map((r) => ({ ...r, life: Number(r.life) })), [{ course_id: course, book_id: 'book', life: 300_000 }]);
  const login = await redeem(app, code!);
  t.equal(login.statusCode, 200, login.body);
  t.equal(login.json().course, course);
  t.equal(login.json().user.name, 'prof');
  const session = setCookie(login, 'folio')!;
  t.same((await mine(app, session.pair)).map(({ id, as }) => ({ id, as })), [{ id: course, as: 'instructor' }]);
  const again = await redeem(app, code!);
  t.equal(again.statusCode, 400);
  t.equal(again.json().error, 'invalid_handoff');
});

t.test("in the LMS's frame, the launch of the dashboard answers a page whose link opens the dashboard with the code in a window of its own", async (t) => {
  const { app, launch } = await ltiSetup(t);
  const res = await launch({ sub: 'prof', roles: [`${lis}Instructor`], dest: 'iframe' });
  t.equal(res.statusCode, 200, res.body);
  t.match(res.headers['content-type'], /^text\/html/);
  t.equal(res.headers['cache-control'], 'no-store');
  t.match(res.headers['content-security-policy'], /frame-ancestors \*/);
  const link = /<a href="(https:\/\/folio\.example\/dashboard\/#folio-handoff=[A-Za-z0-9_-]{43})" target="_blank" rel="noopener">Open the dashboard<\/a>/.exec(res.body);
  t.ok(link, res.body);
  t.match(res.body, 'The dashboard of Introduction to Programming');
  t.equal((await redeem(app, dashboardCode({ headers: { location: link![1] } })!)).statusCode, 200);
});

t.test("a learner's launch of the dashboard is refused before any account is made: no code, no session", async (t) => {
  const { app, launch } = await ltiSetup(t);
  for (const roles of [[`${lis}Learner`], []]) {
    const res = await launch({ sub: 'student-1', roles });
    t.equal(res.statusCode, 400, res.body);
    t.match(res.body, /the course dashboard is for the course&#39;s instructors and teaching assistants/);
    t.equal(res.headers.location, undefined);
  }
  t.equal(await count(app, 'users'), 0);
  t.equal(await count(app, 'handoff_codes'), 0);
  t.equal(await count(app, 'sessions'), 0);
});

t.test("a TA's dashboard session sees their course only", async (t) => {
  const { app, launch } = await ltiSetup(t);
  await courseOf(app, 'elsewhere', 'other');
  const res = await launch({ sub: 'ta-1', roles: [`${lis}TeachingAssistant`] });
  const login = await redeem(app, dashboardCode(res)!);
  t.equal(login.statusCode, 200, login.body);
  const cookie = setCookie(login, 'folio')!.pair;
  const course = await ltiCourseId(app);
  t.same((await mine(app, cookie)).map(({ id, as }) => ({ id, as })), [{ id: course, as: 'ta' }]);
  t.equal((await app.inject({ method: 'GET', url: `/api/courses/${course}`, headers: { cookie } })).statusCode, 200);
  t.equal((await app.inject({ method: 'GET', url: '/api/courses/elsewhere', headers: { cookie } })).statusCode, 403);
  t.equal((await app.inject({ method: 'GET', url: '/api/courses', headers: { cookie } })).statusCode, 403, 'not every course: that is for admins');
});

t.test("the kinds stay apart: a book page's code is refused on the dashboard, a dashboard code on a book page, and a dashboard code from another origin", async (t) => {
  const { app, launch } = await ltiSetup(t);
  const book = await launch({ sub: 'prof', roles: [`${lis}Instructor`], target: `${bookOrigin}/ch1/intro.html` });
  const bookCode = /#folio-handoff=([A-Za-z0-9_-]+)$/.exec(String(book.headers.location))![1]!;
  t.equal((await redeem(app, bookCode)).json().error, 'invalid_handoff');
  const code = dashboardCode(await launch({ sub: 'prof', roles: [`${lis}Instructor`] }))!;
  const onBook = await app.inject({ method: 'POST', url: '/api/auth/handoff', headers: fromBook, payload: { book: 'book', code } });
  t.equal(onBook.statusCode, 400);
  t.equal(onBook.json().error, 'invalid_handoff');
  for (const headers of [fromBook, {}, { origin: 'https://evil.example' }]) {
    const res = await redeem(app, code, headers);
    t.equal(res.statusCode, 403, JSON.stringify(headers));
    t.equal(res.json().error, 'origin_not_allowed');
  }
  t.equal((await redeem(app, code)).statusCode, 200, 'refused before it was looked up: still good on the dashboard');
});

t.test('a dashboard code of someone taken off the course staff since the launch is refused: 403 not_course_staff, no session', async (t) => {
  const { app, launch } = await ltiSetup(t);
  const code = dashboardCode(await launch({ sub: 'prof', roles: [`${lis}Instructor`] }))!;
  const user = (await app.db.get<{ id: string }>(sql`SELECT id FROM users WHERE name = 'prof'`))!.id;
  await removeStaff(app.db, await ltiCourseId(app), user);
  const res = await redeem(app, code);
  t.equal(res.statusCode, 403, res.body);
  t.equal(res.json().error, 'not_course_staff');
  t.equal(setCookie(res, 'folio'), undefined);
});

t.test('a dashboard link names its book by the custom parameter book, or is refused when several books are on this Folio', async (t) => {
  const { app, launch } = await ltiSetup(t);
  const res = await launch({ sub: 'prof', roles: [`${lis}Instructor`], custom: {} });
  t.equal(res.statusCode, 400);
  t.match(res.body, /several books are \(book, other\) on this Folio: set the custom parameter book=ID/);
  t.equal(await count(app, 'users'), 0);
});
