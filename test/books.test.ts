import t from 'tap';
import { addBookOrigin, createBook, removeBook } from '../db/books.js';
import { build, corsHeaders, register } from './helper.js';

const newOrigin = 'https://new-book.example';
/** No refresh by the timer during a test: each one says when the registry looks. */
const manual = { originRefreshMs: 60_000 };

/** What each part of the server says about book `new` and its origin: the public route, a preflight, a cookie write. */
async function views(app: Awaited<ReturnType<typeof build>>, cookie: string) {
  const route = await app.inject({ method: 'GET', url: '/api/books/new', headers: { origin: newOrigin } });
  const preflight = await app.inject({
    method: 'OPTIONS',
    url: '/api/books/new/answers/q1',
    headers: { origin: newOrigin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
  });
  const write = await app.inject({
    method: 'POST',
    url: '/api/books/new/answers/q1',
    headers: { origin: newOrigin, cookie, 'content-type': 'application/json' },
    payload: { kind: 'mchoice', answer: ['a'], correct: true, page: 'ch1' },
  });
  return { route: route.statusCode, cors: corsHeaders(preflight.headers)['access-control-allow-origin'] ?? null, write: write.statusCode };
}

t.test('a book another process adds is unknown to the route, CORS and the CSRF check alike until the registry refreshes, then known to all', async (t) => {
  const app = await build(t, manual);
  const { cookie } = await register(app);
  // Straight into the database, as `folio books add` in another process would: this server has not looked yet.
  await createBook(app.db, { id: 'new', title: 'A new book', origins: [newOrigin] });
  t.same(await views(app, cookie), { route: 404, cors: null, write: 403 });
  t.equal(await app.books.refresh(), true);
  t.same(await views(app, cookie), { route: 200, cors: newOrigin, write: 201 });
  t.same(app.books.get('new'), { id: 'new', title: 'A new book', origins: [newOrigin] });
});

t.test('GET /api/books/:book answers from the registry: the id and title, never the origins', async (t) => {
  const app = await build(t, manual);
  await createBook(app.db, { id: 'new', title: 'A new book', origins: [newOrigin] });
  await addBookOrigin(app.db, 'new', 'https://mirror.example');
  await app.books.refresh();
  const res = await app.inject({ method: 'GET', url: '/api/books/new' });
  t.equal(res.statusCode, 200);
  t.same(res.json(), { id: 'new', title: 'A new book' });
  t.same(app.books.get('new')?.origins, ['https://mirror.example', newOrigin]);
});

t.test('a book another process removes stays known to every part until the refresh, then is gone from all', async (t) => {
  const app = await build(t, manual);
  const { cookie } = await register(app);
  await createBook(app.db, { id: 'new', title: 'A new book', origins: [newOrigin] });
  await app.books.refresh();
  await removeBook(app.db, 'new');
  t.equal((await views(app, cookie)).route, 200, 'not looked yet');
  t.equal(await app.books.refresh(), true);
  t.same(await views(app, cookie), { route: 404, cors: null, write: 403 });
  t.equal(app.books.has('new'), false);
});

t.test('a refresh with nothing changed reloads nothing', async (t) => {
  const app = await build(t, manual);
  t.equal(await app.books.refresh(), false);
});
