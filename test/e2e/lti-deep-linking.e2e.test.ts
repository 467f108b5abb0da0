/**
 * LTI Deep Linking in a real Chromium: the platform fixture's course page (http://127.0.0.1, another site) frames the
 * tool; Folio (https://api.test) shows the page picker inside the frame, its hashed script ticks a chapter's pages,
 * and the signed response it auto-posts reaches the platform, which verifies it against Folio's JWKS. No CSP
 * violation on the way.
 */
import type { JSONWebKeySet } from 'jose';
import t from 'tap';
import { createBook, importToc } from '../../db/books.js';
import { addPlatform } from '../../db/lti.js';
import { lis, startPlatform } from '../../scripts/lti-platform.js';
import { launchBrowser, makeCertificate, startFolio } from './harness.js';

const certificate = await makeCertificate(t);
const folio = await startFolio(t, { ...certificate, publicOrigin: true });
// On loopback over plain http, so that Folio (not the browser) can fetch its JWKS without trusting the test certificate.
const platform = await startPlatform({ toolOrigin: folio.origin, toolJwks: async () => (await folio.app.inject({ method: 'GET', url: '/lti/jwks' })).json() as JSONWebKeySet });
t.teardown(platform.close);
await addPlatform(folio.app.db, platform.registration());
await createBook(folio.app.db, { id: 'book', title: 'A book', origins: ['https://book.test'] });
await importToc(folio.app.db, 'book', {
  chapters: [
    {
      id: 'ch1',
      title: 'Values',
      pages: [
        { id: 'ch1/intro', title: 'Introduction', questions: [{ id: 'q1', kind: 'mchoice', points: 2 }], activities: [] },
        { id: 'ch1/lists', title: 'Lists', questions: [], activities: [] },
      ],
    },
    { id: 'ch2', title: 'Loops', pages: [{ id: 'ch2/for', title: 'For loops', questions: [], activities: [] }] },
  ],
});
await folio.app.books.refresh();

const context = await launchBrowser(t, { stockCookies: true, blockCookiesFor: ['api.test'] });

t.test("an instructor picks pages in the LMS's frame (a chapter ticks its pages), and the platform receives the signed links", async (t) => {
  platform.plan('teacher', { sub: 'teacher-1', roles: [`${lis}Instructor`], targetLinkUri: `${folio.origin}/lti/launch`, context: { id: 'ctx-1', title: 'CS 101' }, custom: { book: 'book' }, deepLinking: { data: 'd-42' } });
  const page = await context.newPage();
  t.teardown(() => page.close());
  const problems: string[] = [];
  page.on('console', (message) => {
    // The browser asks the platform fixture for a favicon it does not have: not the tool's concern.
    if (message.type() === 'error' && !message.location().url.endsWith('/favicon.ico')) problems.push(`${message.text()} (${message.location().url})`);
  });
  page.on('pageerror', (err) => problems.push(err.message));
  await page.goto(platform.coursePage('teacher'));
  const tool = page.frameLocator('iframe[name="tool"]');
  const chapter = tool.locator('input[name="chapter"][value="book:ch1"]');
  await chapter.check();
  t.same(await tool.locator('input[data-in="book:ch1"]').evaluateAll((boxes) => boxes.map((b) => (b as HTMLInputElement).checked)), [true, true], "the chapter's pages are ticked");
  await tool.locator('input[value="book:ch1/lists"]').uncheck();
  t.equal(await chapter.isChecked(), false, 'a page unticked unticks its chapter');
  await tool.locator('input[value="book:ch2/for"]').check();
  await tool.locator('button[value="link"]').click();
  await tool.locator('h1', { hasText: 'Linked' }).waitFor();
  t.equal(platform.record.deepLinkResponses.length, 1);
  const [response] = platform.record.deepLinkResponses;
  t.same(
    (response!['https://purl.imsglobal.org/spec/lti-dl/claim/content_items'] as Array<{ title: string; url: string }>).map((i) => [i.title, i.url]),
    [
      ['Introduction', 'https://book.test/ch1/intro.html'],
      ['For loops', 'https://book.test/ch2/for.html'],
    ],
  );
  t.equal(response!['https://purl.imsglobal.org/spec/lti-dl/claim/data'], 'd-42');
  t.strictSame(problems, [], 'no CSP violation, no script error');
});
