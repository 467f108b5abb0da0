/**
 * The instructors' dashboard in a real Chromium, on Folio's own origin (https://api.test:PORT/dashboard/, a first-party
 * cookie): who sees what (instructor, TA, student, admin), the progress grid against the book's table of contents
 * (cells, sorting, filtering, chapters opened into pages), the join code, and the roster. axe-core checks every screen
 * (no serious or critical violation) and each screen is saved under test-results/dashboard-*.png. Signing in there with
 * an identity provider (a real OpenID Provider, oidc-provider, on its own origin) goes through the whole page.
 */
import { sql } from 'drizzle-orm';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import t, { type Test } from 'tap';
import { addStaff, createCourse, enrol, findCourse, isEnrolled } from '../../db/courses.js';
import { addProvider, linkIdentity, removeProvider } from '../../db/oidc.js';
import { createAccount } from '../../db/users.js';
import { saveAnswer, saveProgram, setPageComplete } from '../../db/work.js';
import type { Role } from '../../db/schema.js';
import { parseCsv } from '../../lib/csv.js';
import { discoverProvider, sealClientSecret } from '../../lib/oidc.js';
import { hashPassword } from '../../lib/passwords.js';
import { startIdentityProvider } from '../../scripts/oidc-provider.js';
import { dashboardWorld, launchBrowser, makeCertificate, startFolio } from './harness.js';

const password = 'correct horse battery';
const certificate = await makeCertificate(t);
// Irene logs in more than ten times a minute here (a new browser context each test): the per-user login limit is not under test.
// Its public origin is where the browser reaches it: an identity provider's callback must name it.
const folio = await startFolio(t, { ...certificate, publicOrigin: true, configOverrides: { passwordCost: 10, loginRatePerUser: 1000 } });
const browser: Browser = (await launchBrowser(t)).browser()!;

// The world: the demo book's table of contents (ch1 and ch2, one page each, two 1-point questions a page), course
// cs101 (instructor irene, TA tomas, students Ana, Ben and Cara) and cs102 (instructor olga), student sam, admin adam.
const { db } = folio.app;
const { axe, shots } = await dashboardWorld(folio.app);
await createCourse(db, { id: 'cs101', bookId: 'demo', title: 'Programming 101', term: 'Fall 2026' });
await createCourse(db, { id: 'cs102', bookId: 'demo', title: 'Programming 102' });
const passwordHash = await hashPassword(password, 10);
const account = (username: string, name: string, role: Role = 'student') => createAccount(db, { username, name, passwordHash, role });
const irene = await account('irene', 'Irene Instructor');
await addStaff(db, 'cs101', irene.id, 'instructor');
await addStaff(db, 'cs101', (await account('tomas', 'Tomas TA')).id, 'ta');
await addStaff(db, 'cs102', (await account('olga', 'Olga Other')).id, 'instructor');
await account('sam', 'Sam Student');
await account('adam', 'Adam Admin', 'admin');
await account('dan', 'Dan Newcomer');
const [ana, ben, cara] = [await account('ana', 'Ana Alves'), await account('ben', 'Ben Brown'), await account('cara', 'Cara Costa')];
await enrol(db, 'cs101', [ana.id, ben.id, cara.id], 'staff');
const answer = (userId: string, question: string, page: string, correct: boolean) => saveAnswer(db, { userId, bookId: 'demo' }, question, { kind: 'mchoice', answer: 'b', correct, page });
// Ben: one of ch1's two points. Cara: ch1 whole (both points, page completed) and one of ch2's points. Ana: nothing.
await answer(ben.id, 'q1-1', 'ch1', true);
await answer(ben.id, 'q1-2', 'ch1', false);
await answer(cara.id, 'q1-1', 'ch1', true);
await answer(cara.id, 'q1-2', 'ch1', true);
await setPageComplete(db, { userId: cara.id, bookId: 'demo' }, 'ch1', true);
await answer(cara.id, 'q2-1', 'ch2', true);
await saveProgram(db, { userId: cara.id, bookId: 'demo' }, 'ac1-1', { code: 'print("cara")', language: 'python', page: 'ch1' });

const dashboard = `${folio.origin}/dashboard/`;

