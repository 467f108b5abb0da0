/**
 * The browser client and the demo book in a real Chromium, across two HTTPS sites: the demo pages (examples/book/,
 * markup alone: Folio's components) on https://book.test load the components from Folio on https://api.test, as any
 * book would. A student's work
 * survives a reload, a browser that refuses Folio's cookies, a dropped network and an ended session, and one
 * student never sees another's.
 */
import type { FastifyInstance } from 'fastify';
import { mkdir, readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import t, { type Test } from 'tap';
import { createBook, importToc } from '../../db/books.js';
import { addStaff, createCourse } from '../../db/courses.js';
import { createAccount } from '../../db/users.js';
import { hashPassword } from '../../lib/passwords.js';
import { checkToc } from '../../lib/toc.js';
import { demoPageFiles } from '../../scripts/demo.js';
import { root } from '../helper.js';
import { launchBrowser, makeCertificate, startBookSite, startFolio } from './harness.js';
import { sql } from 'drizzle-orm';

const password = 'correct horse battery staple';

const certificate = await makeCertificate(t);

const folio = await startFolio(t, { ...certificate, configOverrides: { passwordCost: 10 } });
const site = await startBookSite({ ...certificate, files: await demoPageFiles(folio.origin) });
t.teardown(() => site.close());
await createBook(folio.app.db, { id: 'demo', title: 'Folio demo book', origins: [site.origin] });
await folio.app.books.refresh();

interface Exchange {
  method: string;
  url: string;
  cookie: boolean;
  bearer: boolean;
  status: number;
}

/** Every request that reaches Folio from now on: whether it carried a cookie or a bearer token, and its status. */
function recordExchanges(app: FastifyInstance): Exchange[] {
  const exchanges: Exchange[] = [];
  app.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    res.once('finish', () => {
      exchanges.push({
        method: req.method ?? '',
        url: req.url ?? '',
        cookie: req.headers.cookie !== undefined,
        bearer: /^Bearer /.test(req.headers.authorization ?? ''),
        status: res.statusCode,
      });
    });
  });
  return exchanges;
}
const seen = recordExchanges(folio.app);

// Chromium's own third-party cookie behaviour (partitioned cookies work), not Playwright's.
const stock = await launchBrowser(t, { stockCookies: true });
const browser = stock.browser()!;

/** A fresh browser profile (its own cookies and storage), closed when the subtest ends. */
async function newProfile(t: Test): Promise<BrowserContext> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  t.teardown(() => context.close());
  return context;
}

/** Waits until the page's elements (their code loaded lazily) are all there and restored from the page state. */
async function ready(page: Page): Promise<void> {
  await page.waitForFunction(
    () => document.querySelector('folio-book[data-ready]') !== null && document.querySelectorAll(':is(folio-code, folio-choice, folio-blank, folio-complete):not([data-state])').length === 0,
  );
}

/** Opens a demo page and waits until it has restored the student's work. */
async function openBook(context: BrowserContext, path = '/index.html'): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${site.origin}${path}`);
  await ready(page);
  return page;
}

async function reload(page: Page): Promise<void> {
  await page.reload();
  await ready(page);
}

/** Logs in or registers with the demo page's <folio-login id="account">. */
async function signIn(page: Page, action: 'register' | 'login', username: string): Promise<void> {
  await page.fill('#account input[name="username"]', username);
  await page.fill('#account input[name="password"]', password);
  await page.click(`#account button[data-action="${action}"]`);
  await page.waitForSelector(`#account[data-user="${username}"]`);
  await restored(page);
}

/** Waits until the page has restored the work of whoever is logged in now (its <folio-book> is aria-busy meanwhile). */
async function restored(page: Page): Promise<void> {
  await page.waitForSelector('folio-book:not([aria-busy])', { state: 'attached' });
}

const activity = (id: string) => `folio-code[activity="${id}"]`;
const question = (id: string) => `[question="${id}"]`;

