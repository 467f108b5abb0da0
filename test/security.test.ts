import t from 'tap';
import { makeCertificate } from './e2e/harness.js';
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

/** The security headers of a reply: helmet's, by name. */
const securityHeaders = (headers: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(headers).filter(([name]) => /^(content-security-policy|cross-origin-|origin-agent-cluster|referrer-policy|strict-transport-security|x-(?!folio))/.test(name)));

t.test('API replies carry the security headers of a JSON API, and none meant for HTML documents', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'GET', url: '/api/books/book' });
  t.same(securityHeaders(res.headers), {
    'content-security-policy': "default-src 'none';frame-ancestors 'none'",
    'cross-origin-resource-policy': 'same-origin',
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
  });
});

t.test('replies outside the API carry helmet\'s defaults, with frames refused', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'GET', url: '/healthz' });
  t.equal(res.statusCode, 200);
  const headers = securityHeaders(res.headers);
  t.match(headers['content-security-policy'], /^default-src 'self';.*frame-ancestors 'none'/);
  t.equal(headers['x-content-type-options'], 'nosniff');
  t.equal(headers['cross-origin-opener-policy'], 'same-origin');
  t.equal(headers['cross-origin-resource-policy'], 'same-origin');
  t.equal(headers['x-frame-options'], 'SAMEORIGIN');
});

t.test('replies that match no route carry the headers of the part they were sent to: an API 404 or refused preflight the API\'s, another 404 the pages\'', async (t) => {
  const app = await build(t);
  const apiHeaders = securityHeaders((await app.inject({ method: 'GET', url: '/api/books/book' })).headers);
  const pageHeaders = securityHeaders((await app.inject({ method: 'GET', url: '/healthz' })).headers);
  const preflight = { origin: 'https://evil.example', 'access-control-request-method': 'PUT' };
  const requests = [
    { method: 'GET', url: '/api/books/book/no-such-route', headers: {}, status: 404, expected: apiHeaders },
    { method: 'OPTIONS', url: '/api/books/book/programs/ac1', headers: preflight, status: 404, expected: apiHeaders },
    { method: 'GET', url: '/%61pi/no-such-route', headers: { 'sec-fetch-mode': 'navigate', 'sec-fetch-site': 'cross-site' }, status: 403, expected: apiHeaders },
    { method: 'GET', url: '/no-such-page', headers: {}, status: 404, expected: pageHeaders },
    { method: 'OPTIONS', url: '/no-such-page', headers: preflight, status: 404, expected: pageHeaders },
  ] as const;
  for (const { method, url, headers, status, expected } of requests) {
    const res = await app.inject({ method, url, headers });
    t.equal(res.statusCode, status, `${method} ${url}`);
    t.same(securityHeaders(res.headers), expected, `${method} ${url}`);
  }
});

t.test('with a certificate configured, API replies and pages carry HSTS; over plain HTTP they do not', async (t) => {
  const plain = await build(t);
  t.equal((await plain.inject({ method: 'GET', url: '/api/books/book' })).headers['strict-transport-security'], undefined);
  const { cert, key } = await makeCertificate(t);
  const tls = await build(t, { tlsCert: cert, tlsKey: key });
  for (const url of ['/api/books/book', '/healthz']) {
    t.equal((await tls.inject({ method: 'GET', url })).headers['strict-transport-security'], 'max-age=15552000', url);
  }
});