/** A page in a fresh browser context (no cookie yet), recording console errors, failed requests and page errors. */
async function openDashboard(t: Test, viewport = { width: 1280, height: 900 }): Promise<{ page: Page; problems: string[] }> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport });
  t.teardown(() => context.close());
  // An init script (through the DevTools protocol): the page's CSP rightly refuses an injected <script> tag.
  await context.addInitScript({ content: axe });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console: ${m.text()}`);
  });
  // 401 is GET /api/auth/me before logging in: the page shows the login form for it.
  page.on('response', (r) => {
    if (r.status() >= 400 && !r.url().endsWith('/favicon.ico') && !(r.status() === 401 && r.url().endsWith('/api/auth/me'))) problems.push(`${r.status()} ${r.url()}`);
  });
  page.on('pageerror', (err) => void problems.push(`pageerror: ${err.message}`));
  await page.goto(dashboard);
  return { page, problems };
}

async function logIn(page: Page, username: string): Promise<void> {
  await page.waitForSelector('form.login');
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('form.login button[type=submit]');
  await page.waitForSelector('form.login', { state: 'detached' });
}

/** axe-core on the screen as it is: no serious or critical violation; then its screenshot. */
async function checkScreen(t: Test, page: Page, name: string): Promise<void> {
  const violations = await page.evaluate(async () => {
    const result = await (window as unknown as { axe: { run(): Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> } }).axe.run();
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, targets: v.nodes.map((n) => n.target.join(' ')).slice(0, 3) }));
  });
  t.strictSame(violations.filter((v) => v.impact === 'serious' || v.impact === 'critical'), [], `${name}: no serious or critical axe-core violation`);
  await page.screenshot({ path: join(shots, `dashboard-${name}.png`), fullPage: true });
}

/** The grid's rows as text: the student's name, then each chapter's cell (symbol, points, pages done). */
const gridRows = (page: Page) =>
  page.$$eval('table.grid tbody tr', (rows) => rows.map((r) => [...r.querySelectorAll('th .name, td.cell')].map((c) => (c.textContent ?? '').trim())));

const courseLinks = (page: Page) => page.$$eval('table.courses tbody a', (links) => links.map((a) => [a.textContent, a.getAttribute('href')]));

t.test('an instructor logs in, sees her course, and its grid lists its students with their points and pages; sorting and filtering work', async (t) => {
  const { page, problems } = await openDashboard(t);
  await checkScreen(t, page, 'login');
  await logIn(page, 'irene');
  await page.waitForSelector('table.courses');
  t.equal(await page.textContent('h1'), 'Your courses');
  t.strictSame(await courseLinks(page), [['Programming 101', '#/courses/cs101']], 'her course only');
  t.match(await page.textContent('#account'), 'Logged in as Irene Instructor');
  await checkScreen(t, page, 'courses');

  await page.click('text=Programming 101');
  await page.waitForSelector('table.grid');
  t.equal(await page.textContent('h1'), 'Programming 101');
  t.equal(await page.textContent('#enrolled'), '3');
  t.strictSame(
    await gridRows(page),
    [
      ['Ana Alves', '·0/2 pts0/1 done', '·0/2 pts0/1 done'],
      ['Ben Brown', '◑1/2 pts0/1 done', '·0/2 pts0/1 done'],
      ['Cara Costa', '●2/2 pts1/1 done', '◑1/2 pts0/1 done'],
    ],
    'by name, with each chapter\'s points and pages done; chapters nobody did are there',
  );
  t.strictSame(await page.$$eval('table.grid thead th', (ths) => ths.map((th) => th.getAttribute('aria-sort'))), ['ascending', 'none', 'none', null, null]);
  await checkScreen(t, page, 'course');

  await page.click('button[data-focus="sort-progress"]');
  t.strictSame((await gridRows(page)).map((r) => r[0]), ['Cara Costa', 'Ben Brown', 'Ana Alves'], 'most progress first');
  t.equal(await page.getAttribute('table.grid thead th:nth-child(2)', 'aria-sort'), 'descending');
  t.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-focus')), 'sort-progress', 'the focus stays on the sort button');
  await page.click('button[data-focus="sort-progress"]');
  t.strictSame((await gridRows(page)).map((r) => r[0]), ['Ana Alves', 'Ben Brown', 'Cara Costa'], 'least progress first');
  await page.click('button[data-focus="sort-activity"]');
  t.strictSame((await gridRows(page)).map((r) => r[0]), ['Cara Costa', 'Ben Brown', 'Ana Alves'], 'latest activity first, never active last');

  await page.fill('#grid-filter', 'BEN');
  t.strictSame((await gridRows(page)).map((r) => r[0]), ['Ben Brown'], 'the filter matches names and usernames, in any case');
  t.equal(await page.textContent('#grid-count'), '1 of 3 students match');
  await page.fill('#grid-filter', '');

  await page.click('button[data-focus="chapter-ch1"]');
  // The chapter's pages come from the server first (GET …/grid?chapter=ch1).
  await page.waitForSelector('button[data-focus="chapter-ch1"][aria-expanded="true"]');
  t.strictSame(await page.$$eval('table.grid thead th.page', (ths) => ths.map((th) => th.textContent)), ['1. Values and lists'], 'the chapter\'s page gets a column');
  await checkScreen(t, page, 'course-expanded');
  t.strictSame(problems, [], 'no CSP refusal, no failed request, no error');
});

t.test('a student\'s name in the grid opens their work: where they are, pages completed, latest answers and programs', async (t) => {
  const { page, problems } = await openDashboard(t);
  await logIn(page, 'irene');
  await page.goto(`${dashboard}#/courses/cs101`);
  await page.click('table.grid a:text("Cara Costa")');
  await page.waitForSelector('#answers-heading');
  t.equal(new URL(page.url()).hash, `#/courses/cs101/students/${cara.id}`, 'an address of its own');
  t.equal(await page.textContent('h1'), 'Cara Costa');
  t.strictSame(await page.$$eval('#completed-pages li code', (codes) => codes.map((c) => c.textContent)), ['ch1']);
  t.strictSame(
    await page.$$eval('table.answers tbody tr', (rows) => rows.map((r) => [...r.children].slice(0, 4).map((c) => c.textContent))),
    [
      ['q1-1', '1', 'correct', '"b"'],
      ['q1-2', '1', 'correct', '"b"'],
      ['q2-1', '1', 'correct', '"b"'],
    ],
  );
  t.equal(await page.textContent('article.program pre'), 'print("cara")');
  await checkScreen(t, page, 'student');
  await page.click('nav.crumbs a:text("Programming 101")');
  await page.waitForSelector('table.grid');
  t.strictSame(problems, []);
});

t.test('on a phone (375 px) the grid scrolls sideways in its own region while the page does not', async (t) => {
  const { page, problems } = await openDashboard(t, { width: 375, height: 812 });
  await logIn(page, 'irene');
  await page.goto(`${dashboard}#/courses/cs101`);
  await page.waitForSelector('table.grid');
  await page.click('button[data-focus="chapter-ch1"]');
  await page.waitForSelector('button[data-focus="chapter-ch1"][aria-expanded="true"]');
  await page.click('button[data-focus="chapter-ch2"]');
  await page.waitForSelector('button[data-focus="chapter-ch2"][aria-expanded="true"]');
  const sizes = await page.evaluate(() => {
    const region = document.querySelector('.grid-scroll')!;
    return { region: region.scrollWidth > region.clientWidth, page: document.documentElement.scrollWidth };
  });
  t.equal(sizes.region, true, 'the grid is wider than its region, which scrolls');
  t.ok(sizes.page <= 375, `the page itself is ${sizes.page} px wide`);
  await checkScreen(t, page, 'course-phone');
  t.strictSame(problems, []);
});

