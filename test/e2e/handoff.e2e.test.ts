/**
 * Hand-off codes in a real Chromium that refuses every cookie of Folio (https://api.test): the demo book page
 * (https://book.test) opened at `index.html#folio-handoff=CODE`, as Folio redirects after a login on its own pages
 * (an LMS launch, an identity provider), ends up logged in — in token mode — with the code gone from the address; a
 * used code leaves the page logged out and working.
 */
import type { Page } from 'playwright-core';
import t from 'tap';
import { createBook } from '../../db/books.js';
import { createHandoff } from '../../db/handoffs.js';
import { createAccount } from '../../db/users.js';
import { hashPassword } from '../../lib/passwords.js';
import { demoPageFiles } from '../../scripts/demo.js';
import { launchBrowser, makeCertificate, startBookSite, startFolio } from './harness.js';
import { sql } from 'drizzle-orm';

const certificate = await makeCertificate(t);
const folio = await startFolio(t, { ...certificate, configOverrides: { passwordCost: 10 } });
const site = await startBookSite({ ...certificate, files: await demoPageFiles(folio.origin) });
t.teardown(() => site.close());
await createBook(folio.app.db, { id: 'demo', title: 'Folio demo book', origins: [site.origin] });
await folio.app.books.refresh();

const context = await launchBrowser(t, { stockCookies: true, blockCookiesFor: ['api.test'] });

/** The page's <folio-book> has restored the work of whoever is logged in. */
async function ready(page: Page): Promise<void> {
  await page.waitForSelector('folio-book[data-ready]');
  await page.waitForSelector('folio-book:not([aria-busy])', { state: 'attached' });
}

const ada = await createAccount(folio.app.db, { username: 'ada', passwordHash: await hashPassword('correct horse battery staple', 10) });

t.test('the demo page opened at #folio-handoff=CODE logs the user in (a token: cookies are refused), drops the fragment, and stays logged in after a reload', async (t) => {
  const code = await createHandoff(folio.app.db, ada.id, 'demo');
  const page = await context.newPage();
  t.teardown(() => page.close());
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(`${site.origin}/index.html#folio-handoff=${code}`);
  await page.waitForSelector('#account[data-user="ada"]');
  await ready(page);
  t.equal(await page.getAttribute('#account', 'data-mode'), 'token');
  t.equal(page.url(), `${site.origin}/index.html`, 'the fragment is gone from the address');
  t.strictSame(await context.cookies(folio.origin), [], 'the browser kept no cookie of Folio');
  t.same(await folio.app.db.all(sql`SELECT COUNT(*) AS n FROM handoff_codes WHERE user_id = ${ada.id} AND expires_at > ${Date.now()}`), [{ n: 0 }], 'the code and its fallback are used up');

  await page.reload();
  await ready(page);
  await page.waitForSelector('#account[data-user="ada"]');
  t.equal(await page.getAttribute('#account', 'data-mode'), 'token');
  t.strictSame(errors, []);
});

t.test('a used code, a second time: the page shows no one logged in, says to start the login again, and works', async (t) => {
  const code = await createHandoff(folio.app.db, ada.id, 'demo');
  const used = await folio.app.inject({ method: 'POST', url: '/api/auth/handoff', headers: { origin: site.origin }, payload: { book: 'demo', code, mode: 'token' } });
  t.equal(used.statusCode, 200);
  const page = await context.newPage();
  t.teardown(() => page.close());
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(`${site.origin}/index.html#folio-handoff=${code}`);
  await ready(page);
  t.equal(page.url(), `${site.origin}/index.html`);
  t.equal(await page.getAttribute('#account', 'data-user'), '');
  t.match(await page.textContent('#account .folio-who'), /^Not logged in/);
  await page.locator('#account .folio-error', { hasText: 'start the login again' }).waitFor();
  t.strictSame(errors, []);
});
