/**
 * An LTI 1.3 launch in a real Chromium, end to end: the LMS (the platform fixture, https://lms.test) shows a course
 * page that launches Folio (https://api.test) in an iframe — the third-party initiated login, the platform's
 * authorization, the form_post of the id_token — and Folio sends the frame on to the demo book page
 * (https://book.test) with a hand-off code. The browser refuses every cookie of Folio, so nothing of the round trip
 * may rest on one: the book page ends up logged in (token mode) as the LMS's student, she answers a question, and
 * the LMS's gradebook receives her score. The same launch in a new window works too.
 */
import { sql } from 'drizzle-orm';
import type { JSONWebKeySet } from 'jose';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Frame, Page } from 'playwright-core';
import t from 'tap';
import { createBook, importToc } from '../../db/books.js';
import { addPlatform } from '../../db/lti.js';
import { checkToc } from '../../lib/toc.js';
import { demoPageFiles } from '../../scripts/demo.js';
import { lis, startPlatform } from '../../scripts/lti-platform.js';
import { root } from '../helper.js';
import { launchBrowser, makeCertificate, startBookSite, startFolio } from './harness.js';

const certificate = await makeCertificate(t);
const folio = await startFolio(t, { ...certificate, publicOrigin: true });
const site = await startBookSite({ ...certificate, files: await demoPageFiles(folio.origin) });
t.teardown(() => site.close());
await createBook(folio.app.db, { id: 'demo', title: 'Folio demo book', origins: [site.origin] });
const toc = checkToc(JSON.parse(await readFile(join(root, 'examples/book/toc.json'), 'utf8')) as unknown);
if ('problems' in toc) throw new Error(toc.problems.join('; '));
await importToc(folio.app.db, 'demo', toc.toc);
await folio.app.books.refresh();

const lms = await startPlatform({
  toolOrigin: folio.origin,
  // The platform's server checks Folio's client assertions with Folio's JWKS (its own process cannot resolve api.test).
  toolJwks: async () => (await folio.app.inject({ method: 'GET', url: '/lti/jwks' })).json<JSONWebKeySet>(),
  tls: { key: await readFile(certificate.key, 'utf8'), cert: await readFile(certificate.cert, 'utf8') },
  publicOrigin: (port) => `https://lms.test:${port}`,
});
t.teardown(lms.close);
await addPlatform(folio.app.db, lms.registration());

const course = { context: { id: 'ctx-e2e', label: 'CS 101', title: 'CS 101 in the LMS' }, resourceLink: { id: 'link-ch1', title: '1. Values and lists' }, targetLinkUri: `${site.origin}/index.html` };
const lineItem = { id: 'li-ch1', label: '1. Values and lists', scoreMaximum: 2 };
lms.plan('sam', { ...course, sub: 'lms-sam', name: 'Sam Student', email: 'sam@example.edu', roles: [`${lis}Learner`], lineItem });
lms.plan('robin', { ...course, sub: 'lms-robin', name: 'Robin Reader', roles: [`${lis}Learner`], lineItem });

const context = await launchBrowser(t, { stockCookies: true, blockCookiesFor: ['api.test'] });