t.test('the instructor rotates the join code: the page shows the new one, which is the stored one', async (t) => {
  const { page, problems } = await openDashboard(t);
  await logIn(page, 'irene');
  await page.goto(`${dashboard}#/courses/cs101`);
  await page.waitForSelector('#join-code');
  const before = await page.textContent('#join-code');
  t.equal(before, (await findCourse(db, 'cs101'))!.joinCode);
  page.once('dialog', (dialog) => void dialog.accept());
  await page.click('#rotate-code');
  await page.waitForFunction((old) => document.getElementById('join-code')?.textContent !== old, before);
  const after = await page.textContent('#join-code');
  t.not(after, before);
  t.equal(after, (await findCourse(db, 'cs101'))!.joinCode, 'the code shown is the course\'s new code');
  t.match(await page.textContent('#status'), `New join code: ${after}`);
  t.strictSame(problems, []);
});

t.test('the instructor adds a student by username and removes them again (after confirming); an unknown username is told in the live region', async (t) => {
  const { page, problems } = await openDashboard(t);
  await logIn(page, 'irene');
  await page.goto(`${dashboard}#/courses/cs101`);
  await page.waitForSelector('#add-usernames');
  await page.fill('#add-usernames', 'dan');
  await page.click('form.inline:has(#add-usernames) button');
  await page.waitForSelector('table.roster th:text("Dan Newcomer")');
  t.equal(await page.textContent('#enrolled'), '4');
  t.equal(await page.textContent('#status'), '1 student added.');
  t.match(await page.textContent('#roster-heading'), 'Roster (4 students)');
  t.strictSame((await gridRows(page)).map((r) => r[0]), ['Ana Alves', 'Ben Brown', 'Cara Costa', 'Dan Newcomer'], 'the grid has him too');
  const danId = await page.getAttribute('table.roster tr:has(th:text("Dan Newcomer"))', 'data-student');
  t.equal(await isEnrolled(db, 'cs101', danId!), true);
  await checkScreen(t, page, 'roster');

  page.once('dialog', (dialog) => {
    t.match(dialog.message(), 'Take Dan Newcomer out of "Programming 101"?');
    void dialog.accept();
  });
  await page.click('table.roster tr:has(th:text("Dan Newcomer")) button.remove');
  await page.waitForSelector('table.roster th:text("Dan Newcomer")', { state: 'detached' });
  t.equal(await isEnrolled(db, 'cs101', danId!), false);
  t.equal(await page.textContent('#enrolled'), '3');

  await page.fill('#add-usernames', 'nobody-here');
  await page.click('form.inline:has(#add-usernames) button');
  await page.waitForSelector('#status.error');
  t.match(await page.textContent('#status'), 'no account has the username(s) nobody-here');
  t.strictSame(problems.filter((p) => !p.startsWith('400 ')), [], 'nothing but the refused username');
});

t.test('the Copy button puts the join code on the clipboard', async (t) => {
  const { page, problems } = await openDashboard(t);
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: folio.origin });
  await logIn(page, 'irene');
  await page.goto(`${dashboard}#/courses/cs101`);
  await page.waitForSelector('#copy-code');
  await page.click('#copy-code');
  const code = (await findCourse(db, 'cs101'))!.joinCode;
  await page.waitForFunction(() => document.getElementById('status')?.textContent?.endsWith('copied.'));
  t.equal(await page.evaluate(() => navigator.clipboard.readText()), code);
  t.equal(await page.textContent('#status'), `Join code ${code} copied.`);
  t.strictSame(problems, []);
});

t.test('the instructor imports a roster CSV: new usernames become enrolled accounts, and the page lists their set-password links', async (t) => {
  const { page, problems } = await openDashboard(t);
  await logIn(page, 'irene');
  await page.goto(`${dashboard}#/courses/cs101`);
  await page.waitForSelector('#roster-file');
  const csv = 'username,name,email\nana,Ana Alves,\nerin,Erin Evans,erin@example.edu\n';
  await page.setInputFiles('#roster-file', { name: 'roster.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
  await page.click('form.inline:has(#roster-file) button');
  await page.waitForSelector('#created-accounts li');
  t.equal(await page.textContent('#status'), 'Roster imported: 1 enrolled, 1 already enrolled, 1 new account.');
  const links = await page.$$eval('#created-accounts li', (items) => items.map((li) => li.textContent ?? ''));
  t.equal(links.length, 1);
  t.match(links[0], new RegExp(`^erin: ${folio.origin.replace(/[.]/g, '\\.')}/account/set-password#token=`), 'Erin\'s set-password link');
  t.ok(await page.$('table.roster th:text("Erin Evans")'), 'Erin is on the roster');
  const erin = await page.getAttribute('table.roster tr:has(th:text("Erin Evans"))', 'data-student');
  t.equal(await isEnrolled(db, 'cs101', erin!), true);
  // Out again, so that the other tests see the course as seeded.
  t.equal((await folio.app.inject({ method: 'DELETE', url: `/api/courses/cs101/roster/${erin}`, headers: { authorization: `Bearer ${await adminToken()}` } })).statusCode, 204);
  t.strictSame(problems, []);
});

/** A bearer token of the admin, for changes made outside the browser. */
async function adminToken(): Promise<string> {
  const res = await folio.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'adam', password, mode: 'token' } });
  return (res.json() as { token: string }).token;
}

