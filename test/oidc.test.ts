import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { addProvider, type OidcProvider } from '../db/oidc.js';
import * as client from 'openid-client';
import { discoverProvider, sealClientSecret } from '../lib/oidc.js';
import { startIdentityProvider, type IdentityProvider, type IdpAccount } from '../scripts/oidc-provider.js';
import { bookOrigin, build, cookieOf, fromBook, register } from './helper.js';

/**
 * Signing in with an identity provider (SPEC §9) against a real OpenID Provider (oidc-provider, scripts/oidc-provider.ts)
 * on its own port: start → the provider's login form and consent → callback → hand-off code → logged in.
 */

const folioOrigin = 'https://folio.example';
const page = `${bookOrigin}/ch1/intro.html`;
/** What a browser sends with a navigation from another site (the book's, the provider's). */
const navigation = { 'sec-fetch-mode': 'navigate', 'sec-fetch-site': 'cross-site', 'sec-fetch-dest': 'document' };
const callbackOf = (id: string) => `${folioOrigin}/api/auth/oidc/${id}/callback`;

interface Setup {
  app: FastifyInstance;
  idp: IdentityProvider;
}

/** Folio (publicly at https://folio.example) with the provider `uni` registered (client `folio`); the provider also knows a client `other`. */
async function setup(t: Test, options: { accounts?: Record<string, IdpAccount>; provider?: Partial<OidcProvider> } = {}): Promise<Setup> {
  const app = await build(t, { publicOrigin: folioOrigin });
  const idp = await startIdentityProvider({
    clients: [
      { clientId: 'folio', clientSecret: 'folio-client-secret', redirectUris: [callbackOf('uni')] },
      { clientId: 'other', clientSecret: 'other-client-secret', redirectUris: [callbackOf('other')] },
    ],
    accounts: options.accounts ?? {},
  });
  t.teardown(idp.close);
  const metadata = await discoverProvider(idp.issuer, 'folio');
  await addProvider(app.db, { id: 'uni', issuer: metadata.issuer, clientId: 'folio', clientSecret: sealClientSecret(app.secret, 'uni', 'folio-client-secret'), title: 'University login', metadata, allowedDomains: [], createAccounts: true, ...options.provider });
  return { app, idp };
}

const startUrl = (provider = 'uni', returnTo = page, book = 'book') => `/api/auth/oidc/${provider}/start?book=${book}&return=${encodeURIComponent(returnTo)}`;

/** The provider's answer (Folio's callback URL with code and state) after logging in there as `login`. */
async function throughProvider(s: Setup, login: string, authUrl?: string): Promise<URL> {
  let url = authUrl;
  if (!url) {
    const start = await s.app.inject({ method: 'GET', url: startUrl(), headers: navigation });
    if (start.statusCode !== 302) throw new Error(`start answered ${start.statusCode}: ${start.body}`);
    url = start.headers.location as string;
  }
  return new URL(await s.idp.signIn(url, login));
}

const callback = (app: FastifyInstance, back: URL, headers: Record<string, string> = navigation) => app.inject({ method: 'GET', url: `${back.pathname}${back.search}`, headers });