async function eventually<T>(read: () => Promise<T> | T, done: (value: T) => boolean): Promise<T> {
  for (let i = 0; ; i++) {
    const value = await read();
    if (done(value) || i === 100) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Waits until the book page in `where` is logged in as the LMS user `name` and ready. */
async function loggedIn(where: Page | Frame, name: string): Promise<void> {
  await where.waitForSelector(`#account[data-user^="lti-"]`, { timeout: 20_000 });
  await where.waitForSelector('folio-book[data-ready]');
  await where.locator('#account .folio-who', { hasText: name }).waitFor();
}

const userOf = async (sub: string) => (await folio.app.db.all<{ user_id: string }>(sql`SELECT user_id FROM lti_users WHERE sub = ${sub}`))[0]?.user_id;

t.test('a launch in the LMS iframe logs the student in on the book page with every Folio cookie refused; her answer reaches the LMS gradebook as a score', async (t) => {
  const page = await context.newPage();
  t.teardown(() => page.close());
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(lms.coursePage('sam'));
  const frame = await eventually(
    () => page.frames().find((f) => f.url().startsWith(site.origin)),
    (f) => f !== undefined,
  );
  t.ok(frame, 'the iframe arrived at the book page');
  await loggedIn(frame!, 'Sam Student');
  t.equal(await frame!.getAttribute('#account', 'data-mode'), 'token', 'token mode: the browser refuses Folio\'s cookies');
  t.equal(frame!.url(), `${site.origin}/index.html`, 'the hand-off code is gone from the address');
  t.strictSame(await context.cookies(folio.origin), [], 'the browser kept no cookie of Folio');

  const sam = await userOf('lms-sam');
  const [enrolment] = await folio.app.db.all<{ via: string; title: string }>(sql`SELECT e.via, c.title FROM enrolments e JOIN courses c ON c.id = e.course_id WHERE e.user_id = ${sam}`);
  t.same(enrolment, { via: 'lti', title: 'CS 101 in the LMS' });

  await frame!.check('folio-choice[question="q1-1"] input[value="b"]');
  await frame!.click('folio-choice[question="q1-1"] button');
  await frame!.locator('folio-choice[question="q1-1"] .folio-feedback', { hasText: 'Correct! Saved' }).waitFor();
  const scores = await eventually(
    () => lms.record.scores.filter((s) => s.body['userId'] === 'lms-sam'),
    (s) => s.length > 0,
  );
  t.equal(scores.length, 1, 'one score for one change');
  t.match(scores[0], { lineItem: 'li-ch1', contentType: 'application/vnd.ims.lis.v1.score+json', body: { userId: 'lms-sam', scoreGiven: 1, scoreMaximum: 2, gradingProgress: 'FullyGraded' } });
  t.strictSame(errors, []);
});

t.test('the same launch in a new window (the LMS opens the tool with target=_blank) ends logged in too', async (t) => {
  const page = await context.newPage();
  t.teardown(() => page.close());
  const opened = context.waitForEvent('page');
  await page.goto(`${lms.coursePage('robin')}?window=new`);
  const tool = await opened;
  t.teardown(() => tool.close());
  await tool.waitForURL(`${site.origin}/index.html`, { timeout: 20_000 });
  await loggedIn(tool, 'Robin Reader');
  t.equal(await tool.getAttribute('#account', 'data-mode'), 'token');
  t.ok(await userOf('lms-robin'));
});

t.test('in a browser that refuses the framed book page its storage (no storage partitioning), the launched student still saves: the client does without localStorage and locks', async (t) => {
  lms.plan('kim', { ...course, sub: 'lms-kim', name: 'Kim Keen', roles: [`${lis}Learner`], lineItem });
  const unpartitioned = await launchBrowser(t);
  const page = await unpartitioned.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(lms.coursePage('kim'));
  const frame = await eventually(
    () => page.frames().find((f) => f.url().startsWith(site.origin)),
    (f) => f !== undefined,
  );
  await loggedIn(frame!, 'Kim Keen');
  t.equal(
    await frame!.evaluate(() => {
      try {
        return typeof localStorage.length;
      } catch (err) {
        return (err as Error).name;
      }
    }),
    'SecurityError',
    'the browser refuses the frame its storage',
  );
  await frame!.check('folio-choice[question="q1-1"] input[value="b"]');
  await frame!.click('folio-choice[question="q1-1"] button');
  await frame!.locator('folio-choice[question="q1-1"] .folio-feedback', { hasText: 'Correct! Saved' }).waitFor();
  const scores = await eventually(
    () => lms.record.scores.filter((s) => s.body['userId'] === 'lms-kim'),
    (s) => s.length > 0,
  );
  t.match(scores, [{ lineItem: 'li-ch1', body: { scoreGiven: 1, scoreMaximum: 2 } }]);
  t.strictSame(errors, []);
});