t.test('a TA sees the course they assist and not another; the roster and the code are read-only for them', async (t) => {
  const { page, problems } = await openDashboard(t);
  await logIn(page, 'tomas');
  await page.waitForSelector('table.courses');
  t.strictSame(await courseLinks(page), [['Programming 101', '#/courses/cs101']]);
  await page.click('text=Programming 101');
  await page.waitForSelector('table.grid');
  t.equal(await page.$('#rotate-code'), null, 'no Rotate');
  t.equal(await page.$('#add-usernames'), null, 'no roster changes');
  t.equal((await gridRows(page)).length, 3);
  await checkScreen(t, page, 'course-ta');
  await page.goto(`${dashboard}#/courses/cs102`);
  await page.waitForSelector('h1:text("No such course")');
  const api = await page.evaluate(async () => (await fetch('/api/courses/cs102/progress', { credentials: 'same-origin' })).status);
  t.equal(api, 403, 'and the API refuses him the other course');
  t.strictSame(problems.filter((p) => !p.includes('/api/courses/cs102/progress')), []);
});

t.test("an instructor asks for her course, clicks the identity provider's button, signs in there, and is back at her course, logged in (a first-party cookie)", async (t) => {
  const idp = await startIdentityProvider({ clients: [{ clientId: 'folio', clientSecret: 'folio-client-secret', redirectUris: [`${folio.origin}/api/auth/oidc/uni/callback`] }] });
  t.teardown(idp.close);
  const metadata = await discoverProvider(idp.issuer, 'folio');
  await addProvider(db, { id: 'uni', issuer: metadata.issuer, clientId: 'folio', clientSecret: sealClientSecret(folio.app.secret, 'uni', 'folio-client-secret'), title: 'University login', metadata, allowedDomains: [], createAccounts: false });
  t.teardown(() => removeProvider(db, 'uni'));
  await linkIdentity(db, { issuer: idp.issuer, sub: 'irene-at-uni', providerId: 'uni', name: undefined, email: undefined, emailVerified: false }, irene.id);
  const { page, problems } = await openDashboard(t);
  await page.goto(`${dashboard}#/courses/cs101`);
  const button = page.locator('.providers button:text("University login")');
  await button.waitFor();
  await checkScreen(t, page, 'login-providers');
  await button.click();
  await page.waitForSelector('input[name="login"]');
  t.equal(new URL(page.url()).origin, idp.issuer, "the whole page shows the provider's login form");
  await page.fill('input[name="login"]', 'irene-at-uni');
  await page.fill('input[name="password"]', 'any password');
  await page.click('button[type="submit"]');
  await page.waitForSelector('button[type="submit"]:has-text("Continue")');
  await page.click('button[type="submit"]');
  await page.waitForSelector('table.grid');
  t.equal(page.url(), `${dashboard}#/courses/cs101`, 'the screen she asked for');
  t.match(await page.textContent('#account'), /Logged in as Irene Instructor/);
  t.match(await page.textContent('h1'), /Programming 101/);
  const cookies = await page.context().cookies(folio.origin);
  t.strictSame(cookies.map((c) => [c.name, c.httpOnly, c.secure]), [['__Host-folio', true, true]], "the dashboard's session cookie, and the sign-in's binding cookie is gone");
  t.strictSame(problems, []);
});

t.test('a student who opens the dashboard sees that it is not for students, with a link back', async (t) => {
  const { page, problems } = await openDashboard(t);
  await logIn(page, 'sam');
  await page.waitForSelector('h1:text("not for students")');
  t.equal(await page.textContent('h1'), 'The dashboard is for instructors and TAs — not for students');
  t.ok(await page.$('main a[href]'), 'a link back');
  await checkScreen(t, page, 'not-for-students');
  t.strictSame(problems, []);
});

t.test('an admin sees every course, and opens one they do not teach', async (t) => {
  const { page, problems } = await openDashboard(t);
  await logIn(page, 'adam');
  await page.waitForSelector('table.courses');
  t.equal(await page.textContent('h1'), 'All courses');
  t.strictSame(await courseLinks(page), [
    ['Programming 101', '#/courses/cs101'],
    ['Programming 102', '#/courses/cs102'],
  ]);
  await checkScreen(t, page, 'admin');
  await page.click('text=Programming 102');
  await page.waitForSelector('h2#progress-heading');
  t.match(await page.textContent('main'), 'No student is enrolled yet');
  t.ok(await page.$('#rotate-code'), 'an admin may rotate its code');
  await page.click('#account button');
  await page.waitForSelector('form.login');
  t.equal(await page.textContent('#status'), 'Logged out.');
  t.strictSame(problems, []);
});

/** The Questions screen's tables: each chapter's title and its rows as text (question, kind, the numbers). */
const questionTables = (page: Page) =>
  page.$$eval('main section', (sections) =>
    sections
      .filter((s) => s.querySelector('table.questions'))
      .map((s) => [
        s.querySelector('h2')?.textContent,
        [...s.querySelectorAll('table.questions tbody tr')].map((r) => [...r.children].map((c) => [...c.childNodes].map((n) => (n.textContent ?? '').trim()).filter(Boolean).join(' '))),
      ]),
  );

