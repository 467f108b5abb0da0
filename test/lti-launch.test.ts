import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { addPlatform } from '../db/lti.js';
import { courseIdFor } from '../db/lti-launch.js';
import { mappedRoles } from '../lib/lti-launch.js';
import { bookOrigin, buildLogged, fromBook, register } from './helper.js';

/** LTI 1.3 login and launch (SPEC §9 "LTI 1.3"), against a platform fixture built with jose: real RSA keys, its JWKS served on 127.0.0.1. */

const clientId = 'folio-client';
const target = `${bookOrigin}/ch1/intro.html`;
const lis = 'http://purl.imsglobal.org/vocab/lis/v2/membership#';
const claim = (name: string) => `https://purl.imsglobal.org/spec/lti/claim/${name}`;

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

/** A platform: its keys, its JWKS at http://127.0.0.1:PORT/jwks, registered with deployment d1. */
async function platformFixture(t: Test, app: FastifyInstance) {
  const key = await generateKeyPair('RS256');
  const other = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(key.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  let jwksFetches = 0;
  const server = createServer((req, res) => {
    if (req.url === '/jwks') {
      jwksFetches++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await addPlatform(app.db, { issuer, clientId, authUrl: `${issuer}/auth`, tokenUrl: `${issuer}/token`, jwksUrl: `${issuer}/jwks`, deployments: ['d1'] });
  const stop = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return { issuer, key, other, jwksFetches: () => jwksFetches, stop };
}
type Platform = Awaited<ReturnType<typeof platformFixture>>;

/** Starts a login (GET /lti/login); the platform's authorization URL Folio redirected to, with its state and nonce. */
async function login(app: FastifyInstance, platform: Platform, extra: Record<string, string> = {}) {
  const query = new URLSearchParams({ iss: platform.issuer, login_hint: 'hint-42', target_link_uri: target, lti_message_hint: 'msg-7', client_id: clientId, ...extra });
  const res = await app.inject({ method: 'GET', url: `/lti/login?${query}` });
  const location = new URL(String(res.headers.location));
  return { res, location, state: location.searchParams.get('state')!, nonce: location.searchParams.get('nonce')! };
}

/** The claims of a good launch for `nonce`, with `overrides` (undefined removes a claim). */
function claims(platform: Platform, nonce: string, overrides: Record<string, unknown> = {}): JWTPayload {
  const now = Math.floor(Date.now() / 1000);
  const all: Record<string, unknown> = {
    iss: platform.issuer,
    aud: clientId,
    sub: 'lms-user-1',
    iat: now,
    exp: now + 300,
    nonce,
    name: 'Ada Lovelace',
    email: 'ada@example.edu',
    [claim('message_type')]: 'LtiResourceLinkRequest',
    [claim('version')]: '1.3.0',
    [claim('deployment_id')]: 'd1',
    [claim('target_link_uri')]: `${target}#old-fragment`,
    [claim('resource_link')]: { id: 'rl1' },
    [claim('roles')]: [`${lis}Instructor`],
    [claim('context')]: { id: 'ctx-1', label: 'CS 101', title: 'Introduction to Programming' },
    ...overrides,
  };
  return Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined)) as JWTPayload;
}

const sign = (payload: JWTPayload, key: KeyPair['privateKey'], kid = 'k1') => new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' }).sign(key);

const launch = (app: FastifyInstance, form: Record<string, string>, accept = 'application/json', extra: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/lti/launch', headers: { ...extra, 'content-type': 'application/x-www-form-urlencoded', origin: 'https://lms.example.edu', 'sec-fetch-mode': 'navigate', 'sec-fetch-site': 'cross-site', accept }, payload: new URLSearchParams(form).toString() });

async function setup(t: Test) {
  const { app, events } = await buildLogged(t);
  const platform = await platformFixture(t, app);
  return { app, events, platform };
}

const count = async (app: FastifyInstance, table: string) => Number((await app.db.get<{ n: number }>(sql`SELECT COUNT(*) AS n FROM ${sql.identifier(table)}`))!.n);

t.test('GET /lti/login redirects (302) to the platform\'s auth_url with the OIDC parameters, and stores the SHA-256 of the state with its nonce for 5 minutes', async (t) => {
  const { app, platform } = await setup(t);
  const before = Date.now();
  const { res, location, state, nonce } = await login(app, platform);
  t.equal(res.statusCode, 302);
  t.equal(res.headers['cache-control'], 'no-store');
  t.equal(`${location.origin}${location.pathname}`, `${platform.issuer}/auth`);
  t.same(Object.fromEntries([...location.searchParams].filter(([k]) => k !== 'state' && k !== 'nonce')), {
    scope: 'openid',
    response_type: 'id_token',
    response_mode: 'form_post',
    prompt: 'none',
    client_id: clientId,
    redirect_uri: 'http://127.0.0.1:3000/lti/launch',
    login_hint: 'hint-42',
    lti_message_hint: 'msg-7',
  });
  t.match(state, /^[A-Za-z0-9_-]{43}$/);
  t.match(nonce, /^[A-Za-z0-9_-]{43}$/);
  t.equal(res.headers['set-cookie'], undefined, 'no cookie: the state is bound server-side');
  const rows = await app.db.all<Record<string, unknown>>(sql`SELECT id, nonce, issuer, client_id, target_link_uri, expires_at, created_at FROM lti_states`);
  t.equal(rows.length, 1);
  const row = rows[0]!;
  const { createHash } = await import('node:crypto');
  t.match(row, { id: createHash('sha256').update(state).digest('hex'), nonce, issuer: platform.issuer, client_id: clientId, target_link_uri: target });
  t.equal(Number(row.expires_at) - Number(row.created_at), 300_000);
  t.ok(Number(row.created_at) >= before);
});

t.test('POST /lti/login takes the same parameters as a form, and finds the platform by issuer alone when client_id is left out', async (t) => {
  const { app, platform } = await setup(t);
  const res = await app.inject({
    method: 'POST',
    url: '/lti/login',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://lms.example.edu' },
    payload: new URLSearchParams({ iss: platform.issuer, login_hint: 'h', target_link_uri: target }).toString(),
  });
  t.equal(res.statusCode, 302);
  const location = new URL(String(res.headers.location));
  t.equal(location.searchParams.get('client_id'), clientId);
  t.equal(location.searchParams.get('lti_message_hint'), null);
});

t.test('a login from an unknown platform is refused: 400 naming it (JSON when Accept prefers it, a page otherwise), logged', async (t) => {
  const { app, events } = await setup(t);
  const query = new URLSearchParams({ iss: 'https://unknown.example', login_hint: 'h', target_link_uri: target, client_id: 'x' });
  const json = await app.inject({ method: 'GET', url: `/lti/login?${query}`, headers: { accept: 'application/json' } });
  t.equal(json.statusCode, 400);
  t.same(json.json(), { statusCode: 400, error: 'lti_platform', message: 'no LTI platform https://unknown.example with client id x is registered: an administrator adds it with "folio lti platforms add"' });
  const page = await app.inject({ method: 'GET', url: `/lti/login?${query}`, headers: { accept: 'text/html,*/*' } });
  t.equal(page.statusCode, 400);
  t.equal(page.headers['content-type'], 'text/html; charset=utf-8');
  t.match(page.body, /no LTI platform https:\/\/unknown\.example with client id x is registered/);
  t.notMatch(page.body, /at .*\.ts/, 'no stack');
  t.match(events('lti_login_refused'), [{ reason: 'platform', issuer: 'https://unknown.example', clientId: 'x', level: 40 }]);
  t.equal(await count(app, 'lti_states'), 0);
});

t.test('login initiations past FOLIO_LOGIN_RATE_PER_IP a minute from one client get 429 with Retry-After, logged as lti_login_throttled', async (t) => {
  const { app, events } = await buildLogged(t, { loginRatePerIp: 2 });
  const platform = await platformFixture(t, app);
  t.equal((await login(app, platform)).res.statusCode, 302);
  t.equal((await login(app, platform)).res.statusCode, 302);
  const query = new URLSearchParams({ iss: platform.issuer, login_hint: 'h', target_link_uri: target, client_id: clientId });
  const res = await app.inject({ method: 'GET', url: `/lti/login?${query}` });
  t.equal(res.statusCode, 429);
  t.ok(Number(res.headers['retry-after']) > 0);
  t.equal(res.json().error, 'rate_limited');
  t.match(events('lti_login_throttled'), [{ client: '127.0.0.1' }]);
  t.equal(await count(app, 'lti_states'), 2);
});

t.test('a login without login_hint or target_link_uri is refused with 400 naming the parameter', async (t) => {
  const { app, platform } = await setup(t);
  const res = await app.inject({ method: 'GET', url: `/lti/login?${new URLSearchParams({ iss: platform.issuer, target_link_uri: target })}`, headers: { accept: 'application/json' } });
  t.equal(res.statusCode, 400);
  t.equal(res.json().error, 'lti_login_hint');
});

t.test('a launch creates the user, the course and the staff place, and redirects to the page with a hand-off code that POST /api/auth/handoff redeems', async (t) => {
  const { app, events, platform } = await setup(t);
  const { state, nonce } = await login(app, platform);
  const res = await launch(app, { id_token: await sign(claims(platform, nonce), platform.key.privateKey), state }, 'text/html');
  t.equal(res.statusCode, 302);
  const location = String(res.headers.location);
  t.match(location, /^https:\/\/book\.example\/ch1\/intro\.html#folio-handoff=[A-Za-z0-9_-]{43}$/, 'the fragment replaced');
  t.equal(res.headers['set-cookie'], undefined);

  const [link] = await app.db.all<{ user_id: string; sub: string; issuer: string }>(sql`SELECT issuer, sub, user_id FROM lti_users`);
  t.match(link, { issuer: platform.issuer, sub: 'lms-user-1' });
  const [user] = await app.db.all<Record<string, unknown>>(sql`SELECT name, email, role, password_hash, anonymous FROM users WHERE id = ${link!.user_id}`);
  t.same(user, { name: 'Ada Lovelace', email: 'ada@example.edu', role: 'student', password_hash: null, anonymous: 0 });
  const [context] = await app.db.all<{ course_id: string }>(sql`SELECT issuer, deployment_id, context_id, book_id, course_id FROM lti_contexts`);
  t.match(context, { issuer: platform.issuer, deployment_id: 'd1', context_id: 'ctx-1', book_id: 'book' });
  t.match(context!.course_id, /^cs-101-[0-9a-f]{6}$/);
  const [course] = await app.db.all<Record<string, unknown>>(sql`SELECT book_id, title FROM courses WHERE id = ${context!.course_id}`);
  t.same(course, { book_id: 'book', title: 'Introduction to Programming' });
  t.same(await app.db.all(sql`SELECT course_id, user_id, role FROM course_staff`), [{ course_id: context!.course_id, user_id: link!.user_id, role: 'instructor' }]);
  t.equal(await count(app, 'enrolments'), 0);
  t.equal(await count(app, 'lti_states'), 0, 'the state is used up');

  const code = location.split('#folio-handoff=')[1]!;
  const redeemed = await app.inject({ method: 'POST', url: '/api/auth/handoff', headers: fromBook, payload: { book: 'book', code, mode: 'token' } });
  t.equal(redeemed.statusCode, 200);
  t.equal(redeemed.json().user.id, link!.user_id);
  t.match(events('lti_launch'), [{ issuer: platform.issuer, clientId, deploymentId: 'd1', userId: link!.user_id, newUser: true, book: 'book', course: context!.course_id, staff: 'instructor', learner: false }]);
});

t.test('a launch is a cross-site form post that may carry a Folio cookie: the CSRF check does not stop it, and it neither uses nor changes that session', async (t) => {
  const { app, platform } = await setup(t);
  const { cookie } = await register(app, 'bob');
  const { state, nonce } = await login(app, platform);
  const res = await launch(app, { id_token: await sign(claims(platform, nonce), platform.key.privateKey), state }, 'text/html', { cookie });
  t.equal(res.statusCode, 302);
  t.equal(res.headers['set-cookie'], undefined);
  const code = String(res.headers.location).split('#folio-handoff=')[1]!;
  const redeemed = await app.inject({ method: 'POST', url: '/api/auth/handoff', headers: fromBook, payload: { book: 'book', code, mode: 'token' } });
  t.not(redeemed.json().user.username, 'bob');
  t.match(redeemed.json().user.username, /^lti-[a-z0-9]{12}$/);
  const me = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie } });
  t.equal(me.json().user.username, 'bob', "bob's session is as it was");
});

t.test('a learner\'s launch in the same context enrols them in the same course (via lti); their second launch finds the same user', async (t) => {
  const { app, platform } = await setup(t);
  const go = async (sub: string, roles: string[]) => {
    const { state, nonce } = await login(app, platform);
    return launch(app, { id_token: await sign(claims(platform, nonce, { sub, [claim('roles')]: roles }), platform.key.privateKey), state });
  };
  t.equal((await go('teacher', ['Instructor'])).statusCode, 302);
  t.equal((await go('student', [`${lis}Learner`])).statusCode, 302);
  t.equal((await go('student', [`${lis}Learner`])).statusCode, 302);
  t.equal(await count(app, 'courses'), 1);
  t.equal(await count(app, 'users'), 2);
  const [student] = await app.db.all<{ user_id: string }>(sql`SELECT user_id FROM lti_users WHERE sub = 'student'`);
  t.same(await app.db.all(sql`SELECT user_id, via FROM enrolments`), [{ user_id: student!.user_id, via: 'lti' }]);
});

t.test('roles map to course staff from context or institution roles, full or short: instructor over ta; Learner → student', async (t) => {
  t.same(mappedRoles([`${lis}Instructor`]), { staff: 'instructor', learner: false });
  t.same(mappedRoles(['http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator']), { staff: 'instructor', learner: false });
  t.same(mappedRoles(['ContentDeveloper']), { staff: 'instructor', learner: false });
  t.same(mappedRoles(['http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant']), { staff: 'ta', learner: false });
  t.same(mappedRoles(['TeachingAssistant', 'Instructor']), { staff: 'instructor', learner: false });
  t.same(mappedRoles([`${lis}Learner`, 'http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator']), { staff: undefined, learner: true });
  t.same(mappedRoles([]), { staff: undefined, learner: false });
});

t.test('a course id is a slug of the context label (else title) and a 6-character random suffix', async (t) => {
  t.match(courseIdFor({ label: 'CS 101: Fall', title: 'x' }), /^cs-101-fall-[0-9a-f]{6}$/);
  t.match(courseIdFor({ title: 'Éléments' }), /^elements-[0-9a-f]{6}$/);
  t.match(courseIdFor({}), /^lti-[0-9a-f]{6}$/);
});

t.test('the custom parameter book picks among the books sharing the target\'s origin', async (t) => {
  const { app, platform } = await setup(t);
  const { addBookOrigin } = await import('../db/books.js');
  await addBookOrigin(app.db, 'other', bookOrigin);
  await app.books.refresh();
  const shared = await login(app, platform);
  const refused = await launch(app, { id_token: await sign(claims(platform, shared.nonce), platform.key.privateKey), state: shared.state });
  t.equal(refused.statusCode, 400);
  t.equal(refused.json().message, `several books are on ${bookOrigin} (book, other): set the custom parameter book=ID on the LMS link`);
  const picked = await login(app, platform);
  const res = await launch(app, { id_token: await sign(claims(platform, picked.nonce, { [claim('custom')]: { book: 'other' } }), platform.key.privateKey), state: picked.state });
  t.equal(res.statusCode, 302);
  t.same(await app.db.all(sql`SELECT book_id FROM lti_contexts`), [{ book_id: 'other' }]);
});

/** Each refusal: what the launch does differently, and the `error` of its 400. */
const refusals: Array<[string, string, (p: Platform, nonce: string) => Promise<string>]> = [
  ['a bad signature (another key under the platform\'s kid)', 'lti_signature', (p, n) => sign(claims(p, n), p.other.privateKey)],
  ['a wrong aud', 'lti_aud', (p, n) => sign(claims(p, n, { aud: 'someone-else' }), p.key.privateKey)],
  ['several audiences without azp', 'lti_azp', (p, n) => sign(claims(p, n, { aud: [clientId, 'someone-else'] }), p.key.privateKey)],
  ['a wrong iss', 'lti_iss', (p, n) => sign(claims(p, n, { iss: 'https://evil.example' }), p.key.privateKey)],
  ['an expired id_token (beyond the 60 s skew)', 'lti_expired', (p, n) => sign(claims(p, n, { exp: Math.floor(Date.now() / 1000) - 61, iat: Math.floor(Date.now() / 1000) - 600 }), p.key.privateKey)],
  ['an unknown deployment', 'lti_deployment_id', (p, n) => sign(claims(p, n, { [claim('deployment_id')]: 'd9' }), p.key.privateKey)],
  ['a wrong version', 'lti_version', (p, n) => sign(claims(p, n, { [claim('version')]: '1.1' }), p.key.privateKey)],
  ['a wrong message_type', 'lti_message_type', (p, n) => sign(claims(p, n, { [claim('message_type')]: 'LtiSubmissionReviewRequest' }), p.key.privateKey)],
  ['no resource_link id', 'lti_resource_link', (p, n) => sign(claims(p, n, { [claim('resource_link')]: undefined }), p.key.privateKey)],
  ['a target_link_uri on no book\'s origin', 'lti_target_link_uri', (p, n) => sign(claims(p, n, { [claim('target_link_uri')]: 'https://nowhere.example/page.html' }), p.key.privateKey)],
  [
    'alg none',
    'lti_alg',
    async (p, n) => `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims(p, n))).toString('base64url')}.`,
  ],
];

for (const [what, error, token] of refusals) {
  t.test(`a launch with ${what} is refused: 400 ${error}, logged as lti_launch_refused with the platform; no user, no hand-off code`, async (t) => {
    const { app, events, platform } = await setup(t);
    const { state, nonce } = await login(app, platform);
    const res = await launch(app, { id_token: await token(platform, nonce), state });
    t.equal(res.statusCode, 400);
    t.equal(res.json().error, error);
    t.equal(typeof res.json().message, 'string');
    t.match(events('lti_launch_refused'), [{ reason: error.slice(4), issuer: platform.issuer, clientId, level: 40 }]);
    t.equal(await count(app, 'users'), 0);
    t.equal(await count(app, 'handoff_codes'), 0);
    t.equal(await count(app, 'lti_states'), 0, 'the state is used up all the same');
  });
}

t.test('a replayed state is refused: 400 lti_state (single use)', async (t) => {
  const { app, events, platform } = await setup(t);
  const { state, nonce } = await login(app, platform);
  const form = { id_token: await sign(claims(platform, nonce), platform.key.privateKey), state };
  t.equal((await launch(app, form)).statusCode, 302);
  const again = await launch(app, form);
  t.equal(again.statusCode, 400);
  t.same(again.json(), { statusCode: 400, error: 'lti_state', message: "the launch's state is unknown, used or expired (more than 5 minutes): launch again from the LMS" });
  t.match(events('lti_launch_refused'), [{ reason: 'state' }]);
});

t.test('a replayed nonce (a used id_token with a new login\'s state) is refused: 400 lti_nonce', async (t) => {
  const { app, platform } = await setup(t);
  const first = await login(app, platform);
  const idToken = await sign(claims(platform, first.nonce), platform.key.privateKey);
  t.equal((await launch(app, { id_token: idToken, state: first.state })).statusCode, 302);
  const second = await login(app, platform);
  const res = await launch(app, { id_token: idToken, state: second.state });
  t.equal(res.statusCode, 400);
  t.equal(res.json().error, 'lti_nonce');
});

t.test('an expired state (over 5 minutes) is refused: 400 lti_state', async (t) => {
  const { app, platform } = await setup(t);
  const { state, nonce } = await login(app, platform);
  await app.db.run(sql`UPDATE lti_states SET expires_at = ${Date.now() - 1}`);
  const res = await launch(app, { id_token: await sign(claims(platform, nonce), platform.key.privateKey), state });
  t.equal(res.statusCode, 400);
  t.equal(res.json().error, 'lti_state');
});

t.test('the periodic sweep removes expired login states and keeps live ones', async (t) => {
  const { app, platform } = await setup(t);
  await login(app, platform);
  await login(app, platform);
  await app.db.run(sql`UPDATE lti_states SET expires_at = 1 WHERE id = (SELECT MIN(id) FROM lti_states)`);
  const { sweepSessions } = await import('../plugins/auth.js');
  await sweepSessions(app);
  t.equal(await count(app, 'lti_states'), 1);
});

t.test('a refused launch shows a page (HTML, no stack) to a browser, which the LMS may frame', async (t) => {
  const { app, platform } = await setup(t);
  const { state, nonce } = await login(app, platform);
  const res = await launch(app, { id_token: await sign(claims(platform, nonce, { aud: 'someone-else' }), platform.key.privateKey), state }, 'text/html,application/xhtml+xml,*/*;q=0.8');
  t.equal(res.statusCode, 400);
  t.equal(res.headers['content-type'], 'text/html; charset=utf-8');
  t.match(res.body, /<h1>This launch from your course was refused<\/h1><p>the id_token&#39;s audience \(aud\) does not include Folio&#39;s client id on this platform \(folio-client\)<\/p>/);
  t.equal(res.headers['x-frame-options'], undefined);
  t.match(String(res.headers['content-security-policy']), /frame-ancestors \*/);
});

t.test('a launch without state or id_token is refused with 400 naming it; JSON bodies stay refused elsewhere in the app', async (t) => {
  const { app } = await setup(t);
  const res = await launch(app, { id_token: 'x' });
  t.equal(res.statusCode, 400);
  t.equal(res.json().error, 'lti_state');
  const form = await app.inject({ method: 'POST', url: '/api/auth/login', headers: { ...fromBook, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'username=a&password=b' });
  t.equal(form.statusCode, 415);
});

t.test("a launch when the platform's JWKS cannot be fetched is refused: 400 lti_jwks naming the URL", async (t) => {
  const { app, platform } = await setup(t);
  const { state, nonce } = await login(app, platform);
  await platform.stop();
  const res = await launch(app, { id_token: await sign(claims(platform, nonce), platform.key.privateKey), state });
  t.equal(res.statusCode, 400);
  t.same(res.json(), { statusCode: 400, error: 'lti_jwks', message: `the platform's keys could not be fetched from ${platform.issuer}/jwks: try again, or ask the LMS administrator` });
});

t.test("the platform's JWKS is fetched once and cached across launches", async (t) => {
  const { app, platform } = await setup(t);
  for (let i = 0; i < 3; i++) {
    const { state, nonce } = await login(app, platform);
    t.equal((await launch(app, { id_token: await sign(claims(platform, nonce), platform.key.privateKey), state })).statusCode, 302);
  }
  t.equal(platform.jwksFetches(), 1);
});
