import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { sql } from 'drizzle-orm';
import { importToc } from '../db/books.js';
import { openDatabase } from '../db/index.js';
import { checkToc, type StoredToc } from '../lib/toc.js';
import { scanPages } from '../lib/toc-scan.js';
import { tocSchemaFile, tocSchemaText } from '../scripts/toc-schema.js';
import { build, folio, fromBook, register, testDatabaseUrl } from './helper.js';

const root = join(import.meta.dirname, '..');
const demoToc = JSON.parse(readFileSync(join(root, 'examples/book/toc.json'), 'utf8')) as unknown;

const toc: StoredToc = {
  chapters: [
    {
      id: 'ch1',
      title: 'Values',
      pages: [
        { id: 'ch1/intro', title: 'Introduction', questions: [{ id: 'q1', kind: 'mchoice', points: 2 }], activities: [{ id: 'ac1' }] },
        { id: 'ch1/lists', title: 'Lists', questions: [], activities: [] },
      ],
    },
  ],
};

t.test('docs/toc.schema.json is the schema the import checks files against (npx tsx scripts/toc-schema.ts writes it)', async (t) => {
  t.equal(readFileSync(tocSchemaFile, 'utf8'), tocSchemaText());
});

t.test("the demo book's table of contents is valid and is what lib/toc-scan finds in its pages (pages, urls, questions with kind and points, activities), with titles of its own", async (t) => {
  const checked = checkToc(demoToc);
  t.notOk('problems' in checked, JSON.stringify(checked));
  if (!('toc' in checked)) return;
  const scanned = scanPages(['index.html', 'page2.html'].map((f) => ({ path: `/${f}`, html: readFileSync(join(root, 'examples/book', f), 'utf8') })));
  const untitled = (toc: { chapters: { id: string; pages: { title: string }[] }[] }) => toc.chapters.map((c) => ({ id: c.id, pages: c.pages.map(({ title: _, ...page }) => page) }));
  t.strictSame(untitled(checked.toc), untitled(scanned));
  t.strictSame(checked.toc.chapters.flatMap((c) => c.pages.map((p) => p.id)), ['ch1', 'ch2'], 'the pages the demo class and the dashboard tests know');
});

t.test('a table of contents keeps what it names: lists default to empty, properties it does not know are not stored', async (t) => {
  const checked = checkToc({ version: 3, chapters: [{ id: 'c', title: 'C', color: 'red', pages: [{ id: 'p', title: 'P', questions: [{ id: 'q', kind: 'poll', points: 0, hint: 'x' }] }] }] });
  t.same(checked, { toc: { chapters: [{ id: 'c', title: 'C', pages: [{ id: 'p', title: 'P', questions: [{ id: 'q', kind: 'poll', points: 0 }], activities: [] }] }] } });
});

t.test("a page's url (its path on the book's origins) is kept; one that is not a path there is refused", async (t) => {
  const withUrl = (url: string) => checkToc({ chapters: [{ id: 'c', title: 'C', pages: [{ id: 'c/p', title: 'P', url }] }] });
  t.same(withUrl('/c/p/'), { toc: { chapters: [{ id: 'c', title: 'C', pages: [{ id: 'c/p', title: 'P', url: '/c/p/', questions: [], activities: [] }] }] } });
  for (const url of ['https://elsewhere.example/p.html', '//elsewhere.example/p.html', 'p.html', '/a page.html']) {
    t.same(withUrl(url), { problems: ['chapters[0].pages[0].url: must match pattern "^/(?!/)\\S*$"'] }, url);
  }
});

t.test('a bad table of contents gets every problem at once, each at its place', async (t) => {
  const cases: [string, unknown, string[]][] = [
    ['not an object', [], ['the file: must be object']],
    ['no chapters', {}, ['chapters: is missing']],
    [
      'bad fields',
      { chapters: [{ id: 'ch1', title: '', pages: [{ id: 'p 1', title: 'P', questions: [{ id: 'q1', kind: 'essay', points: -1 }, { id: 'q2', kind: 'fitb' }] }] }] },
      [
        'chapters[0].title: must NOT have fewer than 1 characters',
        'chapters[0].pages[0].id: must match pattern "^[A-Za-z0-9._:/-]{1,128}$"',
        'chapters[0].pages[0].questions[0].kind: must be one of mchoice, fitb, parsons, dragndrop, clickablearea, shortanswer, unittest, poll, codelens',
        'chapters[0].pages[0].questions[0].points: must be >= 0',
        'chapters[0].pages[0].questions[1].points: is missing',
      ],
    ],
    [
      'ids listed twice',
      {
        chapters: [
          { id: 'c', title: 'C', pages: [{ id: 'p', title: 'P', questions: [{ id: 'q', kind: 'poll', points: 1 }], activities: [{ id: 'a' }, { id: 'a' }] }] },
          { id: 'c', title: 'D', pages: [{ id: 'p', title: 'P2', questions: [{ id: 'q', kind: 'fitb', points: 1 }] }] },
        ],
      },
      [
        'chapters[0].pages[0].activities[1].id: activity "a" is listed twice (first at chapters[0].pages[0].activities[0].id)',
        'chapters[1].id: chapter "c" is listed twice (first at chapters[0].id)',
        'chapters[1].pages[0].id: page "p" is listed twice (first at chapters[0].pages[0].id)',
        'chapters[1].pages[0].questions[0].id: question "q" is listed twice (first at chapters[0].pages[0].questions[0].id)',
      ],
    ],
  ];
  for (const [name, file, problems] of cases) t.same(checkToc(file), { problems }, name);
});