/** Puts code in an activity's editor (its `code` property, as a page's script would). */
async function setCode(page: Page, id: string, code: string): Promise<void> {
  await page.$eval(activity(id), (element, code) => void ((element as HTMLElement & { code: string }).code = code), code);
}

/** The code in an activity's editor. */
async function codeOf(page: Page, id: string): Promise<string> {
  return page.$eval(activity(id), (element) => (element as HTMLElement & { code: string }).code);
}

/** Puts code in an activity, clicks Save, and waits for the note the page shows. */
async function saveCode(page: Page, id: string, code: string, note: string | RegExp): Promise<void> {
  await setCode(page, id, code);
  await page.click(`${activity(id)} button[data-action="save"]`);
  await page.locator(`${activity(id)} .folio-note`, { hasText: note }).waitFor();
}

async function textOf(page: Page, selector: string): Promise<string> {
  return ((await page.textContent(selector)) ?? '').trim();
}

async function userId(username: string): Promise<string> {
  return ((await folio.app.db.get(sql`SELECT id FROM users WHERE username = ${username}`)) as { id: string }).id;
}

/** The code of every version of activity ac1-1 saved by these students, oldest first, by username. */
async function savedCode(...usernames: string[]): Promise<Record<string, string[]>> {
  const rows = (await folio.app.db.all(sql`SELECT u.username AS who, p.code FROM programs p JOIN users u ON u.id = p.user_id WHERE p.activity = 'ac1-1' ORDER BY p.id`)) as { who: string | null; code: string }[];
  const byUser: Record<string, string[]> = {};
  for (const { who, code } of rows) if (who !== null && usernames.includes(who)) (byUser[who] ??= []).push(code);
  return byUser;
}

async function eventsOf(username: string): Promise<{ type: string; target: string | null; page: string | null }[]> {
  return (await folio.app.db.all(sql`SELECT type, target, page FROM events WHERE user_id = ${await userId(username)} ORDER BY id`)) as { type: string; target: string | null; page: string | null }[];
}

/** Polls `read` until `done` holds (at most 5 s); returns the last value read. */
async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const until = Date.now() + 5000;
  let value = await read();
  while (!done(value) && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    value = await read();
  }
  return value;
}

/**
 * Case 1, and case 2 with a browser that refuses Folio's cookies: register on the book page, write and run code (Run
 * saves it), answer both questions, reload: everything is restored and the events are in the database.
 */
async function workAndReload(t: Test, context: BrowserContext, username: string): Promise<Page> {
  const page = await openBook(context);
  await signIn(page, 'register', username);
  await setCode(page, 'ac1-1', 'console.log(6 * 7)');
  await page.click(`${activity('ac1-1')} button[data-action="run"]`);
  await page.waitForFunction((selector) => document.querySelector(selector)?.textContent !== '', `${activity('ac1-1')} .folio-output`);
  t.equal(await textOf(page, `${activity('ac1-1')} .folio-output`), '42', 'the program ran');
  await page.locator(`${activity('ac1-1')} .folio-note`, { hasText: 'Saved as version 1.' }).waitFor();
  await page.check(`${question('q1-1')} input[value="b"]`);
  await page.click(`${question('q1-1')} button`);
  await page.locator(`${question('q1-1')} .folio-feedback`, { hasText: 'Correct! Saved (attempt 1).' }).waitFor();
  await page.fill(`${question('q1-2')} input`, 'size');
  await page.click(`${question('q1-2')} button`);
  await page.locator(`${question('q1-2')} .folio-feedback`, { hasText: 'Not yet: try again. Saved (attempt 1).' }).waitFor();

  await reload(page);
  t.equal(await page.getAttribute('#account', 'data-user'), username, 'still logged in');
  t.equal(await codeOf(page, 'ac1-1'), 'console.log(6 * 7)');
  t.equal(await textOf(page, `${activity('ac1-1')} .folio-note`), 'Restored version 1.');
  t.ok(await page.isChecked(`${question('q1-1')} input[value="b"]`));
  t.equal(await textOf(page, `${question('q1-1')} .folio-feedback`), 'Your last answer: Correct. 1 attempt.');
  t.equal(await page.inputValue(`${question('q1-2')} input`), 'size');
  t.equal(await textOf(page, `${question('q1-2')} .folio-feedback`), 'Your last answer: Not yet right. 1 attempt.');

  // The page view logged before registering went with the registration; the run went out with keepalive as the page unloaded.
  const events = await eventually(() => eventsOf(username), (e) => e.length >= 2);
  t.strictSame(events, [
    { type: 'page:view', target: null, page: 'ch1' },
    { type: 'run', target: 'ac1-1', page: 'ch1' },
  ]);
  return page;
}

