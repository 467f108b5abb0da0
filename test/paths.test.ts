import { connect } from 'node:net';
import t from 'tap';
import { bookOrigin, build, corsHeaders, otherBookOrigin, register } from './helper.js';

// find-my-way decodes percent-encodings (and drops an absolute-form's scheme and host) before it matches a route:
// these paths reach the API's routes, so every check of the API must hold for them too (lib/paths.ts).
const me = '/%61pi/auth/me';

t.test('a cross-site logout through a percent-encoded /api path is refused, and the session still works', async (t) => {
  const app = await build(t);
  const { cookie } = await register(app);
  const res = await app.inject({ method: 'POST', url: '/%61pi/auth/logout', headers: { cookie, origin: 'https://evil.example' } });
  t.equal(res.statusCode, 403);
  t.equal(res.json().error, 'origin_not_allowed');
  for (const url of ['/api/auth/me', me]) {
    const still = await app.inject({ method: 'GET', url, headers: { cookie } });
    t.equal(still.statusCode, 200, url);
    t.equal(still.json().user.username, 'ada', url);
  }
  const encodedSegment = await app.inject({ method: 'POST', url: '/api/%61uth/logout', headers: { cookie } });
  t.equal(encodedSegment.statusCode, 403);
  t.equal(encodedSegment.json().error, 'origin_required');
});

t.test('a cross-site logout in absolute form (http://host/api/…) is refused', async (t) => {
  const app = await build(t);
  const { cookie } = await register(app);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  const reply = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () =>
      socket.write(`POST http://evil.example/api/auth/logout HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${cookie}\r\nOrigin: https://evil.example\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`),
    );
    let data = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (data += chunk));
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
  });
  t.match(reply, /^HTTP\/1\.1 403 /);
  t.match(reply, /"error":"origin_not_allowed"/);
  t.equal((await app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie } })).statusCode, 200);
});

t.test('a cross-site navigation to a percent-encoded /api path is refused', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'GET', url: '/%61pi/books/book', headers: { 'sec-fetch-mode': 'navigate', 'sec-fetch-site': 'cross-site' } });
  t.equal(res.statusCode, 403);
  t.equal(res.json().error, 'navigation_refused');
});

t.test('replies to a percent-encoded /api path carry the API security headers', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'GET', url: '/%61pi/books/book' });
  t.equal(res.statusCode, 200);
  t.equal(res.headers['content-security-policy'], "default-src 'none';frame-ancestors 'none'");
  t.equal(res.headers['x-frame-options'], 'DENY');
  t.equal(res.headers['referrer-policy'], 'no-referrer');
  t.equal(res.headers['cross-origin-opener-policy'], undefined);
});

t.test('a request to a percent-encoded /api path is authenticated by its cookie or token', async (t) => {
  const app = await build(t);
  const { cookie } = await register(app);
  const byCookie = await app.inject({ method: 'GET', url: me, headers: { cookie } });
  t.equal(byCookie.statusCode, 200);
  t.equal(byCookie.json().user.username, 'ada');
  const bad = await app.inject({ method: 'GET', url: me, headers: { authorization: 'Basic x' } });
  t.equal(bad.statusCode, 401);
  t.equal(bad.json().error, 'invalid_authorization');
});

for (const url of ['/api/books/%62ook/programs/ac1', '/api/%62ooks/book/programs/ac1', '/%61pi/books/book/programs/ac1']) {
  t.test(`CORS and the CSRF check take ${url} as the book "book"`, async (t) => {
    const app = await build(t);
    const own = await app.inject({ method: 'GET', url, headers: { origin: bookOrigin } });
    t.equal(own.statusCode, 401);
    t.equal(corsHeaders(own.headers)['access-control-allow-origin'], bookOrigin);
    const other = await app.inject({ method: 'GET', url, headers: { origin: otherBookOrigin } });
    t.same(corsHeaders(other.headers), {});
    const { cookie } = await register(app, 'ada', {}, { origin: bookOrigin });
    const write = await app.inject({ method: 'PUT', url, headers: { cookie, origin: otherBookOrigin }, payload: { code: 'x = 1' } });
    t.equal(write.statusCode, 403);
    t.equal(write.json().error, 'origin_not_allowed');
    const saved = await app.inject({ method: 'PUT', url, headers: { cookie, origin: bookOrigin }, payload: { code: 'x = 1' } });
    t.equal(saved.statusCode, 200);
    const stored = await app.inject({ method: 'GET', url: '/api/books/book/programs/ac1', headers: { cookie } });
    t.equal(stored.json().code, 'x = 1');
  });
}

for (const url of ['/api/books/%62ook/programs/ac1', '/api/%62ooks/book/programs/ac1', '/%61pi/books/book/programs/ac1', '/api/books/book/programs/a%2Fb']) {
  t.test(`a preflight for ${url} is answered for the book "book"'s origins, as the request it announces`, async (t) => {
    const app = await build(t);
    const headers = { 'access-control-request-method': 'PUT', 'access-control-request-headers': 'content-type' };
    const own = await app.inject({ method: 'OPTIONS', url, headers: { ...headers, origin: bookOrigin } });
    t.equal(own.statusCode, 204);
    t.equal(own.headers['access-control-allow-origin'], bookOrigin);
    const other = await app.inject({ method: 'OPTIONS', url, headers: { ...headers, origin: otherBookOrigin } });
    t.equal(other.statusCode, 404);
    t.same(corsHeaders(other.headers), {});
  });
}

t.test('a preflight for a book whose id only looks like it once decoded twice is not that book', async (t) => {
  const app = await build(t);
  const headers = { 'access-control-request-method': 'PUT', origin: bookOrigin };
  const res = await app.inject({ method: 'OPTIONS', url: '/api/books/%2562ook/programs/ac1', headers });
  t.equal(res.statusCode, 404);
  t.same(corsHeaders(res.headers), {});
});
