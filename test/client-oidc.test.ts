/**
 * The browser client's sign-in with an identity provider (providers(), signIn(id)): the page opens the provider's start
 * in a popup, whose return page hands the hand-off code back over a BroadcastChannel; where popups are blocked the
 * whole page goes. In Node against the real app and a real OpenID Provider (scripts/oidc-provider.ts).
 */
import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import t, { type Test } from 'tap';
import { addProvider } from '../db/oidc.js';
import { discoverProvider, sealClientSecret } from '../lib/oidc.js';
import { startIdentityProvider, type IdentityProvider } from '../scripts/oidc-provider.js';
import { FakeBrowser, server } from './client-fakes.js';
import { bookOrigin, build } from './helper.js';

const navigation = { 'sec-fetch-mode': 'navigate', 'sec-fetch-site': 'cross-site' };

async function setup(t: Test): Promise<{ app: FastifyInstance; idp: IdentityProvider }> {
  const app = await build(t, { publicOrigin: server });
  const idp = await startIdentityProvider({ clients: [{ clientId: 'folio', clientSecret: 'folio-client-secret', redirectUris: [`${server}/api/auth/oidc/uni/callback`] }] });
  t.teardown(idp.close);
  const metadata = await discoverProvider(idp.issuer, 'folio');
  await addProvider(app.db, { id: 'uni', issuer: metadata.issuer, clientId: 'folio', clientSecret: sealClientSecret(app.secret, 'uni', 'folio-client-secret'), title: 'University login', metadata, allowedDomains: [], createAccounts: true });
  return { app, idp };
}

/** What the browser does in the popup (or the whole tab): Folio's start, the provider's login form, Folio's callback; where it lands. */
async function navigate(app: FastifyInstance, idp: IdentityProvider, startUrl: string, login: string): Promise<string> {
  const start = new URL(startUrl);
  const toProvider = await app.inject({ method: 'GET', url: `${start.pathname}${start.search}`, headers: navigation });
  if (toProvider.statusCode !== 302) throw new Error(`start answered ${toProvider.statusCode}: ${toProvider.body}`);
  const back = new URL(await idp.signIn(toProvider.headers.location as string, login));
  const landing = await app.inject({ method: 'GET', url: `${back.pathname}${back.search}`, headers: navigation });
  if (landing.statusCode !== 302) throw new Error(`callback answered ${landing.statusCode}: ${landing.body}`);
  return landing.headers.location as string;
}

t.test('providers() lists the id and title of each provider', async (t) => {
  const { app } = await setup(t);
  const { folio } = new FakeBrowser(app).open(t);
  t.strictSame(await folio.providers(), [{ id: 'uni', title: 'University login' }]);
});

t.test('signIn opens the start in a popup that returns to this page; the popup hands the code over and closes; signIn resolves to the user and the anonymous work is the account\'s', async (t) => {
  const { app, idp } = await setup(t);
  const browser = new FakeBrowser(app);
  browser.network.refuseCookies = true; // every third-party cookie blocked: a token
  browser.address.href = `${bookOrigin}/ch1.html?x=1#top`;
  const { folio, events } = browser.open(t);
  t.match(await folio.saveProgram('ac1', 'print("before")'), { status: 'saved' });
  const signingIn = folio.signIn('uni');
  t.equal(browser.opened.length, 1);
  const [url, name] = browser.opened[0]!;
  t.match(name, /^folio-signin-[0-9a-f]{16}$/);
  const start = new URL(url);
  t.equal(`${start.origin}${start.pathname}`, `${server}/api/auth/oidc/uni/start`);
  const id = name.slice('folio-signin-'.length);
  t.strictSame(Object.fromEntries(start.searchParams), { book: 'book', return: `${bookOrigin}/ch1.html?x=1&folio-signin=${id}` });

  // The popup: the same book page, at the address the callback sent it to.
  const landing = await navigate(app, idp, url, 'grace');
  t.match(landing, new RegExp(`^${bookOrigin}/ch1\\.html\\?x=1&folio-signin=${id}#folio-handoff=[A-Za-z0-9_-]+$`));
  const popup = new FakeBrowser(app);
  popup.channels = browser.channels;
  popup.address.href = landing;
  const inPopup = popup.open(t);
  t.strictSame(popup.address.replaced, [`${bookOrigin}/ch1.html?x=1`], 'the code and the marker leave the address bar at once');
  t.equal(await inPopup.folio.handoff, null, 'the popup does not log itself in');
  t.ok(popup.closedWindow, 'the popup closed');
  t.equal(popup.network.seen.length, 0, 'the popup sent nothing');

  const user = await signingIn;
  t.match(user, { username: /^uni-/, name: 'Grace', email: 'grace@example.edu', anonymous: false });
  t.equal(folio.user?.id, user.id);
  t.equal(folio.mode, 'token');
  t.match(events.auth.at(-1), { type: 'login', user: { id: user.id }, mode: 'token' });
  t.match(await folio.loadProgram('ac1'), { code: 'print("before")' });
});