t.test('GET /api/books/:book/toc: 404 no_toc before an import, the table after it, 404 unknown_book for no book', async (t) => {
  const app = await build(t, { originRefreshMs: 60_000 });
  const none = await app.inject({ method: 'GET', url: '/api/books/book/toc' });
  t.equal(none.statusCode, 404);
  t.same(none.json(), { statusCode: 404, error: 'no_toc', message: 'book "book" has no table of contents yet: import one with "folio books toc import book FILE.json"' });
  const before = Date.now();
  t.equal(await importToc(app.db, 'book', toc), true);
  await app.books.refresh();
  const res = await app.inject({ method: 'GET', url: '/api/books/book/toc', headers: fromBook });
  t.equal(res.statusCode, 200);
  const body = res.json();
  t.ok(Date.parse(body.importedAt) >= before - 1);
  t.same(body, { book: 'book', importedAt: body.importedAt, chapters: toc.chapters });
  t.equal(res.headers['access-control-allow-origin'], fromBook.origin);
  const unknown = await app.inject({ method: 'GET', url: '/api/books/nope/toc' });
  t.equal(unknown.statusCode, 404);
  t.equal(unknown.json().error, 'unknown_book');
});

t.test("a re-import replaces the table and keeps the students' work, also on ids it no longer lists", async (t) => {
  const app = await build(t, { originRefreshMs: 60_000 });
  const { cookie } = await register(app);
  await importToc(app.db, 'book', toc);
  const saved = await app.inject({ method: 'POST', url: '/api/books/book/answers/q1', headers: { ...fromBook, cookie }, payload: { kind: 'mchoice', answer: ['a'], correct: true, page: 'ch1/intro' } });
  t.equal(saved.statusCode, 201);
  const next: StoredToc = { chapters: [{ id: 'ch9', title: 'New', pages: [{ id: 'ch9/p', title: 'P', questions: [{ id: 'q9', kind: 'fitb', points: 1 }], activities: [] }] }] };
  t.equal(await importToc(app.db, 'book', next), true);
  await app.books.refresh();
  t.same((await app.inject({ method: 'GET', url: '/api/books/book/toc' })).json().chapters, next.chapters);
  t.same(await app.db.all(sql`SELECT book_id FROM book_tocs`), [{ book_id: 'book' }]);
  const state = await app.inject({ method: 'GET', url: '/api/books/book/state?page=ch1/intro', headers: { ...fromBook, cookie } });
  t.same(Object.keys(state.json().answers), ['q1']);
});

t.test('a table of contents is imported only for a book that exists, and goes with its book', async (t) => {
  const app = await build(t, { originRefreshMs: 60_000 });
  t.equal(await importToc(app.db, 'nope', toc), false);
  await importToc(app.db, 'other', toc);
  await app.db.write((tx) => tx.run(sql`DELETE FROM books WHERE id = 'other'`));
  t.same(await app.db.all(sql`SELECT book_id FROM book_tocs`), []);
});

/** A migrated database of the test's own with book `b`, as FOLIO_DATABASE_URL. */
async function bookDatabase(t: Test): Promise<Record<string, string>> {
  const env = { FOLIO_DATABASE_URL: testDatabaseUrl(t) };
  t.equal((await folio(['migrate'], env)).code, 0);
  t.equal((await folio(['books', 'add', 'b', '--title', 'B'], env)).code, 0);
  return env;
}

t.test('folio books toc import stores the file and says what it holds; a bad file changes nothing and lists every problem (exit 2)', async (t) => {
  const env = await bookDatabase(t);
  // A folder of its own: the test's fixture folder holds its SQLite database.
  const dir = mkdtempSync(join(tmpdir(), 'folio-toc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'good.json'), JSON.stringify(toc));
  writeFileSync(join(dir, 'bad.json'), JSON.stringify({ chapters: [{ id: 'c', title: 'C', pages: [{ id: 'p', title: 'P', questions: [{ id: 'q', kind: 'essay', points: 1 }] }, { id: 'p', title: 'Q' }] }] }));
  writeFileSync(join(dir, 'broken.json'), '{"chapters": [');
  const good = await folio(['books', 'toc', 'import', 'b', join(dir, 'good.json')], env);
  t.equal(good.code, 0, good.stderr);
  t.equal(good.stdout, 'imported the table of contents of b: 1 chapter(s), 2 page(s), 1 question(s) worth 2 point(s), 1 activity\n');

  const bad = await folio(['books', 'toc', 'import', 'b', join(dir, 'bad.json')], env);
  t.equal(bad.code, 2);
  t.match(bad.stderr, `${join(dir, 'bad.json')} is not a table of contents Folio can import (nothing was changed):`);
  t.match(bad.stderr, 'chapters[0].pages[0].questions[0].kind: must be one of mchoice');
  const broken = await folio(['books', 'toc', 'import', 'b', join(dir, 'broken.json')], env);
  t.equal(broken.code, 2);
  t.match(broken.stderr, 'is not JSON');
  const noBook = await folio(['books', 'toc', 'import', 'nope', join(dir, 'good.json')], env);
  t.equal(noBook.code, 1);
  t.match(noBook.stderr, 'there is no book "nope"');

  const db = await openDatabase(env.FOLIO_DATABASE_URL!);
  t.teardown(() => db.close());
  const rows = await db.all<{ book_id: string; toc: string }>(sql`SELECT book_id, toc FROM book_tocs`);
  t.same(rows.map((r) => ({ book: r.book_id, toc: JSON.parse(r.toc) as unknown })), [{ book: 'b', toc }]);
});

t.test('folio books toc import --help describes the file', async (t) => {
  const res = await folio(['books', 'toc', 'import', '--help']);
  t.equal(res.code, 0);
  t.match(res.stdout, 'Usage: folio books toc import [options] <id> <file>');
  t.match(res.stdout, '"questions": [{"id", "kind", "points"}]');
});