// Before the student test below, which gives Ben more work in cs101.
t.test('the instructor opens Questions: a table per chapter with attempts, students, first try, eventually correct and median, the hardest first; sorting by a column reorders them', async (t) => {
  const { page, problems } = await openDashboard(t);
  await logIn(page, 'irene');
  await page.goto(`${dashboard}#/courses/cs101`);
  await page.waitForSelector('table.grid');
  await page.click('nav.course-nav a:text("Questions")');
  await page.waitForSelector('#question-tables[data-loaded] table.questions');
  t.equal(new URL(page.url()).hash, '#/courses/cs101/questions');
  t.equal(await page.textContent('h1'), 'Questions');
  t.equal(await page.getAttribute('nav.course-nav a[aria-current="page"]', 'href'), '#/courses/cs101/questions');
  t.match(await page.textContent('#questions-order'), /the hardest first: the lowest share of students right on their first try/);
  t.equal(await page.textContent('#status'), 'Questions loaded: 2 tables.', 'the chapters were loaded one after another, the live region said so');
  // Ben and Cara, one attempt each: q1-1 right at once by both, q1-2 by Cara only; q2-1 Cara; q2-2 nobody (last).
  t.strictSame(await questionTables(page), [
    [
      'Values and lists',
      [
        ['q1-2 1. Values and lists', 'fitb', '2', '2', '1 50%', '1 50%', '1'],
        ['q1-1 1. Values and lists', 'mchoice', '2', '2', '2 100%', '2 100%', '1'],
      ],
    ],
    [
      'Loops',
      [
        ['q2-1 2. Loops', 'mchoice', '1', '1', '1 100%', '1 100%', '1'],
        ['q2-2 2. Loops', 'fitb', '0', '0', '0 —', '0 —', '—'],
      ],
    ],
  ]);
  t.strictSame(await page.$eval('table.questions', (table) => [...table.querySelectorAll('thead th')].map((th) => th.getAttribute('aria-sort'))), ['none', 'none', 'none', 'none', 'ascending', 'none', 'none']);
  await checkScreen(t, page, 'questions');

  await page.click('button[data-focus="sort-0-question"]');
  await page.waitForFunction(() => document.querySelector('table.questions thead th')?.getAttribute('aria-sort') === 'ascending');
  t.strictSame((await questionTables(page)).map(([title, rows]) => [title, (rows as string[][]).map((r) => r[0]!.split(' ')[0])]), [
    ['Values and lists', ['q1-1', 'q1-2']],
    ['Loops', ['q2-1', 'q2-2']],
  ], 'in the book\'s order, every table');
  t.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-focus')), 'sort-0-question', 'the focus stays on the sort button');
  t.match(await page.textContent('#status'), 'Questions sorted in the book\'s order.');
  await page.click('button[data-focus="sort-1-attempts"]');
  await page.waitForFunction(() => document.querySelectorAll('table.questions')[1]?.querySelectorAll('thead th')[2]?.getAttribute('aria-sort') === 'descending');
  t.strictSame((await questionTables(page)).map(([, rows]) => (rows as string[][]).map((r) => r[0]!.split(' ')[0])), [['q1-1', 'q1-2'], ['q2-1', 'q2-2']], 'most attempts first (ties in the book\'s order)');
  t.match(await page.textContent('#questions-order'), /most attempts first/);
  await page.click('button[data-focus="sort-0-attempts"]');
  await page.waitForFunction(() => document.querySelector('table.questions thead th:nth-child(3)')?.getAttribute('aria-sort') === 'ascending');
  t.strictSame((await questionTables(page)).map(([, rows]) => (rows as string[][]).map((r) => r[0]!.split(' ')[0])), [['q1-1', 'q1-2'], ['q2-2', 'q2-1']], 'a second click: fewest attempts first');
  await page.click('#hardest-first');
  await page.waitForSelector('#hardest-first', { state: 'detached' });
  t.strictSame((await questionTables(page)).map(([, rows]) => (rows as string[][]).map((r) => r[0]!.split(' ')[0])), [['q1-2', 'q1-1'], ['q2-1', 'q2-2']], 'the hardest first again');

  await page.click('table.questions a[href$="/questions/q1-1"]');
  await page.waitForSelector('#choices');
  t.equal(new URL(page.url()).hash, '#/courses/cs101/questions/q1-1');
  t.strictSame(await page.$$eval('#choices tbody tr', (rows) => rows.map((r) => [r.querySelector('th')?.textContent, r.querySelector('td.num')?.firstChild?.textContent, (r.querySelector('.fill') as HTMLElement).style.width])), [['b ✓ correct', '2', '100%']]);
  t.match(await page.textContent('#question-facts'), /Students who answered2 of 3 enrolled/);
  await checkScreen(t, page, 'question');

  await page.goto(`${dashboard}#/courses/cs101/questions/q2-2`);
  await page.waitForSelector('text=No student of the course has answered this question yet.');
  await page.click('nav.crumbs a:text("Questions")');
  await page.waitForSelector('#question-tables[data-loaded] table.questions');
  t.strictSame(problems, [], 'no CSP refusal, no failed request, no error');
});

// The course overview's activity and the exports screen. The world above has, today, Ben's 2 answers and Cara's 3
// answers, her program and her completed page; these tests add page views: Ben's today, Ana's 10 days ago.
const dayMs = 86_400_000;
const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const pageView = (userId: string, at: number) =>
  db.run(sql`INSERT INTO events (user_id, book_id, type, page, server_time) VALUES (${userId}, 'demo', 'page:view', 'ch1', CAST(${at} AS BIGINT))`);
let viewsAdded = false;
async function addPageViews(): Promise<void> {
  if (viewsAdded) return;
  viewsAdded = true;
  await pageView(ben.id, Date.now());
  await pageView(ana.id, Date.now() - 10 * dayMs);
}

