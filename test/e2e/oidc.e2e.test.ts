/**
 * Signing in with an identity provider in a real Chromium that refuses every cookie of Folio (https://api.test): the
 * demo book page (https://book.test, another site) shows a button per provider; a click opens the provider (a real
 * OpenID Provider, oidc-provider, on its own origin http://127.0.0.1:PORT) in a popup through Folio's start; the person
 * signs in on its login form and consents; Folio's callback sends the popup back to the book page with a hand-off
 * code, which the popup hands to the page and closes; the page is logged in (a token), with its anonymous work.
 */
import { sql } from 'drizzle-orm';
import t from 'tap';
import { createBook } from '../../db/books.js';
import { addProvider } from '../../db/oidc.js';
import { discoverProvider, sealClientSecret } from '../../lib/oidc.js';
import { demoPageFiles } from '../../scripts/demo.js';
import { startIdentityProvider } from '../../scripts/oidc-provider.js';
import { launchBrowser, makeCertificate, startBookSite, startFolio } from './harness.js';

const certificate = await makeCertificate(t);
const folio = await startFolio(t, { ...certificate, publicOrigin: true, configOverrides: { passwordCost: 10 } });
const site = await startBookSite({ ...certificate, files: await demoPageFiles(folio.origin) });
t.teardown(() => site.close());
await createBook(folio.app.db, { id: 'demo', title: 'Folio demo book', origins: [site.origin] });
await folio.app.books.refresh();
const idp = await startIdentityProvider({
  clients: [{ clientId: 'folio', clientSecret: 'folio-client-secret', redirectUris: [`${folio.origin}/api/auth/oidc/uni/callback`] }],
  accounts: { grace: { name: 'Grace Hopper', email: 'grace@uni.edu' } },
});
t.teardown(idp.close);
const metadata = await discoverProvider(idp.issuer, 'folio');
await addProvider(folio.app.db, { id: 'uni', issuer: metadata.issuer, clientId: 'folio', clientSecret: sealClientSecret(folio.app.secret, 'uni', 'folio-client-secret'), title: 'University login', metadata, allowedDomains: ['uni.edu'], createAccounts: true });

const context = await launchBrowser(t, { stockCookies: true, blockCookiesFor: ['api.test'] });

t.test("from the book page on another site, with Folio's cookies blocked: the provider's button, its login form in a popup, and the page is logged in with its anonymous work", async (t) => {
  const page = await context.newPage();
  t.teardown(() => page.close());
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(`${site.origin}/index.html`);
  await page.waitForSelector('folio-book[data-ready]');
  // Anonymous work first.
  const activity = page.locator('folio-code[data-state]').first(); // its code loaded and restored
  await activity.evaluate((element) => void ((element as HTMLElement & { code: string }).code = 'console.log("before signing in")'));
  await activity.locator('button[data-action="save"]').click();
  await page.waitForSelector('#sync[data-state="saved"]');

  const button = page.locator('#account .folio-providers button[data-provider="uni"]');
  t.equal(await button.textContent(), 'Sign in with University login');
  const [popup] = await Promise.all([page.waitForEvent('popup'), button.click()]);
  await popup.waitForSelector('input[name="login"]');
  t.equal(new URL(popup.url()).origin, idp.issuer, 'the popup shows the provider\'s own login form');
  await popup.fill('input[name="login"]', 'grace');
  await popup.fill('input[name="password"]', 'any password');
  await popup.click('button[type="submit"]');
  await popup.waitForSelector('button[type="submit"]:has-text("Continue")');
  await Promise.all([popup.waitForEvent('close'), popup.click('button[type="submit"]')]);

  await page.waitForSelector('#account[data-user^="uni-"]');
  t.equal(await page.getAttribute('#account', 'data-mode'), 'token');
  t.match(await page.textContent('#account .folio-who'), /^Logged in as Grace Hopper/);
  t.strictSame(await context.cookies(folio.origin), [], 'the browser kept no cookie of Folio');
  const [user] = await folio.app.db.all<{ id: string; email: string }>(sql`SELECT id, email FROM users WHERE username LIKE 'uni-%'`);
  t.equal(user?.email, 'grace@uni.edu');
  // The page's anonymous session (a token) moved its work to the account at the hand-off.
  const saved = await folio.app.db.all<{ code: string }>(sql`SELECT code FROM programs WHERE user_id = ${user!.id}`);
  t.strictSame(saved, [{ code: 'console.log("before signing in")' }], "the anonymous work is the account's");
  t.strictSame(errors, []);
});