/** The whole sign-in: the callback's reply, and the hand-off code it carries to the page (when it did). */
async function signIn(s: Setup, login: string) {
  const res = await callback(s.app, await throughProvider(s, login));
  const location = String(res.headers.location ?? '');
  return { res, location, code: /#folio-handoff=([A-Za-z0-9_-]+)$/.exec(location)?.[1] };
}

const redeem = (app: FastifyInstance, code: string, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/api/auth/handoff', headers: { ...fromBook, ...headers }, payload: { book: 'book', code, mode: 'token' } });

const identities = (app: FastifyInstance) => app.db.all<Record<string, unknown>>(sql`SELECT issuer, sub, user_id, provider_id, email, email_verified FROM oidc_identities ORDER BY sub`);

t.test('GET /api/auth/providers lists id and title of every provider, to anyone', async (t) => {
  const s = await setup(t);
  const res = await s.app.inject({ method: 'GET', url: '/api/auth/providers', headers: fromBook });
  t.equal(res.statusCode, 200);
  t.same(res.json(), [{ id: 'uni', title: 'University login' }]);
});

t.test('start redirects (302, no-store) to the authorization endpoint with code, PKCE S256, state, nonce and the scopes openid profile email; the state is kept hashed', async (t) => {
  const s = await setup(t);
  const res = await s.app.inject({ method: 'GET', url: startUrl(), headers: navigation });
  t.equal(res.statusCode, 302, res.body);
  t.equal(res.headers['cache-control'], 'no-store');
  const auth = new URL(res.headers.location as string);
  t.equal(`${auth.origin}${auth.pathname}`, `${s.idp.issuer}/auth`);
  const q = Object.fromEntries(auth.searchParams);
  t.match(q, { client_id: 'folio', response_type: 'code', scope: 'openid profile email', redirect_uri: callbackOf('uni'), code_challenge_method: 'S256', state: /^[A-Za-z0-9_-]{43}$/, nonce: /^[A-Za-z0-9_-]{43}$/, code_challenge: /^[A-Za-z0-9_-]{43}$/ });
  const rows = await s.app.db.all<Record<string, unknown>>(sql`SELECT provider_id, book_id, return_url, mode, user_id FROM oidc_states`);
  t.same(rows, [{ provider_id: 'uni', book_id: 'book', return_url: page, mode: 'signin', user_id: null }]);
  t.not((await s.app.db.all<{ id: string }>(sql`SELECT id FROM oidc_states`))[0]!.id, q['state'], 'the raw state is not stored');
});

t.test("start refuses a return page that is not on an allowed origin of the book (never an open redirect), an unknown book and an unknown provider", async (t) => {
  const s = await setup(t);
  for (const [url, status, error] of [
    [startUrl('uni', 'https://evil.example/steal'), 400, 'oidc_return'],
    [startUrl('uni', 'https://other.example/page.html'), 400, 'oidc_return'],
    [startUrl('uni', 'javascript:alert(1)'), 400, 'oidc_return'],
    [startUrl('uni', page, 'nobook'), 400, 'oidc_book'],
    [startUrl('nope'), 404, 'oidc_provider'],
  ] as const) {
    const json = await s.app.inject({ method: 'GET', url, headers: { ...navigation, accept: 'application/json' } });
    t.equal(json.statusCode, status, url);
    t.equal(json.json().error, error);
    t.equal(json.headers.location, undefined);
  }
  const html = await s.app.inject({ method: 'GET', url: startUrl('uni', 'https://evil.example/steal'), headers: navigation });
  t.equal(html.statusCode, 400);
  t.match(html.headers['content-type'], /^text\/html/);
  t.match(html.body, /https:\/\/evil.example is not an allowed origin of book &#34;book&#34;/);
  t.equal(Number((await s.app.db.get<{ n: number }>(sql`SELECT COUNT(*) AS n FROM oidc_states`))!.n), 0);
});

t.test('only start and callback are exempt from the refusal of cross-site navigations into the API', async (t) => {
  const s = await setup(t);
  t.equal((await s.app.inject({ method: 'GET', url: startUrl(), headers: navigation })).statusCode, 302);
  const cb = await s.app.inject({ method: 'GET', url: '/api/auth/oidc/uni/callback?state=x&code=y', headers: navigation });
  t.equal(cb.statusCode, 400, 'the callback runs (and refuses the unknown state)');
  for (const url of ['/api/auth/providers', '/api/auth/me', '/api/auth/identities']) {
    const res = await s.app.inject({ method: 'GET', url, headers: navigation });
    t.equal(res.statusCode, 403, url);
    t.equal(res.json().error, 'navigation_refused');
  }
});

t.test('a first sign-in creates the account (no password; name and email from the claims) keyed by (issuer, sub); the hand-off code logs it in and moves the anonymous work', async (t) => {
  const s = await setup(t, { accounts: { grace: { name: 'Grace Hopper', email: 'grace@example.edu' } } });
  // Work done anonymously on the page (a bearer session: third-party cookies blocked).
  const anon = await s.app.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers: { ...fromBook, 'x-folio-mode': 'token' }, payload: { code: 'print(1)' } });
  t.equal(anon.statusCode, 200, anon.body);
  const anonToken = String(anon.headers['x-folio-token']);
  const { res, location, code } = await signIn(s, 'grace');
  t.equal(res.statusCode, 302, res.body);
  t.equal(res.headers['cache-control'], 'no-store');
  t.ok(location.startsWith(`${page}#folio-handoff=`), location);
  const users = await s.app.db.all<Record<string, unknown>>(sql`SELECT id, username, name, email, password_hash, anonymous FROM users WHERE anonymous = 0`);
  t.equal(users.length, 1);
  t.match(users[0], { username: /^uni-[a-z0-9]{12}$/, name: 'Grace Hopper', email: 'grace@example.edu', password_hash: null });
  t.same(await identities(s.app), [{ issuer: s.idp.issuer, sub: 'grace', user_id: users[0]!.id, provider_id: 'uni', email: 'grace@example.edu', email_verified: 1 }]);
  const login = await redeem(s.app, code!, { authorization: `Bearer ${anonToken}` });
  t.equal(login.statusCode, 200, login.body);
  t.equal(login.json().user.id, users[0]!.id);
  const work = await s.app.inject({ method: 'GET', url: '/api/books/book/programs/ac1', headers: { ...fromBook, authorization: `Bearer ${login.json().token}` } });
  t.equal(work.statusCode, 200);
  t.equal(work.json().code, 'print(1)', 'the anonymous work moved to the account');
});

t.test('a returning person signs in to the same account; the state and the code are single use (a replayed callback is refused)', async (t) => {
  const s = await setup(t);
  const first = await signIn(s, 'ada');
  const again = await signIn(s, 'ada');
  t.equal(again.res.statusCode, 302);
  t.equal((await redeem(s.app, first.code!)).json().user.id, (await redeem(s.app, again.code!)).json().user.id);
  t.equal((await identities(s.app)).length, 1);
  // The same callback (state and code) a second time.
  const back = await throughProvider(s, 'ada');
  t.equal((await callback(s.app, back)).statusCode, 302);
  const replay = await callback(s.app, back, { ...navigation, accept: 'application/json' });
  t.equal(replay.statusCode, 400);
  t.equal(replay.json().error, 'oidc_state');
  t.equal(replay.headers.location, undefined);
});

t.test('a tampered or unknown state is refused with a page saying so, and nobody is signed in', async (t) => {
  const s = await setup(t);
  const back = await throughProvider(s, 'ada');
  back.searchParams.set('state', `${back.searchParams.get('state')!.slice(0, -2)}xx`);
  const res = await callback(s.app, back);
  t.equal(res.statusCode, 400);
  t.match(res.headers['content-type'], /^text\/html/);
  t.match(res.body, /unknown, used or expired/);
  t.equal((await identities(s.app)).length, 0);
  t.equal(Number((await s.app.db.get<{ n: number }>(sql`SELECT COUNT(*) AS n FROM handoff_codes`))!.n), 0);
});

t.test('a replayed code with a fresh state is refused by the provider (the code was used, and its PKCE verifier is another sign-in\'s)', async (t) => {
  const s = await setup(t);
  const back = await throughProvider(s, 'ada');
  t.equal((await callback(s.app, back)).statusCode, 302);
  const fresh = await throughProvider(s, 'ada');
  fresh.searchParams.set('code', back.searchParams.get('code')!);
  const res = await callback(s.app, fresh, { ...navigation, accept: 'application/json' });
  t.equal(res.statusCode, 400);
  t.equal(res.json().error, 'oidc_token');
  t.match(res.json().message, /invalid_grant/);
});

t.test('allowed domains: a verified email of another domain, or an unverified one, is refused; the allowed domain signs in', async (t) => {
  const s = await setup(t, { provider: { allowedDomains: ['uni.edu'] }, accounts: { eve: { email: 'eve@gmail.com' }, mallory: { email: 'mallory@uni.edu', emailVerified: false }, ada: { email: 'ada@uni.edu' } } });
  for (const [login, why] of [['eve', /eve@gmail.com is not one/], ['mallory', /not verified/]] as const) {
    const { res } = await signIn(s, login);
    t.equal(res.statusCode, 400, login);
    t.match(res.body, /accounts of @uni.edu only/);
    t.match(res.body, why);
    t.match(res.body, new RegExp(`<a href="${page.replace(/[.]/g, '\\.')}">Back to the book</a>`));
  }
  t.equal((await identities(s.app)).length, 0);
  t.equal((await signIn(s, 'ada')).res.statusCode, 302);
});

t.test('an email address never links accounts by itself: a sign-in with the email of a password account makes a new account', async (t) => {
  const s = await setup(t, { accounts: { ada: { email: 'ada@example.edu' } } });
  await register(s.app, 'ada', { email: 'ada@example.edu' });
  const { code } = await signIn(s, 'ada');
  const signedIn = (await redeem(s.app, code!)).json().user;
  t.not(signedIn.username, 'ada');
  t.equal(signedIn.email, 'ada@example.edu');
  t.equal(Number((await s.app.db.get<{ n: number }>(sql`SELECT COUNT(*) AS n FROM users WHERE email = 'ada@example.edu'`))!.n), 2);
});

t.test('with --link-only a sign-in makes no account: an unlinked person is refused', async (t) => {
  const s = await setup(t, { provider: { createAccounts: false } });
  const { res } = await signIn(s, 'ada');
  t.equal(res.statusCode, 400);
  t.match(res.body, /only works for accounts that linked it/);
  t.equal(Number((await s.app.db.get<{ n: number }>(sql`SELECT COUNT(*) AS n FROM users`))!.n), 0);
});

t.test('linking: a logged-in password account links the provider, then signs in with it; an identity of another account is refused; unlinking the last way to log in is refused', async (t) => {
  const s = await setup(t, { provider: { createAccounts: false } });
  const { cookie, res: registered } = await register(s.app, 'ada');
  const user = registered.json().user as { id: string };
  let withCookie = { ...fromBook, cookie };
  const link = await s.app.inject({ method: 'POST', url: '/api/auth/oidc/uni/link', headers: withCookie, payload: { book: 'book', return: page } });
  t.equal(link.statusCode, 200, link.body);
  const linked = await callback(s.app, await throughProvider(s, 'ada-at-uni', link.json().url));
  t.equal(linked.statusCode, 302, linked.body);
  t.same(await identities(s.app), [], 'linked only when the page redeems the code in the account\'s session');
  const linkCode = /#folio-handoff=([A-Za-z0-9_-]+)$/.exec(String(linked.headers.location))![1]!;
  const redeemed = await s.app.inject({ method: 'POST', url: '/api/auth/handoff', headers: withCookie, payload: { book: 'book', code: linkCode } });
  t.equal(redeemed.statusCode, 200, redeemed.body);
  t.equal(redeemed.json().user.id, user.id);
  withCookie = { ...fromBook, cookie: cookieOf(redeemed) }; // the redemption started a new session
  t.same(await identities(s.app), [{ issuer: s.idp.issuer, sub: 'ada-at-uni', user_id: user.id, provider_id: 'uni', email: 'ada-at-uni@example.edu', email_verified: 1 }]);
  const listed = await s.app.inject({ method: 'GET', url: '/api/auth/identities', headers: withCookie });
  t.match(listed.json(), [{ provider: 'uni', email: 'ada-at-uni@example.edu', emailVerified: true }]);
  // Now the provider signs ada in (link-only allows it: the identity is linked).
  const { code } = await signIn(s, 'ada-at-uni');
  t.equal((await redeem(s.app, code!)).json().user.id, user.id);
  // Another account cannot take the identity.
  const grace = await register(s.app, 'grace');
  const steal = await s.app.inject({ method: 'POST', url: '/api/auth/oidc/uni/link', headers: { ...fromBook, cookie: grace.cookie }, payload: { book: 'book', return: page } });
  const refused = await callback(s.app, await throughProvider(s, 'ada-at-uni', steal.json().url));
  t.equal(refused.statusCode, 400);
  t.match(refused.body, /already signs in to another Folio account/);
  t.equal((await identities(s.app))[0]!.user_id, user.id);
  // An account with no password: unlinking its only provider is refused (409), with a password it is done (204).
  await s.app.db.run(sql`UPDATE users SET password_hash = NULL WHERE id = ${user.id}`);
  const last = await s.app.inject({ method: 'DELETE', url: '/api/auth/identities/uni', headers: withCookie });
  t.equal(last.statusCode, 409, last.body);
  t.equal(last.json().error, 'last_login');
  await s.app.db.run(sql`UPDATE users SET password_hash = 'scrypt$x' WHERE id = ${user.id}`);
  const done = await s.app.inject({ method: 'DELETE', url: '/api/auth/identities/uni', headers: withCookie });
  t.equal(done.statusCode, 204, done.body);
  t.equal((await identities(s.app)).length, 0);
  t.equal((await s.app.inject({ method: 'DELETE', url: '/api/auth/identities/uni', headers: withCookie })).statusCode, 404);
});

t.test("a link started by one account and completed by another person's page (a link sent to a victim) links nothing: 403 link_refused", async (t) => {
  const s = await setup(t);
  const mallory = await register(s.app, 'mallory');
  const link = await s.app.inject({ method: 'POST', url: '/api/auth/oidc/uni/link', headers: { ...fromBook, cookie: mallory.cookie }, payload: { book: 'book', return: page } });
  // The victim opens mallory's link and signs in at the provider with her own account.
  const landed = await callback(s.app, await throughProvider(s, 'victim', link.json().url));
  t.equal(landed.statusCode, 302);
  const code = /#folio-handoff=([A-Za-z0-9_-]+)$/.exec(String(landed.headers.location))![1]!;
  // Her page (anonymous, or logged in as herself) redeems the code.
  const victim = await register(s.app, 'victim');
  const res = await redeem(s.app, code, { cookie: victim.cookie });
  t.equal(res.statusCode, 403, res.body);
  t.equal(res.json().error, 'link_refused');
  t.same(await identities(s.app), []);
  t.equal((await redeem(s.app, code, { cookie: mallory.cookie })).statusCode, 400, 'the code is used up');
});

t.test('an anonymous session cannot link (it signs in instead)', async (t) => {
  const s = await setup(t);
  const anon = await s.app.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers: fromBook, payload: { code: 'x' } });
  const res = await s.app.inject({ method: 'POST', url: '/api/auth/oidc/uni/link', headers: { ...fromBook, cookie: cookieOf(anon) }, payload: { book: 'book', return: page } });
  t.equal(res.statusCode, 400);
  t.equal(res.json().error, 'no_account');
});