// A closed profile's page still sends its last events (pagehide, keepalive): wait until the server has been quiet
// for 300 ms, so that no test sees requests of the one before.
t.beforeEach(async () => {
  for (let count = -1; count !== seen.length; ) {
    count = seen.length;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  seen.length = 0;
});

t.test('1. a student registers, writes code, answers, reloads: all is restored, and the events reach the database', async (t) => {
  const context = await newProfile(t);
  await workAndReload(t, context, 'ada');
  t.equal(await (await context.pages()[0]!).getAttribute('#account', 'data-mode'), 'cookie');
  t.match(await context.cookies(folio.origin), [{ name: '__Host-folio', partitionKey: 'https://book.test' }], 'the partitioned session cookie');
  t.notOk(seen.some((e) => e.bearer), 'no request needed a token');
});

t.test('2. in a browser that refuses Folio\'s cookies, the client falls back to a token and everything still works', async (t) => {
  const context = await launchBrowser(t, { stockCookies: true, blockCookiesFor: ['api.test'] });
  const page = await workAndReload(t, context, 'grace');
  t.equal(await page.getAttribute('#account', 'data-mode'), 'token');
  t.strictSame(await context.cookies(folio.origin), [], 'the browser kept no cookie of Folio');
  t.notOk(seen.some((e) => e.cookie), 'no request carried a cookie');
  t.ok(seen.some((e) => e.method === 'PUT' && e.url === '/api/books/demo/programs/ac1-1' && e.bearer && e.status === 200), 'the save carried the token');
  const kinds = ((await folio.app.db.all(sql`SELECT kind FROM sessions WHERE user_id = ${await userId('grace')} ORDER BY kind`)) as { kind: string }[]).map((s) => s.kind);
  t.strictSame(kinds, ['cookie', 'token'], 'the session of the first register, whose cookie the browser refused, and the token session');
});

t.test('3. a save made offline is kept, and arrives once when the browser is back online', async (t) => {
  const context = await newProfile(t);
  const page = await openBook(context);
  await signIn(page, 'register', 'hedy');
  await context.setOffline(true);
  await saveCode(page, 'ac1-1', 'console.log("offline")', 'Kept in this browser: it is sent when Folio can be reached.');
  t.equal(await page.getAttribute('#sync', 'data-state'), 'offline');
  t.match(await textOf(page, '#sync'), /^Offline: 1 change kept in this browser/);
  t.strictSame(await savedCode('hedy'), {});

  await context.setOffline(false);
  await page.waitForSelector('#sync[data-state="saved"]');
  t.strictSame(await savedCode('hedy'), { hedy: ['console.log("offline")'] });
  await page.waitForTimeout(1500); // longer than the first retry's wait: nothing is sent again
  t.strictSame(await savedCode('hedy'), { hedy: ['console.log("offline")'] }, 'saved once');
  t.equal(seen.filter((e) => e.method === 'PUT' && e.url === '/api/books/demo/programs/ac1-1').length, 1, 'one PUT of the program reached the server');
});

t.test('4. after the server ends the session, a save is kept, the page asks for a login, and the save arrives after it', async (t) => {
  const context = await newProfile(t);
  const page = await openBook(context);
  await signIn(page, 'register', 'ida');
  await saveCode(page, 'ac1-1', 'console.log(1)', 'Saved as version 1');
  (await folio.app.db.run(sql`DELETE FROM sessions WHERE user_id = ${await userId('ida')}`));

  await saveCode(page, 'ac1-1', 'console.log(2)', 'Kept in this browser: it is sent when Folio can be reached.');
  await page.waitForSelector('#account .folio-banner:not([hidden])');
  t.match(await textOf(page, '#account .folio-banner'), /^Your session has ended\. Log in again/);
  t.equal(await page.getAttribute('#sync', 'data-state'), 'paused');
  t.equal(await textOf(page, '#sync'), 'Log in to save: 1 change waiting');
  t.strictSame(await savedCode('ida'), { ida: ['console.log(1)'] });

  t.equal(await page.inputValue('#account input[name="username"]'), 'ida', 'the form again, her username still in it');
  await page.fill('#account input[name="password"]', password);
  await page.click('#account button[data-action="login"]');
  await page.waitForSelector('#account .folio-banner[hidden]', { state: 'attached' });
  await page.waitForSelector('#sync[data-state="saved"]');
  await restored(page);
  t.strictSame(await savedCode('ida'), { ida: ['console.log(1)', 'console.log(2)'] });
  t.equal(await codeOf(page, 'ac1-1'), 'console.log(2)');
});

t.test('5. two students on one browser profile: the second never sees the first\'s kept writes', async (t) => {
  const context = await newProfile(t);
  const page = await openBook(context);
  const starter = await codeOf(page, 'ac1-1');
  await signIn(page, 'register', 'joan');
  (await folio.app.db.run(sql`DELETE FROM sessions WHERE user_id = ${await userId('joan')}`));
  await saveCode(page, 'ac1-1', 'console.log("joan\'s secret")', 'Kept in this browser: it is sent when Folio can be reached.');
  await page.waitForSelector('#account .folio-banner:not([hidden])');

  await signIn(page, 'register', 'ken');
  t.equal(await codeOf(page, 'ac1-1'), starter, 'ken sees the starter code, not joan\'s');
  await reload(page);
  t.equal(await page.getAttribute('#account', 'data-user'), 'ken');
  t.equal(await codeOf(page, 'ac1-1'), starter);
  t.strictSame(await savedCode('joan', 'ken'), {}, 'joan\'s kept write was not sent as ken\'s');
  // Ken's own writes (the page records where he is reading) may still be on their way: only the others count. Joan's
  // position, recorded when she registered, is kept too when it went out after her session ended: only programs count.
  const kenId = await userId('ken');
  const outbox = await page.evaluate(() => Object.entries(localStorage).filter(([k]) => k.startsWith('folio|outbox|')).map(([k, v]) => [k, (JSON.parse(v) as { kind: string }).kind]));
  const kept = outbox.filter(([k, kind]) => !k!.includes(`|demo|${kenId}|`) && kind === 'program').map(([k]) => k!);
  t.equal(kept.length, 1, 'it is still kept');
  t.match(kept[0], `|demo|${await userId('joan')}|`, 'under joan\'s id');

  // When joan logs in again on this browser, her write goes to her account.
  await page.click('#account button[data-action="logout"]');
  await page.waitForSelector('#account[data-user=""]');
  await signIn(page, 'login', 'joan');
  await page.waitForSelector('#sync[data-state="saved"]');
  t.strictSame(await savedCode('joan', 'ken'), { joan: ['console.log("joan\'s secret")'] });
  t.equal(await codeOf(page, 'ac1-1'), 'console.log("joan\'s secret")');
});

t.test('6. a screenshot of the demo page is written to test-results/demo.png', async (t) => {
  const context = await newProfile(t);
  const page = await openBook(context);
  await page.setViewportSize({ width: 1100, height: 800 });
  await signIn(page, 'register', 'lin');
  await setCode(page, 'ac1-1', 'const numbers = [4, 5, 6];\nconsole.log(numbers.reduce((a, b) => a + b, 0));');
  await page.click(`${activity('ac1-1')} button[data-action="run"]`);
  await page.locator(`${activity('ac1-1')} .folio-output`, { hasText: '15' }).waitFor();
  await page.locator(`${activity('ac1-1')} .folio-note`, { hasText: 'Saved as version 1' }).waitFor();
  await page.check(`${question('q1-1')} input[value="b"]`);
  await page.click(`${question('q1-1')} button`);
  await page.locator(`${question('q1-1')} .folio-feedback`, { hasText: 'Correct!' }).waitFor();
  await page.waitForSelector('#sync[data-state="saved"]');

  const file = join(root, 'test-results', 'demo.png');
  await mkdir(join(root, 'test-results'), { recursive: true });
  await page.screenshot({ path: file, fullPage: true });
  const png = await readFile(file);
  t.strictSame([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG');
  t.equal(png.readUInt32BE(16), 1100, 'as wide as the viewport');
});

t.test('7. a student opens the book from a ?course=CODE link, logs in, joins with the button: enrolled, and course is gone from the address', async (t) => {
  const course = await createCourse(folio.app.db, { id: 'demo-join', bookId: 'demo', title: 'Programming', term: 'Fall 2026' });
  const context = await newProfile(t);
  const page = await context.newPage();
  await page.goto(`${site.origin}/index.html?course=${course.joinCode.slice(0, 5).toLowerCase()}-${course.joinCode.slice(5)}&x=1#top`);
  await ready(page);
  t.equal(await textOf(page, '#account .folio-offer > span'), `This link invites you to join a course with the code ${course.joinCode}.`);
  await signIn(page, 'register', 'mary');
  await page.setViewportSize({ width: 1100, height: 500 });
  await mkdir(join(root, 'test-results'), { recursive: true });
  await page.screenshot({ path: join(root, 'test-results', 'course-offer.png') }); // the offer, for a look
  await page.click('#account button[data-action="join"]');
  await page.waitForSelector('#account .folio-offer[hidden]', { state: 'attached' });
  t.equal(await textOf(page, '#account .folio-courses'), 'You joined Programming (Fall 2026).');
  t.equal(page.url(), `${site.origin}/index.html?x=1#top`, 'course is gone from the address, the rest stays');
  t.strictSame(await folio.app.db.all(sql`SELECT course_id, via FROM enrolments WHERE user_id = ${await userId('mary')}`), [{ course_id: 'demo-join', via: 'code' }]);
  await reload(page);
  t.ok(await page.isHidden('#account .folio-offer'), 'no offer after the reload');
  await page.locator('#account .folio-courses', { hasText: 'Your course: Programming (Fall 2026)' }).waitFor();
});

t.test('8. a ?course= link with a wrong code says so on the page; Not now dismisses the offer and cleans the address', async (t) => {
  const context = await newProfile(t);
  const page = await context.newPage();
  await page.goto(`${site.origin}/index.html?course=NOPE-NOPE-NO`);
  await ready(page);
  await signIn(page, 'register', 'nell');
  await page.click('#account button[data-action="join"]');
  await page.locator('#account .folio-error', { hasText: 'No course has this code: ask your instructor for a new link.' }).waitFor();
  t.ok(await page.isVisible('#account .folio-offer'), 'the offer stays');
  await page.click('#account button[data-action="dismiss"]');
  await page.waitForSelector('#account .folio-offer[hidden]', { state: 'attached' });
  t.equal(page.url(), `${site.origin}/index.html`);
});

/** A GET of Folio's API from a book page, with the page's own credentials (the partitioned session cookie): its status and JSON. */
async function apiFromPage(page: Page, path: string): Promise<{ status: number; body: any }> {
  return page.evaluate(async (url) => {
    const res = await fetch(url, { credentials: 'include' });
    return { status: res.status, body: await res.json() };
  }, `${folio.origin}${path}`);
}

t.test('9. two courses on one book: a student joins one with its code and works; its instructor sees that work, the other course\'s instructor sees nothing of it', async (t) => {
  const checked = checkToc(JSON.parse(await readFile(join(root, 'examples/book/toc.json'), 'utf8')));
  if (!('toc' in checked)) throw new Error(`examples/book/toc.json: ${checked.problems.join('; ')}`);
  await importToc(folio.app.db, 'demo', checked.toc);
  await folio.app.books.refresh();
  const sectionA = await createCourse(folio.app.db, { id: 'section-a', bookId: 'demo', title: 'Section A' });
  await createCourse(folio.app.db, { id: 'section-b', bookId: 'demo', title: 'Section B' });
  for (const [username, course] of [['alice', 'section-a'], ['bruno', 'section-b']] as const) {
    const account = await createAccount(folio.app.db, { username, passwordHash: await hashPassword(password, 10) });
    await addStaff(folio.app.db, course, account.id, 'instructor');
  }

  // The student: from the section's ?course= link, registers, joins, saves a program and answers a question.
  const student = await (await newProfile(t)).newPage();
  await student.goto(`${site.origin}/index.html?course=${sectionA.joinCode}`);
  await ready(student);
  await signIn(student, 'register', 'sara');
  await student.click('#account button[data-action="join"]');
  await student.waitForSelector('#account .folio-offer[hidden]', { state: 'attached' });
  await saveCode(student, 'ac1-1', 'console.log("sara")', 'Saved as version 1');
  await student.check(`${question('q1-1')} input[value="b"]`);
  await student.click(`${question('q1-1')} button`);
  await student.locator(`${question('q1-1')} .folio-feedback`, { hasText: 'Correct! Saved (attempt 1).' }).waitFor();
  const sara = await userId('sara');

  // Section A's instructor, logged in on the book page like anyone, reads the course's reports from it.
  const alice = await openBook(await newProfile(t));
  await signIn(alice, 'login', 'alice');
  const grid = await apiFromPage(alice, '/api/courses/section-a/progress');
  t.equal(grid.status, 200);
  t.strictSame(
    grid.body.students.map((s: { user: { username: string }; pages: { page: string; attempted: number; correct: number; earned: number }[] }) => [s.user.username, s.pages.map((p) => [p.page, p.attempted, p.correct, p.earned])]),
    [['sara', [['ch1', 1, 1, 1]]]],
    'the grid has the student, with the answer on page ch1',
  );
  const work = await apiFromPage(alice, `/api/courses/section-a/students/${sara}/work`);
  t.equal(work.status, 200);
  t.strictSame(work.body.programs.map((p: { activity: string; code: string }) => [p.activity, p.code]), [['ac1-1', 'console.log("sara")']], 'and her program');

  // Section B's instructor: nothing of section A, and section B has no students.
  const bruno = await openBook(await newProfile(t));
  await signIn(bruno, 'login', 'bruno');
  for (const path of ['/api/courses/section-a/progress', `/api/courses/section-a/students/${sara}/work`, '/api/courses/section-a/questions/q1-1/summary']) {
    const res = await apiFromPage(bruno, path);
    t.strictSame([res.status, res.body.error], [403, 'forbidden'], `${path} for another course's instructor`);
  }
  const other = await apiFromPage(bruno, '/api/courses/section-b/progress');
  t.strictSame([other.status, other.body.students], [200, []], 'his own course lists nobody');
  t.strictSame([(await apiFromPage(bruno, `/api/courses/section-b/students/${sara}/work`)).status], [404], 'not his student');
});