t.test('where popups are blocked, signIn sends the whole page to the start with this page as the return; coming back, the page is logged in', async (t) => {
  const { app, idp } = await setup(t);
  const browser = new FakeBrowser(app);
  browser.blockPopups = true;
  const { folio } = browser.open(t);
  void folio.signIn('uni');
  t.equal(browser.opened.length, 0);
  t.equal(browser.navigated.length, 1);
  t.strictSame(Object.fromEntries(new URL(browser.navigated[0]!).searchParams), { book: 'book', return: `${bookOrigin}/ch1.html` });
  const landing = await navigate(app, idp, browser.navigated[0]!, 'ada');
  const back = new FakeBrowser(app);
  back.address.href = landing;
  const { folio: returned } = back.open(t);
  t.match(await returned.handoff, { username: /^uni-/, name: 'Ada' });
});

t.test('a popup whose opener is gone exchanges the code itself after 3 s', async (t) => {
  const { app, idp } = await setup(t);
  const landing = await navigate(app, idp, `${server}/api/auth/oidc/uni/start?book=book&return=${encodeURIComponent(`${bookOrigin}/ch1.html?folio-signin=abcdefgh12345678`)}`, 'ada');
  const popup = new FakeBrowser(app);
  popup.address.href = landing;
  const { folio } = popup.open(t);
  await new Promise((r) => setTimeout(r, 10));
  await popup.clock.advance(3000);
  t.match(await folio.handoff, { name: 'Ada' });
  t.notOk(popup.closedWindow);
});

t.test('linkProvider links the provider to the logged-in account through a popup (the provider\'s URL from Folio), completed in this account\'s session', async (t) => {
  const { app, idp } = await setup(t);
  const browser = new FakeBrowser(app);
  const { folio } = browser.open(t);
  const ada = await folio.register({ username: 'ada', password: 'correct horse battery' });
  const linking = folio.linkProvider('uni');
  await new Promise((r) => setTimeout(r, 50));
  await browser.idle();
  t.equal(browser.opened.length, 1);
  const [authUrl, name] = browser.opened[0]!;
  t.ok(authUrl.startsWith(`${idp.issuer}/auth?`), 'the popup goes straight to the provider');
  const id = name.slice('folio-signin-'.length);
  const back = new URL(await idp.signIn(authUrl, 'ada-at-uni'));
  const landing = await app.inject({ method: 'GET', url: `${back.pathname}${back.search}`, headers: navigation });
  t.match(String(landing.headers.location), new RegExp(`^${bookOrigin}/ch1\\.html\\?folio-signin=${id}#folio-handoff=`));
  const popup = new FakeBrowser(app);
  popup.channels = browser.channels;
  popup.address.href = String(landing.headers.location);
  popup.open(t);
  const user = await linking;
  t.equal(user.id, ada.id);
  t.match(await folio.me(), { id: ada.id, username: 'ada' });
  const rows = await app.db.all<{ user_id: string; sub: string }>(sql`SELECT user_id, sub FROM oidc_identities`);
  t.same(rows, [{ user_id: ada.id, sub: 'ada-at-uni' }]);
});

t.test('where popups are blocked, linkProvider sends the whole tab to the provider; coming back, the tab completes the link at once (it waits for no opener)', async (t) => {
  const { app, idp } = await setup(t);
  const browser = new FakeBrowser(app);
  browser.blockPopups = true;
  const { folio } = browser.open(t);
  const ada = await folio.register({ username: 'ada', password: 'correct horse battery' });
  void folio.linkProvider('uni');
  await new Promise((r) => setTimeout(r, 50));
  await browser.idle();
  t.equal(browser.opened.length, 0);
  t.equal(browser.navigated.length, 1);
  t.ok(browser.navigated[0]!.startsWith(`${idp.issuer}/auth?`), 'the tab goes straight to the provider');
  const back = new URL(await idp.signIn(browser.navigated[0]!, 'ada-at-uni'));
  const landing = await app.inject({ method: 'GET', url: `${back.pathname}${back.search}`, headers: navigation });
  t.match(String(landing.headers.location), new RegExp(`^${bookOrigin}/ch1\\.html\\?folio-signin=[0-9a-f]{16}#folio-handoff=`));
  // The same tab (its sessionStorage: the token and the sign-in it started) loads the return page; no clock advances.
  browser.address.href = String(landing.headers.location);
  const { folio: returned } = browser.open(t);
  t.match(await returned.handoff, { id: ada.id, username: 'ada' });
  t.notOk(browser.closedWindow, 'the tab stays open');
  t.equal(browser.sessionStorage.getItem('folio-signin-self'), null, 'the marker is used once');
  const rows = await app.db.all<{ user_id: string; sub: string }>(sql`SELECT user_id, sub FROM oidc_identities`);
  t.same(rows, [{ user_id: ada.id, sub: 'ada-at-uni' }]);
});

t.test('signIn refuses a provider id that cannot be one', async (t) => {
  const { app } = await setup(t);
  const { folio } = new FakeBrowser(app).open(t);
  const err = await folio.signIn('Not An Id').catch((e: unknown) => e);
  t.match(err, { statusCode: 400, error: 'invalid_request' });
});