t.test('the overview shows who was active this week and a chart of activity per day, with its numbers as a table, under the CSP', async (t) => {
  await addPageViews();
  const { page, problems } = await openDashboard(t);
  await logIn(page, 'irene');
  await page.goto(`${dashboard}#/courses/cs101`);
  await page.waitForSelector('#activity-chart canvas');
  t.equal(await page.textContent('#active-week'), '2 of 3', 'Ben and Cara this week; Ana 10 days ago');
  t.match(await page.getAttribute('#activity-chart', 'aria-label'), '5 answers, 1 program save, 2 page views', 'the chart\'s summary for assistive technology');
  t.match(await page.getAttribute('#activity-chart', 'role'), 'img');
  t.strictSame(await page.$$eval('#activity-chart .u-legend .u-label', (labels) => labels.map((l) => l.textContent)), ['Day (UTC)', 'Answers', 'Program saves', 'Page views'], 'a legend of the three series');
  t.ok(await page.$eval('#activity-chart canvas', (c) => (c as HTMLCanvasElement).width > 200), 'the canvas is drawn');
  const rows = await page.$$eval('#activity-table tbody tr', (trs) => trs.map((tr) => [tr.getAttribute('data-day'), ...[...tr.querySelectorAll('td')].map((td) => td.textContent)]));
  t.equal(rows.length, 30, 'every day of the last 30, zeros included');
  t.strictSame(
    rows.filter((r) => r.slice(1).some((n) => n !== '0')),
    [
      [utcDay(Date.now() - 10 * dayMs), '0', '0', '1', '1'],
      [utcDay(Date.now()), '5', '1', '1', '2'],
    ],
    'the seeded numbers: answers, program saves, page views, students',
  );
  t.equal(await page.$('#lms-scores'), null, 'no LMS section: the course has no LMS link and no score waiting');
  await page.click('.activity-numbers summary');
  await checkScreen(t, page, 'overview-activity');
  t.strictSame(problems, [], 'no CSP refusal (uPlot sets styles from script only), no failed request, no error');
});

t.test('on a phone the chart fits the screen', async (t) => {
  const { page, problems } = await openDashboard(t, { width: 390, height: 844 });
  await logIn(page, 'irene');
  await page.goto(`${dashboard}#/courses/cs101`);
  await page.waitForSelector('#activity-chart canvas');
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  t.ok(width <= 390, `the page is ${width} px wide`);
  await checkScreen(t, page, 'overview-phone');
  t.strictSame(problems, []);
});

t.test('the instructor opens Exports: the consent counts, and a CSV download with the server\'s file name that parses', async (t) => {
  await addPageViews();
  await db.run(sql`UPDATE users SET research_consent = 1 WHERE id IN (${ben.id}, ${cara.id})`);
  t.teardown(() => db.run(sql`UPDATE users SET research_consent = 0 WHERE id IN (${ben.id}, ${cara.id})`));
  const { page, problems } = await openDashboard(t);
  await logIn(page, 'irene');
  await page.goto(`${dashboard}#/courses/cs101`);
  await page.click('nav.course-nav a:text("Exports")');
  await page.waitForSelector('#consent-counts');
  t.equal(new URL(page.url()).hash, '#/courses/cs101/exports');
  t.equal(await page.getAttribute('nav.course-nav a[aria-current="page"]', 'href'), '#/courses/cs101/exports');
  t.equal(await page.textContent('#consent-counts'), '2 of 3 enrolled students consented to research; 1 did not.');
  t.match(await page.textContent('main'), 'Only students who consented appear in the exports, and pseudonymised');
  t.strictSame(
    await page.$$eval('table.exports tbody tr', (trs) => trs.map((tr) => [tr.getAttribute('data-kind'), ...[...tr.querySelectorAll('a')].map((a) => a.getAttribute('href'))])),
    ['answers', 'programs', 'events', 'completions'].map((kind) => [kind, ...['csv', 'jsonl', 'xapi'].map((format) => `/api/courses/cs101/export?kind=${kind}&format=${format}`)]),
    'every kind in every format, as links to the course\'s export',
  );
  await checkScreen(t, page, 'exports');

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('tr[data-kind="answers"] a[data-format="csv"]')]);
  const name = download.suggestedFilename();
  // The URL's last segment is "export": a name like this can only come from the server's Content-Disposition.
  t.match(name, /^cs101-answers-\d{8}T\d{6}Z\.csv$/, 'the course, the kind, the time it ends');
  t.equal(download.url(), `${folio.origin}/api/courses/cs101/export?kind=answers&format=csv`);
  // The same address from the page (Playwright's download gives no headers): the server names the file so.
  const again = await page.evaluate(async (url) => {
    const res = await fetch(url, { method: 'HEAD', credentials: 'same-origin' });
    return { status: res.status, disposition: res.headers.get('content-disposition'), type: res.headers.get('content-type') };
  }, download.url());
  t.equal(again.status, 200);
  t.match(again.disposition, /^attachment; filename="cs101-answers-\d{8}T\d{6}Z\.csv"$/);
  t.equal(again.type, 'text/csv; charset=utf-8');
  const file = await download.path();
  const records = parseCsv(await readFile(file, 'utf8')).map((r) => r.fields);
  t.strictSame(records[0], ['id', 'user', 'question', 'attempt', 'kind', 'answer', 'correct', 'score', 'page', 'savedAt'], 'the header');
  const body = records.slice(1);
  t.equal(body.length, 5, 'Ben\'s 2 answers and Cara\'s 3; Ana did not consent');
  t.strictSame(body.map((r) => r[2]).sort(), ['q1-1', 'q1-1', 'q1-2', 'q1-2', 'q2-1']);
  t.equal(new Set(body.map((r) => r[1])).size, 2, 'two students, pseudonymised');
  t.notOk(body.some((r) => r.includes(ben.id) || r.includes(cara.id) || r.includes('ben') || r.includes('cara')), 'no user id or username');
  t.strictSame(problems, []);
});

