import t from 'tap';
import { build } from './helper.js';

t.test('GET /healthz says the process is alive', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'GET', url: '/healthz' });
  t.equal(res.statusCode, 200);
  t.same(res.json(), { status: 'ok' });
});

t.test('GET /readyz checks the database and reports its state', async (t) => {
  const app = await build(t);
  const ready = await app.inject({ method: 'GET', url: '/readyz' });
  t.equal(ready.statusCode, 200);
  t.same(ready.json(), { status: 'ok', database: 'ok' });
  await app.db.close();
  const down = await app.inject({ method: 'GET', url: '/readyz' });
  t.equal(down.statusCode, 503);
  t.same(down.json(), { status: 'not_ready', database: 'unavailable' });
});

t.test('GET /api/books/:book returns the public book, or 404 naming it', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'GET', url: '/api/books/book' });
  t.equal(res.statusCode, 200);
  t.same(res.json(), { id: 'book', title: 'A book' });
  const missing = await app.inject({ method: 'GET', url: '/api/books/nope' });
  t.equal(missing.statusCode, 404);
  t.same(missing.json(), { statusCode: 404, error: 'unknown_book', message: 'there is no book "nope"' });
});

t.test('an unknown route is a JSON 404', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'GET', url: '/nothing/here?x=1' });
  t.equal(res.statusCode, 404);
  t.same(res.json(), { statusCode: 404, error: 'not_found', message: 'no route GET /nothing/here' });
});
