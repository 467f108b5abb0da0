/** `npm run demo`'s parts: the demo pages pointed at a Folio URL, served over HTTP, and the demo book allowing them. */
import t from 'tap';
import { createBook, importToc, listBooks } from '../db/books.js';
import { demoPageFiles, ensureDemoBook, servePages } from '../scripts/demo.js';
import { build } from './helper.js';

t.test('the demo pages load the components from the Folio URL they are given, and name it as their book\'s server', async (t) => {
  const files = await demoPageFiles('https://api.test:8443');
  t.strictSame(Object.keys(files).sort(), ['/index.html', '/page2.html', '/style.css']);
  for (const [page, id] of [['/index.html', 'ch1'], ['/page2.html', 'ch2']] as const) {
    t.match(files[page], '<script type="module" src="https://api.test:8443/client/components.js"></script>', page);
    t.match(files[page], `<folio-book server="https://api.test:8443" book="demo" page="${id}">`, page);
    t.notMatch(files[page], 'localhost:3000', page);
  }
});

t.test('the demo pages are markup alone: their one script is the components module, and no element has an event handler attribute', async (t) => {
  const files = await demoPageFiles('https://api.test:8443');
  for (const page of ['/index.html', '/page2.html']) {
    t.strictSame([...files[page]!.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)].map((m) => [m[0].slice(0, m[0].indexOf('>') + 1), m[1]]), [['<script type="module" src="https://api.test:8443/client/components.js">', '']], page);
    t.notMatch(files[page], /\son[a-z]+=/i, page);
  }
});

t.test('servePages serves the pages over HTTP, index.html at /', async (t) => {
  const { server, port } = await servePages({ folioUrl: 'http://localhost:3000', port: 0 });
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const index = await fetch(`http://127.0.0.1:${port}/`);
  t.equal(index.status, 200);
  t.equal(index.headers.get('content-type'), 'text/html; charset=utf-8');
  t.match(await index.text(), '<title>Chapter 1: Values and lists');
  const style = await fetch(`http://127.0.0.1:${port}/style.css`);
  t.equal(style.headers.get('content-type'), 'text/css; charset=utf-8');
  t.equal((await fetch(`http://127.0.0.1:${port}/../package.json`)).status, 404);
});

t.test('ensureDemoBook creates the demo book for the pages\' origins when it is missing', async (t) => {
  const app = await build(t);
  await ensureDemoBook(app, ['http://localhost:8080']);
  t.strictSame((await listBooks(app.db)).find((b) => b.id === 'demo'), { id: 'demo', title: 'Folio demo book', origins: ['http://localhost:8080'] });
  t.ok(app.books.allows('http://localhost:8080', 'demo'), 'in effect at once');
});

t.test('ensureDemoBook adds missing origins to an existing demo book', async (t) => {
  const app = await build(t);
  await createBook(app.db, { id: 'demo', title: 'Folio demo book', origins: ['http://localhost:8080'] });
  await ensureDemoBook(app, ['http://localhost:8080', 'http://localhost:9090']);
  t.strictSame((await listBooks(app.db)).find((b) => b.id === 'demo')?.origins, ['http://localhost:8080', 'http://localhost:9090']);
});

t.test('ensureDemoBook gives the demo book the pages\' table of contents (examples/book/toc.json)', async (t) => {
  const app = await build(t);
  await ensureDemoBook(app, ['http://localhost:8080']);
  const res = await app.inject({ method: 'GET', url: '/api/books/demo/toc' });
  t.equal(res.statusCode, 200);
  t.same(res.json().chapters.map((c: { id: string }) => c.id), ['ch1', 'ch2']);
});

t.test('ensureDemoBook keeps a table of contents the demo book already has', async (t) => {
  const app = await build(t);
  await createBook(app.db, { id: 'demo', title: 'Folio demo book', origins: ['http://localhost:8080'] });
  const own = { chapters: [{ id: 'mine', title: 'Mine', pages: [] }] };
  await importToc(app.db, 'demo', own);
  await ensureDemoBook(app, ['http://localhost:8080']);
  t.same(app.books.toc('demo')?.chapters, own.chapters);
});
