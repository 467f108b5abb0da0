/**
 * The components for book authors in a real Chromium, across two HTTPS sites: pages on https://book.test made of
 * markup alone (<folio-book>, questions, a login box, a saved indicator) load /client/components.js from Folio on
 * https://api.test. Every element saves, comes back after a reload from the page's one state request, keeps work
 * offline and sends it once back online; authoring mistakes are shown on the page and in the console; a browser that
 * refuses Folio's cookies works through a token; axe-core finds no serious or critical violation; a page with one
 * multiple-choice question downloads under 30 KB.
 */
import { sql } from 'drizzle-orm';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import t, { type Test } from 'tap';
import { createBook } from '../../db/books.js';
import { root } from '../helper.js';
import { launchBrowser, makeCertificate, recordRequests, startBookSite, startFolio } from './harness.js';

const certificate = await makeCertificate(t);
const folio = await startFolio(t, { ...certificate, configOverrides: { passwordCost: 10 } });
const seen = recordRequests(folio.app);
const axe = await readFile(join(root, 'node_modules/axe-core/axe.min.js'), 'utf8');

const head = (title: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title><script type="module" src="${folio.origin}/client/components.js"></script></head>`;

/** Every element on one page (its id: its path, ch1/all). */
const allPage = `${head('Every element')}<body><folio-book server="${folio.origin}" book="comp">
<header><folio-status></folio-status></header>
<folio-login></folio-login>
<main>
<h1>Every element</h1>
<folio-choice question="q-single">
  <p>What is <code>[10, 20, 30][1]</code>?</p>
  <folio-option value="a" feedback="Indexes start at 0.">10</folio-option>
  <folio-option value="b" correct>20 <folio-feedback>Yes: index 1 is the second item.</folio-feedback></folio-option>
  <folio-option value="c">30</folio-option>
</folio-choice>
<folio-choice question="q-multi" multiple>
  <p>Which numbers are even?</p>
  <folio-option value="two" correct>2</folio-option>
  <folio-option value="three">3</folio-option>
  <folio-option value="four" correct>4</folio-option>
</folio-choice>
<folio-blank question="q-exact" answer="length">The number of items in <code>xs</code> is <code>xs.___</code></folio-blank>
<folio-blank question="q-nocase" answer="Paris" match="nocase">The capital of France is ___.</folio-blank>
<folio-blank question="q-regex" answer="colou?r" match="regex">A word for hue: ___</folio-blank>
<folio-short-answer question="q-short"><p>Why do lists start at 0?</p></folio-short-answer>
<folio-poll question="q-poll"><p>Which loop do you like?</p><folio-option value="for">for</folio-option><folio-option value="while">while</folio-option></folio-poll>
<folio-complete></folio-complete>
</main></folio-book></body></html>`;

/** One multiple-choice question and nothing else. */
const onePage = `${head('One question')}<body><folio-book server="${folio.origin}" book="comp" page="one"><main><h1>One question</h1>
<folio-choice question="q-one"><p>2 + 2?</p><folio-option value="3">3</folio-option><folio-option value="4" correct>4</folio-option></folio-choice>
</main></folio-book></body></html>`;

/** Authoring mistakes: a question without an id, an id used twice, a regular expression that is not one. */
const mistakesPage = `${head('Mistakes')}<body><folio-book server="${folio.origin}" book="comp" page="mistakes"><main><h1>Mistakes</h1>
<folio-choice><p>No id</p><folio-option value="a">A</folio-option></folio-choice>
<folio-blank question="twice" answer="x">First ___</folio-blank>
<folio-blank question="twice" answer="y">Second ___</folio-blank>
<folio-blank question="bad-regex" answer="(" match="regex">Broken ___</folio-blank>
</main></folio-book></body></html>`;

/** Two code activities: JavaScript run by the built-in runner, Python by the page's own `run` listener. */
const codePage = `${head('Code')}<body><folio-book server="${folio.origin}" book="comp" page="code"><folio-status></folio-status><main><h1>Code</h1>
<folio-code activity="ac-js" language="javascript" pause="300"><pre>const xs = [1, 2, 3];
console.log(xs.reduce((a, b) => a + b, 0));</pre></folio-code>
<folio-code activity="ac-py" language="python"><pre>print("hi")</pre></folio-code>
<script>document.querySelector('[activity=ac-py]').addEventListener('run', (e) => { e.preventDefault(); e.detail.print('page runner: ' + e.detail.code.length + ' characters'); });</script>
</main></folio-book></body></html>`;

/** A page of a book Folio does not know: its work cannot be loaded. */
const unknownPage = `${head('Unknown book')}<body><folio-book server="${folio.origin}" book="no-such-book" page="unknown"><folio-status></folio-status><main><h1>Unknown book</h1>
<folio-choice question="q-u"><p>2 + 2?</p><folio-option value="4" correct>4</folio-option></folio-choice>
</main></folio-book></body></html>`;

const site = await startBookSite({ ...certificate, files: { '/ch1/all.html': allPage, '/one.html': onePage, '/mistakes.html': mistakesPage, '/code.html': codePage, '/unknown.html': unknownPage } });
t.teardown(() => site.close());
await createBook(folio.app.db, { id: 'comp', title: 'Components', origins: [site.origin] });
await folio.app.books.refresh();

const context = await launchBrowser(t, { stockCookies: true });
const browser = context.browser()!;

async function newProfile(t: Test): Promise<BrowserContext> {
  const profile = await browser.newContext({ ignoreHTTPSErrors: true });
  t.teardown(() => profile.close());
  return profile;
}

/** Every question and completion on the page has been restored (each element marks itself with data-state). */
const restored = (page: Page) =>
  page.waitForFunction(
    () =>
      document.querySelector('folio-book[data-ready]') !== null &&
      document.querySelectorAll(':is(folio-choice, folio-poll, folio-blank, folio-short-answer, folio-complete):not([data-state]):not([data-folio-mistake])').length === 0,
  );

async function open(profile: BrowserContext, path: string): Promise<Page> {
  const page = await profile.newPage();
  await page.goto(`${site.origin}${path}`);
  await restored(page);
  return page;
}

const feedbackOf = (page: Page, selector: string) => page.textContent(`${selector} .folio-feedback`);
const statusOf = (page: Page) => page.getAttribute('folio-status', 'data-state');

/** Answers every question of the all-elements page, right or wrong as given, and waits until each is saved. */
async function answerAll(page: Page): Promise<void> {
  await page.check('folio-choice[question=q-single] input[value=b]');
  await page.click('folio-choice[question=q-single] button');
  await page.check('folio-choice[question=q-multi] input[value=two]');
  await page.check('folio-choice[question=q-multi] input[value=four]');
  await page.click('folio-choice[question=q-multi] button');
  await page.fill('folio-blank[question=q-exact] input', 'length');
  await page.click('folio-blank[question=q-exact] button');
  await page.fill('folio-blank[question=q-nocase] input', '  paris ');
  await page.press('folio-blank[question=q-nocase] input', 'Enter');
  await page.fill('folio-blank[question=q-regex] input', 'colr');
  await page.click('folio-blank[question=q-regex] button');
  await page.fill('folio-short-answer textarea', 'Because an index is an offset.');
  await page.click('folio-short-answer button');
  await page.check('folio-poll input[value=while]');
  await page.click('folio-poll button');
  await page.check('folio-complete input');
  for (const q of ['q-single', 'q-multi', 'q-exact', 'q-nocase', 'q-regex', 'q-short', 'q-poll']) {
    await page.waitForFunction((q) => /Saved/.test(document.querySelector(`[question="${q}"] .folio-feedback`)?.textContent ?? ''), q);
  }
  await page.waitForFunction(() => document.querySelector('folio-complete .folio-feedback')?.textContent === 'Saved.');
}

async function rows(book: string): Promise<{ question: string; kind: string; answer: string; correct: number | null }[]> {
  return (await folio.app.db.all(sql`SELECT question, kind, answer, correct FROM answers WHERE book_id = ${book} ORDER BY id`)) as never;
}

t.test('every element saves what the student does, with the kind, answer and verdict the markup gives', async (t) => {
  const page = await open(await newProfile(t), '/ch1/all.html');
  await answerAll(page);
  t.match(await feedbackOf(page, 'folio-choice[question=q-single]'), /^Correct! Yes: index 1 is the second item\. Saved \(attempt 1\)\.$/);
  t.match(await feedbackOf(page, 'folio-blank[question=q-regex]'), /^Not yet: try again\. Saved/);
  await page.waitForFunction(() => document.querySelector('folio-status')?.getAttribute('data-state') === 'saved');
  t.equal(await page.textContent('folio-status'), 'All work saved');
  const stored = (await rows('comp')).map((r) => [r.question, r.kind, JSON.parse(r.answer), r.correct === null ? null : Boolean(r.correct)]);
  t.strictSame(stored, [
    ['q-single', 'mchoice', ['b'], true],
    ['q-multi', 'mchoice', ['two', 'four'], true],
    ['q-exact', 'fitb', ['length'], true],
    ['q-nocase', 'fitb', ['paris'], true],
    ['q-regex', 'fitb', ['colr'], false],
    ['q-short', 'shortanswer', 'Because an index is an offset.', null],
    ['q-poll', 'poll', 'while', null],
  ]);
  const completed = (await folio.app.db.all(sql`SELECT page FROM page_completions WHERE book_id = 'comp'`)) as { page: string }[];
  t.strictSame(completed.map((c) => c.page), ['ch1/all'], 'the page id is its path without / and .html');

  // After a reload, everything comes back from one state request.
  const before = seen.length;
  await page.reload();
  await restored(page);
  t.ok(await page.isChecked('folio-choice[question=q-single] input[value=b]'));
  t.ok(await page.isChecked('folio-choice[question=q-multi] input[value=four]'));
  t.notOk(await page.isChecked('folio-choice[question=q-multi] input[value=three]'));
  t.equal(await page.inputValue('folio-blank[question=q-exact] input'), 'length');
  t.equal(await page.inputValue('folio-blank[question=q-regex] input'), 'colr');
  t.equal(await page.inputValue('folio-short-answer textarea'), 'Because an index is an offset.');
  t.ok(await page.isChecked('folio-poll input[value=while]'));
  t.ok(await page.isChecked('folio-complete input'));
  t.equal(await feedbackOf(page, 'folio-blank[question=q-regex]'), 'Your last answer: Not yet right. 1 attempt.');
  t.equal(await page.getAttribute('folio-choice[question=q-single]', 'data-state'), 'correct');
  const reads = seen.slice(before).filter((r) => r.method === 'GET' && r.url.startsWith('/api/books/comp/'));
  t.strictSame(reads.map((r) => r.url), ['/api/books/comp/state?page=ch1%2Fall'], 'one page-state request for the whole page, <folio-complete> included');
});

t.test('work done offline is kept, said so, and sent once the browser is back online', async (t) => {
  const profile = await newProfile(t);
  const page = await open(profile, '/one.html');
  // A first save makes the anonymous session this browser uses.
  await page.check('folio-choice input[value="3"]');
  await page.click('folio-choice button');
  await page.waitForFunction(() => /Saved/.test(document.querySelector('folio-choice .folio-feedback')?.textContent ?? ''));
  await profile.setOffline(true);
  await page.check('folio-choice input[value="4"]');
  await page.click('folio-choice button');
  await page.waitForFunction(() => /Kept in this browser/.test(document.querySelector('folio-choice .folio-feedback')?.textContent ?? ''));
  t.equal(await page.textContent('folio-choice .folio-feedback'), 'Correct! Kept in this browser: it is sent when Folio can be reached.');
  t.equal(await page.getAttribute('folio-book', 'aria-busy'), null);
  const offline = await page.evaluate(() => document.querySelector('folio-status')?.textContent ?? null);
  t.equal(offline, null, 'this page has no <folio-status>: the question says it');
  t.equal((await rows('comp')).filter((r) => r.question === 'q-one').length, 1, 'only the first attempt reached Folio');
  await profile.setOffline(false);
  await t.resolves(waitFor(async () => (await rows('comp')).filter((r) => r.question === 'q-one').length === 2), 'the kept attempt arrives');
  const attempts = (await rows('comp')).filter((r) => r.question === 'q-one').map((r) => [JSON.parse(r.answer), r.correct === null ? null : Boolean(r.correct)]);
  t.strictSame(attempts, [[['3'], false], [['4'], true]]);
  await page.reload();
  await restored(page);
  t.ok(await page.isChecked('folio-choice input[value="4"]'));
});

t.test('the saved indicator says offline with the number of changes kept, then saved', async (t) => {
  const profile = await newProfile(t);
  const page = await open(profile, '/ch1/all.html');
  await page.fill('folio-short-answer textarea', 'first');
  await page.click('folio-short-answer button');
  await page.waitForFunction(() => document.querySelector('folio-status')?.getAttribute('data-state') === 'saved');
  await profile.setOffline(true);
  await page.fill('folio-short-answer textarea', 'second, offline');
  await page.click('folio-short-answer button');
  await page.fill('folio-blank[question=q-exact] input', 'size');
  await page.click('folio-blank[question=q-exact] button');
  await page.waitForFunction(() => /2 changes/.test(document.querySelector('folio-status')?.textContent ?? ''));
  t.equal(await statusOf(page), 'offline');
  t.equal(await page.textContent('folio-status'), 'Offline: 2 changes kept in this browser, sent when you are back online');
  t.equal(await page.getAttribute('folio-status', 'role'), 'status');
  await profile.setOffline(false);
  await page.waitForFunction(() => document.querySelector('folio-status')?.getAttribute('data-state') === 'saved');
  await page.reload();
  await restored(page);
  t.equal(await page.inputValue('folio-short-answer textarea'), 'second, offline');
  t.equal(await page.inputValue('folio-blank[question=q-exact] input'), 'size');
});

t.test('authoring mistakes are shown on the page in development and in the console, and such questions are not saved', async (t) => {
  const page = await (await newProfile(t)).newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && m.text().startsWith('Folio:')) errors.push(m.text());
  });
  await page.goto(`${site.origin}/mistakes.html`);
  await page.waitForSelector('folio-book[data-ready]');
  const shown = await page.$$eval('.folio-mistake', (notes) => notes.map((n) => n.textContent ?? ''));
  t.equal(shown.length, 3);
  t.match(shown[0], /^Authoring mistake \(shown in development only\): <folio-choice> has no question="…" attribute/);
  t.match(shown[1], /<folio-blank question="twice"> repeats the question of an element above it/);
  t.match(shown[2], /answer="\(" is not a regular expression/);
  t.equal(errors.length, 3, 'each in the console too');
  // The console's order is the order the element types' code arrived in: any.
  t.equal(errors.filter((e) => /^Folio: <folio-blank question="twice"> repeats/.test(e)).length, 1, 'the repeated id in the console');
  t.equal(await page.getAttribute('folio-blank[answer=x]', 'data-folio-mistake'), null, 'the first of the two keeps working');
  await page.fill('folio-blank[answer=y] input', 'y');
  await page.click('folio-blank[answer=y] button');
  t.equal(await page.textContent('folio-blank[answer=y] .folio-feedback'), 'Correct! Not saved: this question has an authoring mistake (see the console).');
  t.strictSame((await rows('comp')).filter((r) => r.question === 'twice'), [], 'nothing saved under the repeated id');
});

t.test('the elements have no serious or critical axe-core violation, in light and dark colour schemes, with feedback shown', async (t) => {
  const profile = await newProfile(t);
  await profile.addInitScript({ content: axe });
  const page = await open(profile, '/ch1/all.html');
  await page.check('folio-choice[question=q-single] input[value=a]');
  await page.click('folio-choice[question=q-single] button');
  await page.waitForFunction(() => /Saved/.test(document.querySelector('folio-choice .folio-feedback')?.textContent ?? ''));
  for (const colorScheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme });
    const violations = await page.evaluate(async () => {
      const result = await (window as unknown as { axe: { run(): Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> } }).axe.run();
      return result.violations.map((v) => ({ id: v.id, impact: v.impact, targets: v.nodes.map((n) => n.target.join(' ')).slice(0, 3) }));
    });
    t.strictSame(violations.filter((v) => v.impact === 'serious' || v.impact === 'critical'), [], `${colorScheme}: no serious or critical violation`);
  }
  // Keyboard only: Tab reaches an option, arrows choose, Enter on the button checks.
  await page.focus('folio-choice[question=q-multi] input[value=two]');
  await page.keyboard.press('Space');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Space');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => /Saved/.test(document.querySelector('folio-choice[question=q-multi] .folio-feedback')?.textContent ?? ''));
  t.match(await feedbackOf(page, 'folio-choice[question=q-multi]'), /^Correct!/);
});

t.test('a page with one multiple-choice question downloads under 30 KB in all, with one state request and no editor', async (t) => {
  const profile = await newProfile(t);
  const page = await profile.newPage();
  const responses: { url: string; bytes: number }[] = [];
  page.on('requestfinished', (request) => {
    void request.sizes().then((sizes) => responses.push({ url: request.url(), bytes: sizes.responseBodySize + sizes.responseHeadersSize }));
  });
  await page.goto(`${site.origin}/one.html`);
  await restored(page);
  await page.waitForLoadState('networkidle');
  const total = responses.reduce((sum, r) => sum + r.bytes, 0);
  t.comment(`one-question page: ${responses.length} responses, ${total} bytes: ${responses.map((r) => `${new URL(r.url).pathname} ${r.bytes}`).join(', ')}`);
  t.ok(total < 30 * 1024, `${total} bytes < 30 KB`);
  t.equal(responses.filter((r) => r.url.includes('/api/books/comp/state')).length, 1);
  t.notOk(responses.some((r) => /\/components\/(code|login|blank)-/.test(r.url)), 'no other element\'s code');
});

t.test('with Folio\'s cookies blocked, <folio-login> registers through a token and the work comes back after a reload', async (t) => {
  const blocked = await launchBrowser(t, { stockCookies: true, blockCookiesFor: ['api.test'] });
  const page = await blocked.newPage();
  await page.goto(`${site.origin}/ch1/all.html`);
  await restored(page);
  await page.fill('folio-login input[name=username]', 'grace');
  await page.fill('folio-login input[name=password]', 'correct horse battery staple');
  await page.click('folio-login button[data-action=register]');
  await page.waitForSelector('folio-login[data-user=grace]');
  t.equal(await page.getAttribute('folio-login', 'data-mode'), 'token');
  t.equal(await page.textContent('folio-login .folio-who'), 'Logged in as grace (this browser refuses Folio’s cookie, so a token is used).');
  t.ok(await page.isHidden('folio-login form'));
  await page.fill('folio-blank[question=q-nocase] input', 'PARIS');
  await page.click('folio-blank[question=q-nocase] button');
  await page.waitForFunction(() => /Saved/.test(document.querySelector('[question=q-nocase] .folio-feedback')?.textContent ?? ''));
  await page.reload();
  await restored(page);
  await page.waitForSelector('folio-login[data-user=grace]');
  t.equal(await page.inputValue('folio-blank[question=q-nocase] input'), 'PARIS');
  t.strictSame(await blocked.cookies(folio.origin), [], 'the browser kept no cookie of Folio');
  await page.click('folio-login button[data-action=logout]');
  await page.waitForSelector('folio-login[data-user=""]');
  await page.waitForFunction(() => (document.querySelector('folio-blank[question=q-nocase] input') as HTMLInputElement).value === '');
  t.ok(await page.isVisible('folio-login form'), 'the login form again, and grace\'s work gone from the page');
});

t.test('<folio-status> says when the page could not load the student\'s work (a book Folio does not know), in its error state', async (t) => {
  const page = await (await newProfile(t)).newPage();
  await page.goto(`${site.origin}/unknown.html`);
  await page.waitForSelector('folio-book[data-ready]');
  await page.waitForSelector('folio-status[data-state=error]');
  t.equal(await page.textContent('folio-status'), `Could not load your work: could not reach Folio at ${folio.origin} (Failed to fetch)`, 'the browser refused the reply: Folio allows no origin for a book it does not know');
});

async function programs(activity: string): Promise<{ version: number; code: string; language: string }[]> {
  return (await folio.app.db.all(sql`SELECT version, code, language FROM programs WHERE book_id = 'comp' AND activity = ${activity} ORDER BY version`)) as never;
}

t.test('<folio-code>: runs JavaScript in a worker, saves on run and after a pause in typing, restores the latest version, goes back to an earlier one', async (t) => {
  const page = await open(await newProfile(t), '/code.html');
  await page.waitForSelector('folio-code[activity=ac-js] .cm-content');
  await page.click('folio-code[activity=ac-js] button[data-action=run]');
  await page.waitForFunction(() => document.querySelector('[activity=ac-js] .folio-output')?.textContent === '6');
  await page.waitForFunction(() => /Saved as version 1/.test(document.querySelector('[activity=ac-js] .folio-note')?.textContent ?? ''));
  t.strictSame(await programs('ac-js'), [{ version: 1, code: 'const xs = [1, 2, 3];\nconsole.log(xs.reduce((a, b) => a + b, 0));', language: 'javascript' }], 'saved on run');
  // Typing, then a pause: saved by itself.
  await page.click('folio-code[activity=ac-js] .cm-content');
  await page.keyboard.press('Control+End');
  await page.keyboard.type('\nconsole.log("more");');
  await page.waitForFunction(() => /Saved as version 2/.test(document.querySelector('[activity=ac-js] .folio-note')?.textContent ?? ''));
  t.match((await programs('ac-js'))[1]?.code, /console\.log\("more"\);$/);
  // The page's own runner for Python.
  await page.click('folio-code[activity=ac-py] button[data-action=run]');
  await page.waitForFunction(() => document.querySelector('[activity=ac-py] .folio-output')?.textContent === 'page runner: 11 characters');
  await page.reload();
  await restored(page);
  await page.waitForSelector('folio-code[activity=ac-js][data-state=restored]');
  t.match(await page.textContent('folio-code[activity=ac-js] .cm-content'), /console\.log\("more"\);/);
  t.equal(await page.textContent('folio-code[activity=ac-js] .folio-note'), 'Restored version 2.');
  // History: version 1 loaded back, saved as version 3.
  await page.click('folio-code[activity=ac-js] button[data-action=history]');
  await page.waitForFunction(() => document.querySelectorAll('[activity=ac-js] select option[value]').length === 2);
  await page.selectOption('folio-code[activity=ac-js] select', '1');
  await page.click('folio-code[activity=ac-js] button[data-action=load]');
  await page.waitForFunction(() => /Saved as version 3/.test(document.querySelector('[activity=ac-js] .folio-note')?.textContent ?? ''));
  t.equal((await programs('ac-js'))[2]?.code, (await programs('ac-js'))[0]?.code, 'the earlier version is the latest again');
  // An endless loop is stopped.
  await page.evaluate(() => ((document.querySelector('[activity=ac-js]') as HTMLElement & { code: string }).code = 'while (true) {}'));
  await page.click('folio-code[activity=ac-js] button[data-action=run]');
  await page.waitForFunction(() => /Stopped after 5 s/.test(document.querySelector('[activity=ac-js] .folio-output')?.textContent ?? ''), undefined, { timeout: 10_000 });
  t.pass('an endless loop is stopped after 5 s');
});

async function waitFor(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
