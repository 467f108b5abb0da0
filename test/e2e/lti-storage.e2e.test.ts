/**
 * LTI launches with the platform's storage (1EdTech "LTI Client Side postMessages") in a real Chromium that refuses
 * every cookie of Folio (https://api.test): the platform fixture's course page (http://127.0.0.1, a site of its own)
 * offers its storage (`lti_storage_target`: a frame of it, or the page itself); Folio's login page keeps the state there, its launch page reads
 * it back, and the book page (https://book.test) ends up logged in — in the LMS's iframe and in a window the LMS
 * opened. A launch forced on a browser whose LMS page never kept the state is refused.
 */
import { sql } from 'drizzle-orm';
import type { Frame, FrameLocator, Page } from 'playwright-core';
import t, { type Test } from 'tap';
import { createBook } from '../../db/books.js';
import { addPlatform } from '../../db/lti.js';
import { demoPageFiles } from '../../scripts/demo.js';
import { startPlatform, type LaunchPlan } from '../../scripts/lti-platform.js';
import { launchBrowser, makeCertificate, startBookSite, startFolio } from './harness.js';

const certificate = await makeCertificate(t);
const folio = await startFolio(t, { ...certificate, publicOrigin: true });
const site = await startBookSite({ ...certificate, files: await demoPageFiles(folio.origin) });
t.teardown(() => site.close());
await createBook(folio.app.db, { id: 'demo', title: 'Folio demo book', origins: [site.origin] });
await folio.app.books.refresh();
const platform = await startPlatform({ toolOrigin: folio.origin });
t.teardown(platform.close);
await addPlatform(folio.app.db, platform.registration());

const context = await launchBrowser(t, { stockCookies: true, blockCookiesFor: ['api.test'] });

const plan = (sub: string, storage: LaunchPlan['storage'] = true): LaunchPlan => ({
  sub,
  name: `Student ${sub}`,
  roles: ['http://purl.imsglobal.org/vocab/lis/v2/membership#Learner'],
  targetLinkUri: `${site.origin}/index.html`,
  context: { id: 'ctx-1', title: 'CS 101' },
  storage,
});

/** The LTI user made for `sub`'s launch, with the username the book page shows. */
const userOf = async (sub: string) => (await folio.app.db.all<{ username: string }>(sql`SELECT u.username FROM lti_users l JOIN users u ON u.id = l.user_id WHERE l.sub = ${sub}`))[0];

/** What the platform's storage (the course page, or its storage frame) keeps for Folio's origin. */
const storedFor = (where: Page | Frame) => where.evaluate((origin) => (window as unknown as { ltiStorage: Record<string, Record<string, string>> }).ltiStorage[origin] ?? {}, folio.origin);

/** Waits for the book page (in a frame or a window) to show someone logged in; checks that it is `sub`'s LTI user. */
async function loggedInBookPage(t: Test, scope: Page | FrameLocator, sub: string): Promise<void> {
  const account = scope.locator('#account[data-user^="lti-"]');
  await account.waitFor({ state: 'attached' });
  t.equal(await account.getAttribute('data-user'), (await userOf(sub))?.username);
  t.equal(await account.getAttribute('data-mode'), 'token', 'token mode: no cookie of Folio');
}

t.test("in the LMS's iframe, with the storage in a frame of the LMS's page named by lti_storage_target: the book page in the iframe is logged in (token mode, no cookie)", async (t) => {
  platform.plan('frame', plan('frame-student', 'frame'));
  const page = await context.newPage();
  t.teardown(() => page.close());
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(platform.coursePage('frame'));
  await loggedInBookPage(t, page.frameLocator('iframe[name="tool"]'), 'frame-student');
  t.equal(page.frame({ name: 'tool' })?.url(), `${site.origin}/index.html`, 'the fragment with the code is gone');
  const stored = await storedFor(page.frame({ name: 'lti_storage_frame' })!);
  const [stateKey] = Object.keys(stored).filter((k) => k.startsWith('state_'));
  t.equal(stored[stateKey!], stateKey!.slice('state_'.length), 'the state was kept under state_<state>');
  t.equal(Object.keys(stored).filter((k) => k.startsWith('nonce_')).length, 1, 'and the nonce under nonce_<nonce>');
  t.same(await folio.app.db.all(sql`SELECT COUNT(*) AS n FROM lti_states`), [{ n: 0 }], 'the state is used up');
  t.strictSame(await context.cookies(folio.origin), []);
  t.strictSame(errors, []);
});

t.test('in a window the LMS opened, with the storage in the LMS\'s page itself (_parent): reached through window.opener, and the book page there is logged in', async (t) => {
  platform.plan('window', plan('window-student'));
  const page = await context.newPage();
  t.teardown(() => page.close());
  const opened = context.waitForEvent('page');
  await page.goto(`${platform.coursePage('window')}?window=new`);
  const tool = await opened;
  t.teardown(() => tool.close());
  await loggedInBookPage(t, tool, 'window-student');
  t.equal(tool.url(), `${site.origin}/index.html`);
  t.equal(Object.keys(await storedFor(page)).filter((k) => k.startsWith('state_')).length, 1);
});

t.test("a launch forced on a browser whose LMS page never kept its state (a page elsewhere posts it) ends on Folio's refusal, no one logged in", async (t) => {
  const login = await folio.app.inject({ method: 'GET', url: `/lti/login?${new URLSearchParams({ iss: platform.issuer, login_hint: 'forced', target_link_uri: `${site.origin}/index.html`, client_id: platform.clientId, lti_storage_target: '_parent' })}` });
  const data = JSON.parse(/id="folio-lti-storage">(.*?)<\/script>/.exec(login.body)![1]!) as { state: string; nonce: string };
  const idToken = await platform.idToken(plan('forced-student'), data.nonce);
  const page = await context.newPage();
  t.teardown(() => page.close());
  await page.setContent(`<form method="post" action="${folio.origin}/lti/launch"><input name="id_token" value="${idToken}"><input name="state" value="${data.state}"></form>`);
  await Promise.all([page.waitForURL(`${folio.origin}/lti/launch`), page.evaluate(() => document.forms[0]!.submit())]);
  await page.waitForSelector('h1:text("This launch from your course was refused")');
  t.match(await page.textContent('p'), /the LMS's page does not hold this launch's state/);
  t.equal(await userOf('forced-student'), undefined);
});
