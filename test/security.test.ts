import t from 'tap';
import { bookOrigin, build } from './helper.js';

t.test('a cross-site navigation to the API is refused', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'GET', url: '/api/books/book', headers: { 'sec-fetch-mode': 'navigate', 'sec-fetch-site': 'cross-site' } });
  t.equal(res.statusCode, 403);
  t.equal(res.json().error, 'navigation_refused');
});

t.test('a person typing an API URL into the address bar is served', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'GET', url: '/api/books/book', headers: { 'sec-fetch-mode': 'navigate', 'sec-fetch-site': 'none' } });
  t.equal(res.statusCode, 200);
});

t.test('a state-changing request with a cookie and no Origin is refused', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'POST', url: '/api/books/book/anything', headers: { cookie: 'folio=x' } });
  t.equal(res.statusCode, 403);
  t.equal(res.json().error, 'origin_required');
});

t.test('a state-changing request with a cookie from an origin the path does not allow is refused', async (t) => {
  const app = await build(t);
  for (const origin of ['https://evil.example', 'https://other.example', 'null']) {
    const res = await app.inject({ method: 'PUT', url: '/api/books/book/anything', headers: { cookie: 'folio=x', origin } });
    t.equal(res.statusCode, 403, origin);
    t.equal(res.json().error, 'origin_not_allowed');
  }
});

t.test('a state-changing request with a cookie from an allowed origin or the server itself passes the origin check', async (t) => {
  const app = await build(t);
  for (const origin of [bookOrigin, 'http://localhost:80']) {
    const res = await app.inject({ method: 'DELETE', url: '/api/books/book/anything', headers: { cookie: 'folio=x', origin, host: 'localhost:80' } });
    t.equal(res.statusCode, 404, origin);
  }
});

t.test('replies carry helmet headers suited to a JSON API', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'GET', url: '/api/books/book' });
  t.equal(res.headers['x-content-type-options'], 'nosniff');
  t.equal(res.headers['cross-origin-resource-policy'], 'same-origin');
  t.equal(res.headers['strict-transport-security'], undefined, 'no HSTS over plain HTTP');
});