t.test('an ID token the provider issued to another client (with the right nonce) is refused: its audience is not Folio\'s client id', async (t) => {
  const s = await setup(t);
  const start = await s.app.inject({ method: 'GET', url: startUrl(), headers: navigation });
  const folioAuth = new URL(start.headers.location as string);
  // The same person signs in at the client "other" (with Folio's nonce): a valid, signed ID token for "other".
  const otherAuth = new URL(folioAuth);
  otherAuth.searchParams.set('client_id', 'other');
  otherAuth.searchParams.set('redirect_uri', callbackOf('other'));
  const verifier = client.randomPKCECodeVerifier();
  otherAuth.searchParams.set('code_challenge', await client.calculatePKCECodeChallenge(verifier));
  const otherBack = new URL(await s.idp.signIn(otherAuth.href, 'ada'));
  const token = await fetch(`${s.idp.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('other:other-client-secret').toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: otherBack.searchParams.get('code')!, redirect_uri: callbackOf('other'), code_verifier: verifier }),
  });
  const otherTokens = (await token.json()) as Record<string, unknown>;
  t.ok(otherTokens['id_token'], 'the provider issued an ID token to "other"');
  // A token endpoint that answers Folio with that token (as a compromised or confused endpoint would).
  const fake = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ...otherTokens, scope: 'openid profile email' })));
  await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => fake.close(() => resolve())));
  await s.app.db.run(sql`UPDATE oidc_providers SET metadata = ${JSON.stringify({ ...(await discoverProvider(s.idp.issuer, 'folio')), token_endpoint: `http://127.0.0.1:${(fake.address() as AddressInfo).port}/token` })}, created_at = created_at + 1`);
  const back = await s.idp.signIn(folioAuth.href, 'ada');
  const res = await callback(s.app, new URL(back), { ...navigation, accept: 'application/json' });
  t.equal(res.statusCode, 400, res.body);
  t.equal(res.json().error, 'oidc_token');
  t.match(res.json().message, /aud/);
  t.equal((await identities(s.app)).length, 0);
});

t.test('an ID token whose signature does not verify with the provider\'s keys is refused', async (t) => {
  const s = await setup(t);
  const start = await s.app.inject({ method: 'GET', url: startUrl(), headers: navigation });
  const auth = start.headers.location as string;
  // A token endpoint that relays the provider's answer with the ID token's signature altered.
  const fake = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !['host', 'content-length', 'connection'].includes(k))) as Record<string, string>;
    const real = await fetch(`${s.idp.issuer}/token`, { method: 'POST', headers, body: Buffer.concat(chunks) });
    const body = (await real.json()) as Record<string, string>;
    if (!body['id_token']) throw new Error(`the provider answered ${real.status} ${JSON.stringify(body)}`);
    const [h, p, sig] = body['id_token']!.split('.');
    const tampered = `${h}.${p}.${sig!.startsWith('A') ? 'B' : 'A'}${sig!.slice(1)}`;
    res.writeHead(real.status, { 'content-type': 'application/json' }).end(JSON.stringify({ ...body, id_token: tampered }));
  });
  await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => fake.close(() => resolve())));
  await s.app.db.run(sql`UPDATE oidc_providers SET metadata = ${JSON.stringify({ ...(await discoverProvider(s.idp.issuer, 'folio')), token_endpoint: `http://127.0.0.1:${(fake.address() as AddressInfo).port}/token` })}, created_at = created_at + 1`);
  const res = await callback(s.app, new URL(await s.idp.signIn(auth, 'ada')), { ...navigation, accept: 'application/json' });
  t.equal(res.statusCode, 400, res.body);
  t.equal(res.json().error, 'oidc_token');
  t.match(res.json().message, /signature/i);
  t.equal((await identities(s.app)).length, 0);
});

t.test('a provider that refuses (access_denied) shows a page that says so and links back to the book page', async (t) => {
  const s = await setup(t);
  const start = await s.app.inject({ method: 'GET', url: startUrl(), headers: navigation });
  const state = new URL(start.headers.location as string).searchParams.get('state')!;
  const res = await s.app.inject({ method: 'GET', url: `/api/auth/oidc/uni/callback?error=access_denied&error_description=End-User%20aborted&state=${state}`, headers: navigation });
  t.equal(res.statusCode, 400);
  t.match(res.body, /refused the sign-in: access_denied \(End-User aborted\)/);
  t.match(res.body, /Back to the book/);
});

t.test('the client secret is stored sealed (AES-GCM with a key from the server secret), never in clear', async (t) => {
  const s = await setup(t);
  const stored = (await s.app.db.get<{ client_secret: string }>(sql`SELECT client_secret FROM oidc_providers`))!.client_secret;
  t.match(stored, /^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  t.notMatch(stored, /folio-client-secret/);
});