t.test('a TA opens Exports too; the date fields narrow every link', async (t) => {
  const { page, problems } = await openDashboard(t);
  await logIn(page, 'tomas');
  await page.goto(`${dashboard}#/courses/cs101/exports`);
  await page.waitForSelector('#consent-counts');
  await page.fill('#export-since', '2026-09-01');
  await page.dispatchEvent('#export-since', 'change');
  t.equal(await page.getAttribute('tr[data-kind="events"] a[data-format="jsonl"]', 'href'), '/api/courses/cs101/export?kind=events&format=jsonl&since=2026-09-01');
  t.strictSame(problems, []);
});

t.test('a course an LMS links lists the scores waiting for its gradebook: student, page, score, attempts, next attempt, last error', async (t) => {
  const now = Date.now();
  const next = now + 3_600_000; // not due while the test runs: the sender leaves it alone
  await db.run(sql`INSERT INTO lti_contexts (issuer, deployment_id, context_id, book_id, course_id, created_at) VALUES ('https://lms.example', 'd1', 'ctx1', 'demo', 'cs102', CAST(${now} AS BIGINT))`);
  await db.run(sql`INSERT INTO lti_scores (user_id, lineitem, issuer, client_id, deployment_id, sub, resource_link_id, scopes, book_id, page, course_id,
    score_given, score_maximum, activity_progress, grading_progress, changed_at, pending, attempts, next_attempt_at, last_error, created_at)
    VALUES (${ben.id}, 'https://lms.example/lineitems/1', 'https://lms.example', 'client', 'd1', 'lms-ben', 'link1', 'score', 'demo', 'ch1', 'cs102',
    1, 2, 'InProgress', 'FullyGraded', CAST(${now} AS BIGINT), 1, 3, CAST(${next} AS BIGINT), 'https://lms.example/lineitems/1/scores answered 503', CAST(${now} AS BIGINT))`);
  t.teardown(async () => {
    await db.run(sql`DELETE FROM lti_scores WHERE course_id = 'cs102'`);
    await db.run(sql`DELETE FROM lti_contexts WHERE course_id = 'cs102'`);
  });
  const { page, problems } = await openDashboard(t);
  await logIn(page, 'olga');
  await page.goto(`${dashboard}#/courses/cs102`);
  await page.waitForSelector('#lms-scores table');
  t.equal(await page.textContent('#lms-heading'), 'Scores waiting for the LMS (1)');
  const rows = await page.$$eval('#lms-scores tbody tr', (trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent)));
  t.equal(rows.length, 1);
  t.strictSame(rows[0]!.slice(0, 4), ['Ben Brown', 'ch1', '1 / 2', '3']);
  t.equal(await page.getAttribute('#lms-scores tbody tr td:nth-child(5) time', 'datetime'), new Date(next).toISOString(), 'the next attempt');
  t.equal(rows[0]![5], 'https://lms.example/lineitems/1/scores answered 503');
  await checkScreen(t, page, 'lms-scores');
  await db.run(sql`DELETE FROM lti_scores WHERE course_id = 'cs102'`);
  await page.reload();
  await page.waitForSelector('#lms-heading');
  t.equal(await page.textContent('#lms-scores'), 'LMS gradebookEvery score has reached the LMS gradebook.', 'linked, none waiting');
  t.strictSame(problems, []);
});

t.test("the instructor opens a student from the grid: progress by chapter, a program's history with two versions compared, a question's attempts in order", async (t) => {
  // Ben's ac2-1, saved three times, and three attempts at q2-2 (the last correct).
  const ben2 = { userId: ben.id, bookId: 'demo' };
  for (const code of ['for i in range(3):\n    print(i)\n', 'for i in range(3):\n    print(i * 2)\n', 'for i in range(5):\n    print(i * 2)\nprint("done")\n']) {
    await saveProgram(db, ben2, 'ac2-1', { code, language: 'python', page: 'ch2' });
  }
  for (const [text, correct] of [['x', false], ['y', false], ['z', true]] as const) await saveAnswer(db, ben2, 'q2-2', { kind: 'fitb', answer: [text], correct, page: 'ch2' });

  const { page, problems } = await openDashboard(t);
  await logIn(page, 'irene');
  await page.goto(`${dashboard}#/courses/cs101`);
  await page.click('table.grid a:text("Ben Brown")');
  await page.waitForSelector('#answers-heading');
  t.equal(await page.textContent('h1'), 'Ben Brown');
  t.strictSame(
    await page.$$eval('table.chapters:not(.pages) tbody tr', (rows) => rows.map((r) => [...r.children].map((c) => c.textContent))),
    [
      ['Values and lists', '◑1 of 2', '0 of 1', '50%'],
      ['Loops', '◑1 of 2', '0 of 1', '50%'],
    ],
    'points, pages completed and share by chapter',
  );
  t.match(await page.textContent('#student-facts'), /Last activity\w/);
  t.match(await page.textContent('#student-facts'), '2 of 4 points · 0 of 2 pages completed');

  // The history: the previous version and the latest compared by default, the changed lines marked by symbol.
  await page.click('article.program:has(code:text("ac2-1")) button:text("Versions and differences")');
  await page.waitForSelector('table.diff');
  t.equal(new URL(page.url()).hash, `#/courses/cs101/students/${ben.id}/programs/ac2-1/2..3`, 'the comparison has an address of its own');
  t.strictSame([await page.inputValue('#history-0-from'), await page.inputValue('#history-0-to')], ['2', '3']);
  const diffRows = () => page.$$eval('table.diff tbody tr', (rows) => rows.map((r) => [r.querySelector('.sign [aria-hidden]')?.textContent ?? '', r.querySelector('.text')?.textContent ?? '']));
  t.equal(await page.textContent('table.diff caption'), 'From version 2 to version 3: 2 lines added, 1 line removed');
  t.strictSame(await diffRows(), [
    ['−', 'for i in range(3):'],
    ['+', 'for i in range(5):'],
    ['', '    print(i * 2)'],
    ['+', 'print("done")'],
  ]);
  await checkScreen(t, page, 'student-diff');

  // Another pair, picked with the keyboard.
  await page.focus('#history-0-from');
  await page.keyboard.press('ArrowDown');
  await page.waitForSelector('table.diff caption:text("From version 1 to version 3")');
  t.strictSame(await diffRows(), [
    ['−', 'for i in range(3):'],
    ['−', '    print(i)'],
    ['+', 'for i in range(5):'],
    ['+', '    print(i * 2)'],
    ['+', 'print("done")'],
  ]);
  t.equal(new URL(page.url()).hash, `#/courses/cs101/students/${ben.id}/programs/ac2-1/1..3`);

  // A question's attempts, in order.
  await page.click('table.answers tr:has(code:text("q2-2")) button');
  await page.waitForSelector('table.attempts tbody tr');
  t.strictSame(
    await page.$$eval('table.attempts tbody tr', (rows) => rows.map((r) => [...r.children].slice(0, 3).map((c) => c.textContent))),
    [
      ['1', 'not correct', '["x"]'],
      ['2', 'not correct', '["y"]'],
      ['3', 'correct', '["z"]'],
    ],
  );
  t.equal(await page.getAttribute('table.answers tr:has(code:text("q2-2")) button', 'aria-expanded'), 'true');
  await checkScreen(t, page, 'student-attempts');

  // The address of a comparison opens it.
  await page.goto(`${dashboard}#/courses/cs101/students/${ben.id}/programs/ac2-1/1..2`);
  await page.waitForSelector('table.diff caption:text("From version 1 to version 2")');
  t.strictSame(await diffRows(), [
    ['', 'for i in range(3):'],
    ['−', '    print(i)'],
    ['+', '    print(i * 2)'],
  ]);

  // On a phone the page reflows; the tables and the diff scroll in their own regions.
  await page.setViewportSize({ width: 390, height: 844 });
  t.ok((await page.evaluate(() => document.documentElement.scrollWidth)) <= 390, 'the page is no wider than the phone');
  await checkScreen(t, page, 'student-phone');
  t.strictSame(problems, []);
});

t.test('a question opens its distribution of choices as bars (the correct one marked) and a fill-in-the-blank its most common answers; on a phone too', async (t) => {
  // Course cs103 of the same book, with its own instructor and students (the other tests' numbers stay as they are).
  await createCourse(db, { id: 'cs103', bookId: 'demo', title: 'Programming 103' });
  await addStaff(db, 'cs103', (await account('quinn', 'Quinn Questions')).id, 'instructor');
  const [pia, quentin, rosa] = [await account('pia', 'Pia P'), await account('quentin', 'Quentin Q'), await account('rosa', 'Rosa R')];
  await enrol(db, 'cs103', [pia.id, quentin.id, rosa.id], 'staff');
  const save = (userId: string, question: string, kind: string, value: unknown, correct: boolean) => saveAnswer(db, { userId, bookId: 'demo' }, question, { kind, answer: value, correct, page: 'ch1' } as never);
  await save(pia.id, 'q1-1', 'mchoice', ['a'], false);
  await save(pia.id, 'q1-1', 'mchoice', ['c'], true);
  await save(quentin.id, 'q1-1', 'mchoice', ['c'], true);
  await save(rosa.id, 'q1-1', 'mchoice', ['b'], false);
  await save(pia.id, 'q1-2', 'fitb', ['Ten'], true);
  await save(quentin.id, 'q1-2', 'fitb', [' ten '], true);
  await save(rosa.id, 'q1-2', 'fitb', ['eleven'], false);

  const { page, problems } = await openDashboard(t);
  await logIn(page, 'quinn');
  await page.goto(`${dashboard}#/courses/cs103/questions`);
  await page.waitForSelector('#question-tables[data-loaded] table.questions');
  t.strictSame((await questionTables(page))[0], [
    'Values and lists',
    [
      ['q1-1 1. Values and lists', 'mchoice', '4', '3', '1 33%', '2 67%', '1'],
      ['q1-2 1. Values and lists', 'fitb', '3', '3', '2 67%', '2 67%', '1'],
    ],
  ]);
  await page.click('table.questions a[href$="/questions/q1-1"]');
  await page.waitForSelector('#choices');
  t.strictSame(
    await page.$$eval('#choices tbody tr', (rows) => rows.map((r) => [r.querySelector('th')?.textContent, r.querySelector('td.num')?.textContent, Math.round(parseFloat((r.querySelector('.fill') as HTMLElement).style.width))])),
    [
      ['c ✓ correct', '267%', 67],
      ['b', '133%', 33],
    ],
    'most chosen first, each bar as wide as its share, the correct choice marked in words',
  );
  t.equal(await page.$eval('#choices tbody tr', (r) => getComputedStyle(r.querySelector('.fill')!).width !== '0px'), true, 'the bar is drawn');
  await checkScreen(t, page, 'question-choices');

  await page.goto(`${dashboard}#/courses/cs103/questions/q1-2`);
  await page.waitForSelector('#common-answers');
  t.strictSame(await page.$$eval('#common-answers tbody tr', (rows) => rows.map((r) => [...r.children].map((c) => c.textContent))), [
    ['Ten', '2', 'correct'],
    ['eleven', '1', 'not correct'],
  ]);
  t.match(await page.textContent('main'), '2 of 2 different answers');
  await checkScreen(t, page, 'question-answers');

  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${dashboard}#/courses/cs103/questions`);
  await page.waitForSelector('#question-tables[data-loaded] table.questions');
  t.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), 'the page does not scroll sideways on a phone (the tables scroll in their regions)');
  await checkScreen(t, page, 'questions-phone');
  t.strictSame(problems, []);
});
